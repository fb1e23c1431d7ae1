import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIMENSION_COLUMNS } from '../../core/schema.ts';
import { csvLine } from '../../core/csv.ts';
import { ShardedStore } from '../../store/mysql.ts';
import { command as loadCommand } from '../../store/load-cli.ts';
import { command as ttlCommand } from '../../store/ttl-cli.ts';
import { isValidCheckpointCode } from '../../core/checkpoint-code.ts';
import { runSink, type SinkStats } from '../../streaming/sink.ts';
import { shard2Up } from '../../scripts/services/mariadb.ts';
import { SHARD2 } from '../../scripts/services/paths.ts';
import { createTopic, deleteTopics, kafkaUri, produceRows, uniqueGroup, uniqueTopic } from '../helpers/kafka.ts';
import { counts, dropDb, q, shardUrls, testDbName, waitUntil } from './db.ts';
import { makeRows, writeMasterCsv } from './fixture.ts';

const VECTORS = ['../shared/vectors/mycat_murmur.json', '/work/shared/vectors/mycat_murmur.json'].find((p) => existsSync(p))!;
const vec = (JSON.parse(readFileSync(VECTORS, 'utf8')) as { configs: { id: string; vectors: { key: string; shard: number }[] }[] }).configs.find(
  (c) => c.id === 'count2_seed0_vbt160',
)!.vectors;
/**
 * Checkpoint codes taken from the vectors, with the shard MyCat gives them: the keys a checkpoint
 * code may be (core/checkpoint-code.ts; the sink and `load` reject the others, Chinese names and
 * surrogate pairs included, whose hashing test/store/router.test.ts checks on every vector).
 */
const VEC_SHARD = new Map(vec.filter((v) => isValidCheckpointCode(v.key)).map((v) => [v.key, v.shard]));
const VEC_KKMCS = [...VEC_SHARD.keys()];

const dbs: string[] = [];
const topics: string[] = [];
let tmp = '';
function newDb(): string {
  const db = testDbName();
  dbs.push(db);
  return db;
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'store-test-'));
});
afterAll(async () => {
  for (const db of dbs) await dropDb(db);
  await deleteTopics(topics);
  await rm(tmp, { recursive: true, force: true });
});

const produce = produceRows;

describe('schema', () => {
  it('creates the database and both tables on every shard, idempotently, with the DESIGN indexes in utf8mb4', async () => {
    const db = newDb();
    const store = ShardedStore.open({ urls: shardUrls(db) });
    try {
      await store.ensureSchema();
      await store.ensureSchema();
    } finally {
      await store.close();
    }
    for (const port of [3306, 3307]) {
      const idx = await q<{ Key_name: string; Column_name: string; Seq_in_index: number }>(port, `SHOW INDEX FROM \`${db}\`.traffic_data`);
      const byKey: Record<string, string[]> = {};
      for (const r of idx) (byKey[r.Key_name] ??= [])[r.Seq_in_index - 1] = r.Column_name;
      expect(
        Object.values(byKey)
          .map((c) => c.join(','))
          .sort(),
      ).toEqual(['gcsj', 'gcxh', 'hphm,gcsj', 'kkmc,gcsj']);
      expect(byKey.PRIMARY).toEqual(['gcxh']);
      const t = await q<{ TABLE_NAME: string; TABLE_COLLATION: string }>(
        port,
        'SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME',
        [db],
      );
      expect(t.map((r) => [r.TABLE_NAME, r.TABLE_COLLATION.split('_')[0]])).toEqual([
        ['kkmc_info', 'utf8mb4'],
        ['plate_stats', 'utf8mb4'],
        ['plate_stats_version', 'utf8mb4'],
        ['traffic_data', 'utf8mb4'],
      ]);
      const cols = await q<{ COLUMN_NAME: string }>(
        port,
        'SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
        [db, 'kkmc_info'],
      );
      expect(cols.map((c) => c.COLUMN_NAME)).toEqual(DIMENSION_COLUMNS.map((c) => c.toLowerCase()));
    }
  });
});

