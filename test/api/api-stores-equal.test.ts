import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { strFromU8, unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAlertFeed } from '../../api/alerts.ts';
import { createApiApp, type ApiApp } from '../../api/app.ts';
import { EmbeddedStore } from '../../store/duckdb-store.ts';
import { MysqlApiStore } from '../../store/api-store.ts';
import { loadMaster, readDimension } from '../../store/load.ts';
import { ShardedStore } from '../../store/mysql.ts';
import { chinaHourNumber } from '../../core/time.ts';
import { historyFromGrid } from '../../models/forecast.ts';
import { HourlyGridBuilder } from '../../models/grid.ts';
import { CODES, fixtureModel, makeApiFixture } from './fixture.ts';

// The same master behind the embedded store and behind two real MariaDB shards (3306 + 3307):
// every endpoint must answer identically.
const db = `traffic_apitest_${randomBytes(4).toString('hex')}`;
const urls = [`mysql://root@127.0.0.1:3306/${db}`, `mysql://root@127.0.0.1:3307/${db}`];
const fx = makeApiFixture();
const apps: ApiApp[] = [];
const model = fixtureModel();
const bases: string[] = [];
let embedded: EmbeddedStore;
let sharded: ShardedStore;

async function start(store: EmbeddedStore | MysqlApiStore): Promise<string> {
  const app = createApiApp({
    store,
    alerts: new MemoryAlertFeed(),
    predictor: { checkpoints: CODES, predict: (_k, h, w) => h * 2 + w, forecaster: model.forecaster },
    cors: { origins: '*' },
  });
  await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', () => r()));
  apps.push(app);
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  embedded = await EmbeddedStore.open(':memory:');
  await embedded.loadMasterCsv(fx.master);
  await embedded.loadDimensionCsv(fx.dimension);
  sharded = ShardedStore.open({ urls });
  await sharded.ensureSchema();
  await loadMaster(sharded, fx.master, { method: 'insert', chunkRows: 500 });
  await sharded.replaceKkmcInfo(await readDimension(fx.dimension));
  bases.push(await start(embedded), await start(new MysqlApiStore(sharded)));
});

afterAll(async () => {
  for (const a of apps) await a.shutdown();
  await embedded?.close();
  if (sharded) {
    await sharded.onAll('drop', (pool) => pool.query(`DROP DATABASE IF EXISTS ${db}`));
    await sharded.close();
  }
});

async function both(path: string, body?: unknown): Promise<[unknown, unknown]> {
  const call = async (base: string): Promise<unknown> => {
    const r = await fetch(
      base + path,
      body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) },
    );
    return { status: r.status, body: path.endsWith('.csv') || path.includes('.csv?') ? await r.text() : await r.json() };
  };
  return [await call(bases[0]!), await call(bases[1]!)];
}

