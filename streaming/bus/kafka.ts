/**
 * Kafka adapters (kafkajs 2.2.4): a batching producer sink and a consumer-group source that
 * commits only after the handler, dead-letters malformed records to `<topic>-dlq`.
 */
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import { siblingModule, startWorker } from '../../core/threads.ts';
// Before kafkajs: its consumer then decodes records with the faster decoder (kafkajs-patches.ts).
import './kafkajs-patches.ts';
import { Kafka, Partitioners, logLevel, type Consumer, type KafkaMessage, type PartitionMetadata, type Producer, type LogEntry } from 'kafkajs';
import { F } from '../../core/schema.ts';
import { TrafficError } from '../../core/errors.ts';
import { encodeRecord } from '../record.ts';
import { keyPartition } from './kafka-partition.ts';
import { KafkaItem } from './kafka-item.ts';
import { checkSourceOptions, countReject, decodeRecord, deliverWithRetry, newStats, sleep, stopSignal } from './decode.ts';
import type { Sink, SinkOptions, Source, SourceOptions, SourceStats, StreamItem } from './types.ts';
import { createLogger, logFn } from '../../core/log.ts';

const LEVELS: Record<string, logLevel> = {
  nothing: logLevel.NOTHING,
  error: logLevel.ERROR,
  warn: logLevel.WARN,
  info: logLevel.INFO,
  debug: logLevel.DEBUG,
};

/** kafkajs logs as one short stderr line each; level from TRAFFIC_KAFKA_LOG (default error). */
function kafkaLogLevel(): logLevel {
  return LEVELS[(process.env.TRAFFIC_KAFKA_LOG ?? 'error').toLowerCase()] ?? logLevel.ERROR;
}

const logCreator =
  () =>
  ({ namespace, level, log }: LogEntry) => {
    const { message, error } = log as { message: string; error?: string };
    // kafkajs logs every error response it then retries (coordinator loading, leader elections) at
    // ERROR under "Connection"; those are noise unless debugging.
    if ((namespace === 'Connection' || namespace === 'BrokerPool') && kafkaLogLevel() < logLevel.INFO) return;
    const name = level === logLevel.ERROR ? 'error' : level === logLevel.WARN ? 'warn' : 'info';
    createLogger('kafkajs')[name]({ namespace, ...(error ? { error: String(error) } : {}) }, message);
  };

export const KAFKA_RETRY = { retries: 6, initialRetryTime: 200, maxRetryTime: 3000 };

export function kafkaClient(brokers: string[], clientId = 'traffic'): Kafka {
  // Retries up to ~10 s: rides over a broker restart, yet an unreachable broker is reported soon.
  return new Kafka({ clientId, brokers, logLevel: kafkaLogLevel(), logCreator, connectionTimeout: 3000, retry: KAFKA_RETRY });
}

