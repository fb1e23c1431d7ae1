/**
 * The Parquet archive: pass records partitioned Hive-style by day, `DIR/day=YYYY-MM-DD/part-0.parquet`,
 * written by DuckDB's `COPY … (FORMAT parquet, PARTITION_BY (day), COMPRESSION zstd)`.
 *
 * Columns: the 12 master columns under their master names; GCXH … CLPPXH, PROVINCE,
 * VEHICLE_TYPE_NAME UTF-8 strings, GCSJ INT64 TIMESTAMP(MICROS, isAdjustedToUTC = false): the China
 * local wall-clock time as in the master, not an instant (see docs/store.md for how each reader
 * shows it), IS_WEEKEND / IS_PEAK_HOUR INT8. `day` lives only in the folder name (Hive style);
 * readers that infer partition types see a DATE. Rows are sorted by GCSJ, GCXH within a day, so
 * the GCSJ min/max statistics of a row group prune time-range scans.
 *
 * Replacing a day is atomic: the new day is written and checked (its row count read back) in a
 * staging folder beside DIR, then renamed over `day=…/part-0.parquet`; rename(2) on one file
 * system replaces the file in one step, so a reader sees the old day or the new one, never a mix,
 * and a failed run leaves the old day as it was.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { createWriteStream } from 'node:fs';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { csvLine } from '../core/csv.ts';
import { TrafficError } from '../core/errors.ts';
import { MASTER_COLUMNS } from '../core/schema.ts';
import { addDays } from '../core/time.ts';
import type { ShardedStore } from './mysql.ts';
import { PASS_COLUMNS, retentionCutoff } from './store-api.ts';

/** The file of each day's partition. */
export const PART_FILE = 'part-0.parquet';
/**
 * Rows per Parquet row group. A day of the real data (~25–60k passes) is one row group; a
 * generated 1M-row day is one group of ~30 MB, the size scan engines read best (Spark/Trino read
 * a row group per task; tiny groups cost metadata and seeks).
 */
export const DEFAULT_ROW_GROUP_SIZE = 1_048_576;

const DAY = /^\d{4}-\d{2}-\d{2}$/;

