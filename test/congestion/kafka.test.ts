/**
 * Live monitoring against the real Kafka broker, Redis and the MariaDB shards: a crash after the
 * stores were written but before the commit, then a restart, yields exactly the windows and
 * level changes of one uninterrupted offline pass: no duplicate, none lost.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { TrafficError } from '../../core/errors.ts';
import { formatChinaTime, toEpochSeconds } from '../../core/time.ts';
import { openSink, type Source } from '../../streaming/bus/index.ts';
import { CongestionLevels } from '../../streaming/congestion/levels.ts';
import { runCongestion, type CongestionSummary } from '../../streaming/congestion/run.ts';
import { RedisSnapshotStore, type SnapshotStore } from '../../streaming/congestion/snapshot.ts';
import { openMysqlWindowStore } from '../../streaming/congestion/window-store.ts';
import { FlowWindows } from '../../streaming/windows/core.ts';
import { createTopic, deleteTopics, kafkaUri, testKafka, uniqueGroup, uniqueTopic } from '../helpers/kafka.ts';
import { dropDb, PORTS, q, shardUrls, testDbName } from '../store/db.ts';
import { flatThresholds, pass } from './fixtures.ts';

const REDIS = process.env.TRAFFIC_REDIS ?? 'redis://127.0.0.1:6379';
const prefix = `test:congestion:${randomUUID().slice(0, 8)}`;
const db = testDbName('traffic_cong_test');
const topics: string[] = [];

afterAll(async () => {
  await deleteTopics(topics);
  const r = new Redis(REDIS);
  const keys = await r.keys(`${prefix}*`);
  if (keys.length) await r.del(...keys);
  await r.quit();
  await dropDb(db);
});

/** Two hours of passes at three checkpoints (K1 surges 08:20–08:40, K2 08:40–09:20), up to 20 s out of order. */
function records(): string[][] {
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const t0 = toEpochSeconds('2024-01-15 08:00:00');
  const out: { t: number; at: number; row: string[] }[] = [];
  let n = 0;
  for (let m = 0; m < 120; m++) {
    const perMin: Record<string, number> = { K1: m >= 20 && m < 40 ? 5 : 1, K2: m >= 40 && m < 80 ? 3 : 1, K3: 1 };
    for (const [kkmc, k] of Object.entries(perMin)) {
      for (let i = 0; i < k; i++) {
        const t = t0 + m * 60 + Math.floor((i * 60) / k);
        n++;
        const row = pass(kkmc, n % 2 ? '1' : '2', formatChinaTime(t * 1000), `G${n}`, `苏C${String(n).padStart(4, '0')}*`);
        out.push({ t, at: t + Math.floor(rnd() * 20), row });
      }
    }
  }
  return out.sort((a, b) => a.at - b.at || a.t - b.t).map((x) => x.row);
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('congestion on Kafka, Redis and the MySQL shards (real services)', () => {
  it('a crash between storing and committing, then a restart, stores each window and level change once', async () => {
    const topic = uniqueTopic('congestion-restart');
    topics.push(topic);
    await createTopic(topic, 3);
    const rows = records();
    const sink = await openSink(kafkaUri(topic));
    await sink.send(rows);
    await sink.close();

    const key = `${prefix}:congestion`;
    const stateKey = `${key}:state`;
    const group = uniqueGroup('congestion-restart');
    const thresholds = flatThresholds({ K1: [10, 20], K2: [10, 20], K3: [10, 20] });
    const levels = { riseWindows: 2, holdWindows: 2 };
    const windowStore = await openMysqlWindowStore({ urls: shardUrls(db) });
    const base = {
      from: kafkaUri(topic),
      to: `redis://127.0.0.1:6379`,
      groupId: group,
      thresholds,
      levels,
      windowStore,
      sink: { key },
      maxBatch: 20,
      idleMs: 60_000,
      quiet: true,
    };

    // Run 1: its third batch is stored (windows, changes, snapshot), then the process "dies" before the commit.
    const snap1 = await RedisSnapshotStore.open(REDIS, stateKey);
    let saves = 0;
    const crashing: SnapshotStore = {
      where: snap1.where,
      load: () => snap1.load(),
      async save(s) {
        await snap1.save(s);
        if (++saves === 3) throw new TrafficError('INTERNAL', 'simulated crash after the snapshot');
      },
      close: () => snap1.close(),
    };
    await expect(runCongestion({ ...base, snapshot: crashing })).rejects.toThrow(/simulated crash/);
    await crashing.close();

    // Run 2 (same group) resumes from the snapshot; the bus re-delivers the uncommitted batch.
    const snap2 = await RedisSnapshotStore.open(REDIS, stateKey);
    let source: Source | undefined;
    const admin = testKafka().admin();
    await admin.connect();
    const ends = (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, last: BigInt(p.high) - 1n }));
    await admin.disconnect();
    const run2 = runCongestion({ ...base, snapshot: snap2, onSource: (s) => (source = s) });
    await waitFor(async () => {
      const s = await snap2.load();
      return s !== null && ends.every((e) => e.last < 0n || s.offsets[String(e.partition)] === e.last.toString());
    }, 'every record processed');
    await source!.stop();
    const s2: CongestionSummary = await run2;
    const final = (await snap2.load())!;
    await snap2.close();
    await windowStore.close();
    expect(s2.restoredFrom).not.toBeNull();
    expect(s2.skippedReplay).toBeGreaterThan(0); // the batch stored before the crash was not counted twice

    // The truth: one offline pass over all records, windows closed by the final watermark.
    const wm = final.windows.watermark!;
    const offline = new FlowWindows();
    for (const r of rows) offline.push(r);
    expect(offline.stats.late).toBe(0);
    const all = offline.closeAll().closed.filter((w) => toEpochSeconds(w.window_start) + w.window_len_s <= wm);
    const expectedWindows = all.map((w) => `${w.kkmc} ${w.fxlx} ${w.window_start} ${w.window_len_s} ${w.passes}+${w.late}`).sort();
    const expectedChanges = new CongestionLevels(thresholds, levels).onClosed(all, wm);
    expect(expectedChanges.length).toBeGreaterThanOrEqual(4);

    const stored: string[] = [];
    for (const port of PORTS) {
      const got = await q<{ kkmc: string; fxlx: string; window_start: string; window_len_s: number; passes: number; late: number }>(
        port,
        `SELECT kkmc, fxlx, window_start, window_len_s, passes, late FROM \`${db}\`.traffic_flow_window`,
      );
      stored.push(...got.map((w) => `${w.kkmc} ${w.fxlx} ${w.window_start} ${w.window_len_s} ${w.passes}+${w.late}`));
    }
    expect(stored.sort()).toEqual(expectedWindows);

    const r = new Redis(REDIS);
    const list = (await r.lrange(key, 0, -1)).map((x) => JSON.parse(x) as { id: string; level: string; window_start: string; kkmc: string });
    await r.quit();
    expect(list.map((c) => c.id).sort()).toEqual(expectedChanges.map((c) => c.id).sort());
    expect(new Set(list.map((c) => c.id)).size).toBe(list.length);
    // Newest first, as LPUSH leaves them.
    expect(list.map((c) => `${c.window_start} ${c.kkmc} ${c.level}`).reverse()).toEqual(expectedChanges.map((c) => `${c.window_start} ${c.kkmc} ${c.level}`));
  }, 120_000);
});