describe('traffic load', () => {
  it('puts every row on the shard the MyCat vectors name, is idempotent, and copies kkmc_info to every shard', async () => {
    const db = newDb();
    const rows = makeRows(3000, { kkmcs: VEC_KKMCS, seed: 11 });
    const dir = path.join(tmp, 'load');
    const master = path.join(dir, 'master_data_expanded.csv');
    await rm(dir, { recursive: true, force: true });
    await (await import('node:fs/promises')).mkdir(dir, { recursive: true });
    // Two bad rows: an impossible date and a flag that is not 0/1; they are rejected, not coerced.
    const bad1 = [...rows[0]!];
    bad1[0] = 'BAD-DATE';
    bad1[4] = '2024-02-30 10:00:00';
    const bad2 = [...rows[1]!];
    bad2[0] = 'BAD-FLAG';
    bad2[9] = '2';
    await writeMasterCsv(master, [...rows, bad1, bad2]);
    const dim = [
      ['S325_Suining_K12', '遂宁市船山区S325线K12+300卡口', 'a|b', 'S325', 'Chuanshan', '12', '市际', '船山区', '105.5', '30.5', '100'],
      ['G93_Suining_East', 'G93成渝环线高速遂宁东', '', 'G93', 'Suining', '', 'other', '遂宁市', '', '', '0'],
    ];
    await writeFile(path.join(dir, 'kkmc_dimension.csv'), csvLine(DIMENSION_COLUMNS) + dim.map((r) => csvLine(r)).join(''));

    const args = ['--in', master, '--mysql', shardUrls(db).join(',')];
    expect(await loadCommand.run(args)).toBe(0);
    let c = await counts(db);
    expect(c).toMatchObject({ total: 3000, distinct: 3000 });

    for (const [i, port] of [3306, 3307].entries()) {
      const got = await q<{ kkmc: string; n: number }>(port, `SELECT kkmc, COUNT(*) AS n FROM \`${db}\`.traffic_data GROUP BY kkmc`);
      expect(got.length).toBeGreaterThan(0);
      for (const g of got) expect([g.kkmc, VEC_SHARD.get(g.kkmc)]).toEqual([g.kkmc, i]);
    }
    // Per-checkpoint counts survive the trip (the utf8mb4 names, surrogate pairs included).
    const want = new Map<string, number>();
    for (const r of rows) want.set(r[2]!, (want.get(r[2]!) ?? 0) + 1);
    const both = [
      ...(await q<{ kkmc: string; n: number }>(3306, `SELECT kkmc, COUNT(*) AS n FROM \`${db}\`.traffic_data GROUP BY kkmc`)),
      ...(await q<{ kkmc: string; n: number }>(3307, `SELECT kkmc, COUNT(*) AS n FROM \`${db}\`.traffic_data GROUP BY kkmc`)),
    ];
    expect(new Map(both.map((b) => [b.kkmc, Number(b.n)]))).toEqual(want);
    // A stored row reads back exactly.
    const one = rows[123]!;
    const port = VEC_SHARD.get(one[2]!) === 0 ? 3306 : 3307;
    const back = await q<Record<string, string | number>>(port, `SELECT * FROM \`${db}\`.traffic_data WHERE gcxh = ?`, [one[0]]);
    expect(Object.values(back[0]!).map(String)).toEqual(one);

    const rejects = readFileSync(path.join(dir, 'load_rejects.csv'), 'utf8');
    expect(rejects).toContain('BAD-DATE');
    expect(rejects).toContain('BAD-FLAG');

    for (const port of [3306, 3307]) {
      const k = await q<Record<string, unknown>>(port, `SELECT * FROM \`${db}\`.kkmc_info ORDER BY kkmc`);
      expect(k).toEqual([
        {
          kkmc: 'G93_Suining_East',
          kkmc_name: 'G93成渝环线高速遂宁东',
          aliases: '',
          road: 'G93',
          county: 'Suining',
          stake_km: '',
          border: 'other',
          xzqhmc: '遂宁市',
          lon: null,
          lat: null,
          passes: 0,
        },
        {
          kkmc: 'S325_Suining_K12',
          kkmc_name: '遂宁市船山区S325线K12+300卡口',
          aliases: 'a|b',
          road: 'S325',
          county: 'Chuanshan',
          stake_km: '12',
          border: '市际',
          xzqhmc: '船山区',
          lon: 105.5,
          lat: 30.5,
          passes: 100,
        },
      ]);
    }

    // Again, and by the other method: nothing new, nothing lost, still one copy each.
    expect(await loadCommand.run(args)).toBe(0);
    expect(await loadCommand.run([...args, '--method', 'insert', '--chunk-rows', '700'])).toBe(0);
    c = await counts(db);
    expect(c).toMatchObject({ total: 3000, distinct: 3000 });
  });

  it('refuses a file that is not a master CSV', async () => {
    const f = path.join(tmp, 'not-master.csv');
    await writeFile(f, 'a,b\n1,2\n');
    await expect(loadCommand.run(['--in', f, '--no-dim', '--mysql', shardUrls(newDb()).join(',')])).rejects.toMatchObject({ code: 'HEADER_UNRECOGNISED' });
  });
});

