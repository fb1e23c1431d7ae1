import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plateMatches } from '../../core/metrics.ts';
import type { MasterRow } from '../../core/schema.ts';
import { MysqlApiStore } from '../../store/api-store.ts';
import { loadMaster } from '../../store/load.ts';
import { ShardedStore } from '../../store/mysql.ts';
import { matchCopy } from '../../store/plate-list.ts';
import type { QueryFilter } from '../../store/store-api.ts';
import { dropDb, PORTS, q, shardUrls, testDbName } from './db.ts';
import { fullScanPage as expected, makeRows, writeMasterCsv } from './fixture.ts';

// The API keeps a copy of each shard's plate_stats and answers plate searches from it while the
// shard's plate_stats_version is the one the copy was read under. Writes here come from a second
// ShardedStore (its own pools, as the sink's process has), never through the API store.

describe('matchCopy: a literal, case-sensitive substring over the plates', () => {
  const copy = { plates: ['苏CA1***', '苏Ca1***', 'A_%B***', 'A\\B***', '苏CA1*** ', ''], passes: [5, 3, 2, 1, 4, 7], total: 22 };

  it('sums the passes of the plates holding the fragment and lists them in table order', () => {
    expect(matchCopy(copy, 'CA1', 10)).toEqual({ hit: 9, plateCount: 2, plates: ['苏CA1***', '苏CA1*** '], total: 22 });
    expect(matchCopy(copy, 'Ca1', 10)).toEqual({ hit: 3, plateCount: 1, plates: ['苏Ca1***'], total: 22 });
  });

  it('takes % _ and \\ literally and a trailing space as part of the plate', () => {
    expect(matchCopy(copy, '_%', 10).plates).toEqual(['A_%B***']);
    expect(matchCopy(copy, 'A\\B', 10).plates).toEqual(['A\\B***']);
    expect(matchCopy(copy, '*** ', 10).plates).toEqual(['苏CA1*** ']);
  });

  it('counts but does not list more plates than the limit', () => {
    expect(matchCopy(copy, '***', 3)).toEqual({ hit: 15, plateCount: 5, plates: null, total: 22 });
    expect(matchCopy(copy, '粤Z', 3)).toEqual({ hit: 0, plateCount: 0, plates: [], total: 22 });
  });
});

const dir = mkdtempSync(path.join(os.tmpdir(), 'plate-list-'));
const db = testDbName('traffic_plate_list');
const rows: MasterRow[] = makeRows(8000, { seed: 5, stepS: 60, start: '2024-01-01 00:00:00' });
let current: MasterRow[] = rows;
let api: MysqlApiStore;
let apiShards: ShardedStore;
let writer: ShardedStore;

/** Plate matches counted since the last call, by source. */
const seen = { copy: 0, sql: 0 };
async function matchesSince(): Promise<{ copy: number; sql: number }> {
  const now = { copy: 0, sql: 0 };
  for (const v of (await plateMatches.get()).values) now[v.labels.source as 'copy' | 'sql'] = v.value;
  const d = { copy: now.copy - seen.copy, sql: now.sql - seen.sql };
  Object.assign(seen, now);
  return d;
}

const SEARCHES: Array<[QueryFilter, number, number]> = [
  [{ hphm: '苏C' }, 3, 20],
  [{ hphm: '鲁Q' }, 1, 50],
  [{ hphm: 'A1' }, 2, 20],
  [{ hphm: rows[4321]![6]! }, 1, 20],
  [{ hphm: '苏' }, 12, 200],
  [{ hphm: '皖', hpzl: '-' }, 2, 20],
  [{ hphm: '粤Z' }, 1, 20],
];

/** Every search equals the full scan of `all`; returns the plate matches it took, by source. */
async function searchAll(all: MasterRow[]): Promise<{ copy: number; sql: number }> {
  await matchesSince();
  for (const [f, page, size] of SEARCHES) expect(await api.query(f, page, size)).toEqual(expected(all, f, page, size));
  return matchesSince();
}

beforeAll(async () => {
  const master = path.join(dir, 'master_data_expanded.csv');
  await writeMasterCsv(master, rows);
  writer = ShardedStore.open({ urls: shardUrls(db) });
  await writer.ensureSchema();
  await loadMaster(writer, master, { method: 'infile', chunkRows: 2000 });
  apiShards = ShardedStore.open({ urls: shardUrls(db) });
  // No background reads here: the copy is read when a test says so (warmPlateLists), so which
  // source answers is known. The background read has its own test below.
  api = new MysqlApiStore(apiShards, { plateListRefreshMs: 3_600_000 });
}, 120_000);