function sqlString(s: string): string {
  return "'" + s.replace(/'/g, "''") + "'";
}

/** DuckDB column types of the master columns, for read_csv. */
const CSV_TYPES = MASTER_COLUMNS.map(
  (c) => `${sqlString(c)}: '${c === 'GCSJ' ? 'TIMESTAMP' : c === 'IS_WEEKEND' || c === 'IS_PEAK_HOUR' ? 'TINYINT' : 'VARCHAR'}'`,
).join(', ');

/** Where the rows to archive come from. */
export type ArchiveSource =
  | { kind: 'csv'; file: string }
  /** The embedded DuckDB store file, days before `before` (YYYY-MM-DD, exclusive). */
  | { kind: 'duckdb'; file: string; before: string };

export interface ArchiveOptions {
  rowGroupSize?: number;
  /**
   * Keep a day whose archive already holds more rows than the source (default false for a master,
   * true from the store: retention may have deleted part of a day that the archive still holds).
   */
  keepLargerDays?: boolean;
}

export interface ArchivedDay {
  day: string;
  rows: number;
  bytes: number;
  /** `new`, `replaced`, or `kept` (the archive held more rows than the source; not touched). */
  action: 'new' | 'replaced' | 'kept';
  previousRows: number | null;
}

export interface ArchiveResult {
  rows: number;
  days: ArchivedDay[];
  bytes: number;
  /** Rows the source could not give as a pass record (bad time, wrong width), with the reason. */
  rejects: { line: number; column: string; reason: string; raw: string }[];
  seconds: number;
  /** Of `seconds`: reading the source into DuckDB (the CSV parse for a master: the baseline). */
  readSeconds: number;
}

/**
 * Opens an in-memory DuckDB with bounded memory (spilling to the staging folder) for one archive
 * run. DuckDB's TimeZone is irrelevant here: every time is a TIMESTAMP without zone.
 */
async function openScratch(staging: string): Promise<{ instance: DuckDBInstance; conn: DuckDBConnection }> {
  const instance = await DuckDBInstance.create(':memory:', {
    memory_limit: process.env.TRAFFIC_ARCHIVE_MEMORY ?? '2GB',
    temp_directory: path.join(staging, 'spill'),
  });
  return { instance, conn: await instance.connect() };
}

async function one(conn: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> {
  return (await conn.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
}

/** Row count per day of an archive folder (days without a partition are absent). */
export async function archivedDayCounts(dir: string, conn?: DuckDBConnection): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (!existsSync(dir)) return out;
  const days = (await readdir(dir)).filter((d) => d.startsWith('day=') && DAY.test(d.slice(4))).sort();
  const files: { day: string; file: string }[] = [];
  for (const d of days) {
    for (const f of await readdir(path.join(dir, d))) if (f.endsWith('.parquet')) files.push({ day: d.slice(4), file: path.join(dir, d, f) });
  }
  if (files.length === 0) return out;
  let own: DuckDBInstance | null = null;
  let c = conn;
  if (!c) {
    own = await DuckDBInstance.create(':memory:');
    c = await own.connect();
  }
  try {
    // The row count is in each file's footer: no data is read.
    const rows = await one(
      c,
      `SELECT file_name AS f, sum(row_group_num_rows)::BIGINT AS n FROM (
         SELECT DISTINCT file_name, row_group_id, row_group_num_rows FROM parquet_metadata([${files.map((f) => sqlString(f.file)).join(', ')}])
       ) GROUP BY file_name`,
    );
    const byFile = new Map(rows.map((r) => [String(r.f), Number(r.n)]));
    for (const f of files) out.set(f.day, (out.get(f.day) ?? 0) + (byFile.get(f.file) ?? 0));
    return out;
  } finally {
    if (own) {
      c.closeSync();
      own.closeSync();
    }
  }
}

/** The GCXH of every record in one day's archive partition (`DIR/day=YYYY-MM-DD`). */
export async function archivedDayGcxh(dir: string, day: string): Promise<string[]> {
  const part = path.join(dir, `day=${day}`);
  const files = existsSync(part) ? (await readdir(part)).filter((f) => f.endsWith('.parquet')).map((f) => path.join(part, f)) : [];
  if (files.length === 0) return [];
  const own = await DuckDBInstance.create(':memory:');
  const c = await own.connect();
  try {
    const rows = await one(c, `SELECT GCXH AS g FROM read_parquet([${files.map(sqlString).join(', ')}])`);
    return rows.map((r) => String(r.g));
  } finally {
    c.closeSync();
    own.closeSync();
  }
}

/** Removes staging folders of earlier runs on this DIR whose process is gone. */
async function sweepStaging(parent: string, base: string): Promise<void> {
  const prefix = `.${base}.staging-`;
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) await rm(path.join(parent, name), { recursive: true, force: true });
  }
}

/** Loads the source rows into table `src` (12 master columns, typed); returns the rejects. */
async function loadSource(conn: DuckDBConnection, source: ArchiveSource): Promise<ArchiveResult['rejects']> {
  if (source.kind === 'csv') {
    await conn.run(
      `CREATE TABLE src AS SELECT * FROM read_csv(${sqlString(path.resolve(source.file))},
         header = true, delim = ',', quote = '"', escape = '"', timestampformat = '%Y-%m-%d %H:%M:%S',
         columns = {${CSV_TYPES}}, store_rejects = true)`,
    );
    const rejects = await one(conn, `SELECT line, column_name, error_type, error_message, csv_line FROM reject_errors ORDER BY line`);
    return rejects.map((r) => ({
      line: Number(r.line),
      column: String(r.column_name ?? ''),
      reason: `${String(r.error_type)}: ${String(r.error_message).split('\n')[0]}`,
      raw: String(r.csv_line ?? ''),
    }));
  }
  try {
    await conn.run(`ATTACH ${sqlString(path.resolve(source.file))} AS st (READ_ONLY)`);
  } catch (err) {
    throw new TrafficError(
      'SERVICE_UNAVAILABLE',
      `cannot open the embedded store ${source.file} for reading: ${(err as Error).message.split('\n')[0]} ` +
        '(DuckDB lets one process use a store file while it writes: stop `traffic api` / `start` first)',
      { file: source.file },
    );
  }
  await conn.run(
    `CREATE TABLE src AS SELECT gcxh AS GCXH, xzqhmc AS XZQHMC, kkmc AS KKMC, fxlx AS FXLX, gcsj AS GCSJ, hpzl AS HPZL,
       hphm AS HPHM, clppxh AS CLPPXH, province AS PROVINCE, is_weekend::TINYINT AS IS_WEEKEND,
       is_peak_hour::TINYINT AS IS_PEAK_HOUR, vehicle_type_name AS VEHICLE_TYPE_NAME
     FROM st.traffic_data WHERE gcsj < CAST(${sqlString(source.before + ' 00:00:00')} AS TIMESTAMP)`,
  );
  await conn.run('DETACH st');
  return [];
}

