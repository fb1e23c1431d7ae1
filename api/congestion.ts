/**
 * Where the API reads congestion levels from: the in-process CongestionState of the one-process
 * platform (current level of every checkpoint, recent changes, live listeners), or the Redis list
 * `traffic:congestion` the congestion service writes (newest first, kept to 1000) with its
 * pub/sub channel. From Redis the current level of a checkpoint is the level of its newest change
 * in the list, so its passes and thresholds are those of that change's window (see API.md).
 * Also the thresholds behind the query page's series: kkmc_thresholds.csv, re-read when edited.
 */
import { existsSync, statSync } from 'node:fs';
import { isWeekend } from '../core/time.ts';
import { readThresholds, type ThresholdTable } from '../streaming/congestion/thresholds.ts';
import { RedisAlertFeed } from './alerts.ts';

/** The congestion service's Redis list and channel (streaming/congestion/sinks.ts). */
export const CONGESTION_KEY = 'traffic:congestion';
const CONGESTION_LIST_MAX = 1000;

export type LevelName = '舒适' | '黄色拥堵' | '红色警戒';

/** One level change, as the congestion service writes it. */
export interface LevelChange {
  id: string;
  kkmc: string;
  level: LevelName;
  passes: number;
  /** The boundary crossed: ALERT between 黄色拥堵 and 红色警戒, WARNING otherwise. */
  threshold: number;
  window_start: string;
  previous_level: LevelName;
}

/** A checkpoint's level with the passes and thresholds of its latest 5-minute window. */
export interface CurrentLevel {
  kkmc: string;
  level: LevelName;
  passes: number;
  warning: number | null;
  alert: number | null;
  window_start: string;
}

export interface CongestionFeed {
  readonly kind: 'memory' | 'redis';
  /** Every monitored checkpoint's level, by KKMC. */
  current(): Promise<CurrentLevel[]>;
  /** Level changes, newest first. */
  recent(limit: number): Promise<LevelChange[]>;
  /** Calls `onChange` for each new level change; returns the unsubscribe function. */
  subscribe(onChange: (change: LevelChange) => void): () => void;
  health(): Promise<{ ok: boolean; detail: string }>;
  close(): Promise<void>;
}

/** What the feed reads of streaming/congestion/state.ts CongestionState. */
export interface InProcessCongestion {
  readonly name: string;
  readonly total: number;
  current(): readonly CurrentLevel[];
  recent(limit?: number): readonly LevelChange[];
  subscribe(listener: (change: LevelChange) => void): () => void;
}

/** Serves the levels an in-process congestion engine keeps (one-process platform). */
export class InProcessCongestionFeed implements CongestionFeed {
  readonly kind = 'memory' as const;

  constructor(private readonly state: InProcessCongestion) {}

  async current(): Promise<CurrentLevel[]> {
    return [...this.state.current()].sort((a, b) => (a.kkmc < b.kkmc ? -1 : a.kkmc > b.kkmc ? 1 : 0));
  }

  async recent(limit: number): Promise<LevelChange[]> {
    return [...this.state.recent(limit)];
  }

  subscribe(onChange: (change: LevelChange) => void): () => void {
    return this.state.subscribe(onChange);
  }

  async health(): Promise<{ ok: boolean; detail: string }> {
    const n = this.state.current().length;
    return { ok: true, detail: `in-process congestion "${this.state.name}": ${n} checkpoints, ${this.state.total} level changes` };
  }

  async close(): Promise<void> {}
}

/** The WARNING/ALERT of a checkpoint at a window start, when thresholds are known. */
export type ThresholdLookup = (kkmc: string, windowStart: string) => { warning: number; alert: number } | undefined;

/**
 * Level changes from Redis (the alert feed's LRANGE / SUBSCRIBE on another key). `current` is
 * derived from the kept log; with `thresholds` the WARNING and ALERT of that change's window are
 * filled from kkmc_thresholds.csv, else only the boundary the change crossed is known.
 */
export class RedisCongestionFeed implements CongestionFeed {
  readonly kind = 'redis' as const;
  private readonly list: RedisAlertFeed;

  constructor(
    url: string,
    key: string = CONGESTION_KEY,
    private readonly thresholds?: () => Promise<ThresholdLookup | null>,
  ) {
    this.list = new RedisAlertFeed(url, key);
  }

  async current(): Promise<CurrentLevel[]> {
    const changes = await this.recent(CONGESTION_LIST_MAX);
    const lookup = this.thresholds ? await this.thresholds().catch(() => null) : null;
    const latest = new Map<string, LevelChange>();
    for (const c of changes) if (!latest.has(c.kkmc)) latest.set(c.kkmc, c);
    return [...latest.values()]
      .sort((a, b) => (a.kkmc < b.kkmc ? -1 : a.kkmc > b.kkmc ? 1 : 0))
      .map((c) => {
        const th = lookup?.(c.kkmc, c.window_start);
        // The change record names one boundary: ALERT when it crossed between yellow and red.
        const crossedAlert = c.level === '红色警戒' || (c.level === '黄色拥堵' && c.previous_level === '红色警戒');
        return {
          kkmc: c.kkmc,
          level: c.level,
          passes: c.passes,
          warning: th ? th.warning : crossedAlert ? null : c.threshold,
          alert: th ? th.alert : crossedAlert ? c.threshold : null,
          window_start: c.window_start,
        };
      });
  }

  async recent(limit: number): Promise<LevelChange[]> {
    return (await this.list.recent(limit)).filter(isLevelChange);
  }

  subscribe(onChange: (change: LevelChange) => void): () => void {
    return this.list.subscribe((c) => {
      if (isLevelChange(c)) onChange(c);
    });
  }

  async health(): Promise<{ ok: boolean; detail: string }> {
    return this.list.health();
  }

  close(): Promise<void> {
    return this.list.close();
  }
}

function isLevelChange(v: unknown): v is LevelChange {
  const c = v as Partial<LevelChange> | null;
  return !!c && typeof c.kkmc === 'string' && typeof c.level === 'string' && typeof c.window_start === 'string';
}

/**
 * kkmc_thresholds.csv, read when first asked and again whenever its modification time changes
 * (users edit it by hand); null while the file does not exist. A broken edit keeps the last good
 * table and reports the error through `lastError`.
 */
export class ThresholdsFile {
  private table: ThresholdTable | null = null;
  private mtime = -1;
  lastError: string | null = null;

  constructor(readonly file: string) {}

  async get(): Promise<ThresholdTable | null> {
    if (!existsSync(this.file)) return null;
    const m = statSync(this.file).mtimeMs;
    if (m !== this.mtime) {
      try {
        this.table = await readThresholds(this.file);
        this.lastError = null;
      } catch (err) {
        this.lastError = (err as Error).message;
      }
      this.mtime = m;
    }
    return this.table;
  }

  /** The same table as a lookup by window start (day type and hour of that start). */
  async lookup(): Promise<ThresholdLookup | null> {
    const t = await this.get();
    if (!t) return null;
    return (kkmc, windowStart) => {
      const hour = Number(windowStart.slice(11, 13));
      return t.get(kkmc, isWeekend(windowStart) ? 'weekend' : 'weekday', hour);
    };
  }
}
