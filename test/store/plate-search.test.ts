import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlApiStore } from '../../store/api-store.ts';
import { EmbeddedStore } from '../../store/duckdb-store.ts';
import { loadMaster } from '../../store/load.ts';
import { ShardedStore } from '../../store/mysql.ts';
import type { QueryFilter, TrafficStore } from '../../store/store-api.ts';
import type { MasterRow } from '../../core/schema.ts';
import { dropDb, PORTS, q, shardUrls, testDbName } from './db.ts';
import { fullScanPage as expected, makeRows, writeMasterCsv } from './fixture.ts';

// 20,000 passes a minute apart (~14 days), ~1,300 plates: a broad prefix (苏C, 1 in 7 passes) is
// answered from a time window, a full plate (~15 passes) by the plate index, a deep page from the
// whole table. Every answer must equal a plain filter-and-sort of the rows.
const dir = mkdtempSync(path.join(os.tmpdir(), 'plate-search-'));
const db = testDbName('traffic_plate');
const rows: MasterRow[] = makeRows(20_000, { seed: 3, stepS: 60, start: '2024-01-01 00:00:00' });
// Plates that only an exact, case-sensitive, literal match tells apart.
const special = ['苏Ca1***', '苏CA1*** ', 'A_%B***', 'A\\B***', ''];
special.forEach((h, i) => {
  const r = [...rows[100 + i * 997]!];
  r[6] = h;
  rows[100 + i * 997] = r;
});
// The newest 40 passes share one second with the 41st: a page's edge falls inside the tie.
for (let i = rows.length - 40; i < rows.length; i++) {
  const r = [...rows[i]!];
  r[4] = rows[rows.length - 41]![4]!;
  rows[i] = r;
}
let embedded: EmbeddedStore;
let sharded: ShardedStore;
let mysqlStore: MysqlApiStore;
let current: MasterRow[] = rows;

/** plate_stats equals a recount of traffic_data, on every shard. */
async function mysqlPlateStatsExact(): Promise<void> {
  for (const port of PORTS) {
    const stats = await q<{ h: string; n: number }>(port, `SELECT HEX(hphm) AS h, passes AS n FROM \`${db}\`.plate_stats WHERE passes <> 0 ORDER BY h`);
    const recount = await q<{ h: string; n: number }>(
      port,
      `SELECT HEX(CAST(hphm AS BINARY)) AS h, COUNT(*) AS n FROM \`${db}\`.traffic_data GROUP BY h ORDER BY h`,
    );
    expect(stats.map((r) => [r.h, Number(r.n)])).toEqual(recount.map((r) => [r.h, Number(r.n)]));
  }
}

async function embeddedPlateStatsExact(store: EmbeddedStore): Promise<void> {
  const got = new Map<string, number>();
  const want = new Map<string, number>();
  for (const r of current) want.set(r[6]!, (want.get(r[6]!) ?? 0) + 1);
  const s = store as unknown as { rows(sql: string): Promise<Record<string, unknown>[]> };
  for (const r of await s.rows('SELECT hphm, passes FROM plate_stats WHERE passes <> 0')) got.set(String(r.hphm), Number(r.passes));
  expect(got).toEqual(want);
}

beforeAll(async () => {
  const master = path.join(dir, 'master_data_expanded.csv');
  await writeMasterCsv(master, rows);
  embedded = await EmbeddedStore.open(path.join(dir, 'traffic.duckdb'));
  await embedded.loadMasterCsv(master);
  sharded = ShardedStore.open({ urls: shardUrls(db) });
  await sharded.ensureSchema();
  await loadMaster(sharded, master, { method: 'infile', chunkRows: 3000 });
  mysqlStore = new MysqlApiStore(sharded);
}, 120_000);

afterAll(async () => {
  await embedded?.close();
  await sharded?.close();
  await dropDb(db);
  rmSync(dir, { recursive: true, force: true });
});

const CASES: Array<[string, QueryFilter, number, number]> = [
  ['a broad prefix, first page', { hphm: '苏C' }, 1, 20],
  ['a broad prefix, third page', { hphm: '苏C' }, 3, 20],
  ['another province and letter', { hphm: '鲁Q' }, 1, 50],
  ['a fragment of the visible characters', { hphm: 'A1' }, 2, 20],
  ['one full plate (rare: by the plate index)', { hphm: '豫NB4***' }, 1, 20],
  [
    'one full plate and its plate type (the index finds the plate, the type filters)',
    { hphm: '豫NB4***', hpzl: rows.find((r) => r[6] === '豫NB4***')![5]! },
    1,
    5,
  ],
  ['a page deeper than any window (listed plates)', { hphm: '苏' }, 25, 200],
  ['a plate and a plate type (the window may come back short)', { hphm: '皖', hpzl: '-' }, 2, 20],
  ['a plate and a province', { hphm: '*', province: '山东' }, 1, 20],
  ['a plate and a time range', { hphm: '京A', start: '2024-01-05 00:00:00', end: '2024-01-06 23:59:59' }, 1, 20],
  ['case-sensitive: lower case matches only the lower-case plate', { hphm: 'Ca1' }, 1, 20],
  ['a trailing space is part of the plate', { hphm: '1*** ' }, 1, 20],
  ['% and _ are literal', { hphm: '_%' }, 1, 20],
  ['a backslash is literal', { hphm: 'A\\B' }, 1, 20],
  ['no plate matches', { hphm: '粤Z' }, 1, 20],
];

