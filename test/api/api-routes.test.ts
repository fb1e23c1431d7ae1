import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAlertFeed } from '../../api/alerts.ts';
import { createApiApp, type ApiApp } from '../../api/app.ts';
import { MysqlApiStore } from '../../store/api-store.ts';
import { EmbeddedStore } from '../../store/duckdb-store.ts';
import { loadMaster, readDimension } from '../../store/load.ts';
import { ShardedStore } from '../../store/mysql.ts';
import { routeStats, type RoutePass } from '../../store/routes.ts';
import type { TrafficStore } from '../../store/store-api.ts';
import { toEpochSeconds } from '../../core/time.ts';
import { makeHandRoutesFixture, makeRandomRoutesFixture, type RoutesFixture } from './routes-fixture.ts';

// Each fixture behind the embedded store and behind two real MariaDB shards (3306 + 3307).
const db = `traffic_routestest_${randomBytes(4).toString('hex')}`;
const dbRandom = `${db}_r`;
const urlsOf = (name: string): string[] => [`mysql://root@127.0.0.1:3306/${name}`, `mysql://root@127.0.0.1:3307/${name}`];

interface Pair {
  embedded: EmbeddedStore;
  sharded: ShardedStore;
  mysql: MysqlApiStore;
}

async function openPair(fx: RoutesFixture, name: string): Promise<Pair> {
  const embedded = await EmbeddedStore.open(':memory:');
  await embedded.loadMasterCsv(fx.master);
  await embedded.loadDimensionCsv(fx.dimension);
  const sharded = ShardedStore.open({ urls: urlsOf(name) });
  await sharded.ensureSchema();
  await loadMaster(sharded, fx.master, { method: 'insert', chunkRows: 500 });
  await sharded.replaceKkmcInfo(await readDimension(fx.dimension));
  return { embedded, sharded, mysql: new MysqlApiStore(sharded) };
}

async function closePair(p: Pair | undefined, name: string): Promise<void> {
  if (!p) return;
  await p.embedded.close();
  await p.sharded.onAll('drop', (pool) => pool.query(`DROP DATABASE IF EXISTS ${name}`));
  await p.sharded.close();
}

const hand = makeHandRoutesFixture();
const random = makeRandomRoutesFixture();
let handPair: Pair;
let randomPair: Pair;
const alerts = new MemoryAlertFeed();
const apps: ApiApp[] = [];
const bases: string[] = [];

