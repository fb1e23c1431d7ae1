/**
 * Where alerts go. Every sink stores idempotently by alert id (a replay after a crash re-creates
 * nothing) and resolves `write` only once the alerts are stored, so the source may then commit.
 *
 * - redis://HOST:PORT  one Lua script per alert: SET NX EX on `<key>:id:<id>`, and only when new
 *   LPUSH <key> + LTRIM <key> 0 max-1 + PUBLISH <key> (DESIGN.md; key default traffic:warnings).
 *   Atomic, so a crash between the steps cannot leave an id marked but the alert missing.
 * - jsonl:PATH         one JSON per line, appended; ids already in the file are skipped.
 *   jsonl:- or stdout  one JSON per line on stdout.
 * - memory:NAME        in-process ring buffer of recent alerts with listeners (the API and the
 *   one-process platform read it with getMemoryAlertSink(NAME)).
 */
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { TrafficError, withRetry, isRetriable } from '../../core/errors.ts';
import { STREAM } from '../../core/schema.ts';
import { parseAlert, type Alert } from './alert.ts';

export interface AlertSink {
  readonly uri: string;
  /** Stores the alerts; returns how many were new (not stored before). */
  write(alerts: readonly Alert[]): Promise<number>;
  close(): Promise<void>;
}

export interface SinkOptions {
  /** Redis list (and channel) name. Default traffic:warnings. */
  key?: string;
  /** Redis list length kept. Default 1000. */
  max?: number;
  /** How long a stored alert id blocks a re-push (s). Default 7 days. */
  dedupeTtlS?: number;
  /** JSONL: start from an empty file instead of appending. */
  truncate?: boolean;
}

export async function openAlertSink(uri: string, opts: SinkOptions = {}): Promise<AlertSink> {
  if (uri.startsWith('redis://') || uri.startsWith('rediss://')) return RedisAlertSink.open(uri, opts);
  if (uri === 'stdout' || uri === 'jsonl:-') return new StdoutAlertSink();
  if (uri.startsWith('jsonl:')) return JsonlAlertSink.open(uri.slice('jsonl:'.length), opts);
  if (uri.startsWith('memory:')) return getMemoryAlertSink(uri.slice('memory:'.length) || 'default');
  throw new TrafficError('INVALID_OPTION', `unknown alert sink "${uri}": use redis://HOST:PORT, jsonl:PATH, stdout or memory:NAME`, { option: '--to' });
}

// ---------------------------------------------------------------------------------------- Redis

const WARN_SCRIPT = `
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', tonumber(ARGV[2])) then
  redis.call('LPUSH', KEYS[1], ARGV[1])
  redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[3]) - 1)
  redis.call('PUBLISH', KEYS[1], ARGV[1])
  return 1
end
return 0`;

type WarnFn = (listKey: string, idKey: string, json: string, ttlS: number, max: number) => unknown;

/**
 * Opens an alert sink, waiting up to `waitS` for a store that is not up yet (a retriable
 * connection failure), as the MySQL sink waits for a shard: a detector started before Redis, or
 * restarted during a Redis outage, comes up when Redis does instead of exiting.
 */