describe('plate search on plate_stats and a time window gives what a full scan gives', () => {
  it.each(CASES)('%s', async (_name, f, page, size) => {
    const want = expected(current, f, page, size);
    expect(want.rows.length).toBeGreaterThan(f.hphm === '粤Z' ? -1 : 0);
    for (const store of [embedded as TrafficStore, mysqlStore]) {
      expect(await store.query(f, page, size)).toEqual(want);
    }
  });
});

describe('a query without a plate: its page from the newest matches gives what a full scan gives', () => {
  const common = rows[0]![5]!;
  const rare = [...new Set(rows.map((r) => r[5]!))].find((h) => rows.filter((r) => r[5] === h).length < 40)!;
  it.each<[string, QueryFilter, number, number]>([
    ['no filter, first page (its edge inside 41 passes of one second)', {}, 1, 20],
    ['no filter, the page after the tie', {}, 3, 20],
    ['no filter, a deep page', {}, 40, 50],
    ['a common plate type', { hpzl: common }, 2, 20],
    ['a rare plate type', { hpzl: rare }, 1, 20],
    ['a province', { province: '山东' }, 1, 20],
    ['a time range', { start: '2024-01-05 00:00:00', end: '2024-01-06 23:59:59' }, 2, 30],
    ['a checkpoint', { kkmc: rows[0]![2]! }, 1, 20],
    ['more rows asked than match (no cut: the full sort)', { hpzl: rare }, 1, 500],
  ])('%s', async (_name, f, page, size) => {
    const want = expected(current, f, page, size);
    expect(want.rows.length).toBeGreaterThan(0);
    for (const store of [embedded as TrafficStore, mysqlStore]) {
      expect(await store.query(f, page, size)).toEqual(want);
    }
  });
});

describe('plate_stats stays exact under every write', () => {
  it('holds the loaded master, per shard and embedded', async () => {
    await mysqlPlateStatsExact();
    await embeddedPlateStatsExact(embedded);
  });

  it('counts new rows once, a replayed batch not at all, a half-replayed batch only for its new rows', async () => {
    const fresh = makeRows(600, { seed: 9, stepS: 30, start: '2024-01-14 22:00:00', prefix: 'N' });
    const firstHalf = fresh.slice(0, 300);
    const mixed = [...rows.slice(5000, 5150), ...fresh.slice(300)];
    for (const [batch, newRows] of [
      [firstHalf, 300],
      [firstHalf, 0],
      [mixed, 300],
    ] as const) {
      expect((await sharded.insertRows(batch, 200)).reduce((a, b) => a + b, 0)).toBe(newRows);
      expect(await embedded.insert(batch)).toBe(newRows);
    }
    current = [...rows, ...fresh];
    await mysqlPlateStatsExact();
    await embeddedPlateStatsExact(embedded);
    for (const [, f, page, size] of CASES.slice(0, 5)) {
      const want = expected(current, f, page, size);
      expect(await embedded.query(f, page, size)).toEqual(want);
      expect(await mysqlStore.query(f, page, size)).toEqual(want);
    }
  });

  it('takes rows deleted by retention off their plates', async () => {
    const r = await sharded.applyTtl(10, 700);
    const cutoff = r.cutoff!;
    expect(r.deleted.reduce((a, b) => a + b, 0)).toBe(current.filter((x) => x[4]! < cutoff).length);
    await mysqlPlateStatsExact();
    const kept = current.filter((x) => x[4]! >= cutoff);
    expect(await mysqlStore.query({ hphm: '苏C' }, 2, 20)).toEqual(expected(kept, { hphm: '苏C' }, 2, 20));
  });

  it('is built for a store from before the plate search', async () => {
    for (const port of PORTS) await q(port, `DROP TABLE \`${db}\`.plate_stats`);
    await sharded.ensureSchema();
    await mysqlPlateStatsExact();
    const file = embedded.file;
    const s = embedded as unknown as { run(sql: string): Promise<void> };
    await s.run('DROP TABLE plate_stats');
    await s.run('DROP INDEX idx_traffic_hphm');
    await embedded.close();
    embedded = await EmbeddedStore.open(file);
    await embeddedPlateStatsExact(embedded);
    const r = embedded as unknown as { rows(sql: string): Promise<Record<string, unknown>[]> };
    expect(await r.rows(`SELECT index_name FROM duckdb_indexes() WHERE table_name = 'traffic_data'`)).toEqual([{ index_name: 'idx_traffic_hphm' }]);
    expect(await embedded.query({ hphm: '豫NB4***' }, 1, 20)).toEqual(expected(current, { hphm: '豫NB4***' }, 1, 20));
    expect(await embedded.query({ hphm: '鲁Q' }, 1, 20)).toEqual(expected(current, { hphm: '鲁Q' }, 1, 20));
  });
});
