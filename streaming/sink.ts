/**
 * The MySQL sink: bus records → traffic_data on the shard MyCat murmur(kkmc) names (or through one
 * MyCat server). Offsets are committed by the bus only after the handler resolves, and the
 * handler resolves only after every row of its batch is stored; writes are idempotent on gcxh, so
 * a crash or a retried batch replays rather than loses or duplicates.
 *
 * - Rows the store would coerce (bad calendar time, too long, flags not 0/1) are rejected with
 *   the reason (rejects CSV + counts); records the bus cannot decode are dead-lettered by the bus.
 * - A shard that drops: each statement retries briefly (withRetry), then the retriable error goes
 *   back to the bus, which backs off, heartbeats, and redelivers the batch until the shard is back.
 * - A statement that fails on data despite the checks is split row by row, so one bad row is
 *   rejected (with the server's message) instead of blocking the stream.
 * - Retention (TRAFFIC_TTL_DAYS) runs on a timer beside the writes.
 */
import { isDataError, type ShardedStore, type Shard } from '../store/mysql.ts';
import { storeRowProblem } from '../store/ddl.ts';
import { isRetriable, withRetry } from '../core/errors.ts';
import type { MasterRow, Reject } from '../core/schema.ts';
import { openSource, kafkaBrokers, ensureTopic, type Source, type StreamItem } from './bus/index.ts';
import { createLogger, logFn } from '../core/log.ts';

export interface SinkRunOptions {
  /** Bus address: kafka://host:port/topic, file:PATH, memory:NAME. */
  from: string;
  groupId: string;
  /** Rows per statement per shard (a bus delivery is up to batchSize × shards records). */
  batchSize: number;
  /** How long rows may wait for others to share a statement (0 = write each delivery at once). */
  maxWaitMs: number;
  /**
   * Batches written at once (Kafka: partitions handled concurrently; default 4). The sink waits on
   * round trips (MySQL statement, offset commit), not on CPU: overlapping them is the speed-up.
   */
  concurrency?: number;
  /** Retention days (0 = keep all). */
  ttlDays: number;
  /** Seconds between retention runs (0 = never from the sink). */
  ttlIntervalS: number;
  /** file: sources: keep following (default true). */
  follow?: boolean;
  fromBeginning?: boolean;
  signal?: AbortSignal;
  log?: (message: string) => void;
  /** Called with the number of rows stored after each write. */
  onStored?: (rows: number) => void;
  onReject?: (r: Reject) => void | Promise<void>;
  /** Bus backoff between handler retries (tests shorten it). */
  retryMs?: { initial: number; max: number };
  /** kkmc_info rows to put on every shard at start (from kkmc_dimension.csv), if any. */
  dimension?: (string | number | null)[][];
  /** Called once the source is running (tests wait for it). */
  onReady?: (source: Source) => void;
}

export interface SinkStats {
  received: number;
  /** Valid rows written (new or already present). */
  stored: number;
  /** Rows newly inserted, per shard. */
  inserted: number[];
  rejected: number;
  rejectReasons: Record<string, number>;
  deadLettered: number;
  deadLetterReasons: Record<string, number>;
  retries: number;
  ttlRuns: number;
  ttlDeleted: number;
  seconds: number;
}

type Write = (rows: MasterRow[]) => Promise<void>;

/**
 * Coalesces rows from handler calls into statements: flushes when `batchSize` rows are waiting
 * or `maxWaitMs` after the first one; each caller's promise resolves once its rows are stored
 * (or rejects with the write's error). Writes start in arrival order and may overlap: the bus
 * hands a partition's next batch over only after the previous one resolved, so overlapping
 * writes never hold two batches of one partition, and the offsets of each are committed only
 * after its own write.
 */
