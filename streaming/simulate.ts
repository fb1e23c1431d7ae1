/**
 * The simulator: replays the master CSV into a bus sink at a steady rate.
 *
 * Pacing: record i (counting every emitted record, injected ones too) is due at t0 + i/rate on a
 * monotonic clock fixed at the start, so errors never accumulate over long runs, and a record is
 * never sent before it is due. When behind (a slow sink), all overdue records go out in one batch.
 * rate = Infinity sends as fast as the sink accepts.
 */
import { openCsvBatches, TextFileWriter } from '../core/io.ts';
import { F, MASTER_COLUMNS } from '../core/schema.ts';
import { formatChinaTime, toEpochSeconds } from '../core/time.ts';
import type { Sink } from './bus/types.ts';
import { CloneInjector, TRUTH_COLUMNS, truthRow, withTime, type DimensionIndex } from './inject.ts';

export type SimMode = 'replay' | 'now';

export interface SimulateOptions {
  input: string;
  sink: Sink;
  /** Records per second; Infinity = as fast as possible. */
  rate: number;
  mode: SimMode;
  /** Master records to read in total (across loops); undefined = all. */
  limit?: number;
  loop?: boolean;
  inject?: { probability: number; truthFile: string; seed: number; dimension: DimensionIndex | null };
  signal?: AbortSignal;
  /** Called about every progressMs with the live figures. */
  onProgress?: (p: SimProgress) => void;
  progressMs?: number;
  /** Called for each paced record with its index and how late it went out (ms, ≥ 0); for benchmarks. */
  onEmit?: (index: number, lateMs: number) => void;
  /** Largest batch handed to the sink at once when behind schedule (default 1000). */
  maxBatch?: number;
}

export interface SimProgress {
  sent: number;
  seconds: number;
  /** ms the last emitted record was late (≥ 0; the simulator is never early). */
  behindMs: number;
}

export interface SimulateSummary {
  /** Master rows read. */
  read: number;
  /** Records handed to the sink (master + injected). */
  emitted: number;
  /** Records the sink confirmed (after the final flush). */
  sent: number;
  injectedPairs: number;
  /** Master rows skipped because they do not have 12 fields (with their reasons). */
  skipped: number;
  skippedReasons: Record<string, number>;
  /** Replay mode: master rows whose GCSJ is earlier than the previous row's (input not sorted). */
  outOfOrder: number;
  loops: number;
  seconds: number;
  /** Epoch ms at which record 0 was due. */
  startedAtMs: number;
  /** Largest lateness of a record vs its due time, and the earliest any record went out (≤ 0 means never early). */
  maxBehindMs: number;
  maxAheadMs: number;
  stopped: boolean;
}

