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
 * - Speed (docs/store.md "Sink speed"): rows queue per shard and go out in statements of up to
 *   batchSize rows, `concurrency` at once per shard (shard-writer.ts); the Kafka source hands the
 *   next batches over (and fetches) while earlier ones are being written, and commits each
 *   partition only up to the rows stored.
 */
import { isDataError, type ShardedStore } from '../store/mysql.ts';
import { storeRowProblem } from '../store/ddl.ts';
import { isRetriable, withRetry } from '../core/errors.ts';
import type { Reject } from '../core/schema.ts';
import { openSource, kafkaBrokers, ensureTopic, type Source, type StreamItem } from './bus/index.ts';
import { createLogger, logFn } from '../core/log.ts';
import { ShardWriter } from './shard-writer.ts';
import { recordField } from './record.ts';
import { F } from '../core/schema.ts';

export interface SinkRunOptions {
  /** Bus address: kafka://host:port/topic, file:PATH, memory:NAME. */
  from: string;
  groupId: string;
  /** Most rows per statement per shard (a bus delivery is up to batchSize × shards records). */
  batchSize: number;
  /** How long queued rows may wait for more to fill a statement (0 = write as soon as a statement is free). */
  maxWaitMs: number;
  /**
   * Statements running at once per shard (default 2): while one shard's server loads a chunk, the
   * next chunk is already on its way, and a free core can run a second one.
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

export const DEFAULT_SINK_CONCURRENCY = 2;
/**
 * Rows per statement per shard. A statement's plate_stats upsert touches each distinct plate
 * once, and the real sample's 1000-row chunks hold 0.70 distinct plates per row against 0.44 at
 * 5000 (each upsert costs the server about half a row insert); fewer statements also mean fewer
 * round trips and commits. 20,000 over 10,000 once the in-flight records were only their bytes
 * (docs/store.md "Sink speed"): 85–91k rows/s against 69–75k in alternated runs of 400,000 rows.
 */
export const DEFAULT_SINK_BATCH = 20_000;
/** The most rows per statement the flags take: a statement's TSV stays a few MB. */
export const MAX_SINK_BATCH = 50_000;

/**
 * Records the Kafka source may have in the handler at once, in rounds of statements (every
 * shard's statements full): two rounds keep each shard's next statement queued while the source
 * fetches and decodes the next records.
 */
const ROUNDS_IN_FLIGHT = 2;

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

  /** Writes one statement's rows to a shard; rows the server refuses are rejected, not stored. */
  const writeShard = async (index: number, items: StreamItem[]): Promise<void> => {
    const shard = store.shards[index]!;
    let refused = 0;
    try {
      // The records' bytes as Kafka carried them are usually already the statement's LOAD DATA
      // lines, and their plates are read from the bytes: a Kafka item's row is not decoded again.
      const plates = items.map((it) => (it.bytes ? recordField(it.bytes, F.HPHM) : (it.row[F.HPHM] ?? '')));
      // Not `+= await`: that would read the counter before the await and lose overlapping writes' counts.
      const added = await withRetry(() => store.storeCarried(shard, items, plates), retry(`insert on ${shard.url.label}`));
      stats.inserted[index]! += added;
    } catch (err) {
      if (isRetriable(err) || !isDataError(err)) throw err;
      // A data error the checks did not foresee: isolate it row by row.
      for (const item of items) {
        try {
          const added = await withRetry(() => store.insertChunk(shard, [item.row]), retry(`insert on ${shard.url.label}`));
          stats.inserted[index]! += added;
        } catch (e) {
          if (isRetriable(e) || !isDataError(e)) throw e;
          refused++;
          await reject(item, `MySQL refused the row: ${(e as Error).message}`);
        }
      }
    }
    stats.stored += items.length - refused;
    opts.onStored?.(items.length - refused);
  };
  const statements = opts.concurrency ?? DEFAULT_SINK_CONCURRENCY;
  const writer = new ShardWriter<StreamItem>(store.shards.length, writeShard, { batchSize: opts.batchSize, maxWaitMs: opts.maxWaitMs, statements });

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
    // Kafka: partitions' batches overlap each other and the next fetch; the writer's queues
    // decide what goes into which statement, and offsets still follow the stored rows.
    concurrency: 4,
    inFlight: ROUNDS_IN_FLIGHT * opts.batchSize * store.shards.length * statements,
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
    // The bus delivers a batch whose handler failed (a shard was down) again as the same array:
    // the shards its rows already reached are not written again.
    const reached = new WeakMap<StreamItem[], Set<number>>();
    await source.run(async (batch) => {
      const done = reached.get(batch);
      const perShard: StreamItem[][] = store.shards.map(() => []);
      for (const item of batch) {
        // Read once: a Kafka item decodes its row on each access (bus/kafka-item.ts).
        const row = item.row;
        const problem = storeRowProblem(row);
        if (problem) await reject(item, problem);
        else {
          const shard = store.shardOfRow(row);
          if (!done?.has(shard)) perShard[shard]!.push(item);
        }
      }
      // One ticket per shard: a shard that fails does not make the others' rows count as unstored.
      await Promise.all(
        perShard.map(async (items, shard) => {
          if (!items.length) return;
          await writer.add(store.shards.map((_, s) => (s === shard ? items : [])));
          let set = reached.get(batch);
          if (!set) reached.set(batch, (set = new Set()));
          set.add(shard);
        }),
      );
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
