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
import { makeApiFixture } from './fixture.ts';

// The same master behind the embedded store and behind two real MariaDB shards (3306 + 3307):
// every endpoint must answer identically.
const db = `traffic_apitest_${randomBytes(4).toString('hex')}`;
const urls = [`mysql://root@127.0.0.1:3306/${db}`, `mysql://root@127.0.0.1:3307/${db}`];
const fx = makeApiFixture();
const apps: ApiApp[] = [];
const bases: string[] = [];
let embedded: EmbeddedStore;
let sharded: ShardedStore;

async function start(store: EmbeddedStore | MysqlApiStore): Promise<string> {
  const app = createApiApp({
    store,
    alerts: new MemoryAlertFeed(),
    predictor: { checkpoints: ['A_Feng_K1', 'B_Pei_K2', 'C_Xinyi_K3'], predict: (_k, h, w) => h * 2 + w },
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
    const r = await fetch(base + path, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
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
    '/api/congestion/series?kkmc=A_Feng_K1&date=2023-12-09',
    '/api/congestion/series?kkmc=B_Pei_K2&date=2023-12-11',
    '/api/congestion/series?kkmc=C_Xinyi_K3',
    '/api/congestion/series?kkmc=NOPE&date=2023-12-09',
    '/api/export.csv',
    '/api/export.csv?province=%E5%B1%B1%E4%B8%9C',
  ])('GET %s', async (path) => {
    const [a, b] = await both(path);
    expect(b).toEqual(a);
    expect((a as { status: number }).status).toBe(path.includes('NOPE') ? 400 : 200);
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
    const expected = fx.rows.filter((r) => (qs.includes('province') ? r[8] === '山东' : qs.includes('kkmc') ? r[2] === 'B_Pei_K2' && r[4]! >= '2023-12-11' : true));
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
    expect(b).toEqual(a);
  });
});