describe('retention', () => {
  it('deletes only rows older than N days before the newest gcsj across all shards, in chunks', async () => {
    const db = newDb();
    const store = ShardedStore.open({ urls: shardUrls(db) });
    try {
      await store.ensureSchema();
      // 10 days, one row every 10 minutes, on both shards.
      const rows = makeRows(1440, { start: '2024-01-01 00:00:00', stepS: 600, seed: 3 });
      // The single newest row lives on shard 1 only: the window counts from it.
      const newest = [
        'NEWEST',
        '徐州市',
        VEC_KKMCS.find((k) => VEC_SHARD.get(k) === 1)!,
        '1',
        '2024-01-11 12:00:00',
        '02',
        '苏C1***',
        '-',
        '江苏',
        '0',
        '0',
        '小型汽车',
      ];
      await store.insertRows([...rows, newest]);
      expect(await store.newestGcsj()).toBe('2024-01-11 12:00:00');

      const off = await store.applyTtl(0);
      expect(off.deleted).toEqual([0, 0]);
      expect((await counts(db)).total).toBe(1441);

      const r = await store.applyTtl(3, 100);
      expect(r.cutoff).toBe('2024-01-08 12:00:00');
      const keep = rows.filter((x) => x[4]! >= '2024-01-08 12:00:00').length + 1;
      const c = await counts(db);
      expect(c.total).toBe(keep);
      expect(r.deleted.reduce((a, b) => a + b, 0)).toBe(1441 - keep);
      for (const port of [3306, 3307]) {
        const [m] = await q<{ m: string | null }>(port, `SELECT MIN(gcsj) AS m FROM \`${db}\`.traffic_data`);
        expect(m!.m! >= '2024-01-08 12:00:00').toBe(true);
      }
      // The row exactly at the cutoff stays (window is inclusive).
      const atCut = rows.find((x) => x[4] === '2024-01-08 12:00:00')!;
      const ids = await q<{ gcxh: string }>(VEC_SHARD.get(atCut[2]!) === 0 ? 3306 : 3307, `SELECT gcxh FROM \`${db}\`.traffic_data WHERE gcxh = ?`, [atCut[0]]);
      expect(ids).toHaveLength(1);

      // `traffic ttl` reads TRAFFIC_TTL_DAYS; 1 day more is deleted by the command.
      const before = process.env.TRAFFIC_TTL_DAYS;
      process.env.TRAFFIC_TTL_DAYS = '1';
      try {
        expect(await ttlCommand.run(['--mysql', shardUrls(db).join(',')])).toBe(0);
      } finally {
        if (before === undefined) delete process.env.TRAFFIC_TTL_DAYS;
        else process.env.TRAFFIC_TTL_DAYS = before;
      }
      expect((await counts(db)).total).toBe(rows.filter((x) => x[4]! >= '2024-01-10 12:00:00').length + 1);
    } finally {
      await store.close();
    }
  });
});

