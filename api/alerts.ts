/**
 * Where the API reads cloned-plate alerts from: the Redis list `traffic:warnings` (newest first,
 * kept to 1000 by the detector) with its pub/sub channel, or an in-process feed that the
 * one-process platform's detector pushes into.
 */
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import { STREAM } from '../core/schema.ts';

export interface AlertFeed {
  readonly kind: 'memory' | 'redis';
  recent(limit: number): Promise<unknown[]>;
  count(): Promise<number>;
  /** Calls `onAlert` for each new alert; returns the unsubscribe function. */
  subscribe(onAlert: (alert: unknown) => void): () => void;
  health(): Promise<{ ok: boolean; detail: string }>;
  close(): Promise<void>;
}

/** In-process alerts: a ring of the newest `capacity` alerts plus a live event. */
export class MemoryAlertFeed implements AlertFeed {
  readonly kind = 'memory' as const;
  private readonly ring: unknown[] = [];
  private readonly events = new EventEmitter();
  private pushed = 0;

  constructor(private readonly capacity = STREAM.warningsMax) {
    this.events.setMaxListeners(0);
  }

  push(alert: unknown): void {
    this.ring.unshift(alert);
    if (this.ring.length > this.capacity) this.ring.length = this.capacity;
    this.pushed++;
    this.events.emit('alert', alert);
  }

  async recent(limit: number): Promise<unknown[]> {
    return this.ring.slice(0, limit);
  }

  async count(): Promise<number> {
    return this.ring.length;
  }

  subscribe(onAlert: (alert: unknown) => void): () => void {
    this.events.on('alert', onAlert);
    return () => this.events.off('alert', onAlert);
  }

  async health(): Promise<{ ok: boolean; detail: string }> {
    return { ok: true, detail: `in-process alerts, ${this.pushed} received` };
  }

  async close(): Promise<void> {
    this.events.removeAllListeners();
  }
}

/** Alerts from Redis: LRANGE/LLEN on the list, SUBSCRIBE on the channel of the same name. */
export class RedisAlertFeed implements AlertFeed {
  readonly kind = 'redis' as const;
  private readonly client: Redis;
  private subscriber: Redis | null = null;
  private readonly events = new EventEmitter();

  constructor(
    url: string,
    private readonly key: string = STREAM.warningsKey,
  ) {
    this.events.setMaxListeners(0);
    // Fail fast per request instead of queueing forever while Redis is down; reconnect in the background.
    this.client = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: false });
    this.client.on('error', () => undefined);
  }

  async recent(limit: number): Promise<unknown[]> {
    const items = await this.client.lrange(this.key, 0, limit - 1);
    return items.map(parseAlert);
  }

  count(): Promise<number> {
    return this.client.llen(this.key);
  }

  subscribe(onAlert: (alert: unknown) => void): () => void {
    if (!this.subscriber) {
      this.subscriber = this.client.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
      this.subscriber.on('error', () => undefined);
      this.subscriber.on('message', (_channel: string, message: string) => this.events.emit('alert', parseAlert(message)));
      void this.subscriber.subscribe(this.key).catch(() => undefined);
    }
    this.events.on('alert', onAlert);
    return () => this.events.off('alert', onAlert);
  }

  async health(): Promise<{ ok: boolean; detail: string }> {
    try {
      await this.client.ping();
      return { ok: true, detail: `redis list ${this.key}` };
    } catch (err) {
      return { ok: false, detail: `redis: ${(err as Error).message}` };
    }
  }

  async close(): Promise<void> {
    this.events.removeAllListeners();
    this.subscriber?.disconnect();
    this.client.disconnect();
  }
}

function parseAlert(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { raw: text };
  }
}

/** The part of an in-process alert store the API reads (the detector's MemoryAlertSink has it). */
export interface InProcessAlerts<A> {
  recent(limit: number): A[];
  readonly size: number;
  readonly total: number;
  subscribe(listener: (alert: A) => void): () => void;
}

/** Serves the alerts an in-process detector keeps (one-process platform). */
export class InProcessAlertFeed<A> implements AlertFeed {
  readonly kind = 'memory' as const;

  constructor(private readonly source: InProcessAlerts<A>) {}

  async recent(limit: number): Promise<unknown[]> {
    return this.source.recent(limit);
  }

  async count(): Promise<number> {
    return this.source.size;
  }

  subscribe(onAlert: (alert: unknown) => void): () => void {
    return this.source.subscribe(onAlert);
  }

  async health(): Promise<{ ok: boolean; detail: string }> {
    return { ok: true, detail: `in-process detector alerts, ${this.source.total} raised` };
  }

  async close(): Promise<void> {}
}