/**
 * Archives a source into `dir`, one partition per day present in the source; days not in the
 * source are left alone.
 */
export async function archiveToParquet(source: ArchiveSource, dir: string, opts: ArchiveOptions = {}): Promise<ArchiveResult> {
  const t0 = performance.now();
  const out = path.resolve(dir);
  const parent = path.dirname(out);
  await mkdir(out, { recursive: true });
  await sweepStaging(parent, path.basename(out));
  // Beside DIR, not inside it: readers glob DIR/**, and a rename stays on one file system.
  const staging = path.join(parent, `.${path.basename(out)}.staging-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(staging, { recursive: true });
  const { instance, conn } = await openScratch(staging);
  try {
    const rejects = await loadSource(conn, source);
    const readSeconds = (performance.now() - t0) / 1000;
    const counts = await one(conn, `SELECT strftime(GCSJ, '%Y-%m-%d') AS day, count(*)::BIGINT AS n FROM src GROUP BY day ORDER BY day`);
    const srcDays = new Map(counts.map((r) => [String(r.day), Number(r.n)]));
    const rowGroup = opts.rowGroupSize ?? DEFAULT_ROW_GROUP_SIZE;
    const files = path.join(staging, 'days');
    if (srcDays.size > 0) {
      await conn.run(
        `COPY (SELECT ${MASTER_COLUMNS.join(', ')}, strftime(GCSJ, '%Y-%m-%d') AS day FROM src ORDER BY GCSJ, GCXH)
         TO ${sqlString(files)} (FORMAT parquet, PARTITION_BY (day), COMPRESSION zstd, ROW_GROUP_SIZE ${rowGroup},
           FILENAME_PATTERN 'part-{i}')`,
      );
    }
    // Check what was written before anything is published: each day one file with the source's count.
    const staged = await archivedDayCounts(files, conn);
    for (const [day, n] of srcDays) {
      if (staged.get(day) !== n) {
        throw new TrafficError('OUTPUT_WRITE_FAILED', `archive of ${day}: wrote ${staged.get(day) ?? 0} rows, the source has ${n}`, { file: files });
      }
      const written = await readdir(path.join(files, `day=${day}`));
      if (written.length !== 1 || written[0] !== PART_FILE) {
        throw new TrafficError('OUTPUT_WRITE_FAILED', `archive of ${day}: expected one ${PART_FILE}, DuckDB wrote ${written.join(', ')}`, { file: files });
      }
    }
    const before = await archivedDayCounts(out, conn);
    const keepLarger = opts.keepLargerDays ?? source.kind !== 'csv';
    const days: ArchivedDay[] = [];
    for (const [day, n] of srcDays) {
      const previous = before.get(day) ?? null;
      const target = path.join(out, `day=${day}`);
      if (keepLarger && previous !== null && previous > n) {
        days.push({ day, rows: previous, bytes: await dirBytes(target), action: 'kept', previousRows: previous });
        continue;
      }
      await mkdir(target, { recursive: true });
      const from = path.join(files, `day=${day}`, PART_FILE);
      const bytes = (await stat(from)).size;
      await rename(from, path.join(target, PART_FILE));
      // Files of other names in the partition (none from this tool) would double the day: remove them.
      for (const f of await readdir(target)) if (f !== PART_FILE) await rm(path.join(target, f), { recursive: true, force: true });
      days.push({ day, rows: n, bytes, action: previous === null ? 'new' : 'replaced', previousRows: previous });
    }
    const rows = days.filter((d) => d.action !== 'kept').reduce((s, d) => s + d.rows, 0);
    const bytes = days.filter((d) => d.action !== 'kept').reduce((s, d) => s + d.bytes, 0);
    return { rows, days, bytes, rejects, seconds: (performance.now() - t0) / 1000, readSeconds };
  } finally {
    conn.closeSync();
    instance.closeSync();
    await rm(staging, { recursive: true, force: true });
  }
}

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const f of await readdir(dir)) n += (await stat(path.join(dir, f))).size;
  return n;
}

/** `YYYY-MM-DD` or a clear option error. */
export function normalizeDay(v: string, option: string): string {
  if (!DAY.test(v) || Number.isNaN(Date.parse(v + 'T00:00:00Z')) || new Date(v + 'T00:00:00Z').toISOString().slice(0, 10) !== v) {
    throw new TrafficError('INVALID_OPTION', `--${option} must be a date YYYY-MM-DD, got "${v}"`, { option: `--${option}` });
  }
  return v;
}

/**
 * Writes the rows of the MySQL shards before `before` (exclusive, YYYY-MM-DD) as a master CSV:
 * each shard streamed (no whole result in memory) with backpressure. Returns the row count.
 */
export async function dumpShardsToCsv(store: ShardedStore, before: string, file: string): Promise<number> {
  const out = createWriteStream(file);
  const write = (text: string): Promise<void> | null => (out.write(text) ? null : new Promise((resolve) => out.once('drain', resolve)));
  let n = 0;
  try {
    await write(csvLine(MASTER_COLUMNS));
    for (const shard of store.shards) {
      await store.onShard(shard, 'archive read', async (pool) => {
        const stream = pool.pool
          .query(
            `SELECT gcxh, xzqhmc, kkmc, fxlx, gcsj, hpzl, hphm, clppxh, province, is_weekend, is_peak_hour, vehicle_type_name
             FROM traffic_data WHERE gcsj < ?`,
            [before + ' 00:00:00'],
          )
          .stream({ highWaterMark: 1000 });
        let batch = '';
        for await (const r of stream as AsyncIterable<Record<string, unknown>>) {
          batch += csvLine(PASS_COLUMNS.map((c) => String(r[c] ?? '')));
          n++;
          if (batch.length > 1 << 20) {
            const wait = write(batch);
            batch = '';
            if (wait) await wait;
          }
        }
        if (batch) await write(batch);
      });
    }
  } finally {
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
  return n;
}

/** What retention against an archive needs of a store (both stores implement it). */
export interface DayStore {
  newestGcsj(): Promise<string | null>;
  /** Rows per day (YYYY-MM-DD) of the days before `before` (exclusive). */
  dayCounts(before: string): Promise<Map<string, number>>;
  /**
   * Deletes the rows of one day; returns how many. With `expected`, a store that can check it
   * atomically deletes nothing and returns -1 when the day holds another count by then. A store
   * that cannot (the shards) is given `archived`, the GCXH the day's archive holds, and deletes
   * only those: a late pass that arrives while the day is deleted stays.
   */
  deleteDay(day: string, expected: number, archived: () => Promise<readonly string[]>): Promise<number>;
}

export interface GuardedTtlResult {
  newest: string | null;
  cutoff: string | null;
  deleted: { day: string; rows: number }[];
  /** Days past retention kept because the archive does not hold them whole. */
  kept: { day: string; rows: number; archived: number | null }[];
}

/**
 * Retention that loses nothing: of the days wholly older than the cutoff (newest gcsj − `days`
 * days), deletes only those whose archive partition holds exactly the store's row count for
 * the day. A day the cutoff cuts through waits until it is wholly past it.
 */
export async function applyTtlWithArchive(store: DayStore, days: number, archiveDir: string): Promise<GuardedTtlResult> {
  const newest = await store.newestGcsj();
  if (days <= 0 || newest === null) return { newest, cutoff: null, deleted: [], kept: [] };
  const cutoff = retentionCutoff(newest, days);
  // Whole days before the cutoff's day: that day is (at least partly) still inside retention.
  const counts = await store.dayCounts(cutoff.slice(0, 10));
  const archived = await archivedDayCounts(archiveDir);
  const deleted: GuardedTtlResult['deleted'] = [];
  const kept: GuardedTtlResult['kept'] = [];
  for (const [day, rows] of [...counts].sort(([a], [b]) => a.localeCompare(b))) {
    const a = archived.get(day) ?? null;
    if (a !== rows) {
      kept.push({ day, rows, archived: a });
      continue;
    }
    const n = await store.deleteDay(day, a, () => archivedDayGcxh(archiveDir, day));
    // -1: a late record came in since the count; the day waits for a new archive run.
    if (n < 0) kept.push({ day, rows: (await store.dayCounts(addDays(day, 1))).get(day) ?? rows, archived: a });
    else {
      deleted.push({ day, rows: n });
      // Passes the archive does not hold (late ones, written during the delete) stayed: listed.
      const left = (await store.dayCounts(addDays(day, 1))).get(day) ?? 0;
      if (left > 0) kept.push({ day, rows: left, archived: a });
    }
  }
  return { newest, cutoff, deleted, kept };
}