describe('sink (Kafka → shards)', () => {
  it('stores exactly N rows for N records, each on its vector shard; a replay with a new group adds nothing', async () => {
    const db = newDb();
    const topic = uniqueTopic('sink');
    topics.push(topic);
    await createTopic(topic, 3);
    const rows = makeRows(2000, { kkmcs: VEC_KKMCS, seed: 5, prefix: 'K' });
    await produce(topic, rows);
    const store = ShardedStore.open({ urls: shardUrls(db) });
    try {
      const newRows: number[] = [];
      for (const group of [uniqueGroup('sink'), uniqueGroup('sink-replay')]) {
        const ac = new AbortController();
        let handled = 0;
        const run = runSink(store, {
          from: kafkaUri(topic),
          groupId: group,
          batchSize: 300,
          maxWaitMs: 0,
          ttlDays: 0,
          ttlIntervalS: 0,
          signal: ac.signal,
          log: () => undefined,
          onStored: (k) => (handled += k),
        });
        // This run has written every record (the replay's writes change nothing)…
        await waitUntil(async () => handled >= 2000, 30_000, 'all records handled');
        // …and nothing more arrives once the group is at the end of the topic.
        await new Promise((r) => setTimeout(r, 500));
        ac.abort();
        const stats = await run;
        expect(stats.received).toBe(2000);
        expect(handled).toBe(2000);
        newRows.push(stats.inserted.reduce((a, b) => a + b, 0));
        expect((await counts(db)).total).toBe(2000);
      }
      expect(newRows).toEqual([2000, 0]);
      const c = await counts(db);
      expect(c).toMatchObject({ total: 2000, distinct: 2000 });
      for (const [i, port] of [3306, 3307].entries()) {
        const got = await q<{ kkmc: string }>(port, `SELECT DISTINCT kkmc FROM \`${db}\`.traffic_data`);
        for (const g of got) expect([g.kkmc, VEC_SHARD.get(g.kkmc)]).toEqual([g.kkmc, i]);
      }
    } finally {
      await store.close();
    }
  });

  // A row the server refuses (rejected alone, the rest of its chunk stored): test/store/sink-writes.test.ts.

  // SIGKILL mid-stream and a restart: test/store/sink-writes.test.ts (with the sink's concurrent
  // partitions and plate_stats checked too).

  it('the second MariaDB stopped for ~20 s mid-stream: the sink waits, then catches up to exactly N, writing no row twice, logging retries at most once a second', async () => {
    const db = newDb();
    const topic = uniqueTopic('sink-outage');
    const group = uniqueGroup('sink-outage');
    topics.push(topic);
    await createTopic(topic, 3);
    const n = 2000;
    const rows = makeRows(n, { kkmcs: VEC_KKMCS, seed: 13, prefix: 'O' });
    const store = ShardedStore.open({ urls: shardUrls(db), connectTimeoutMs: 1000 });
    const ac = new AbortController();
    const logs: string[] = [];
    let run: Promise<SinkStats> | undefined;
    try {
      run = runSink(store, {
        from: kafkaUri(topic),
        groupId: group,
        batchSize: 200,
        maxWaitMs: 0,
        ttlDays: 0,
        ttlIntervalS: 0,
        signal: ac.signal,
        log: (m) => logs.push(m),
        retryMs: { initial: 200, max: 2000 },
      });
      await produce(topic, rows.slice(0, n / 2));
      await waitUntil(async () => (await counts(db)).total >= n / 2, 30_000, 'first half stored');

      // Stop 3307 the way services:down does: by the pid in its pid file.
      const pid = Number(readFileSync(SHARD2.pidFile, 'utf8').trim());
      process.kill(pid, 'SIGTERM');
      await waitUntil(
        async () =>
          !(await q(3307, 'SELECT 1').then(
            () => true,
            () => false,
          )),
        30_000,
        '3307 down',
      );
      const t0 = Date.now();
      await produce(topic, rows.slice(n / 2));
      await new Promise((r) => setTimeout(r, 20_000 - (Date.now() - t0)));
      const during = await counts(db).catch(() => null);
      expect(during).toBeNull(); // 3307 is really down
      expect(logs.some((m) => /retry/.test(m))).toBe(true);
    } finally {
      // Restart with the command services:up uses, whatever happened above.
      const up = await shard2Up();
      expect(up.ok, up.note).toBe(true);
    }
    try {
      await waitUntil(async () => (await counts(db)).total >= n, 40_000, 'catch-up after the shard came back');
      await new Promise((r) => setTimeout(r, 500));
      expect(await counts(db)).toMatchObject({ total: n, distinct: n });
      ac.abort();
      const stats = await run!;
      // Batches failed on 3307 were delivered again; their rows on 3306 were not written again.
      expect(stats.stored).toBe(n);
      expect(stats.inserted.reduce((a, b) => a + b, 0)).toBe(n);
      const handlerRetries = logs.filter((m) => m.startsWith('bus: handler failed'));
      expect(handlerRetries.length).toBeGreaterThan(0);
      expect(handlerRetries.length).toBeLessThanOrEqual(30); // ~20 s of outage, one line a second at most
    } finally {
      ac.abort();
      await run?.catch(() => undefined);
      await store.close();
    }
  }, 120_000);

  it('runs retention on its timer', async () => {
    const db = newDb();
    const topic = uniqueTopic('sink-ttl');
    topics.push(topic);
    await createTopic(topic, 1);
    // 3 days of rows, one every 10 minutes; with a 1-day window only the last day stays.
    const rows = makeRows(432, { start: '2024-03-01 00:00:00', stepS: 600, seed: 2, prefix: 'R' });
    await produce(topic, rows);
    const store = ShardedStore.open({ urls: shardUrls(db) });
    const ac = new AbortController();
    try {
      let stored = 0;
      const run = runSink(store, {
        from: kafkaUri(topic),
        groupId: uniqueGroup('sink-ttl'),
        batchSize: 100,
        maxWaitMs: 0,
        ttlDays: 1,
        ttlIntervalS: 1,
        signal: ac.signal,
        log: () => undefined,
        onStored: (k) => (stored += k),
      });
      const newest = rows[rows.length - 1]![4]!;
      const keep = rows.filter((r) => r[4]! >= '2024-03-02 23:50:00').length;
      expect(newest).toBe('2024-03-03 23:50:00');
      await waitUntil(async () => stored === 432 && (await counts(db)).total === keep, 20_000, 'retention to leave one day');
      ac.abort();
      const stats = await run;
      expect(stats.ttlDeleted).toBe(432 - keep);
    } finally {
      ac.abort();
      await store.close();
    }
  });
});
