/**
 * Progress for long work: a self-overwriting line on a TTY (rows, rows/s, ETA when the total is
 * known), nothing on a pipe or in CI, and always one summary line at the end (to stderr, so data
 * on stdout stays clean).
 */

export interface ProgressOptions {
  label: string;
  total?: number;
  unit?: string;
  /** Defaults to stderr being a TTY and CI not set. */
  tty?: boolean;
  stream?: NodeJS.WriteStream;
  intervalMs?: number;
}

export class Progress {
  private count = 0;
  private readonly started = performance.now();
  private lastDraw = 0;
  private readonly tty: boolean;
  private readonly stream: NodeJS.WriteStream;
  private readonly intervalMs: number;
  private drawn = false;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? (Boolean(this.stream.isTTY) && !process.env.CI);
    this.intervalMs = opts.intervalMs ?? 200;
  }

  get rows(): number {
    return this.count;
  }

  get seconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  add(n = 1): void {
    this.count += n;
    if (!this.tty) return;
    const now = performance.now();
    if (now - this.lastDraw < this.intervalMs) return;
    this.lastDraw = now;
    this.draw();
  }

  private draw(): void {
    const s = this.seconds;
    const rate = s > 0 ? this.count / s : 0;
    const unit = this.opts.unit ?? 'rows';
    let line = `${this.opts.label}: ${fmtInt(this.count)} ${unit}, ${fmtInt(rate)} ${unit}/s`;
    if (this.opts.total && rate > 0) {
      const left = Math.max(0, this.opts.total - this.count) / rate;
      line += `, ${((100 * this.count) / this.opts.total).toFixed(1)}%, ETA ${left.toFixed(1)} s`;
    }
    this.stream.write(`\r\x1b[K${line}`);
    this.drawn = true;
  }

  /** Ends the live line and prints the one-line summary. */
  done(summary: string): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.stream.write(`${summary}\n`);
  }
}

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function fmtRate(rows: number, seconds: number): string {
  return `${fmtInt(seconds > 0 ? rows / seconds : 0)} rows/s`;
}
