/** The bus contract (see index.ts for the documented interface). Kept apart so adapters import it without cycles. */

/**
 * One valid record. Kafka's items hold only the record's bytes and decode `row` and `raw` from
 * them on each access (a consumer reads each once): what the sink holds for every record in
 * flight is then the bytes, not a row of 12 strings, which cost it most of its collector time.
 */
export interface StreamItem {
  /** The 12 master fields, master order. */
  readonly row: string[];
  readonly key: string | null;
  /** The record as carried (Kafka message value, log line, or the master CSV line). */
  readonly raw: string;
  /**
   * The carried record's bytes when the transport hands them over as such (Kafka: the message
   * value, UTF-8 stream record), so a consumer can pass them on without encoding `raw` again.
   */
  bytes?: Buffer;
  /** Topic, file path or memory bus name. */
  source: string;
  partition: number;
  offset: string;
}

export interface SourceStats {
  /** Records read, valid or not. */
  received: number;
  /** Valid records whose handler call resolved (and were committed). */
  delivered: number;
  deadLettered: number;
  /** Dead-lettered records by reason (values stripped, so reasons group). */
  deadLetterReasons: Record<string, number>;
  /** Records behind the end of each partition after the last commit, where known (Kafka). */
  lag?: Record<number, number>;
}

export interface Source {
  /**
   * Calls handler with batches of VALID records in order (per partition); commits offsets / file
   * positions only after the handler's promise resolves. Malformed records are dead-lettered
   * (Kafka: topic `<topic>-dlq`, value = original, headers reason/source/partition/offset; file:
   * `<log>.rejects` line `reason<TAB>original`; memory: bus `<name>-dlq`) BEFORE the commit and
   * counted; they never stop the source. Resolves when stop() is called (or, for finite sources
   * like a file opened with follow:false, at end of input). A handler error: the batch is retried
   * (with backoff) if the error is retriable (core/errors.ts isRetriable), else run() rejects
   * without committing.
   */
  run(handler: (batch: StreamItem[]) => Promise<void>): Promise<void>;
  stop(): Promise<void>;
  readonly stats: SourceStats;
}

export interface SourceOptions {
  groupId: string;
  /** Where a group with no committed position starts: true (default) = oldest record, false = only new ones. */
  fromBeginning?: boolean;
  /** file: keep following appends and rotations (default true); false = stop at end of file. */
  follow?: boolean;
  /** Largest batch handed to the handler (default 500). */
  maxBatch?: number;
  /**
   * Kafka: partitions whose batches may be in the handler at once (default 1). Per-partition order
   * holds either way (a partition's next batch waits for its previous one); other sources ignore it.
   */
  concurrency?: number;
  /**
   * Kafka: records that may be in the handler at once over all partitions, across batches
   * (default 0 = a partition's next batch waits for its previous one). Above 0 the source hands a
   * partition's next batch over before the previous one resolved, and fetches ahead meanwhile;
   * a partition's offsets are still committed only up to a batch whose handler call, and every
   * earlier one of the partition, resolved. Only for idempotent handlers that do not depend on
   * the order of a partition's batches (the MySQL sink). Other sources ignore it.
   */
  inFlight?: number;
  signal?: AbortSignal;
  /**
   * file: persist the position in `<log>.offset.<groupId>` and resume from it (default true).
   * false = read from the start every time and write no offsets file (offline replays).
   */
  commit?: boolean;
  /** Where retry and rotation notices go (default: stderr). */
  log?: (message: string) => void;
  /** First and largest backoff between handler retries, ms (defaults 100 and 5000). */
  retryMs?: { initial: number; max: number };
}

export interface Sink {
  /** Queues rows for sending; resolves at once unless the sink is backed up (then when it has room). */
  send(rows: string[][]): Promise<void>;
  /** Resolves when everything sent so far is written / acknowledged. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Records written / acknowledged so far. */
  readonly sent: number;
}

export interface SinkOptions {
  clientId?: string;
  /** How long a partial batch may wait for more records, ms (default 5). */
  lingerMs?: number;
  /** Records per batch that trigger an immediate send (default 1000). */
  batchSize?: number;
}

export type BusUri =
  | { kind: 'kafka'; brokers: string[]; topic: string }
  | { kind: 'file'; path: string }
  | { kind: 'stdout' }
  | { kind: 'memory'; name: string }
  /** url = `mqtt://host:port` (the broker), topic = the rest of the path (a filter with + / # for sources). */
  | { kind: 'mqtt'; url: string; topic: string };
