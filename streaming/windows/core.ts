/**
 * Tumbling event-time windows of passes per checkpoint (KKMC) and direction (FXLX), closed by a
 * watermark. Pure and synchronous: no IO, no clock, so tests feed literal sequences and the
 * congestion service, the CLI and the one-process platform share it.
 *
 * Event time and lateness:
 *   maxT(p) = newest event time seen on source partition p;
 *   watermark W = min over the active partitions of maxT(p) − lateness, never moving back.
 *   The minimum (not the global maximum) because a checkpoint's passes are spread over every
 *   partition (the Kafka key is HPHM): a partition that is read behind the others must not make
 *   its own, in-order records late. Partitions announced with `expectPartitions` hold the
 *   watermark back until their first record; one marked idle (`setIdle`, e.g. nothing delivered
 *   for a while) stops holding it back until it delivers again. A file or memory source has one
 *   partition.
 *   A window [s, s + len) is closed once W ≥ s + len. A record whose window is still open is
 *   counted in `passes`; one whose window is closed is LATE: counted in that window's `late`
 *   (and in the per-checkpoint late tally), and the window is emitted again with the new count.
 *   Lateness is decided per record against the watermark of the records before it, so the result
 *   does not depend on how records are batched.
 * Closed windows are remembered for `retainS` seconds of event time so late records can still be
 *   attached to them; a record later than that is counted as `lateExpired` (per checkpoint) only.
 */
import { F } from '../../core/schema.ts';
import { isStoreTime } from '../../store/ddl.ts';
import type { FlowWindow } from '../../core/flow-window.ts';
import { formatChinaTime, toEpochSeconds } from '../../core/time.ts';

export const DEFAULT_WINDOW_LENGTHS_S: readonly number[] = [60, 300];
export const DEFAULT_LATENESS_S = 60;
export const DEFAULT_RETAIN_S = 6 * 3600;

export type { FlowWindow };

export interface FlowWindowOptions {
  /** Window lengths (s), each dividing 3600 so windows align to the China-local hour. */
  lengthsS?: readonly number[];
  latenessS?: number;
  retainS?: number;
}

export interface FlowWindowStats {
  records: number;
  /** Records with no KKMC or no valid GCSJ (the bus normally dead-letters them first). */
  bad: number;
  /** Records late for their shortest window, attached to a remembered window. */
  late: number;
  /** Records late beyond the retention of closed windows: counted here only. */
  lateExpired: number;
  /** Per checkpoint: late + lateExpired. */
  lateByKkmc: Record<string, number>;
}

interface Win {
  kkmc: string;
  fxlx: string;
  start: number;
  len: number;
  passes: number;
  late: number;
}

/** State that must survive a restart (see streaming/congestion/run.ts). */
export interface WindowsSnapshot {
  watermark: number | null;
  partitions: [number, number][];
  open: [string, string, number, number, number, number][];
}

export class FlowWindows {
  readonly lengths: readonly number[];
  readonly latenessS: number;
  readonly retainS: number;
  readonly stats: FlowWindowStats = { records: 0, bad: 0, late: 0, lateExpired: 0, lateByKkmc: {} };
  private readonly maxT = new Map<number, number>();
  private readonly idle = new Set<number>();
  private wm = -Infinity;
  /** Open windows by key; closed windows (remembered for late records) by key. */
  private readonly open = new Map<string, Win>();
  private readonly closed = new Map<string, Win>();
  /** Closed windows changed by late records since the last drain. */
  private readonly touched = new Set<Win>();
  private readonly closedOrder: Win[] = [];
  private closedHead = 0;

  constructor(opts: FlowWindowOptions = {}) {
    this.lengths = [...(opts.lengthsS ?? DEFAULT_WINDOW_LENGTHS_S)].sort((a, b) => a - b);
    for (const len of this.lengths) {
      if (!Number.isInteger(len) || len <= 0 || 3600 % len !== 0) {
        throw new RangeError(`window length must divide 3600 s, got ${len}`);
      }
    }
    this.latenessS = opts.latenessS ?? DEFAULT_LATENESS_S;
    this.retainS = opts.retainS ?? DEFAULT_RETAIN_S;
  }