/** Creates the topic when missing and waits for its partition leaders (idempotent). */
export async function ensureTopic(brokers: string[], topic: string, partitions = 3): Promise<void> {
  const admin = kafkaClient(brokers, 'traffic-admin').admin();
  try {
    await admin.connect();
    const existing = await admin.listTopics();
    if (!existing.includes(topic)) {
      try {
        await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
      } catch (err) {
        // Another process may have created it between listTopics and createTopics.
        if (!/already exists/i.test(String((err as Error).message))) throw err;
      }
    }
  } catch (err) {
    throw new TrafficError('CONNECTION_FAILED', `Kafka ${brokers.join(',')}: cannot ensure topic ${topic}: ${(err as Error).message}`, {}, { cause: err });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * Largest number of records in one produce request for one partition (~120 KB of records). kafkajs
 * 2.2.4 groups a request's messages with a quadratic array copy (groupMessagesPerPartition), so
 * 5000-record requests cost ~35 µs of CPU per record and 1000-record ones ~25 µs; smaller ones pay
 * more per-request overhead again.
 */
const MAX_REQUEST_RECORDS = 1000;

/** Records in flight to the producer threads before send() waits (backpressure), at least. */
const HIGH_WATER = 20_000;
/** At most this many producer threads per sink (a thread's own kafkajs client and connection). */
const MAX_THREADS = Math.max(4, os.availableParallelism());

/** One partition's records handed to a producer thread (lengths in UTF-16 units; key -1 = null). */
export interface PartPayload {
  partition: number;
  values: string;
  valueLengths: Int32Array;
  keys: string;
  keyLengths: Int32Array;
}

interface ProducerThread {
  worker: Worker;
  ready: Promise<void>;
}

/**
 * Producer with its own batching, on worker threads: records are keyed by HPHM and placed with
 * Kafka's default (Java-compatible murmur2) partitioner here, so one plate stays in one partition;
 * they are handed to the threads when `batchSize` records wait or `lingerMs` after the first one.
 * Each thread owns some partitions (partition % threads) and keeps at most one request in flight
 * per partition, so per-partition order holds even across kafkajs retries, while requests of
 * different partitions overlap. kafkajs spends ~25 µs of CPU per record encoding in JavaScript;
 * threads let that use more than one core (see docs/streaming.md).
 */
export class KafkaSink implements Sink {
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private readonly partitionMetadata: PartitionMetadata[];
  /** Per partition (-1 = unknown partition count: kafkajs chooses), records not yet handed over. */
  private pending = new Map<number, { keys: (string | null)[]; values: string[] }>();
  private queued = 0;
  private posted = 0;
  private acked = 0;
  private timer: NodeJS.Timeout | null = null;
  private error: unknown = null;
  private waiters: (() => void)[] = [];
  private closed = false;
  private readonly lingerMs: number;
  private readonly batchSize: number;
  private readonly highWater: number;

  private constructor(
    private readonly threads: ProducerThread[],
    private readonly topic: string,
    partitions: number,
    opts: SinkOptions,
  ) {
    this.lingerMs = opts.lingerMs ?? 5;
    this.batchSize = Math.max(1, opts.batchSize ?? 1000);
    this.highWater = Math.max(HIGH_WATER, 4 * this.batchSize);
    this.partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionErrorCode: 0, partitionId: i, leader: 0, replicas: [0], isr: [0] }));
    for (const t of threads) {
      t.worker.on('message', (m: { type: string; n?: number; message?: string }) => {
        if (m.type === 'acked') this.acked += m.n ?? 0;
        else if (m.type === 'error') this.fail(m.message ?? 'unknown error');
        this.wake();
      });
      t.worker.on('error', (err) => this.fail(err.message));
      t.worker.on('exit', (code) => {
        if (!this.closed) this.fail(`producer thread exited (code ${code})`);
      });
    }
  }

  static async open(brokers: string[], topic: string, opts: SinkOptions = {}): Promise<KafkaSink> {
    const clientId = opts.clientId ?? 'traffic-producer';
    let partitions = 0;
    const admin = kafkaClient(brokers, clientId).admin();
    try {
      await admin.connect();
      const existing = await admin.listTopics();
      if (existing.includes(topic)) {
        const md = await admin.fetchTopicMetadata({ topics: [topic] });
        partitions = md.topics[0]?.partitions.length ?? 0;
      }
    } catch (err) {
      throw new TrafficError('CONNECTION_FAILED', `Kafka ${brokers.join(',')}: cannot connect producer: ${(err as Error).message}`, {}, { cause: err });
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    // One thread per partition (up to MAX_THREADS): an even split; partition % threads would give
    // one of two threads two of three partitions.
    const n = Math.max(1, Math.min(partitions || 1, MAX_THREADS));
    const threads: ProducerThread[] = [];
    for (let i = 0; i < n; i++) {
      const worker = startWorker(siblingModule(import.meta.url, 'kafka-produce-worker'), {
        workerData: { brokers, clientId: `${clientId}-${i}`, topic, maxRequest: MAX_REQUEST_RECORDS, retry: KAFKA_RETRY },
      });
      const ready = new Promise<void>((resolve, reject) => {
        const onMsg = (m: { type: string; message?: string }): void => {
          if (m.type === 'ready') resolve();
          else if (m.type === 'error') reject(new Error(m.message));
          else return;
          worker.off('message', onMsg);
        };
        worker.on('message', onMsg);
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`producer thread exited (code ${code})`)));
      });
      threads.push({ worker, ready });
    }
    try {
      await Promise.all(threads.map((t) => t.ready));
    } catch (err) {
      await Promise.all(threads.map((t) => t.worker.terminate()));
      throw new TrafficError('CONNECTION_FAILED', `Kafka ${brokers.join(',')}: ${(err as Error).message}`, {}, { cause: err });
    }
    return new KafkaSink(threads, topic, partitions, opts);
  }

  get sent(): number {
    return this.acked;
  }

  private fail(message: string): void {
    if (!this.error) this.error = new TrafficError('SERVICE_UNAVAILABLE', `Kafka: producing to ${this.topic} failed: ${message}`);
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private nextEvent(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }

  async send(rows: string[][]): Promise<void> {
    if (this.error) throw this.error;
    const keyed = this.partitionMetadata.length > 0;
    for (const row of rows) {
      const key = row[F.HPHM] ?? null;
      const p = !keyed
        ? -1
        : key !== null
          ? keyPartition(key, this.partitionMetadata.length)
          : this.partitioner({ topic: this.topic, partitionMetadata: this.partitionMetadata, message: { key, value: null } });
      let b = this.pending.get(p);
      if (!b) this.pending.set(p, (b = { keys: [], values: [] }));
      b.keys.push(key);
      b.values.push(encodeRecord(row));
    }
    this.queued += rows.length;
    if (this.queued >= this.batchSize) this.handOver();
    else if (!this.timer) this.timer = setTimeout(() => this.handOver(), this.lingerMs);
    while (this.posted - this.acked >= this.highWater && !this.error) await this.nextEvent();
    if (this.error) throw this.error;
  }

  /** Posts what is pending to the threads owning the partitions. */
  private handOver(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.queued === 0 || this.error) return;
    const ts = String(Date.now());
    // Per partition one string of all values and one of all keys, with their lengths: a thread
    // gets a few strings and typed arrays (copied as blocks) instead of thousands of small strings.
    const perThread = new Map<number, PartPayload[]>();
    for (const [p, b] of this.pending) {
      const t = p < 0 ? 0 : p % this.threads.length;
      let parts = perThread.get(t);
      if (!parts) perThread.set(t, (parts = []));
      const valueLengths = new Int32Array(b.values.length);
      const keyLengths = new Int32Array(b.keys.length);
      for (let i = 0; i < b.values.length; i++) {
        valueLengths[i] = b.values[i]!.length;
        const k = b.keys[i];
        keyLengths[i] = k === null || k === undefined ? -1 : k.length;
      }
      parts.push({ partition: p, values: b.values.join(''), valueLengths, keys: b.keys.join(''), keyLengths });
    }
    for (const [t, parts] of perThread) {
      const transfer = parts.flatMap((x) => [x.valueLengths.buffer as ArrayBuffer, x.keyLengths.buffer as ArrayBuffer]);
      this.threads[t]!.worker.postMessage({ type: 'batch', ts, parts }, transfer);
    }
    this.posted += this.queued;
    this.queued = 0;
    this.pending = new Map();
  }

  async flush(): Promise<void> {
    this.handOver();
    while (this.acked < this.posted && !this.error) await this.nextEvent();
    if (this.error) throw this.error;
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      if (this.timer) clearTimeout(this.timer);
      this.closed = true;
      await Promise.all(
        this.threads.map(
          (t) =>
            new Promise<void>((resolve) => {
              const done = (): void => {
                clearTimeout(timeout);
                void t.worker.terminate().then(
                  () => resolve(),
                  () => resolve(),
                );
              };
              const timeout = setTimeout(done, 10_000);
              t.worker.on('message', (m: { type: string }) => m.type === 'closed' && done());
              t.worker.once('exit', () => done());
              t.worker.postMessage({ type: 'close' });
            }),
        ),
      );
    }
  }
}

