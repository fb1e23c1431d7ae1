import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAlertFeed } from '../../api/alerts.ts';
import { createApiApp, type ApiApp } from '../../api/app.ts';
import { InProcessCongestionFeed, RedisCongestionFeed, ThresholdsFile } from '../../api/congestion.ts';
import { EmbeddedStore } from '../../store/duckdb-store.ts';
import { congestionId, type CongestionAlert } from '../../streaming/congestion/levels.ts';
import { CongestionState } from '../../streaming/congestion/state.ts';
import { makeApiFixture } from './fixture.ts';

const REDIS = process.env.TRAFFIC_REDIS ?? 'redis://127.0.0.1:6379';
const fx = makeApiFixture();
const state = new CongestionState('api-test');
const apps: ApiApp[] = [];
let base: string;
let bare: string;
let store: EmbeddedStore;

function change(
  kkmc: string,
  window_start: string,
  level: CongestionAlert['level'],
  previous_level: CongestionAlert['level'],
  passes: number,
  threshold: number,
): CongestionAlert {
  return { id: congestionId(kkmc, window_start, level), kkmc, level, passes, threshold, window_start, previous_level };
}

// Known levels: A is red, B yellow, C comfortable; four changes, the newest last.
const changes = [
  change('A_Feng_K1', '2023-12-11 08:00:00', '黄色拥堵', '舒适', 12, 10),
  change('B_Pei_K2', '2023-12-11 08:05:00', '黄色拥堵', '舒适', 9, 7),
  change('A_Feng_K1', '2023-12-11 08:10:00', '红色警戒', '黄色拥堵', 21, 15),
  change('C_Xinyi_K3', '2023-12-11 08:15:00', '舒适', '黄色拥堵', 2, 5),
];

// Thresholds for A_Feng_K1 only: weekend hours 0–23 at 5/8 except 08:00 at 10/15; weekday 6/9.
const thresholdsCsv = path.join(fx.dir, 'kkmc_thresholds.csv');
const lines = ['KKMC,DAY_TYPE,HOUR,WARNING,ALERT'];
for (let h = 0; h < 24; h++) lines.push(`A_Feng_K1,weekend,${h},${h === 8 ? 10 : 5},${h === 8 ? 15 : 8}`);
for (let h = 0; h < 24; h++) lines.push(`A_Feng_K1,weekday,${h},6,9`);
writeFileSync(thresholdsCsv, lines.join('\n') + '\n');
const thresholds = new ThresholdsFile(thresholdsCsv);