  /** Current watermark (epoch s); -Infinity before the first record. */
  get watermark(): number {
    return this.wm;
  }

  /** Offers one record (at least the first 8 master fields) from a source partition. */
  push(row: readonly string[], partition = 0): 'ok' | 'late' | 'expired' | 'bad' {
    this.stats.records++;
    const kkmc = row[F.KKMC];
    const gcsj = row[F.GCSJ] ?? '';
    if (!kkmc || !isStoreTime(gcsj)) {
      this.stats.bad++;
      return 'bad';
    }
    const fxlx = row[F.FXLX] ?? '';
    const t = toEpochSeconds(gcsj);
    let result: 'ok' | 'late' | 'expired' = 'ok';
    // Shortest first: a record late for the 1-minute window may still be in time for the 5-minute one.
    for (const len of this.lengths) {
      const start = t - mod(t, len);
      const key = winKey(kkmc, fxlx, start, len);
      if (start + len > this.wm) {
        let w = this.open.get(key);
        if (w === undefined) {
          w = { kkmc, fxlx, start, len, passes: 0, late: 0 };
          this.open.set(key, w);
        }
        w.passes++;
        continue;
      }
      const w = this.open.get(key) ?? this.closed.get(key);
      if (w !== undefined) {
        w.late++;
        if (this.closed.get(key) === w) this.touched.add(w);
        if (result === 'ok') result = 'late';
      } else {
        // Closed and forgotten (older than retainS), or a window that never had a record and
        // closed before this one came: the latter is a new window of late records only.
        if (start + len > this.wm - this.retainS) {
          const nw: Win = { kkmc, fxlx, start, len, passes: 0, late: 1 };
          this.closed.set(key, nw);
          this.closedOrder.push(nw);
          this.touched.add(nw);
          if (result === 'ok') result = 'late';
        } else if (result === 'ok') result = 'expired';
      }
    }
    if (result !== 'ok') {
      if (result === 'late') this.stats.late++;
      else this.stats.lateExpired++;
      this.stats.lateByKkmc[kkmc] = (this.stats.lateByKkmc[kkmc] ?? 0) + 1;
    }
    if (this.idle.delete(partition)) this.recomputeWatermark();
    const prev = this.maxT.get(partition);
    if (prev === undefined || t > prev) {
      this.maxT.set(partition, t);
      this.recomputeWatermark();
    }
    return result;
  }

  /**
   * Moves a partition's event-time clock forward as if a record at `t` (epoch s) had been seen
   * (end of a finite input, an idle source). Never moves it back.
   */
  advance(t: number, partition = 0): void {
    const prev = this.maxT.get(partition);
    if (prev === undefined || t > prev) {
      this.maxT.set(partition, t);
      this.recomputeWatermark();
    }
  }

  /** Partitions that will deliver: the watermark waits for the first record of each. */
  expectPartitions(partitions: readonly number[]): void {
    for (const p of partitions) if (!this.maxT.has(p)) this.maxT.set(p, -Infinity);
    this.recomputeWatermark();
  }

  /** An idle partition does not hold the watermark back; its next record makes it active again. */
  setIdle(partition: number, idle: boolean): void {
    if (idle) this.idle.add(partition);
    else this.idle.delete(partition);
    this.recomputeWatermark();
  }

  /** Known partitions, with their newest event time (-Infinity before the first record). */
  partitions(): Map<number, number> {
    return new Map(this.maxT);
  }

  /** Forgets a partition (e.g. revoked by a rebalance), so it no longer holds the watermark back. */
  dropPartition(partition: number): void {
    this.maxT.delete(partition);
    this.idle.delete(partition);
    this.recomputeWatermark();
  }