export async function openAlertSinkWaiting(uri: string, opts: SinkOptions, waitS: number, log: (message: string) => void = () => {}): Promise<AlertSink> {
  const deadline = Date.now() + waitS * 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await openAlertSink(uri, opts);
    } catch (err) {
      if (!isRetriable(err) || Date.now() >= deadline) throw err;
      const delay = Math.min(5000, 250 * 2 ** attempt, Math.max(0, deadline - Date.now()));
      log(`${(err as Error).message}; retrying in ${(delay / 1000).toFixed(1)} s (waiting up to ${waitS} s)`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export class RedisAlertSink implements AlertSink {
  readonly key: string;
  private readonly max: number;
  private readonly ttlS: number;

  private constructor(
    readonly uri: string,
    private readonly redis: Redis,
    opts: SinkOptions,
  ) {
    this.key = opts.key ?? STREAM.warningsKey;
    this.max = opts.max ?? STREAM.warningsMax;
    this.ttlS = opts.dedupeTtlS ?? 7 * 86400;
  }

  static async open(uri: string, opts: SinkOptions = {}): Promise<RedisAlertSink> {
    const redis = new Redis(uri, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(100 * 2 ** times, 2000),
    });
    redis.on('error', () => {
      // Reported through the failing command; without a listener ioredis prints each retry.
    });
    try {
      await redis.connect();
    } catch (err) {
      redis.disconnect();
      throw new TrafficError('CONNECTION_FAILED', `cannot connect to Redis at ${uri}: ${(err as Error).message}`, {}, { cause: err });
    }
    redis.defineCommand('trafficWarn', { numberOfKeys: 2, lua: WARN_SCRIPT });
    return new RedisAlertSink(uri, redis, opts);
  }

  /** The key marking an alert id as stored. */
  idKey(id: string): string {
    return `${this.key}:id:${id}`;
  }

  async write(alerts: readonly Alert[]): Promise<number> {
    if (alerts.length === 0) return 0;
    return withRetry(
      async () => {
        const pipe = this.redis.pipeline();
        const warn = (pipe as unknown as { trafficWarn: WarnFn }).trafficWarn.bind(pipe);
        for (const a of alerts) warn(this.key, this.idKey(a.id), JSON.stringify(a), this.ttlS, this.max);
        let res;
        try {
          res = (await pipe.exec()) ?? [];
        } catch (err) {
          throw unavailable(this.uri, err);
        }
        let added = 0;
        for (const [err, v] of res) {
          if (err) throw (err as Error).name === 'ReplyError' ? err : unavailable(this.uri, err);
          added += Number(v);
        }
        return added;
      },
      // Short: a longer outage is the bus's to ride out (it retries the uncommitted batch with backoff).
      { retries: 2, initialMs: 200, maxMs: 1000 },
    );
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/**
 * A lost connection is retriable: the bus then retries the batch (uncommitted) until Redis is
 * back, so detection pauses instead of stopping. A script error (ReplyError) is a bug: fatal.
 */
function unavailable(uri: string, err: unknown): TrafficError {
  return new TrafficError('SERVICE_UNAVAILABLE', `Redis ${uri}: ${(err as Error).message}`, {}, { cause: err });
}

// ---------------------------------------------------------------------------------------- JSONL

export class JsonlAlertSink implements AlertSink {
  private constructor(
    readonly uri: string,
    private readonly fh: FileHandle,
    private readonly ids: Set<string>,
  ) {}

  /** Ids already in the file when it was opened (skipped on write). */
  get known(): number {
    return this.ids.size;
  }

  static async open(file: string, opts: SinkOptions = {}): Promise<JsonlAlertSink> {
    if (!file) throw new TrafficError('INVALID_OPTION', 'jsonl: needs a path (jsonl:PATH)', { option: '--to' });
    const ids = new Set<string>();
    if (!opts.truncate && existsSync(file)) {
      for (const line of (await readFile(file, 'utf8')).split('\n')) {
        const a = line ? parseAlert(line) : null;
        if (a) ids.add(a.id);
      }
    }
    await mkdir(path.dirname(path.resolve(file)), { recursive: true });
    const fh = await open(file, opts.truncate ? 'w' : 'a');
    return new JsonlAlertSink(`jsonl:${file}`, fh, ids);
  }

  async write(alerts: readonly Alert[]): Promise<number> {
    let text = '';
    let added = 0;
    for (const a of alerts) {
      if (this.ids.has(a.id)) continue;
      this.ids.add(a.id);
      text += JSON.stringify(a) + '\n';
      added++;
    }
    if (text) await this.fh.write(text);
    return added;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

export class StdoutAlertSink implements AlertSink {
  readonly uri = 'stdout';
  private readonly ids = new BoundedIdSet(100_000);

  async write(alerts: readonly Alert[]): Promise<number> {
    let text = '';
    let added = 0;
    for (const a of alerts) {
      if (!this.ids.add(a.id)) continue;
      text += JSON.stringify(a) + '\n';
      added++;
    }
    if (text && !process.stdout.write(text)) await new Promise((r) => process.stdout.once('drain', r));
    return added;
  }

  async close(): Promise<void> {}
}

// ------------------------------------------------------------------------------------ in-process

export type AlertListener = (alert: Alert) => void;

/**
 * Recent alerts in memory, newest first, with listeners (SSE, dashboards). Idempotent by id over
 * the last `rememberIds` ids.
 */
export class MemoryAlertSink implements AlertSink {
  readonly uri: string;
  private readonly ring: (Alert | undefined)[];
  private head = 0;
  private count = 0;
  private readonly ids: BoundedIdSet;
  private readonly listeners = new Set<AlertListener>();
  /** Alerts ever stored (not only those still in the ring). */
  total = 0;

  constructor(opts: { name?: string; capacity?: number; rememberIds?: number } = {}) {
    this.uri = `memory:${opts.name ?? 'default'}`;
    this.ring = new Array(opts.capacity ?? STREAM.warningsMax);
    this.ids = new BoundedIdSet(opts.rememberIds ?? 100_000);
  }

  async write(alerts: readonly Alert[]): Promise<number> {
    return this.add(alerts);
  }

  /** Synchronous form of write, for in-process callers. */
  add(alerts: readonly Alert[]): number {
    let added = 0;
    for (const a of alerts) {
      if (!this.ids.add(a.id)) continue;
      this.head = (this.head + this.ring.length - 1) % this.ring.length;
      this.ring[this.head] = a;
      if (this.count < this.ring.length) this.count++;
      this.total++;
      added++;
      for (const l of this.listeners) {
        try {
          l(a);
        } catch {
          // A failing listener (e.g. a closed SSE client) must not stop detection.
        }
      }
    }
    return added;
  }

  /** Newest first. */
  recent(limit = 10): Alert[] {
    const n = Math.min(limit, this.count);
    const out: Alert[] = [];
    for (let i = 0; i < n; i++) out.push(this.ring[(this.head + i) % this.ring.length]!);
    return out;
  }

  get size(): number {
    return this.count;
  }

  /** Calls `listener` for every new alert; returns the unsubscribe function. */
  subscribe(listener: AlertListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    // Shared by name within the process: closing a writer must not clear readers' view.
  }
}

const memorySinks = new Map<string, MemoryAlertSink>();

/** The process-wide in-memory alert sink of that name (created on first use). */
export function getMemoryAlertSink(name = 'default', opts: { capacity?: number } = {}): MemoryAlertSink {
  let s = memorySinks.get(name);
  if (s === undefined) {
    s = new MemoryAlertSink({ name, ...opts });
    memorySinks.set(name, s);
  }
  return s;
}

/** Writes to several sinks (e.g. Redis and the in-process ring); new = new in the first sink. */
export function teeSinks(...sinks: AlertSink[]): AlertSink {
  return {
    uri: sinks.map((s) => s.uri).join('+'),
    async write(alerts) {
      const counts = await Promise.all(sinks.map((s) => s.write(alerts)));
      return counts[0] ?? 0;
    },
    async close() {
      await Promise.all(sinks.map((s) => s.close()));
    },
  };
}

/** A set of recent ids with FIFO forgetting, so dedupe memory stays bounded. */
class BoundedIdSet {
  private readonly set = new Set<string>();
  constructor(private readonly limit: number) {}
  /** Adds; false when already present. */
  add(id: string): boolean {
    if (this.set.has(id)) return false;
    this.set.add(id);
    if (this.set.size > this.limit) {
      const oldest = this.set.values().next().value;
      if (oldest !== undefined) this.set.delete(oldest);
    }
    return true;
  }
}