/** Thrown out of a pacing wait when the run is aborted (Ctrl-C). */
const STOP = Symbol('stop');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function simulate(o: SimulateOptions): Promise<SimulateSummary> {
  const intervalMs = Number.isFinite(o.rate) && o.rate > 0 ? 1000 / o.rate : 0;
  const maxBatch = o.maxBatch ?? 1000;
  const runTag = Date.now().toString(36).toUpperCase();
  const injector = o.inject && o.inject.probability > 0 ? new CloneInjector(o.inject.probability, o.inject.seed, o.inject.dimension, runTag) : null;
  const truth = injector && o.inject ? await TextFileWriter.open(o.inject.truthFile) : null;
  truth?.writeCsv(TRUTH_COLUMNS);

  const s: SimulateSummary = {
    read: 0,
    emitted: 0,
    sent: 0,
    injectedPairs: 0,
    skipped: 0,
    skippedReasons: {},
    outOfOrder: 0,
    loops: 0,
    seconds: 0,
    startedAtMs: Date.now(),
    maxBehindMs: 0,
    maxAheadMs: -Infinity,
    stopped: false,
  };
  const t0 = performance.now();
  s.startedAtMs = Date.now();
  let batch: string[][] = [];
  /** Injected B passes waiting for their time, ordered by due time. */
  const pending: { row: string[]; epochMs: number }[] = [];
  let lastProgress = t0;
  const progressMs = o.progressMs ?? 250;
  const stopped = (): boolean => o.signal?.aborted === true;

  const flushBatch = async (): Promise<void> => {
    if (batch.length === 0) return;
    const b = batch;
    batch = [];
    await o.sink.send(b);
  };

  const progress = (): void => {
    if (o.onProgress && performance.now() - lastProgress >= progressMs) {
      lastProgress = performance.now();
      const next = t0 + s.emitted * intervalMs;
      o.onProgress({ sent: s.emitted, seconds: (lastProgress - t0) / 1000, behindMs: intervalMs > 0 ? Math.max(0, lastProgress - next) : 0 });
    }
  };

  /** Queues a record that is due; a promise only when the batch went to the sink. */
  const queue = (row: string[], stamp: boolean): Promise<void> | undefined => {
    if (stamp && o.mode === 'now') withTime(row, formatChinaTime(Date.now()));
    batch.push(row);
    s.emitted++;
    if (batch.length >= maxBatch) return flushBatch().then(progress);
    progress();
    return undefined;
  };

  /** Waits until record number s.emitted is due, then queues it. */
  const emitPaced = async (row: string[], stamp: boolean): Promise<void> => {
    const due = t0 + s.emitted * intervalMs;
    let now = performance.now();
    if (now < due) {
      await flushBatch();
      // Timers may fire a fraction of a millisecond early: wait again until really due.
      while ((now = performance.now()) < due) {
        if (stopped()) throw STOP;
        await sleep(Math.min(100, Math.max(1, Math.ceil(due - now))));
      }
    }
    const late = now - due;
    o.onEmit?.(s.emitted, late);
    if (late > s.maxBehindMs) s.maxBehindMs = late;
    if (-late > s.maxAheadMs) s.maxAheadMs = -late;
    await queue(row, stamp);
  };

  /**
   * Emits a record: paced, or at once. Injected passes keep the times the truth file lists
   * (stamp = false), also in now mode. Unpaced (--rate max) it returns a promise only when it
   * must be waited for: an async step per record cost the replay about as much as its CSV parse.
   */
  const emit = (row: string[], paced = true, stamp = true): Promise<void> | undefined => (paced && intervalMs > 0 ? emitPaced(row, stamp) : queue(row, stamp));

  /** Emits injected passes whose time has come (event time in replay, the clock in now mode). */
  const releasePending = async (uptoEpochMs: number, paced = true): Promise<void> => {
    while (pending.length && pending[0]!.epochMs <= uptoEpochMs) {
      const p = pending.shift()!;
      await emit(p.row, paced, false);
    }
  };

  /** Set when the truth file's buffer went to a busy disk: the loop waits for it (backpressure). */
  let truthFull: Promise<void> | undefined;
  const inject = (row: string[]): string[] | null => {
    if (!injector) return null;
    const pair = injector.maybeInject(row);
    if (!pair) return null;
    s.injectedPairs++;
    truthFull = truth!.writeCsv(truthRow(pair));
    pending.push({ row: pair.b, epochMs: pair.bEpochMs });
    pending.sort((x, y) => x.epochMs - y.epochMs);
    return pair.a;
  };

  try {
    outer: for (let loop = 0; ; loop++) {
      s.loops = loop + 1;
      const table = await openCsvBatches(o.input, MASTER_COLUMNS);
      let prevGcsj = '';
      let readThisLoop = 0;
      for await (const recs of table.batches) {
        for (const rec of recs) {
          if (stopped()) break outer;
          if (o.limit !== undefined && s.read >= o.limit) break outer;
          if (rec.fields.length !== MASTER_COLUMNS.length) {
            s.skipped++;
            const why = `expected ${MASTER_COLUMNS.length} fields, got ${rec.fields.length}`;
            s.skippedReasons[why] = (s.skippedReasons[why] ?? 0) + 1;
            continue;
          }
          const row = rec.fields.slice();
          // Each loop replays the same passes again: a suffix keeps GCXH unique (idempotent stores
          // would otherwise take loop 2 for a replay of loop 1).
          if (loop > 0) row[F.GCXH] = `${row[F.GCXH]}-L${loop}`;
          s.read++;
          readThisLoop++;
          if (o.mode === 'replay') {
            const g = row[F.GCSJ] ?? '';
            if (g < prevGcsj) s.outOfOrder++;
            else prevGcsj = g;
            if (pending.length) await releasePending(toEpochSeconds(g) * 1000);
          } else if (pending.length) {
            await releasePending(Date.now());
          }
          const sent = emit(row);
          if (sent) await sent;
          const a = inject(row);
          if (truthFull) {
            await truthFull;
            truthFull = undefined;
          }
          if (a) await emit(a, true, false);
        }
      }
      if (readThisLoop === 0 && loop === 0) break; // empty master: nothing to loop over
      // Injected passes not yet due belong to this pass over the data.
      await releasePending(Infinity);
      if (!o.loop) break;
    }
  } catch (err) {
    if (err !== STOP) throw err;
  } finally {
    s.stopped = stopped();
    // Ctrl-C: what is queued still goes out, unpaced, so the truth file matches the stream.
    await releasePending(Infinity, false).catch(() => undefined);
    try {
      await flushBatch();
      await o.sink.flush();
    } finally {
      await truth?.close();
    }
  }
  s.sent = o.sink.sent;
  s.seconds = (performance.now() - t0) / 1000;
  if (s.maxAheadMs === -Infinity) s.maxAheadMs = 0;
  return s;
}
