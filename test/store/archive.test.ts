/**
 * `traffic archive` and `traffic ttl --archive`: Parquet partitioned by day, read back with DuckDB
 * row for row; a re-run replaces exactly the days it carries; retention deletes only the days the
 * archive holds whole, on the embedded store and on two real MariaDB shards (3306 + 3307).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvText } from '../../core/io.ts';
import { MASTER_COLUMNS } from '../../core/schema.ts';
import { command as archiveCmd } from '../../store/archive-cli.ts';
import { EmbeddedStore } from '../../store/duckdb-store.ts';
import { loadMaster } from '../../store/load.ts';
import { ShardedStore } from '../../store/mysql.ts';
import { command as ttlCmd } from '../../store/ttl-cli.ts';
import { applyTtlWithArchive } from '../../store/archive.ts';
import { dropDb, q, shardUrls, testDbName } from './db.ts';

/** Rows per day of the fixture; 2024-01-06 is a Saturday. */
const PLAN: Array<[string, number]> = [
  ['2024-01-01', 120],
  ['2024-01-02', 90],
  ['2024-01-03', 60],
  ['2024-01-06', 30],
];

/** Master rows with what a Parquet round trip can get wrong: leading zeros, quotes, commas, formula text, midnight. */
function makeRows(plan = PLAN, tag = ''): string[][] {
  const rows: string[][] = [];
  for (const [day, n] of plan) {
    for (let i = 0; i < n; i++) {
      const h = Math.floor((i * 86399) / n);
      const t = `${String(Math.floor(h / 3600)).padStart(2, '0')}:${String(Math.floor(h / 60) % 60).padStart(2, '0')}:${String(h % 60).padStart(2, '0')}`;
      const hour = Math.floor(h / 3600);
      rows.push([
        `0${day.replace(/-/g, '')}${String(i).padStart(5, '0')}${tag}`,
        i % 2 ? '丰县' : '沛县',
        `K_${String(i % 5).padStart(2, '0')}`,
        i % 2 ? '01' : '02',
        `${day} ${t}`,
        i % 7 === 0 ? '-' : '02',
        i % 11 === 0 ? '苏C"1,2***' : `苏C${String(i).padStart(5, '0')}`,
        i % 13 === 0 ? '=cmd|x' : '大众牌',
        '江苏',
        day === '2024-01-06' ? '1' : '0',
        (hour >= 7 && hour < 9) || (hour >= 17 && hour < 19) ? '1' : '0',
        i % 7 === 0 ? '未知' : '小型汽车',
      ]);
    }
  }
  return rows;
}

let tmp: string;
let duck: DuckDBInstance;

function write(name: string, rows: string[][], extra = ''): string {
  const f = path.join(tmp, name);
  writeFileSync(f, csvText(MASTER_COLUMNS, rows) + extra);
  return f;
}

/** Every archived row as master text, plus its `day` partition value, ordered by GCXH. */
async function readArchive(dir: string): Promise<string[][]> {
  const c = await duck.connect();
  try {
    const r = await c.runAndReadAll(
      `SELECT GCXH, XZQHMC, KKMC, FXLX, strftime(GCSJ, '%Y-%m-%d %H:%M:%S'), HPZL, HPHM, CLPPXH, PROVINCE,
         IS_WEEKEND::VARCHAR, IS_PEAK_HOUR::VARCHAR, VEHICLE_TYPE_NAME, day::VARCHAR
       FROM read_parquet('${dir}/day=*/*.parquet', hive_partitioning = true) ORDER BY GCXH`,
    );
    return r.getRows().map((row) => row.map((v) => String(v)));
  } finally {
    c.closeSync();
  }
}

function byId(rows: string[][]): string[][] {
  return [...rows].sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0));
}

function withDay(rows: string[][]): string[][] {
  return byId(rows).map((r) => [...r, r[4]!.slice(0, 10)]);
}

async function withDataDir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const old = process.env.TRAFFIC_DATA_DIR;
  process.env.TRAFFIC_DATA_DIR = dir;
  try {
    return await fn();
  } finally {
    if (old === undefined) delete process.env.TRAFFIC_DATA_DIR;
    else process.env.TRAFFIC_DATA_DIR = old;
  }
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'traffic-archive-'));
  duck = await DuckDBInstance.create(':memory:');
});

afterAll(() => {
  duck?.closeSync();
  rmSync(tmp, { recursive: true, force: true });
});