async function listen(app: ApiApp): Promise<string> {
  await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', () => r()));
  apps.push(app);
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

async function get(b: string, p: string): Promise<{ status: number; body: any }> {
  const r = await fetch(b + p);
  return { status: r.status, body: await r.json() };
}

beforeAll(async () => {
  store = await EmbeddedStore.open(':memory:');
  await store.loadMasterCsv(fx.master);
  await store.loadDimensionCsv(fx.dimension);
  state.setLevels([
    { kkmc: 'C_Xinyi_K3', level: '舒适', passes: 2, warning: 5, alert: 8, window_start: '2023-12-11 08:15:00' },
    { kkmc: 'A_Feng_K1', level: '红色警戒', passes: 21, warning: 10, alert: 15, window_start: '2023-12-11 08:15:00' },
    { kkmc: 'B_Pei_K2', level: '黄色拥堵', passes: 9, warning: 7, alert: 11, window_start: '2023-12-11 08:15:00' },
  ]);
  state.add(changes);
  base = await listen(
    createApiApp({
      store,
      alerts: new MemoryAlertFeed(),
      predictor: null,
      congestion: new InProcessCongestionFeed(state),
      thresholds: () => thresholds.get(),
      cors: { origins: '*' },
    }),
  );
  bare = await listen(createApiApp({ store, alerts: new MemoryAlertFeed(), predictor: null, cors: { origins: '*' } }));
});

afterAll(async () => {
  for (const a of apps) await a.shutdown();
  await store?.close();
});

describe('congestion endpoints on the in-process feed', () => {
  it('gives every checkpoint its level, passes and thresholds with its Chinese name, by code', async () => {
    const r = await get(base, '/api/congestion/current');
    expect(r.status).toBe(200);
    expect(r.body.code).toBe(0);
    expect(r.body.data).toEqual([
      { kkmc: 'A_Feng_K1', label: '徐州市丰县A卡口', level: '红色警戒', passes: 21, warning: 10, alert: 15, window_start: '2023-12-11 08:15:00' },
      { kkmc: 'B_Pei_K2', label: '徐州市沛县B卡口', level: '黄色拥堵', passes: 9, warning: 7, alert: 11, window_start: '2023-12-11 08:15:00' },
      { kkmc: 'C_Xinyi_K3', label: '徐州市新沂市C卡口', level: '舒适', passes: 2, warning: 5, alert: 8, window_start: '2023-12-11 08:15:00' },
    ]);
  });

  it('lists level changes newest first, 20 by default and `limit` of them', async () => {
    const all = await get(base, '/api/congestion/log');
    expect(all.body.data).toEqual([...changes].reverse());
    const two = await get(base, '/api/congestion/log?limit=2');
    expect(two.body.data.map((c: CongestionAlert) => [c.kkmc, c.level, c.previous_level])).toEqual([
      ['C_Xinyi_K3', '舒适', '黄色拥堵'],
      ['A_Feng_K1', '红色警戒', '黄色拥堵'],
    ]);
  });

  it('pushes each new level change on the SSE stream as event: congestion', async () => {
    const ac = new AbortController();
    const res = await fetch(base + '/api/stream', { signal: ac.signal });
    const reader = res.body!.getReader();
    const fresh = change('B_Pei_K2', '2023-12-11 08:20:00', '红色警戒', '黄色拥堵', 30, 11);
    let text = '';
    const decoder = new TextDecoder();
    // The first chunk (retry + flow) means the subscription is in place.
    text += decoder.decode((await reader.read()).value);
    state.add([fresh]);
    const deadline = Date.now() + 3000;
    while (!text.includes('event: congestion') && Date.now() < deadline) text += decoder.decode((await reader.read()).value);
    ac.abort();
    const block = text.slice(text.indexOf('event: congestion')).split('\n\n')[0]!;
    expect(JSON.parse(block.split('\ndata: ')[1]!)).toEqual(fresh);
    expect((await get(base, '/api/congestion/log?limit=1')).body.data).toEqual([fresh]);
  });

  it("gives a checkpoint-day's 288 five-minute passes with the thresholds of that day type", async () => {
    const r = await get(base, '/api/congestion/series?kkmc=A_Feng_K1&date=2023-12-09');
    expect(r.status).toBe(200);
    const d = r.body.data;
    expect(d).toMatchObject({ kkmc: 'A_Feng_K1', label: '徐州市丰县A卡口', date: '2023-12-09', day_type: 'weekend', window_s: 300 });
    expect(d.windows).toHaveLength(288);
    expect(d.windows[0].window_start).toBe('2023-12-09 00:00:00');
    expect(d.windows[287].window_start).toBe('2023-12-09 23:55:00');
    const expected = new Array(288).fill(0);
    for (const row of fx.rows) {
      if (row[2] !== 'A_Feng_K1' || !row[4]!.startsWith('2023-12-09')) continue;
      expected[Number(row[4]!.slice(11, 13)) * 12 + Math.floor(Number(row[4]!.slice(14, 16)) / 5)]++;
    }
    expect(d.windows.map((w: any) => w.passes)).toEqual(expected);
    expect(expected.reduce((a, b) => a + b, 0)).toBe(10);
    expect(d.thresholds).toHaveLength(24);
    expect(d.thresholds[8]).toEqual({ hour: 8, warning: 10, alert: 15 });
    expect(d.thresholds[9]).toEqual({ hour: 9, warning: 5, alert: 8 });
    // Monday: the weekday rows.
    const mon = (await get(base, '/api/congestion/series?kkmc=A_Feng_K1&date=2023-12-11')).body.data;
    expect(mon.day_type).toBe('weekday');
    expect(mon.thresholds[8]).toEqual({ hour: 8, warning: 6, alert: 9 });
  });

  it('has no threshold lines for a checkpoint missing from the file, and null without a file', async () => {
    const b = (await get(base, '/api/congestion/series?kkmc=B_Pei_K2&date=2023-12-09')).body.data;
    expect(b.thresholds).toEqual([]);
    expect(b.windows.reduce((s: number, w: any) => s + w.passes, 0)).toBe(8);
    const none = (await get(bare, '/api/congestion/series?kkmc=B_Pei_K2')).body.data;
    expect(none.thresholds).toBeNull();
    expect(none.date).toBe('2023-12-11'); // default: the latest date in the store
  });
});

describe('congestion bad requests and a missing engine', () => {
  const cases: Array<[string, string, number, RegExp]> = [
    ['limit 0', '/api/congestion/log?limit=0', 400, /limit must be between 1 and 1000, got 0/],
    ['limit over 1000', '/api/congestion/log?limit=1001', 400, /limit must be between 1 and 1000/],
    ['limit not a number', '/api/congestion/log?limit=ten', 400, /limit must be an integer/],
    ['series without kkmc', '/api/congestion/series?date=2023-12-09', 400, /kkmc is required/],
    ['series of an unknown checkpoint', '/api/congestion/series?kkmc=NOPE&date=2023-12-09', 400, /unknown checkpoint "NOPE"/],
    ['series with a bad date', '/api/congestion/series?kkmc=A_Feng_K1&date=2023-02-30', 400, /date must be a date YYYY-MM-DD/],
    ['series with a date in another format', '/api/congestion/series?kkmc=A_Feng_K1&date=20231209', 400, /date must be a date/],
  ];
  it.each(cases)('%s', async (_name, p, status, msg) => {
    const r = await get(base, p);
    expect(r.status).toBe(status);
    expect(r.body.code).toBe(status);
    expect(r.body.msg).toMatch(msg);
  });

  it('answers 405 to a POST on a congestion endpoint', async () => {
    const r = await fetch(base + '/api/congestion/current', { method: 'POST', body: '{}' });
    expect(r.status).toBe(405);
    expect(((await r.json()) as { msg: string }).msg).toMatch(/not allowed/);
  });

  it('answers 503 "congestion monitoring not running" without a feed, and the series still works', async () => {
    for (const p of ['/api/congestion/current', '/api/congestion/log']) {
      const r = await get(bare, p);
      expect(r.status).toBe(503);
      expect(r.body).toMatchObject({ code: 503, data: null });
      expect(r.body.msg).toMatch(/^congestion monitoring not running/);
    }
    expect((await get(bare, '/api/congestion/series?kkmc=A_Feng_K1&date=2023-12-09')).status).toBe(200);
  });
});

describe('congestion from the Redis list traffic:congestion', () => {
  const key = `test:congestion:${process.pid}:${Date.now()}`;
  let redis: Redis;
  let feed: RedisCongestionFeed;
  let app: ApiApp;
  let url: string;

  beforeAll(async () => {
    redis = new Redis(REDIS);
    // LPUSH in order: the list is newest first, as the congestion service writes it.
    for (const c of changes) await redis.lpush(key, JSON.stringify(c));
    feed = new RedisCongestionFeed(REDIS, key, () => thresholds.lookup());
    // The feed fails fast while not connected (no offline queue): wait for the connection.
    for (let i = 0; i < 50 && !(await feed.health()).ok; i++) await new Promise((r) => setTimeout(r, 50));
    app = createApiApp({ store, alerts: new MemoryAlertFeed(), predictor: null, congestion: feed, cors: { origins: '*' } });
    url = await listen(app);
  });

  afterAll(async () => {
    await app?.shutdown();
    apps.splice(apps.indexOf(app), 1);
    await feed?.close();
    await redis?.del(key);
    redis?.disconnect();
  });

  it("derives each checkpoint's level from its newest change, thresholds from the file or the change", async () => {
    const r = await get(url, '/api/congestion/current');
    expect(r.body.data).toEqual([
      // Weekday 08:10 in the file: 6/9 (the change's own boundary was 15).
      { kkmc: 'A_Feng_K1', label: '徐州市丰县A卡口', level: '红色警戒', passes: 21, warning: 6, alert: 9, window_start: '2023-12-11 08:10:00' },
      // Not in the file: only the boundary the change crossed is known.
      { kkmc: 'B_Pei_K2', label: '徐州市沛县B卡口', level: '黄色拥堵', passes: 9, warning: 7, alert: null, window_start: '2023-12-11 08:05:00' },
      { kkmc: 'C_Xinyi_K3', label: '徐州市新沂市C卡口', level: '舒适', passes: 2, warning: 5, alert: null, window_start: '2023-12-11 08:15:00' },
    ]);
    expect((await get(url, '/api/congestion/log?limit=3')).body.data).toEqual([...changes].reverse().slice(0, 3));
  });
});
