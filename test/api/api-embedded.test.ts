import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAlertFeed } from '../../api/alerts.ts';
import { createApiApp, type ApiApp, type FlowPredictor } from '../../api/app.ts';
import { EmbeddedStore } from '../../store/duckdb-store.ts';
import { provinceOfPlate, vehicleTypeName } from '../../core/reference.ts';
import { makeApiFixture } from './fixture.ts';

// A linear stand-in for the model JSON: flow = hour + 10*weekend per checkpoint (pure logic).
const predictor: FlowPredictor = {
  checkpoints: ['A_Feng_K1', 'B_Pei_K2', 'C_Xinyi_K3'],
  predict: (_k, hour, w) => hour + 10 * w,
};

let app: ApiApp;
let base: string;
let store: EmbeddedStore;
const alerts = new MemoryAlertFeed();
const fx = makeApiFixture();

async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const r = await fetch(base + path, { headers });
  return { status: r.status, body: await r.json() };
}
async function post(path: string, body: unknown, raw?: string): Promise<{ status: number; body: any }> {
  const r = await fetch(base + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: raw ?? JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

beforeAll(async () => {
  store = await EmbeddedStore.open(':memory:');
  expect(await store.loadMasterCsv(fx.master)).toBe(40);
  expect(await store.loadDimensionCsv(fx.dimension)).toBe(3);
  app = createApiApp({ store, alerts, predictor, cors: { origins: '*' }, bodyLimit: 1024 });
  await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app.shutdown();
  await store.close();
});

describe('API on the embedded store', () => {
  it('wraps replies in the {code, msg, data} envelope', async () => {
    const r = await get('/api/stats/overview');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      code: 0,
      msg: 'ok',
      data: { total: 40, latest_gcsj: '2023-12-11 23:19:00', checkpoints: 3, warnings: 0 },
    });
  });

  it('ranks checkpoints busiest first with their Chinese names', async () => {
    const r = await get('/api/stats/kkmc_count?limit=2');
    expect(r.body.data).toEqual([
      { name: 'A_Feng_K1', label: '徐州市丰县A卡口', value: 20 },
      { name: 'B_Pei_K2', label: '徐州市沛县B卡口', value: 15 },
    ]);
  });

  it('gives 24 hourly values with the model prediction summed over checkpoints', async () => {
    const r = await get('/api/stats/flow_24h?date=2023-12-09');
    expect(r.body.data).toHaveLength(24);
    const expected = new Array(24).fill(0);
    for (const row of fx.rows) if (row[4]!.startsWith('2023-12-09')) expected[Number(row[4]!.slice(11, 13))]++;
    expect(r.body.data.map((h: any) => h.value)).toEqual(expected);
    // Saturday: 3 checkpoints × (hour + 10).
    expect(r.body.data[5]).toMatchObject({ hour: 5, predicted: 3 * 15 });
  });

  it('defaults flow_24h to the latest date in the store', async () => {
    const r = await get('/api/stats/flow_24h');
    const total = r.body.data.reduce((s: number, h: any) => s + h.value, 0);
    expect(total).toBe(fx.rows.filter((x) => x[4]!.startsWith('2023-12-11')).length);
  });

  it('counts provinces and vehicle types', async () => {
    const provinces = (await get('/api/stats/map_data')).body.data;
    const sd = fx.rows.filter((r) => r[8] === '山东').length;
    expect(provinces).toEqual([
      { name: '江苏', value: 40 - sd },
      { name: '山东', value: sd },
    ]);
    const types = (await get('/api/stats/vehicle_type')).body.data;
    expect(types.reduce((s: number, t: any) => s + t.value, 0)).toBe(40);
  });

  it('offers every province and plate type the ETL can write as filter choices', async () => {
    const ref = (await get('/api/reference')).body.data;
    // Whatever stage 05 derives from a plate is one of the choices, and the filter then finds it.
    for (const plate of ['苏C12345', '鲁Q1***', '新A9***', '使1234', 'C379***']) expect(ref.provinces).toContain(provinceOfPlate(plate));
    expect(new Set(ref.provinces).size).toBe(ref.provinces.length);
    expect(ref.plate_types).toContainEqual({ code: '52', name: '小型新能源汽车' });
    expect(ref.plate_types).toContainEqual({ code: '-', name: '未知' });
    for (const t of ref.plate_types) expect(vehicleTypeName(t.code)).toBe(t.name);
    const sd = fx.rows.filter((r) => r[8] === '山东').length;
    expect((await post('/api/query', { province: ref.provinces.find((p: string) => p === '山东') })).body.data.total).toBe(sd);
  });

  it('queries with filters, pages and a correct total', async () => {
    const all = await post('/api/query', { kkmc: 'A_Feng_K1', size: 7, page: 3 });
    expect(all.body.data.total).toBe(20);
    expect(all.body.data.rows).toHaveLength(6);
    const p1 = await post('/api/query', { kkmc: 'A_Feng_K1', size: 7, page: 1 });
    const times = p1.body.data.rows.map((r: any) => r.gcsj);
    expect([...times].sort().reverse()).toEqual(times); // newest first
    const plate = await post('/api/query', { hphm: '鲁Q', start: '2023-12-09', end: '2023-12-09' });
    const expected = fx.rows.filter((r) => r[6]!.includes('鲁Q') && r[4]!.startsWith('2023-12-09')).length;
    expect(plate.body.data.total).toBe(expected);
    expect(plate.body.data.rows.every((r: any) => r.hphm.startsWith('鲁Q'))).toBe(true);
  });

  it('predicts one checkpoint-hour from the model', async () => {
    const r = await get('/api/predict/flow?kkmc=B_Pei_K2&hour=8&is_weekend=1');
    expect(r.body.data).toEqual({ kkmc: 'B_Pei_K2', hour: 8, is_weekend: 1, predicted_flow: 18 });
  });

  it('serves newest alerts first from the in-process feed', async () => {
    alerts.push({ id: 'a1' });
    alerts.push({ id: 'a2' });
    expect((await get('/api/warnings/realtime?limit=1')).body.data).toEqual([{ id: 'a2' }]);
    expect((await get('/api/stats/overview')).body.data.warnings).toBe(2);
  });

  it('exports the whole filter as CSV, streamed', async () => {
    const r = await fetch(base + '/api/export.csv?kkmc=B_Pei_K2');
    const bytes = Buffer.from(await r.arrayBuffer());
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]); // BOM: spreadsheets read it as UTF-8
    const lines = bytes.subarray(3).toString('utf8').trim().split('\n');
    expect(lines[0]).toBe('GCXH,XZQHMC,KKMC,FXLX,GCSJ,HPZL,HPHM,CLPPXH,PROVINCE,IS_WEEKEND,IS_PEAK_HOUR,VEHICLE_TYPE_NAME');
    expect(lines).toHaveLength(16);
  });

  it('answers CORS preflight', async () => {
    const r = await fetch(base + '/api/query', { method: 'OPTIONS', headers: { Origin: 'http://x.test' } });
    expect(r.status).toBe(204);
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
    expect(r.headers.get('access-control-allow-headers')).toContain('X-API-Key');
  });
});