describe('the embedded store and two MySQL shards give the same answers', () => {
  it('really spreads the rows over both shards', async () => {
    const counts = await sharded.counts();
    expect(counts.reduce((a, b) => a + b, 0)).toBe(40);
    expect(counts.every((n) => n > 0)).toBe(true);
  });

  it.each([
    '/api/stats/overview',
    '/api/stats/kkmc_count?limit=10',
    '/api/stats/kkmc_count?limit=2',
    '/api/stats/flow_24h',
    '/api/stats/flow_24h?date=2023-12-09',
    '/api/stats/flow_24h?date=2023-12-09&kkmc=B_Pei_K2',
    '/api/stats/map_data',
    '/api/stats/vehicle_type',
    '/api/stats/minute_flow?minutes=90',
    '/api/checkpoints',
    '/api/predict/flow?kkmc=A_Feng_K1&hour=3&is_weekend=1',
    '/api/predict/flow?kkmc=A_Feng_K1&at=2023-12-11%2009:00:00',
    '/api/predict/flow?kkmc=B_Pei_K2&at=2023-12-11+12:00:00&horizon=3',
    '/api/predict/flow?kkmc=C_Xinyi_K3&at=2023-12-10%2001:00:00&horizon=2',
    '/api/predict/flow?kkmc=A_Feng_K1&at=2023-12-12%2003:00:00&horizon=2',
    '/api/predict/flow?kkmc=A_Feng_K1&at=2023-12-11%2009:30:00',
    '/api/predict/flow?kkmc=A_Feng_K1&at=2023-12-11%2009:00:00&horizon=4',
    '/api/congestion/series?kkmc=A_Feng_K1&date=2023-12-09',
    '/api/congestion/series?kkmc=B_Pei_K2&date=2023-12-11',
    '/api/congestion/series?kkmc=C_Xinyi_K3',
    '/api/congestion/series?kkmc=NOPE&date=2023-12-09',
    '/api/stats/routes',
    '/api/stats/routes?date=2023-12-09&limit=3',
    '/api/stats/routes?date=2023-12-11&limit=100',
    '/api/trajectory?hphm=%E8%8B%8FC1A***&date=2023-12-11',
    '/api/trajectory?hphm=%E8%8B%8FC1A***&date=2023-12-11&clppxh=%E7%A6%8F%E7%94%B0%E7%89%8C',
    '/api/export.csv',
    '/api/export.csv?province=%E5%B1%B1%E4%B8%9C',
  ])('GET %s', async (path) => {
    const [a, b] = await both(path);
    expect(b).toEqual(a);
    const bad = path.includes('NOPE') || path.includes('09:30') || path.includes('horizon=4') || path.includes('2023-12-12');
    expect((a as { status: number }).status).toBe(bad ? 400 : 200);
    if (path.includes('routes?date=2023-12-11')) expect((a as { body: { data: unknown[] } }).body.data.length).toBeGreaterThan(0);
  });

  it('the forecast at= comes from the history before its origin, with the best baseline beside it', async () => {
    const b = new HourlyGridBuilder();
    for (const r of fx.rows) b.add(r);
    const history = historyFromGrid(b.finish(), model.forecaster!.checkpoints);
    for (const base of bases) {
      const r = (await (await fetch(`${base}/api/predict/flow?kkmc=B_Pei_K2&at=2023-12-11%2015:00:00&horizon=2`)).json()) as {
        data: { kkmc: string; at: string; horizon: number; predicted_flow: number; baseline: number; baseline_name: string };
      };
      const want = model.forecaster!.forecast(history.cut(chinaHourNumber('2023-12-11 14:00:00')), 'B_Pei_K2', chinaHourNumber('2023-12-11 15:00:00'), 2);
      expect(r.data).toEqual({
        kkmc: 'B_Pei_K2',
        at: '2023-12-11 15:00:00',
        horizon: 2,
        predicted_flow: Math.round(want.predicted * 10) / 10,
        baseline: Math.round(want.baseline * 10) / 10,
        baseline_name: want.baseline_name,
      });
    }
  });

  it('hourlyByCheckpoint: the same real passes per checkpoint-hour on both stores', async () => {
    const mysql = new MysqlApiStore(sharded);
    const [e, m] = [
      await embedded.hourlyByCheckpoint('2023-12-09 00:00:00', '2023-12-12 00:00:00'),
      await mysql.hourlyByCheckpoint('2023-12-09 00:00:00', '2023-12-12 00:00:00'),
    ];
    expect(m).toEqual(e);
    expect(e.reduce((s, r) => s + r.value, 0)).toBe(40);
    expect(e.filter((r) => r.kkmc === 'C_Xinyi_K3').reduce((s, r) => s + r.value, 0)).toBe(5);
    // [from, to): the first day only.
    const first = await mysql.hourlyByCheckpoint('2023-12-09 00:00:00', '2023-12-10 00:00:00');
    expect(first.reduce((s, r) => s + r.value, 0)).toBe(fx.rows.filter((r) => r[4]!.startsWith('2023-12-09')).length);
  });

  it.each(['', '?province=%E5%B1%B1%E4%B8%9C', '?kkmc=B_Pei_K2&start=2023-12-11'])('GET /api/export.xlsx%s: the same sheet from both stores', async (qs) => {
    const sheets = await Promise.all(
      bases.map(async (base) => {
        const r = await fetch(`${base}/api/export.xlsx${qs}`);
        expect(r.status).toBe(200);
        return strFromU8(unzipSync(new Uint8Array(await r.arrayBuffer()))['xl/worksheets/sheet1.xml']!);
      }),
    );
    expect(sheets[1]).toBe(sheets[0]);
    const expected = fx.rows.filter((r) =>
      qs.includes('province') ? r[8] === '山东' : qs.includes('kkmc') ? r[2] === 'B_Pei_K2' && r[4]! >= '2023-12-11' : true,
    );
    expect(sheets[0]!.split('<row ').length - 2).toBe(expected.length);
  });

  it('fiveMinuteCounts: 288 windows per checkpoint-day, equal on both stores and summing to the day', async () => {
    const mysql = new MysqlApiStore(sharded);
    for (const kkmc of ['A_Feng_K1', 'B_Pei_K2', 'C_Xinyi_K3']) {
      for (const date of ['2023-12-09', '2023-12-11', '2023-12-10']) {
        const [e, m] = [await embedded.fiveMinuteCounts(kkmc, date), await mysql.fiveMinuteCounts(kkmc, date)];
        expect(m).toEqual(e);
        expect(e).toHaveLength(288);
        const day = fx.rows.filter((r) => r[2] === kkmc && r[4]!.startsWith(date)).length;
        expect(e.reduce((x, y) => x + y, 0)).toBe(day);
      }
    }
  });

  it.each([
    [{}],
    [{ page: 2, size: 7 }],
    [{ page: 6, size: 7 }],
    [{ kkmc: 'B_Pei_K2', page: 2, size: 4 }],
    [{ hphm: '苏c', size: 50 }],
    [{ start: '2023-12-11 05:00:00', end: '2023-12-11 18:00:00', hpzl: '02', size: 200 }],
    [{ province: '山东', page: 1, size: 3 }],
    [{ kkmc: 'NOPE' }],
    [{ hphm: "' OR 1=1 --" }],
  ])('POST /api/query %j', async (body) => {
    const [a, b] = await both('/api/query', body);
    expect((a as { status: number }).status).toBe('kkmc' in body && body.kkmc === 'NOPE' ? 400 : 200);
    expect(b).toEqual(a);
  });
});