  /**
   * Windows the watermark has closed since the last call (sorted by end, then length, KKMC,
   * FXLX), followed by remembered windows whose late count changed (`updated`). Every returned
   * row is the window's full current state, so writing it is an idempotent upsert.
   */
  drain(): { closed: FlowWindow[]; updated: FlowWindow[] } {
    const closedNow: Win[] = [];
    for (const [key, w] of this.open) {
      if (w.start + w.len <= this.wm) {
        this.open.delete(key);
        this.closed.set(key, w);
        closedNow.push(w);
      }
    }
    closedNow.sort(byEnd);
    for (const w of closedNow) this.closedOrder.push(w);
    const fresh = new Set(closedNow);
    const updated = [...this.touched].filter((w) => !fresh.has(w)).sort(byEnd);
    this.touched.clear();
    this.forget();
    return { closed: closedNow.map(toRow), updated: updated.map(toRow) };
  }

  /** Closes every open window (end of a finite input). */
  closeAll(): { closed: FlowWindow[]; updated: FlowWindow[] } {
    let end = -Infinity;
    for (const w of this.open.values()) end = Math.max(end, w.start + w.len);
    if (end > -Infinity) {
      for (const p of this.maxT.keys()) this.maxT.set(p, Math.max(this.maxT.get(p)!, end + this.latenessS));
      this.idle.clear();
      this.recomputeWatermark();
    }
    return this.drain();
  }

  /** Open windows right now (for a live view). */
  openWindows(): FlowWindow[] {
    return [...this.open.values()].sort(byEnd).map(toRow);
  }

  snapshot(): WindowsSnapshot {
    return {
      watermark: this.wm,
      // -Infinity (expected, no record yet) is not JSON: such partitions are announced again on start.
      partitions: [...this.maxT.entries()].filter(([, t]) => t > -Infinity),
      open: [...this.open.values()].map((w) => [w.kkmc, w.fxlx, w.start, w.len, w.passes, w.late]),
    };
  }

  /**
   * Continues from a snapshot. Partitions announced before (expectPartitions) stay announced: the
   * watermark is the saved one and moves on only once every partition has delivered again.
   */
  restore(s: WindowsSnapshot): void {
    for (const [p, t] of s.partitions) this.maxT.set(p, Math.max(this.maxT.get(p) ?? -Infinity, t));
    this.wm = Math.max(this.wm, s.watermark ?? -Infinity);
    this.recomputeWatermark();
    this.open.clear();
    for (const [kkmc, fxlx, start, len, passes, late] of s.open) {
      this.open.set(winKey(kkmc, fxlx, start, len), { kkmc, fxlx, start, len, passes, late });
    }
  }

  private recomputeWatermark(): void {
    let min = Infinity;
    for (const [p, t] of this.maxT) if (t < min && !this.idle.has(p)) min = t;
    // Monotone: a partition coming back from idle behind the others does not reopen windows.
    if (min !== Infinity && min - this.latenessS > this.wm) this.wm = min - this.latenessS;
  }

  /** Drops remembered closed windows older than the retention (they were emitted already). */
  private forget(): void {
    const limit = this.wm - this.retainS;
    const order = this.closedOrder;
    while (this.closedHead < order.length && order[this.closedHead]!.start + order[this.closedHead]!.len <= limit) {
      const w = order[this.closedHead++]!;
      const key = winKey(w.kkmc, w.fxlx, w.start, w.len);
      if (this.closed.get(key) === w) this.closed.delete(key);
    }
    if (this.closedHead > 4096 && this.closedHead * 2 > order.length) {
      order.splice(0, this.closedHead);
      this.closedHead = 0;
    }
  }
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

function winKey(kkmc: string, fxlx: string, start: number, len: number): string {
  return `${len}|${start}|${kkmc}|${fxlx}`;
}

function byEnd(a: Win, b: Win): number {
  return a.start + a.len - (b.start + b.len) || a.len - b.len || cmp(a.kkmc, b.kkmc) || cmp(a.fxlx, b.fxlx);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function toRow(w: Win): FlowWindow {
  return {
    kkmc: w.kkmc,
    fxlx: w.fxlx,
    window_start: formatChinaTime(w.start * 1000),
    window_len_s: w.len,
    passes: w.passes,
    late: w.late,
  };
}
