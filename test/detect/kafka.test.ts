/**
 * The detector against the real Kafka broker and real Redis: scale-out in one consumer group and
 * restart idempotency (offsets commit only after the alert is stored; ids dedupe the replay).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { TrafficError } from '../../core/errors.ts';
import type { Source } from '../../streaming/bus/index.ts';
import type { Alert } from '../../streaming/detect/alert.ts';
import { CloneDetector, DEFAULT_PARAMS } from '../../streaming/detect/core.ts';
import { distanceLookup, type Dimension } from '../../streaming/detect/geo.ts';
import { ETL_PLATES } from '../../streaming/detect/plates.ts';
import { runDetect, type DetectRunOptions, type DetectSummary } from '../../streaming/detect/run.ts';
import { CP, rec } from './fixtures.ts';
import { MemoryAlertSink, RedisAlertSink, type AlertSink } from '../../streaming/detect/sinks.ts';
import { syntheticCoords, syntheticStream } from '../../streaming/detect/synthetic.ts';
import { createTopic, deleteTopics, kafkaUri, produceRows, testKafka, uniqueGroup, uniqueTopic } from '../helpers/kafka.ts';

const REDIS = process.env.TRAFFIC_REDIS ?? 'redis://127.0.0.1:6379';
const prefix = `test:detect:${randomUUID().slice(0, 8)}`;
const topics: string[] = [];
const coords = syntheticCoords();
const dim: Dimension = { file: null, coords, checkpoints: coords.size, withCoordinates: coords.size };
const quiet = { quiet: true, rule: 'default' as const, windowS: 300, speedKmh: 150, latenessS: 60, dim };

afterAll(async () => {
  await deleteTopics(topics);
  const r = new Redis(REDIS);
  const keys = await r.keys(`${prefix}*`);
  if (keys.length) await r.del(...keys);
  await r.quit();
});

/** Synthetic records, up to 20 s out of order (within the lateness), with injected clones. */
function records(n: number, seed: number): string[][] {
  const rows: string[][] = [];
  for (const r of syntheticStream({ seed, rate: 2, plates: 10_000, maskedShare: 0.2, jitterS: 20, injectClones: 0.02 })) {
    rows.push(r);
    if (rows.length >= n) break;
  }
  return rows;
}

/** The alert ids of one offline pass (any partitioning gives these: no record is late). */
function offlineIds(rows: string[][]): string[] {
  const d = new CloneDetector({ ...DEFAULT_PARAMS, distance: distanceLookup(coords), plates: ETL_PLATES });
  const out: Alert[] = [];
  for (const r of rows) d.push(r, 0, out);
  expect(d.stats.late).toBe(0);
  return out.map((a) => a.id).sort();
}

const produce = produceRows;

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts a detector on a topic; returns its run promise and a handle to stop it. */
function start(topic: string, groupId: string, to: AlertSink, extra: Partial<DetectRunOptions> = {}) {
  let source: Source | undefined;
  const done = runDetect({ ...quiet, from: kafkaUri(topic), to, groupId, onSource: (s) => (source = s), ...extra });
  return {
    done,
    delivered: () => source?.stats.delivered ?? 0,
    stop: async (): Promise<DetectSummary> => {
      await waitFor(() => source !== undefined, 'source');
      await source!.stop();
      return done;
    },
  };
}