export class Coalescer {
  private rows: MasterRow[] = [];
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly write: Write,
    private readonly batchSize: number,
    private readonly maxWaitMs: number,
  ) {}

  add(rows: readonly MasterRow[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    for (const r of rows) this.rows.push(r);
    if (this.rows.length >= this.batchSize || this.maxWaitMs <= 0) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.maxWaitMs);
    return done;
  }

  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.rows.length === 0) return;
    const rows = this.rows;
    const waiters = this.waiters;
    this.rows = [];
    this.waiters = [];
    this.write(rows).then(
      () => {
        for (const w of waiters) w.resolve();
      },
      (err: unknown) => {
        for (const w of waiters) w.reject(err);
      },
    );
  }
}

export const DEFAULT_SINK_CONCURRENCY = 4;

function reasonKey(reason: string): string {
  return reason.replace(/: ".*$/s, '').replace(/\s*\(.*\)$/s, '');
}

export async function runSink(store: ShardedStore, opts: SinkRunOptions): Promise<SinkStats> {
  const t0 = performance.now();
  const log = opts.log ?? logFn(createLogger('sink'));
  const stats: SinkStats = {
    received: 0,
    stored: 0,
    inserted: store.shards.map(() => 0),
    rejected: 0,
    rejectReasons: {},
    deadLettered: 0,
    deadLetterReasons: {},
    retries: 0,
    ttlRuns: 0,
    ttlDeleted: 0,
    seconds: 0,
  };
  const stopped = (): boolean => opts.signal?.aborted === true;
  const retry = (what: string) => ({
    retries: 2,
    initialMs: 200,
    maxMs: 1000,
    signal: opts.signal,
    onRetry: (err: unknown, attempt: number, delay: number) => {
      stats.retries++;
      log(`sink: ${what} failed (${(err as Error).message}); retry ${attempt} in ${delay} ms`);
    },
  });

  // Seen rejects, so a batch redelivered after a store outage does not count its bad rows twice.
  const rejectedSeen = new Set<string>();
  const reject = async (item: { source: string; partition: number; offset: string; raw: string }, reason: string): Promise<void> => {
    const id = `${item.source}\u0000${item.partition}\u0000${item.offset}`;
    if (rejectedSeen.has(id)) return;
    if (rejectedSeen.size > 100_000) rejectedSeen.clear();
    rejectedSeen.add(id);
    stats.rejected++;
    const k = reasonKey(reason);
    stats.rejectReasons[k] = (stats.rejectReasons[k] ?? 0) + 1;
    await opts.onReject?.({ sourceFile: `${item.source}[${item.partition}]@${item.offset}`, line: 0, stage: 'sink', reason, raw: item.raw });
  };

  // Rows of the batch being written, by gcxh, so a row the server refuses can be rejected with its origin.
  const origin = new Map<string, StreamItem>();

  /** Writes one shard's rows; returns how many the server refused (rejected, not stored). */
  const writeShard = async (shard: Shard, rows: MasterRow[]): Promise<number> => {
    let refused = 0;
    for (let at = 0; at < rows.length; at += opts.batchSize) {
      const chunk = rows.slice(at, at + opts.batchSize);
      try {
        // Not `+= await`: that would read the counter before the await and lose overlapping writes' counts.
        const added = await withRetry(() => store.storeChunk(shard, chunk), retry(`insert on ${shard.url.label}`));
        stats.inserted[shard.index]! += added;
      } catch (err) {
        if (isRetriable(err) || !isDataError(err)) throw err;
        // A data error the checks did not foresee: isolate it row by row.
        for (const row of chunk) {
          try {
            const added = await withRetry(() => store.insertChunk(shard, [row]), retry(`insert on ${shard.url.label}`));
            stats.inserted[shard.index]! += added;
          } catch (e) {
            if (isRetriable(e) || !isDataError(e)) throw e;
            refused++;
            const it = origin.get(row[0]!);
            await reject(it ?? { source: 'sink', partition: -1, offset: row[0]!, raw: row.join('\t') }, `MySQL refused the row: ${(e as Error).message}`);
          }
        }
      }
    }
    return refused;
  };

  const writer = new Coalescer(
    async (rows) => {
      let refused = 0;
      try {
        const parts = store.partition(rows);
        const per = await Promise.all(parts.map((part, i) => (part.length ? writeShard(store.shards[i]!, part) : 0)));
        refused = per.reduce((a, b) => a + b, 0);
      } finally {
        for (const r of rows) origin.delete(r[0]!);
      }
      stats.stored += rows.length - refused;
      opts.onStored?.(rows.length - refused);
    },
    opts.batchSize,
    opts.maxWaitMs,
  );

  // Schema first; a shard that is down at start is waited for, not fatal.
  await withRetry(() => store.ensureSchema(), {
    retries: Infinity,
    initialMs: 500,
    maxMs: 5000,
    signal: opts.signal,
    onRetry: (err, attempt, delay) => log(`sink: store not ready (${(err as Error).message}); retry ${attempt} in ${delay} ms`),
  });
  if (opts.dimension) {
    const dim = opts.dimension;
    await withRetry(() => store.replaceKkmcInfo(dim), { retries: 5, initialMs: 500, maxMs: 5000, signal: opts.signal });
  }
  const kafka = kafkaBrokers(opts.from);
  if (kafka) await ensureTopic(kafka.brokers, kafka.topic);

  let ttlRun: Promise<void> | null = null;
  const runTtl = (): void => {
    if (ttlRun || opts.ttlDays <= 0) return;
    ttlRun = ttlOnce().finally(() => (ttlRun = null));
  };
  const ttlOnce = async (): Promise<void> => {
    try {
      const r = await store.applyTtl(opts.ttlDays);
      stats.ttlRuns++;
      const n = r.deleted.reduce((a, b) => a + b, 0);
      stats.ttlDeleted += n;
      if (n) log(`sink: retention deleted ${n} rows with gcsj < ${r.cutoff} (newest ${r.newest}, ${opts.ttlDays} days)`);
    } catch (err) {
      // Never fatal: the next tick tries again (a shard may be restarting).
      log(`sink: retention run failed (${(err as Error).message}); will retry next interval`);
    }
  };
  if (opts.ttlDays > 0 && opts.ttlIntervalS > 0) runTtl();
  const ttlTimer = opts.ttlIntervalS > 0 && opts.ttlDays > 0 ? setInterval(runTtl, opts.ttlIntervalS * 1000) : null;

  const sourceOpts: Parameters<typeof openSource>[1] = {
    groupId: opts.groupId,
    // A delivery is split over the shards: ask for enough that each shard's statement gets about
    // batchSize rows (fewer, larger statements: fewer commits and round trips per row).
    maxBatch: opts.batchSize * store.shards.length,
    concurrency: opts.concurrency ?? DEFAULT_SINK_CONCURRENCY,
    log,
  };
  if (opts.follow !== undefined) sourceOpts.follow = opts.follow;
  if (opts.fromBeginning !== undefined) sourceOpts.fromBeginning = opts.fromBeginning;
  if (opts.signal) sourceOpts.signal = opts.signal;
  if (opts.retryMs) sourceOpts.retryMs = opts.retryMs;
  const source = await openSource(opts.from, sourceOpts);
  try {
    if (stopped()) return stats;
    opts.onReady?.(source);
    await source.run(async (batch) => {
      const good: MasterRow[] = [];
      for (const item of batch) {
        const problem = storeRowProblem(item.row);
        if (problem) await reject(item, problem);
        else {
          good.push(item.row);
          origin.set(item.row[0]!, item);
        }
      }
      await writer.add(good);
    });
  } finally {
    if (ttlTimer) clearInterval(ttlTimer);
    // Let a retention run in progress finish before the caller closes the pools.
    await (ttlRun as Promise<void> | null)?.catch(() => undefined);
    stats.received = source.stats.received;
    stats.deadLettered = source.stats.deadLettered;
    stats.deadLetterReasons = { ...source.stats.deadLetterReasons };
    stats.seconds = (performance.now() - t0) / 1000;
  }
  return stats;
}