describe('bad requests get a 4xx with a message, never a 5xx', () => {
  const cases: Array<[string, () => Promise<{ status: number; body: any }>, number, RegExp]> = [
    ['invalid JSON', () => post('/api/query', null, '{"kkmc": '), 400, /invalid JSON/],
    ['a body that is not an object', () => post('/api/query', [1, 2]), 400, /JSON object/],
    ['wrong types', () => post('/api/query', { page: 'two' }), 400, /page must be an integer/],
    ['size over 200', () => post('/api/query', { size: 201 }), 400, /size must be between 1 and 200/],
    ['page below 1', () => post('/api/query', { page: 0 }), 400, /page must be between/],
    ['unknown checkpoint', () => post('/api/query', { kkmc: 'NOPE' }), 400, /unknown checkpoint "NOPE"/],
    ['unknown field', () => post('/api/query', { plate: 'x' }), 400, /unknown field "plate"/],
    ['a bad date', () => post('/api/query', { start: '2023-02-30' }), 400, /start must be/],
    ['start after end', () => post('/api/query', { start: '2023-12-11', end: '2023-12-09' }), 400, /after end/],
    ['a bad flow date', () => get('/api/stats/flow_24h?date=20231209'), 400, /date must be a date/],
    ['limit not a number', () => get('/api/stats/kkmc_count?limit=abc'), 400, /limit must be an integer/],
    ['hour out of range', () => get('/api/predict/flow?kkmc=A_Feng_K1&hour=24&is_weekend=0'), 400, /hour must be between 0 and 23/],
    ['predict unknown checkpoint', () => get('/api/predict/flow?kkmc=ZZ&hour=1&is_weekend=0'), 400, /unknown checkpoint/],
    ['is_weekend not 0/1', () => get('/api/predict/flow?kkmc=A_Feng_K1&hour=1&is_weekend=yes'), 400, /is_weekend/],
    ['a body over the limit', () => post('/api/query', { hphm: 'x'.repeat(2000) }), 413, /too large/],
    ['an unknown route', () => get('/api/nope'), 404, /no such endpoint/],
    ['a wrong method', () => get('/api/query'), 405, /not allowed/],
  ];
  it.each(cases)('%s', async (_name, call, status, msg) => {
    const r = await call();
    expect(r.status).toBe(status);
    expect(r.body.code).toBe(status);
    expect(r.body.msg).toMatch(msg);
    expect(JSON.stringify(r.body)).not.toMatch(/at .*\.ts:\d+/);
  });

  it('treats SQL-injection strings as plain text: they match nothing and change nothing', async () => {
    for (const evil of ["' OR '1'='1", '%', '_', "x'; DROP TABLE traffic_data; --"]) {
      const r = await post('/api/query', { hphm: evil });
      expect(r.status).toBe(200);
      expect(r.body.data.total).toBe(0);
    }
    expect((await get('/api/stats/overview')).body.data.total).toBe(40);
  });
});