async function serve(store: TrafficStore): Promise<string> {
  const app = createApiApp({ store, alerts, predictor: null, cors: { origins: '*' }, statsCacheMs: 0 });
  await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', () => r()));
  apps.push(app);
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

async function get(base: string, path: string): Promise<{ status: number; body: { code: number; msg: string; data: any } }> {
  const r = await fetch(base + path);
  return { status: r.status, body: (await r.json()) as { code: number; msg: string; data: any } };
}

beforeAll(async () => {
  [handPair, randomPair] = await Promise.all([openPair(hand, db), openPair(random, dbRandom)]);
  bases.push(await serve(handPair.embedded), await serve(handPair.mysql));
});

afterAll(async () => {
  for (const a of apps) await a.shutdown();
  await closePair(handPair, db);
  await closePair(randomPair, dbRandom);
});

const HAND_12_11 = [
  { from: 'R_A_K1', to: 'R_B_K2', value: 3, median_minutes: 30 },
  { from: 'R_B_K2', to: 'R_C_K3', value: 2, median_minutes: 35 },
  { from: 'R_C_K3', to: 'R_A_K1', value: 1, median_minutes: 120 },
];

describe('popular routes: transitions between consecutive passes of one vehicle', () => {
  it.each(['embedded', 'mysql'] as const)('%s store: counts the worked example of 2023-12-11 exactly', async (kind) => {
    const store = kind === 'embedded' ? handPair.embedded : handPair.mysql;
    expect(await store.routes('2023-12-11', 10)).toEqual(HAND_12_11);
    // A route of 12-10 only; the pass before midnight leaves 12-10 without the cross-midnight trip.
    expect(await store.routes('2023-12-10', 10)).toEqual([{ from: 'R_C_K3', to: 'R_D_K4', value: 1, median_minutes: 45 }]);
    expect(await store.routes('2023-12-12', 10)).toEqual([]);
    expect(await store.routes('2023-12-11', 2)).toEqual(HAND_12_11.slice(0, 2));
  });

  it('the embedded SQL, the MySQL shards and the in-code reference agree on a random two-day master', async () => {
    const reference = (date: string): ReturnType<typeof routeStats> => {
      const dayStart = toEpochSeconds(`${date} 00:00:00`);
      const passes: RoutePass[] = random.rows
        .map((r) => ({ gcxh: r[0]!, kkmc: r[2]!, t: toEpochSeconds(r[4]!), hpzl: r[5]!, hphm: r[6]!, clppxh: r[7]! }))
        .filter((p) => p.t >= dayStart - 7200 && p.t < dayStart + 86_400);
      return routeStats(passes, dayStart, 100);
    };
    for (const date of ['2023-12-10', '2023-12-11']) {
      const want = reference(date);
      expect(want.length).toBeGreaterThan(8);
      expect(want.reduce((s, r) => s + r.value, 0)).toBeGreaterThan(100);
      expect(await randomPair.embedded.routes(date, 100)).toEqual(want);
      expect(await randomPair.mysql.routes(date, 100)).toEqual(want);
    }
  });

  it('GET /api/stats/routes: the latest day by default, names added, same answer on both stores', async () => {
    const [e, m] = [await get(bases[0]!, '/api/stats/routes'), await get(bases[1]!, '/api/stats/routes')];
    expect(m).toEqual(e);
    expect(e.status).toBe(200);
    expect(e.body.data[0]).toEqual({
      ...HAND_12_11[0],
      from_label: '徐州市铜山区G104京福线K1卡口',
      to_label: '徐州市睢宁县S325淮宿线K63卡口',
    });
    expect((await get(bases[0]!, '/api/stats/routes?date=2023-12-10&limit=1')).body.data).toHaveLength(1);
  });

  it.each([
    ['/api/stats/routes?limit=0', 'limit must be between 1 and 100'],
    ['/api/stats/routes?limit=x', 'limit must be an integer'],
    ['/api/stats/routes?date=2023-13-01', 'date must be a date YYYY-MM-DD'],
  ])('GET %s is a 400 naming the parameter', async (path, msg) => {
    const r = await get(bases[0]!, path);
    expect(r.status).toBe(400);
    expect(r.body.msg).toContain(msg);
  });
});

describe('a vehicle trajectory', () => {
  it('GET /api/trajectory lists a full plate’s passes of the day in time order with intervals, distances and speeds', async () => {
    const [e, m] = [
      await get(bases[0]!, '/api/trajectory?hphm=%E8%8B%8FC12345&date=2023-12-11'),
      await get(bases[1]!, '/api/trajectory?hphm=%E8%8B%8FC12345&date=2023-12-11'),
    ];
    expect(m).toEqual(e);
    const t = e.body.data;
    expect(t.plate_class).toBe('FULL');
    expect(t.passes.map((p: any) => [p.gcsj, p.kkmc])).toEqual([
      ['2023-12-11 08:00:00', 'R_A_K1'],
      ['2023-12-11 08:10:00', 'R_B_K2'],
      ['2023-12-11 08:15:00', 'R_B_K2'],
      ['2023-12-11 08:35:00', 'R_C_K3'],
      ['2023-12-11 10:34:59', 'R_A_K1'],
      ['2023-12-11 12:35:00', 'R_B_K2'],
    ]);
    const [first, second, third] = t.passes;
    expect(first).toMatchObject({ interval_s: null, distance_km: null, speed_kmh: null, lon: 117.1, lat: 34.2, label: '徐州市铜山区G104京福线K1卡口' });
    // (117.10, 34.20) → (117.90, 33.90): 80.90 km great-circle in 600 s = 485.4 km/h.
    expect(second).toMatchObject({ interval_s: 600, distance_km: 80.9, speed_kmh: 485.4 });
    expect(third).toMatchObject({ interval_s: 300, distance_km: 0, speed_kmh: 0 });
    expect(t.mixed).toBe(true); // one pass carries CLPPXH '-'
  });

  it('a masked plate: with CLPPXH only that vehicle, without it every vehicle behind the mask (flagged mixed)', async () => {
    const one = (await get(bases[0]!, '/api/trajectory?hphm=%E8%8B%8Fcd7***&date=2023-12-11&clppxh=%E7%A6%8F%E7%94%B0%E7%89%8C')).body.data;
    expect(one.plate_class).toBe('MASKED');
    expect(one.hphm).toBe('苏CD7***');
    expect(one.passes.map((p: any) => p.gcsj)).toEqual(['2023-12-11 09:00:00', '2023-12-11 09:20:00', '2023-12-11 09:30:00', '2023-12-11 10:20:00']);
    expect(one.mixed).toBe(true); // the type-52 福田牌 is another vehicle
    const all = (await get(bases[1]!, '/api/trajectory?hphm=%E8%8B%8FCD7***&date=2023-12-11')).body.data;
    expect(all.passes).toHaveLength(7);
    // A pass at a checkpoint without coordinates: no distance, no speed.
    const d = all.passes.find((p: any) => p.kkmc === 'R_D_K4');
    expect(d).toMatchObject({ lon: null, lat: null, distance_km: null, speed_kmh: null, interval_s: 600 });
  });

  it('marks the passes that are part of a cloned-plate alert on the plate', async () => {
    const alert = {
      id: 'routes-test-alert',
      hphm: '苏C12345',
      masked: false,
      prev: { gcxh: '5000', kkmc: 'R_A_K1', gcsj: '2023-12-11 08:00:00' },
      curr: { gcxh: '5001', kkmc: 'R_B_K2', gcsj: '2023-12-11 08:10:00' },
      interval_s: 600,
      distance_km: 80.6,
      speed_kmh: 483.6,
      rule: 'default',
      detected_at: '2023-12-11T08:10:01+08:00',
    };
    alerts.push(alert);
    alerts.push({ ...alert, id: 'other-plate', hphm: '苏C99999' });
    for (const base of bases) {
      const t = (await get(base, '/api/trajectory?hphm=%E8%8B%8FC12345&date=2023-12-11')).body.data;
      expect(t.alerts.map((a: any) => a.id)).toEqual(['routes-test-alert']);
      expect(t.passes.map((p: any) => p.alert_ids)).toEqual([['routes-test-alert'], ['routes-test-alert'], [], [], [], []]);
    }
  });

  it.each([
    ['/api/trajectory?date=2023-12-11', 'hphm is required'],
    ['/api/trajectory?hphm=%E8%8B%8FC12345', 'date is required'],
    ['/api/trajectory?hphm=%E8%8B%8FC12345&date=20231211', 'date must be a date YYYY-MM-DD'],
  ])('GET %s is a 400 naming the parameter', async (path, msg) => {
    const r = await get(bases[0]!, path);
    expect(r.status).toBe(400);
    expect(r.body.msg).toContain(msg);
  });

  it('an unknown plate or a quiet day is an empty trajectory, not an error', async () => {
    const t = (await get(bases[1]!, '/api/trajectory?hphm=%E8%8B%8FZ00000&date=2023-12-11')).body.data;
    expect(t.passes).toEqual([]);
    expect(t.alerts).toEqual([]);
  });
});