describe('traffic archive --in master.csv', () => {
  it('writes one Parquet file per day, Hive-style, and every row reads back equal', async () => {
    const rows = makeRows();
    const out = path.join(tmp, 'a1');
    expect(await archiveCmd.run(['--in', write('m1.csv', rows), '--out', out])).toBe(0);
    expect(readdirSync(out).sort()).toEqual(PLAN.map(([d]) => `day=${d}`));
    for (const [d] of PLAN) expect(readdirSync(path.join(out, `day=${d}`))).toEqual(['part-0.parquet']);
    expect(await readArchive(out)).toEqual(withDay(rows));
    // Nothing left beside the archive (staging is removed).
    expect(readdirSync(tmp).filter((f) => f.includes('staging'))).toEqual([]);
  });

  it('stores GCSJ as a local (China wall-clock) timestamp, the flags as INT8, ZSTD, sorted by time', async () => {
    const out = path.join(tmp, 'a1');
    const c = await duck.connect();
    try {
      const file = `${out}/day=2024-01-01/part-0.parquet`;
      const schema = (await c.runAndReadAll(`SELECT name, type, logical_type::VARCHAR AS lt, converted_type FROM parquet_schema('${file}')`)).getRowObjectsJS();
      const col = (n: string) => schema.find((s) => s.name === n)!;
      expect(schema.map((s) => s.name).slice(1)).toEqual([...MASTER_COLUMNS]);
      expect(col('GCSJ').type).toBe('INT64');
      expect(String(col('GCSJ').lt)).toMatch(/isAdjustedToUTC=0.*MICROS=MicroSeconds/);
      expect(col('IS_WEEKEND').converted_type).toBe('INT_8');
      expect(col('GCXH').converted_type).toBe('UTF8');
      const meta = (await c.runAndReadAll(`SELECT DISTINCT compression FROM parquet_metadata('${file}')`)).getRowObjectsJS();
      expect(meta).toEqual([{ compression: 'ZSTD' }]);
      const first = (await c.runAndReadAll(`SELECT strftime(GCSJ, '%Y-%m-%d %H:%M:%S') AS t FROM '${file}' LIMIT 1`)).getRowObjectsJS();
      expect(first).toEqual([{ t: '2024-01-01 00:00:00' }]); // midnight China time, whatever TZ the test runs in
      const days = (
        await c.runAndReadAll(`SELECT DISTINCT typeof(day) AS t FROM read_parquet('${out}/day=*/*.parquet', hive_partitioning = true)`)
      ).getRowObjectsJS();
      expect(days).toEqual([{ t: 'DATE' }]);
    } finally {
      c.closeSync();
    }
  });

  it('re-running replaces exactly the days in the new master and leaves the others as they were', async () => {
    const out = path.join(tmp, 'a2');
    const first = makeRows();
    await archiveCmd.run(['--in', write('m2a.csv', first), '--out', out]);
    const untouched = statSync(path.join(out, 'day=2024-01-01', 'part-0.parquet'));
    // A corrected 2024-01-02 (fewer rows, other ids) and a new day.
    const again = makeRows(
      [
        ['2024-01-02', 40],
        ['2024-01-08', 10],
      ],
      'b',
    );
    await archiveCmd.run(['--in', write('m2b.csv', again), '--out', out]);
    const expected = [...first.filter((r) => !r[4]!.startsWith('2024-01-02')), ...again];
    expect(await readArchive(out)).toEqual(withDay(expected));
    expect(statSync(path.join(out, 'day=2024-01-01', 'part-0.parquet')).mtimeMs).toBe(untouched.mtimeMs);
  });

  it('puts a row it cannot archive in archive_rejects.csv with its line and reason, and archives the rest', async () => {
    const rows = makeRows([['2024-01-01', 20]]);
    const file = write('m3.csv', rows, '0bad,丰县,K_00,01,2024-13-45 99:00:00,02,苏C1,大众牌,江苏,0,0,小型汽车\n');
    const out = path.join(tmp, 'a3');
    expect(await archiveCmd.run(['--in', file, '--out', out])).toBe(0);
    expect(await readArchive(out)).toEqual(withDay(rows));
    const rejects = parse(readFileSync(path.join(tmp, 'archive_rejects.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
    expect(rejects).toHaveLength(1);
    expect(rejects[0]!.LINE).toBe('22');
    expect(rejects[0]!.REASON).toMatch(/GCSJ/);
    expect(rejects[0]!.RAW).toContain('0bad');
  });

  it.each([
    [['--before', '2024-01-02'], /--before goes with --from-store/],
    [['--from-store'], /needs --before/],
    [['--from-store', '--before', '2024-02-30'], /--before must be a date YYYY-MM-DD, got "2024-02-30"/],
    [['--in', 'x.csv', '--from-store', '--before', '2024-01-02'], /not both/],
    [['--in', '/nonexistent/master.csv'], /master CSV not found/],
  ])('refuses %j with a message naming the option', async (argv, message) => {
    await expect(archiveCmd.run([...argv, '--out', path.join(tmp, 'never')])).rejects.toThrow(message);
  });
});

describe('archive and retention on the embedded store', () => {
  it('archives days before --before from the store, keeps a larger archived day, and ttl --archive deletes only whole archived days', async () => {
    const dataDir = path.join(tmp, 'embedded');
    const rows = makeRows();
    const store = await EmbeddedStore.open(path.join(dataDir, 'traffic.duckdb'));
    await store.loadMasterCsv(write('m4.csv', rows));
    await store.close();
    const out = path.join(tmp, 'a4');
    // The full master archived first; then retention elsewhere removed part of 2024-01-01 from the store.
    await archiveCmd.run(['--in', path.join(tmp, 'm4.csv'), '--out', out]);
    const s2 = await EmbeddedStore.open(path.join(dataDir, 'traffic.duckdb'));
    await s2.run(`DELETE FROM traffic_data WHERE gcsj < TIMESTAMP '2024-01-01 06:00:00'`);
    await s2.close();

    await withDataDir(dataDir, () => archiveCmd.run(['--from-store', '--before', '2024-01-03', '--out', out]));
    // 2024-01-01 kept whole (the archive held more), everything else as before.
    expect(await readArchive(out)).toEqual(withDay(rows));

    // Without its partition, 2024-01-03 must survive retention.
    rmSync(path.join(out, 'day=2024-01-03'), { recursive: true });
    // Newest 2024-01-06 23:11:59; 1 day back: cutoff 2024-01-05 23:11:59 → days up to 2024-01-04 are past retention.
    const s2b = await EmbeddedStore.open(path.join(dataDir, 'traffic.duckdb'));
    const platesBefore = (await s2b.query({ hphm: '苏C' }, 1, 1)).total;
    await s2b.close();
    await withDataDir(dataDir, () => ttlCmd.run(['--embedded', '--ttl-days', '1', '--archive', out]));
    const s3 = await EmbeddedStore.open(path.join(dataDir, 'traffic.duckdb'));
    try {
      const left = await s3.dayCounts('2024-12-31');
      // 01: the archive holds more than the store → kept; 02: equal → deleted; 03: no partition → kept.
      expect(Object.fromEntries(left)).toEqual({
        '2024-01-01': rows.filter((r) => r[4]!.startsWith('2024-01-01') && r[4]! >= '2024-01-01 06:00:00').length,
        '2024-01-03': 60,
        '2024-01-06': 30,
      });
      // The plate search's totals (plate_stats) lost exactly the deleted day's passes (2024-01-02:
      // 90, every fixture plate starts 苏C).
      expect((await s3.query({ hphm: '苏C' }, 1, 1)).total).toBe(platesBefore - 90);
    } finally {
      await s3.close();
    }
  });

  it('leaves a day alone when a late record reached it between the count and the delete', async () => {
    const rows = makeRows(
      [
        ['2024-01-02', 40],
        ['2024-01-06', 10],
      ],
      'R',
    );
    const store = await EmbeddedStore.open(':memory:');
    try {
      await store.insert(rows);
      const out = path.join(tmp, 'a-race');
      await archiveCmd.run(['--in', write('m-race.csv', rows), '--out', out]);
      const late = [...rows[0]!];
      late[0] = 'LATE-RACE';
      const r = await applyTtlWithArchive(
        {
          newestGcsj: () => store.latestGcsj(),
          dayCounts: (b) => store.dayCounts(b),
          // The sink writes a late pass of the day just before retention deletes it.
          deleteDay: async (d, expected) => {
            await store.insert([late]);
            return store.deleteDay(d, expected);
          },
        },
        1,
        out,
      );
      expect(r.deleted).toEqual([]);
      expect(r.kept).toEqual([{ day: '2024-01-02', rows: 41, archived: 40 }]);
      expect(Object.fromEntries(await store.dayCounts('2024-12-31'))).toEqual({ '2024-01-02': 41, '2024-01-06': 10 });
    } finally {
      await store.close();
    }
  });
});

describe('ttl --embedded without an archive', () => {
  it('deletes the rows older than the cutoff from the embedded store, as on the shards', async () => {
    const dataDir = path.join(tmp, 'embedded-plain');
    const store = await EmbeddedStore.open(path.join(dataDir, 'traffic.duckdb'));
    await store.loadMasterCsv(write('m6.csv', makeRows()));
    const newest = (await store.latestGcsj())!;
    await store.close();
    expect(newest).toBe('2024-01-06 23:11:59');
    // 2 days back from 2024-01-06 23:11:59: keep gcsj ≥ 2024-01-04 23:11:59.
    expect(await withDataDir(dataDir, () => ttlCmd.run(['--embedded', '--ttl-days', '2']))).toBe(0);
    const s2 = await EmbeddedStore.open(path.join(dataDir, 'traffic.duckdb'));
    try {
      expect(Object.fromEntries(await s2.dayCounts('2024-12-31'))).toEqual({ '2024-01-06': 30 });
    } finally {
      await s2.close();
    }
  });

  it('refuses --embedded together with --mysql', async () => {
    await expect(ttlCmd.run(['--embedded', '--mysql', 'mysql://root@127.0.0.1:3306/x'])).rejects.toThrow(/--embedded or --mysql/);
  });
});

describe('archive and retention on two MariaDB shards', () => {
  const db = testDbName('traffic_archive');
  const urls = shardUrls(db);
  const rows = makeRows();
  let sharded: ShardedStore;

  beforeAll(async () => {
    sharded = ShardedStore.open({ urls });
    await sharded.ensureSchema();
    await loadMaster(sharded, write('m5.csv', rows), { method: 'insert', chunkRows: 500 });
  });

  afterAll(async () => {
    await sharded?.close();
    await dropDb(db);
  });

  /** Passes counted in plate_stats over both shards. */
  async function platePasses(): Promise<number> {
    let n = 0;
    for (const port of [3306, 3307]) n += Number((await q<{ n: number }>(port, `SELECT COALESCE(SUM(passes), 0) AS n FROM \`${db}\`.plate_stats`))[0]!.n);
    return n;
  }

  it('archives the days before --before from every shard, row for row', async () => {
    const out = path.join(tmp, 'a5');
    expect(await archiveCmd.run(['--from-store', '--before', '2024-01-03', '--mysql', urls.join(','), '--out', out])).toBe(0);
    expect(await readArchive(out)).toEqual(withDay(rows.filter((r) => r[4]! < '2024-01-03')));
    expect(readdirSync(tmp).filter((f) => f.includes('.a5.'))).toEqual([]); // the dump and staging are gone
  });

  it('ttl --archive deletes the archived days from every shard and keeps a day whose count differs', async () => {
    const out = path.join(tmp, 'a5');
    // A late pass for 2024-01-02 reached the store after the archive was written: counts differ.
    const platesBefore = await platePasses();
    await q(3306, `INSERT INTO \`${db}\`.traffic_data VALUES ('LATE1','丰县','K_00','01','2024-01-02 12:00:00','02','苏C1','大众牌','江苏',0,0,'小型汽车')`);
    expect(await ttlCmd.run(['--ttl-days', '1', '--archive', out, '--mysql', urls.join(',')])).toBe(0);
    const left = await sharded.dayCounts('2024-12-31');
    expect(Object.fromEntries(left)).toEqual({ '2024-01-02': 91, '2024-01-03': 60, '2024-01-06': 30 });
    expect(existsSync(path.join(out, 'day=2024-01-01'))).toBe(true); // the archive itself is never touched
    // plate_stats lost exactly the deleted day's passes (2024-01-01: 120) on the shards.
    expect(platesBefore - (await platePasses())).toBe(120);
  });

  it('ttl --archive keeps a late pass that reaches a shard while its day is being deleted', async () => {
    const out = path.join(tmp, 'a5-race');
    expect(await archiveCmd.run(['--from-store', '--before', '2024-01-04', '--mysql', urls.join(','), '--out', out])).toBe(0);
    const r = await applyTtlWithArchive(
      {
        newestGcsj: () => sharded.newestGcsj(),
        dayCounts: (b) => sharded.dayCounts(b),
        // The sink writes a late pass of 2024-01-03 after the counts matched, as the day goes.
        deleteDay: async (d, _expected, archived) => {
          if (d === '2024-01-03') {
            await q(3307, `INSERT INTO \`${db}\`.traffic_data VALUES ('LATE2','丰县','K_01','01','2024-01-03 08:00:00','02','苏C2','-','江苏',0,1,'小型汽车')`);
          }
          return sharded.deleteDay(d, 25, await archived());
        },
      },
      1,
      out,
    );
    expect(r.deleted).toEqual([
      { day: '2024-01-02', rows: 91 },
      { day: '2024-01-03', rows: 60 },
    ]);
    expect(r.kept).toEqual([{ day: '2024-01-03', rows: 1, archived: 60 }]);
    expect(Object.fromEntries(await sharded.dayCounts('2024-12-31'))).toEqual({ '2024-01-03': 1, '2024-01-06': 30 });
    expect(await q(3307, `SELECT gcxh FROM \`${db}\`.traffic_data WHERE gcsj < '2024-01-04'`)).toEqual([{ gcxh: 'LATE2' }]);
  });
});