afterAll(async () => {
  await apiShards?.close();
  await writer?.close();
  await dropDb(db);
  rmSync(dir, { recursive: true, force: true });
});

// Each search is one plate match per shard (no checkpoint in the filter).
const PER_ROUND = SEARCHES.length * PORTS.length;

describe("the API's copy of plate_stats answers only while it is exact", () => {
  it('answers every search from the copy once it is read, the same as a full scan', async () => {
    await api.warmPlateLists();
    expect(await searchAll(current)).toEqual({ copy: PER_ROUND, sql: 0 });
  });

  it('a sink write from another process: the next searches read the server, then a new copy answers the same', async () => {
    const fresh = makeRows(300, { seed: 11, stepS: 20, start: '2024-01-06 12:00:00', prefix: 'N' }).map((r, i) => {
      const x = [...r];
      if (i % 3 === 0) x[6] = '粤Z1***';
      return x;
    });
    // A replayed half and the new rows: both the tally and the recount paths bump the counter.
    expect((await writer.insertRows(fresh.slice(0, 150), 100)).reduce((a, b) => a + b, 0)).toBe(150);
    current = [...rows, ...fresh.slice(0, 150)];
    expect(await searchAll(current)).toEqual({ copy: 0, sql: PER_ROUND });
    await api.warmPlateLists();
    expect(await searchAll(current)).toEqual({ copy: PER_ROUND, sql: 0 });
    for (const s of writer.shards) expect(await writer.storeChunk(s, writer.partition(fresh)[s.index]!)).toBeGreaterThanOrEqual(0);
    current = [...rows, ...fresh];
    expect(await searchAll(current)).toEqual({ copy: 0, sql: PER_ROUND });
    await api.warmPlateLists();
    expect(await searchAll(current)).toEqual({ copy: PER_ROUND, sql: 0 });
  });

  it('a retention delete from another process is seen by the next search', async () => {
    const r = await writer.applyTtl(3, 500);
    expect(r.deleted.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    current = current.filter((x) => x[4]! >= r.cutoff!);
    expect(await searchAll(current)).toEqual({ copy: 0, sql: PER_ROUND });
    await api.warmPlateLists();
    expect(await searchAll(current)).toEqual({ copy: PER_ROUND, sql: 0 });
  });

  it('a store without the counter (from before it) answers from the server until its schema is ensured', async () => {
    for (const port of PORTS) await q(port, `DROP TABLE \`${db}\`.plate_stats_version`);
    await api.warmPlateLists();
    expect(await searchAll(current)).toEqual({ copy: 0, sql: PER_ROUND });
    await writer.ensureSchema();
    await api.warmPlateLists();
    expect(await searchAll(current)).toEqual({ copy: PER_ROUND, sql: 0 });
  });
});

describe("the copy's background read after a write", () => {
  it('the first search after a write reads the server and starts a read of the copy; later searches answer from it', async () => {
    const live = new MysqlApiStore(apiShards, { plateListRefreshMs: 0 });
    const f: QueryFilter = { hphm: 'A1' };
    await live.warmPlateLists();
    await matchesSince();
    const extra = makeRows(40, { seed: 12, stepS: 15, start: '2024-01-06 18:00:00', prefix: 'L' });
    expect((await writer.insertRows(extra)).reduce((a, b) => a + b, 0)).toBe(40);
    current = [...current, ...extra];
    expect(await live.query(f, 1, 20)).toEqual(expected(current, f, 1, 20));
    expect(await matchesSince()).toEqual({ copy: 0, sql: PORTS.length });
    // The copy's read runs in the background (no sooner than 20 times the last read's time after
    // it): a search answers from it within a few tries.
    let fromCopy = 0;
    for (let i = 0; i < 100 && fromCopy < PORTS.length; i++) {
      await new Promise((r) => setTimeout(r, 20));
      expect(await live.query(f, 1, 20)).toEqual(expected(current, f, 1, 20));
      fromCopy = (await matchesSince()).copy;
    }
    expect(fromCopy).toBe(PORTS.length);
  });
});
