/**
 * Restart state of the congestion service: open windows, partition clocks, levels, and the last
 * offset each source partition had been processed to. Saved after a batch's windows and changes
 * are stored and before the bus commits, so after a crash:
 *   - records the snapshot covers (offset ≤ saved) are skipped when the bus re-delivers them;
 *   - records after it are processed again, re-creating the same windows and change ids, which
 *     the idempotent store and sinks absorb.
 * Without it, windows still open at a restart would lose the passes counted before the last commit.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { TrafficError, withRetry } from '../../core/errors.ts';
import type { WindowsSnapshot } from '../windows/core.ts';
import type { LevelsSnapshot } from './levels.ts';

export interface CongestionSnapshot {
  format: 'traffic-congestion-state/1';
  /** Partition → last processed offset (decimal text). */
  offsets: Record<string, string>;
  windows: WindowsSnapshot;
  levels: LevelsSnapshot;
}

export interface SnapshotStore {
  readonly where: string;
  load(): Promise<CongestionSnapshot | null>;
  save(s: CongestionSnapshot): Promise<void>;
  close(): Promise<void>;
}

function parse(text: string | null, where: string): CongestionSnapshot | null {
  if (text === null) return null;
  const v = JSON.parse(text) as Partial<CongestionSnapshot>;
  if (v.format !== 'traffic-congestion-state/1' || !v.offsets || !v.windows || !v.levels) {
    throw new TrafficError('INPUT_EMPTY', `not a congestion state snapshot: ${where}`);
  }
  return v as CongestionSnapshot;
}

export class FileSnapshotStore implements SnapshotStore {
  constructor(readonly where: string) {}
  async load(): Promise<CongestionSnapshot | null> {
    return parse(existsSync(this.where) ? await readFile(this.where, 'utf8') : null, this.where);
  }
  async save(s: CongestionSnapshot): Promise<void> {
    await mkdir(path.dirname(path.resolve(this.where)), { recursive: true });
    const tmp = `${this.where}.tmp`;
    await writeFile(tmp, JSON.stringify(s));
    await rename(tmp, this.where);
  }
  async close(): Promise<void> {}
}

export class RedisSnapshotStore implements SnapshotStore {
  private constructor(
    readonly where: string,
    private readonly redis: Redis,
    private readonly key: string,
  ) {}

  static async open(uri: string, key: string): Promise<RedisSnapshotStore> {
    const redis = new Redis(uri, { lazyConnect: true, maxRetriesPerRequest: 2 });
    redis.on('error', () => {});
    try {
      await redis.connect();
    } catch (err) {
      redis.disconnect();
      throw new TrafficError('CONNECTION_FAILED', `cannot connect to Redis at ${uri}: ${(err as Error).message}`, {}, { cause: err });
    }
    return new RedisSnapshotStore(`${uri} ${key}`, redis, key);
  }

  async load(): Promise<CongestionSnapshot | null> {
    return parse(await this.redis.get(this.key), this.where);
  }
  async save(s: CongestionSnapshot): Promise<void> {
    await withRetry(() => this.redis.set(this.key, JSON.stringify(s)), { retries: 5, initialMs: 200, maxMs: 3000 });
  }
  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