interface LaneCall {
  last: bigint;
  highWatermark: bigint;
  records: number;
  state: 'running' | 'stored' | 'stopped' | 'failed';
}

interface Lane {
  topic: string;
  partition: number;
  calls: LaneCall[];
  /** Highest offset committed by this source (the next record to read). */
  committed: bigint;
  committing: boolean;
  pendingCommit?: bigint;
}

/**
 * Consumer-group source: kafkajs eachBatch, manual offset resolve + commit after the handler.
 * With `inFlight` the handler calls of a partition overlap each other and the next fetch; the
 * commits follow them in order (see SourceOptions.inFlight).
 */
export class KafkaSource implements Source {
  readonly stats: SourceStats = newStats();
  private readonly o: ReturnType<typeof checkSourceOptions>;
  private readonly stopper = stopSignal();
  private consumer: Consumer | null = null;
  private dlqProducer: Producer | null = null;
  private dlqReady = false;
  private settle: { resolve: () => void; reject: (e: unknown) => void } | null = null;
  private shuttingDown: Promise<void> | null = null;
  private fatal: unknown = null;

  constructor(
    private readonly brokers: string[],
    private readonly topic: string,
    private readonly opts: SourceOptions,
  ) {
    this.o = checkSourceOptions(opts);
    opts.signal?.addEventListener('abort', () => void this.stop(), { once: true });
  }

