/**
 * The in-process bus (`memory:NAME`) for the one-process platform: a named queue with offsets in
 * this process. Every consumer group reads every record (fan-out) from its own committed offset;
 * records all known groups have committed are dropped, and at most MEMORY_CAP are kept (the oldest
 * go first, counted in `dropped`) so a long run cannot exhaust memory.
 */
import { F } from '../../core/schema.ts';
import { encodeRecord } from '../record.ts';
import { checkSourceOptions, countReject, decodeRecord, deliverWithRetry, newStats, stopSignal } from './decode.ts';
import type { Sink, Source, SourceOptions, SourceStats, StreamItem } from './types.ts';

export const MEMORY_CAP = 1_000_000;

export interface MemoryRecord {
  key: string | null;
  raw: string;
  headers?: Record<string, string>;
}

class MemoryTopic {
  /** Offset of records[0]. */
  base = 0;
  records: MemoryRecord[] = [];
  readonly committed = new Map<string, number>();
  readonly active = new Set<string>();
  dropped = 0;
  private waiters: (() => void)[] = [];

  constructor(readonly name: string) {}

  get end(): number {
    return this.base + this.records.length;
  }

  append(recs: MemoryRecord[]): void {
    for (const r of recs) this.records.push(r);
    if (this.records.length > MEMORY_CAP) {
      const n = this.records.length - MEMORY_CAP;
      this.records.splice(0, n);
      this.base += n;
      this.dropped += n;
    }
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  waitForMore(stop: Promise<void>): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      void stop.then(resolve);
    });
  }

  commit(group: string, offset: number): void {
    this.committed.set(group, offset);
    let min = Infinity;
    for (const o of this.committed.values()) min = Math.min(min, o);
    if (min > this.base && min !== Infinity) {
      this.records.splice(0, min - this.base);
      this.base = min;
    }
  }
}

const KEY = Symbol.for('traffic.memoryBus');
const g = globalThis as unknown as { [KEY]?: Map<string, MemoryTopic> };
const registry: Map<string, MemoryTopic> = (g[KEY] ??= new Map());

export function memoryTopic(name: string): MemoryTopic {
  let t = registry.get(name);
  if (!t) registry.set(name, (t = new MemoryTopic(name)));
  return t;
}

/** Appends raw records (tests use it to put malformed records on a memory bus). */
export function memoryPublish(name: string, records: MemoryRecord[]): void {
  memoryTopic(name).append(records);
}

/** The records currently held (e.g. a `NAME-dlq` bus), oldest first. */
export function memoryRecords(name: string): readonly MemoryRecord[] {
  return memoryTopic(name).records;
}

/** Forgets a memory bus (tests). */
export function memoryDelete(name: string): void {
  registry.delete(name);
}

export class MemorySink implements Sink {
  private n = 0;
  constructor(private readonly topic: MemoryTopic) {}
  get sent(): number {
    return this.n;
  }
  async send(rows: string[][]): Promise<void> {
    this.topic.append(rows.map((r) => ({ key: r[F.HPHM] ?? null, raw: encodeRecord(r) })));
    this.n += rows.length;
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

export class MemorySource implements Source {
  readonly stats: SourceStats = newStats();
  private readonly o: ReturnType<typeof checkSourceOptions>;
  private readonly stopper = stopSignal();
  private running: Promise<void> | null = null;

  constructor(
    private readonly topic: MemoryTopic,
    private readonly opts: SourceOptions,
  ) {
    this.o = checkSourceOptions(opts);
    opts.signal?.addEventListener('abort', () => void this.stop(), { once: true });
  }

  run(handler: (batch: StreamItem[]) => Promise<void>): Promise<void> {
    const group = this.opts.groupId;
    if (this.topic.active.has(group)) {
      return Promise.reject(new Error(`memory:${this.topic.name}: group ${group} already has a running consumer (one per group in-process)`));
    }
    this.topic.active.add(group);
    this.running = this.loop(handler).finally(() => this.topic.active.delete(group));
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopper.fire();
    await this.running?.catch(() => undefined);
  }

  private async loop(handler: (batch: StreamItem[]) => Promise<void>): Promise<void> {
    const t = this.topic;
    const group = this.opts.groupId;
    if (!t.committed.has(group)) t.committed.set(group, this.o.fromBeginning ? t.base : t.end);
    while (!this.stopper.fired()) {
      let pos = Math.max(t.committed.get(group) ?? t.base, t.base);
      if (pos >= t.end) {
        await t.waitForMore(this.stopper.promise);
        continue;
      }
      const n = Math.min(this.o.maxBatch, t.end - pos);
      const slice = t.records.slice(pos - t.base, pos - t.base + n);
      const items: StreamItem[] = [];
      const bad: MemoryRecord[] = [];
      slice.forEach((r, i) => {
        this.stats.received++;
        const d = decodeRecord(r.raw);
        if (d.ok) items.push({ row: d.row, key: r.key, raw: r.raw, source: t.name, partition: 0, offset: String(pos + i) });
        else {
          bad.push({ key: r.key, raw: r.raw, headers: { reason: d.reason, source: t.name, partition: '0', offset: String(pos + i) } });
          countReject(this.stats, d.reason);
        }
      });
      if (bad.length) memoryTopic(`${t.name}-dlq`).append(bad);
      if (items.length) {
        const ok = await deliverWithRetry(handler, items, { stop: this.stopper, opts: this.opts, what: `memory:${t.name}@${pos}` });
        if (!ok) return;
        this.stats.delivered += items.length;
      }
      pos += n;
      t.commit(group, pos);
      // Let producers and other groups run between batches.
      await new Promise((r) => setImmediate(r));
    }
  }
}