describe('detector on Kafka (real broker)', () => {
  it('two instances in one consumer group raise exactly the alerts one instance raises', async () => {
    const topic = uniqueTopic('detect-scale');
    topics.push(topic);
    await createTopic(topic, 4);
    const rows = records(3000, 11);
    const expected = offlineIds(rows);
    expect(expected.length).toBeGreaterThan(50);

    const group = uniqueGroup('detect-two');
    const sinkA = new MemoryAlertSink({ capacity: 100_000 });
    const sinkB = new MemoryAlertSink({ capacity: 100_000 });
    const a = start(topic, group, sinkA);
    const b = start(topic, group, sinkB);
    // Produce only once both members own their partitions, so no partition changes hands
    // mid-stream (a handover loses the previous owner's in-memory state: docs/detector.md).
    const admin = testKafka().admin();
    await admin.connect();
    try {
      await waitFor(async () => {
        const g = (await admin.describeGroups([group])).groups[0];
        return g?.state === 'Stable' && g.members.length === 2;
      }, 'both members in the group');
    } finally {
      await admin.disconnect();
    }
    await produce(topic, rows);
    await waitFor(() => a.delivered() + b.delivered() >= rows.length, 'records delivered to the pair');
    const [sa, sb] = await Promise.all([a.stop(), b.stop()]);
    expect(sa.records).toBeGreaterThan(0);
    expect(sb.records).toBeGreaterThan(0);
    const two = [...sinkA.recent(100_000), ...sinkB.recent(100_000)].map((x) => x.id).sort();

    const sinkC = new MemoryAlertSink({ capacity: 100_000 });
    const c = start(topic, uniqueGroup('detect-one'), sinkC);
    await waitFor(() => c.delivered() >= rows.length, 'records delivered to the single instance');
    await c.stop();
    const one = sinkC
      .recent(100_000)
      .map((x) => x.id)
      .sort();

    expect(one).toEqual(expected);
    expect(two).toEqual(one);
  });

  it('a restart after a crash between storing alerts and committing re-creates no alert in Redis', async () => {
    const topic = uniqueTopic('detect-restart');
    topics.push(topic);
    await createTopic(topic, 1);
    const rows = records(2000, 12);
    const expected = offlineIds(rows);
    await produce(topic, rows);
    const key = `${prefix}:restart:warnings`;
    const group = uniqueGroup('detect-restart');

    // Run 1 stores its first alerts in Redis, then dies before the handler returns (no commit).
    const redis1 = await RedisAlertSink.open(REDIS, { key });
    let crashed = 0;
    const crashing: AlertSink = {
      uri: redis1.uri,
      async write(alerts) {
        const n = await redis1.write(alerts);
        crashed += n;
        throw new TrafficError('INTERNAL', 'simulated crash after the Redis write');
      },
      close: () => redis1.close(),
    };
    const run1 = start(topic, group, crashing);
    await expect(run1.done).rejects.toThrow(/simulated crash/);
    expect(crashed).toBeGreaterThan(0);
    await crashing.close();

    // Run 2 (same group) replays from the last commit.
    const redis2 = await RedisAlertSink.open(REDIS, { key });
    const run2 = start(topic, group, redis2);
    await waitFor(() => run2.delivered() >= rows.length, 'replay delivered');
    const s2 = await run2.stop();
    await redis2.close();

    const r = new Redis(REDIS);
    const list = (await r.lrange(key, 0, -1)).map((x) => (JSON.parse(x) as Alert).id);
    await r.quit();
    expect(s2.alerts).toBe(expected.length); // the replay found every alert again …
    expect(s2.stored).toBe(expected.length - crashed); // … and stored only those not stored before
    expect(list.length).toBe(expected.length);
    expect([...list].sort()).toEqual(expected);
  });

  it('finds a pair spanning a restart by re-reading the state before the committed offsets', async () => {
    const topic = uniqueTopic('detect-warmup');
    topics.push(topic);
    await createTopic(topic, 1);
    const fixtureDim: Dimension = { file: null, coords: new Map(Object.entries(CP)), checkpoints: 4, withCoordinates: 4 };
    const filler = (i: number, t: string): string[] => rec(`F${i}`, 'S323_Xinyi_K10', t, `苏A${10000 + i}`);
    const before = [rec('W1', 'G104_Suining_K873', '2024-01-01 10:00:00', '苏C12345'), filler(1, '2024-01-01 10:00:30'), filler(2, '2024-01-01 10:01:00')];
    const after = [filler(3, '2024-01-01 10:02:00'), rec('W2', 'G310_Tongshan_K310', '2024-01-01 10:03:00', '苏C12345')];
    const groups = { warm: uniqueGroup('detect-warm'), cold: uniqueGroup('detect-cold') };
    const sinks = { warm: new MemoryAlertSink(), cold: new MemoryAlertSink() };
    const opts = (g: 'warm' | 'cold'): Partial<DetectRunOptions> => ({ dim: fixtureDim, warmUpRecords: g === 'warm' ? 100 : 0 });

    await produce(topic, before);
    for (const g of ['warm', 'cold'] as const) {
      const r = start(topic, groups[g], sinks[g], opts(g));
      await waitFor(() => r.delivered() >= before.length, `first run of ${g}`);
      await r.stop();
    }
    // Both instances stopped with everything committed; the pair's second pass comes now.
    await produce(topic, after);
    const summaries: Record<string, DetectSummary> = {};
    for (const g of ['warm', 'cold'] as const) {
      const r = start(topic, groups[g], sinks[g], opts(g));
      await waitFor(() => r.delivered() >= after.length, `second run of ${g}`);
      summaries[g] = await r.stop();
    }
    expect(summaries.warm!.warmUp).toMatchObject({ partitions: 1, records: 3, short: [] });
    expect(summaries.warm!.records).toBe(2); // warm-up records are not counted again
    expect(sinks.warm.recent(10).map((a) => [a.prev.gcxh, a.curr.gcxh])).toEqual([['W1', 'W2']]);
    // Without the warm-up the restarted instance has forgotten W1.
    expect(sinks.cold.recent(10)).toEqual([]);
  });
});
