/**
 * Log-file and stdout sinks. The file sink appends one record per line and works with a log
 * rotator: before each write it checks that the path still names the file it has open (rename or
 * delete → reopen a new file at the path; truncation needs nothing, writes are O_APPEND).
 */
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { encodeRecord } from '../record.ts';
import type { Sink, SinkOptions } from './types.ts';

const FLUSH_BYTES = 1 << 16;

export class FileSink implements Sink {
  private buf = '';
  private pending = 0;
  private written = 0;
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private error: unknown = null;
  /** Rotations noticed (rename/delete of the path), for tests and summaries. */
  reopened = 0;

  private constructor(
    private readonly file: string,
    private fh: FileHandle,
    private ino: number,
    private readonly lingerMs: number,
  ) {}

  static async open(file: string, opts: SinkOptions = {}): Promise<FileSink> {
    await mkdir(path.dirname(file), { recursive: true });
    const fh = await open(file, 'a');
    const st = await fh.stat();
    return new FileSink(file, fh, st.ino, opts.lingerMs ?? 5);
  }

  get sent(): number {
    return this.written;
  }

  async send(rows: string[][]): Promise<void> {
    if (this.error) throw this.error;
    for (const r of rows) this.buf += encodeRecord(r) + '\n';
    this.pending += rows.length;
    if (this.buf.length >= FLUSH_BYTES) await this.writeOut();
    else if (!this.timer) this.timer = setTimeout(() => void this.writeOut().catch(() => undefined), this.lingerMs);
  }

  private writeOut(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const data = this.buf;
    const n = this.pending;
    this.buf = '';
    this.pending = 0;
    if (!data) return this.chain;
    this.chain = this.chain.then(async () => {
      if (this.error) return;
      try {
        await this.followRotation();
        await this.fh.write(data);
        this.written += n;
      } catch (err) {
        this.error = err;
      }
    });
    return this.chain.then(() => {
      if (this.error) throw this.error;
    });
  }

  private async followRotation(): Promise<void> {
    let ino: number | undefined;
    try {
      ino = (await stat(this.file)).ino;
    } catch {
      ino = undefined; // renamed away or deleted
    }
    if (ino === this.ino) return;
    await this.fh.close().catch(() => undefined);
    await mkdir(path.dirname(this.file), { recursive: true });
    this.fh = await open(this.file, 'a');
    this.ino = (await this.fh.stat()).ino;
    this.reopened++;
  }

  async flush(): Promise<void> {
    await this.writeOut();
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.fh.close().catch(() => undefined);
    }
  }
}

/** One record per line on stdout, waiting for the pipe to drain when it is full. */
export class StdoutSink implements Sink {
  private written = 0;
  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}

  get sent(): number {
    return this.written;
  }

  async send(rows: string[][]): Promise<void> {
    let s = '';
    for (const r of rows) s += encodeRecord(r) + '\n';
    const ok = this.out.write(s);
    this.written += rows.length;
    if (!ok) await new Promise<void>((resolve) => this.out.once('drain', () => resolve()));
  }

  async flush(): Promise<void> {
    // Node writes to a pipe/file asynchronously; wait until what we wrote is handed over.
    await new Promise<void>((resolve) => this.out.write('', () => resolve()));
  }

  async close(): Promise<void> {
    await this.flush();
  }
}