describe('API key', () => {
  it('requires X-API-Key on /api when TRAFFIC_API_KEY is set', async () => {
    const keyed = createApiApp({ store, alerts, predictor, cors: { origins: '*' }, apiKey: 's3cret' });
    await new Promise<void>((r) => keyed.server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(keyed.server.address() as AddressInfo).port}/api/stats/overview`;
    try {
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(url, { headers: { 'X-API-Key': 's3cret' } })).status).toBe(200);
    } finally {
      await keyed.shutdown();
    }
  });
});

describe('stats aggregates are shared and briefly reused, never stale for long', () => {
  it('runs one query for concurrent requests, reuses it within the TTL, queries again after, and never keeps a failure', async () => {
    let calls = 0;
    let fail = false;
    const counting = Object.create(store) as EmbeddedStore;
    counting.provinceCount = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 50));
      if (fail) throw new Error('store down');
      return store.provinceCount();
    };
    const cachedApp = createApiApp({ store: counting, alerts, predictor, cors: { origins: '*' }, statsCacheMs: 300 });
    await new Promise<void>((r) => cachedApp.server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(cachedApp.server.address() as AddressInfo).port}/api/stats/map_data`;
    try {
      const replies = await Promise.all([1, 2, 3, 4].map(() => fetch(url).then((r) => r.json())));
      expect(calls).toBe(1);
      expect(new Set(replies.map((r) => JSON.stringify(r.data))).size).toBe(1);
      await fetch(url);
      expect(calls).toBe(1); // within the TTL
      await new Promise((r) => setTimeout(r, 350));
      fail = true;
      expect((await fetch(url)).status).toBe(500);
      expect(calls).toBe(2);
      fail = false;
      expect((await fetch(url)).status).toBe(200); // the failure was not reused
      expect(calls).toBe(3);
    } finally {
      await cachedApp.shutdown();
    }
  });
});