  private get dlqTopic(): string {
    return `${this.topic}-dlq`;
  }

  async run(handler: (batch: StreamItem[]) => Promise<void>): Promise<void> {
    if (this.stopper.fired()) return;
    // Created first, so a stop() during connect/subscribe still ends run().
    const done = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    const kafka = kafkaClient(this.brokers, `traffic-${this.opts.groupId}`);
    const consumer = kafka.consumer({
      groupId: this.opts.groupId,
      allowAutoTopicCreation: false,
      // Short fetch waits keep stop() and low-rate latency short.
      maxWaitTimeInMs: 250,
      sessionTimeout: 15_000,
      heartbeatInterval: 1500,
      rebalanceTimeout: 20_000,
    });
    this.consumer = consumer;
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: this.topic, fromBeginning: this.o.fromBeginning });
    } catch (err) {
      await consumer.disconnect().catch(() => undefined);
      if (this.stopper.fired()) return done;
      throw new TrafficError(
        'CONNECTION_FAILED',
        `Kafka ${this.brokers.join(',')}: cannot consume ${this.topic}: ${(err as Error).message}`,
        {},
        { cause: err },
      );
    }
    if (this.stopper.fired()) {
      await consumer.disconnect().catch(() => undefined);
      return done;
    }
    consumer.on(consumer.events.CRASH, (e) => {
      const p = e.payload as { error: Error; restart: boolean };
      if (!p.restart && !this.stopper.fired()) this.fail(p.error);
    });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: this.o.concurrency,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
        const msgs = batch.messages;
        for (let start = 0; start < msgs.length; start += this.o.maxBatch) {
          if (this.fatal || this.stopper.fired() || !isRunning() || isStale()) return;
          const chunk = msgs.slice(start, start + this.o.maxBatch);
          const items = await this.decodeChunk(batch.topic, batch.partition, chunk);
          const last = chunk[chunk.length - 1]!.offset;
          if (this.o.inFlight > 0) {
            // Pipelined: the handler call runs on while the next chunk (and the next fetch) comes.
            this.startInFlight(handler, batch.topic, batch.partition, items, last, batch.highWatermark, heartbeat);
            resolveOffset(last);
            while (this.flying >= this.o.inFlight && !this.fatal && !this.stopper.fired() && isRunning() && !isStale()) {
              await Promise.race([this.nextSettled(), sleep(1000, this.stopper)]);
              try {
                await heartbeat();
              } catch {
                // A rebalance: return so kafkajs can rejoin; the chunks not yet handed over are fetched again.
                return;
              }
            }
            continue;
          }
          if (items.length) {
            let ok: boolean;
            try {
              ok = await deliverWithRetry(handler, items, {
                stop: this.stopper,
                opts: this.opts,
                what: `${batch.topic}[${batch.partition}]@${chunk[0]!.offset}`,
                heartbeat,
              });
            } catch (err) {
              this.fail(err);
              return;
            }
            if (!ok) return;
          }
          resolveOffset(last);
          await commitOffsetsIfNecessary({
            topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last) + 1n).toString() }] }],
          });
          this.stats.delivered += items.length;
          (this.stats.lag ??= {})[batch.partition] = Number(BigInt(batch.highWatermark) - BigInt(last) - 1n);
          await heartbeat();
        }
      },
    });
    return done;
  }

  /** Valid records of a chunk as items; the malformed ones dead-lettered first. */
  private async decodeChunk(topic: string, partition: number, chunk: KafkaMessage[]): Promise<StreamItem[]> {
    const items: StreamItem[] = [];
    const bad: { m: KafkaMessage; reason: string }[] = [];
    for (const m of chunk) {
      this.stats.received++;
      // Validated here (bad records are dead-lettered before the handler sees them); the item
      // keeps only the bytes (kafka-item.ts).
      const d = decodeRecord(m.value ? m.value.toString('utf8') : '');
      if (d.ok) items.push(new KafkaItem(m.value!, m.key ? m.key.toString('utf8') : null, topic, partition, m.offset, d.row));
      else bad.push({ m, reason: d.reason });
    }
    if (bad.length) await this.deadLetter(partition, bad);
    return items;
  }

  // ---- pipelined delivery (inFlight > 0) ----

  /** Records handed to the handler and not yet settled. */
  private flying = 0;
  /** Per partition: handler calls in the order their chunks came, until committed. */
  private readonly lanes = new Map<string, Lane>();
  private settledWaiters: (() => void)[] = [];
  private readonly commits = new Set<Promise<void>>();

  private nextSettled(): Promise<void> {
    return new Promise((r) => this.settledWaiters.push(r));
  }

  private startInFlight(
    handler: (batch: StreamItem[]) => Promise<void>,
    topic: string,
    partition: number,
    items: StreamItem[],
    last: string,
    highWatermark: string,
    heartbeat: () => Promise<void>,
  ): void {
    const key = `${topic}\u0000${partition}`;
    let lane = this.lanes.get(key);
    if (!lane) this.lanes.set(key, (lane = { topic, partition, calls: [], committed: -1n, committing: false }));
    const call: LaneCall = { last: BigInt(last), highWatermark: BigInt(highWatermark), records: items.length, state: 'running' };
    lane.calls.push(call);
    this.flying += items.length;
    const delivered = items.length
      ? deliverWithRetry(handler, items, { stop: this.stopper, opts: this.opts, what: `${topic}[${partition}]@${items[0]!.offset}`, heartbeat })
      : Promise.resolve(true);
    const l = lane;
    delivered.then(
      (ok) => this.settleCall(l, call, ok ? 'stored' : 'stopped'),
      (err: unknown) => {
        this.settleCall(l, call, 'failed');
        this.fail(err);
      },
    );
  }

  private settleCall(lane: Lane, call: LaneCall, state: LaneCall['state']): void {
    call.state = state;
    this.flying -= call.records;
    this.advance(lane);
    const w = this.settledWaiters;
    this.settledWaiters = [];
    for (const f of w) f();
  }

  /**
   * Commits a partition up to the newest handler call that, with every earlier one, stored its
   * records; one commit in flight per partition, never backwards. A call that was stopped or
   * failed holds the partition's commits where they are.
   */
  private advance(lane: Lane): void {
    let upTo = -1n;
    while (lane.calls[0]?.state === 'stored') {
      const c = lane.calls.shift()!;
      this.stats.delivered += c.records;
      (this.stats.lag ??= {})[lane.partition] = Number(c.highWatermark - c.last - 1n);
      upTo = c.last + 1n;
    }
    if (upTo > lane.committed) lane.pendingCommit = upTo;
    if (lane.committing || lane.pendingCommit === undefined || this.fatal) return;
    const offset = lane.pendingCommit;
    lane.pendingCommit = undefined;
    lane.committing = true;
    const consumer = this.consumer!;
    const p = consumer
      .commitOffsets([{ topic: lane.topic, partition: lane.partition, offset: offset.toString() }])
      .then(
        () => {
          if (offset > lane.committed) lane.committed = offset;
        },
        // After a rebalance the partition may be another member's: its records are stored, so the
        // commit can wait for the next one (or the new owner replays them, which is harmless).
        (err: unknown) =>
          (this.opts.log ?? logFn(createLogger('bus'), 'warn'))(`bus: commit of ${lane.topic}[${lane.partition}]@${offset} failed (${(err as Error).message})`),
      )
      .finally(() => {
        lane.committing = false;
        this.commits.delete(p);
        if (lane.pendingCommit !== undefined) this.advance(lane);
      });
    this.commits.add(p);
  }

  /** Waits until no handler call is running and every commit they allowed was sent. */
  private async drain(): Promise<void> {
    while (this.flying > 0) await this.nextSettled();
    while (this.commits.size > 0) await Promise.allSettled([...this.commits]);
  }

  private async deadLetter(partition: number, bad: { m: KafkaMessage; reason: string }[]): Promise<void> {
    if (!this.dlqProducer) {
      this.dlqProducer = kafkaClient(this.brokers, `traffic-dlq-${this.opts.groupId}`).producer({ createPartitioner: Partitioners.DefaultPartitioner });
      await this.dlqProducer.connect();
    }
    if (!this.dlqReady) {
      await ensureTopic(this.brokers, this.dlqTopic);
      this.dlqReady = true;
    }
    await this.dlqProducer.send({
      topic: this.dlqTopic,
      messages: bad.map(({ m, reason }) => ({
        key: m.key,
        value: m.value,
        headers: { reason, source: this.topic, partition: String(partition), offset: m.offset },
      })),
    });
    for (const b of bad) countReject(this.stats, b.reason);
  }

  private fail(err: unknown): void {
    if (this.fatal) return;
    this.fatal = err;
    // Not awaited here: consumer.stop() waits for the running eachBatch, which is our caller.
    setImmediate(() => {
      void this.shutdown().then(() => this.settle?.reject(err));
    });
  }

  private shutdown(): Promise<void> {
    this.shuttingDown ??= (async () => {
      this.stopper.fire();
      // Pipelined calls finish (or give up their retries) and commit before the consumer leaves
      // its group: kafkajs drops commits once stopped.
      if (this.o.inFlight > 0) {
        if (this.consumer) {
          try {
            this.consumer.pause([{ topic: this.topic }]);
          } catch {
            /* not running yet */
          }
        }
        await this.drain();
      }
      await this.consumer?.stop().catch(() => undefined);
      await this.consumer?.disconnect().catch(() => undefined);
      await this.dlqProducer?.disconnect().catch(() => undefined);
    })();
    return this.shuttingDown;
  }

  async stop(): Promise<void> {
    await this.shutdown();
    if (!this.fatal) this.settle?.resolve();
  }
}
