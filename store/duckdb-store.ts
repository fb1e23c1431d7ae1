/**
 * The embedded store: one DuckDB file under the data dir (default `data/out/traffic.duckdb`).
 * No server needed; fed by `traffic load` (a whole master CSV in one INSERT … SELECT from
 * read_csv) and by the stream (batched INSERT OR IGNORE). Same answers as the MySQL shards.
 *
 * DuckDB allows one read-write process per file: the API, the stream sink and `traffic load`
 * share it inside one process (`traffic start`); run `load` before `api`, not beside it.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type DuckDBConnection, type DuckDBDataChunk, DuckDBInstance, type DuckDBValue } from '@duckdb/node-api';
import { TrafficError } from '../core/errors.ts';
import { openCsvTable, TextFileWriter } from '../core/io.ts';
import { DIMENSION_COLUMNS, MASTER_COLUMNS, type MasterRow, type Reject } from '../core/schema.ts';
import { storeRowProblem } from './ddl.ts';
import {
  filterWhere,
  passFromFields,
  passFromObject,
  type FilterDialect,
  PASS_COLUMNS,
  FIVE_MINUTE_WINDOWS,
  type CheckpointInfo,
  type NameValue,
  type HourlyCount,
  type PassRecord,
  type QueryFilter,
  type TrafficStore,
} from './store-api.ts';
import { timeStoreWrite } from '../core/metrics.ts';
import { duckdbRoutesSql, minutes1, routeWindow, type RouteStat } from './routes.ts';
import { plateOnly, plateWindowed, windowRows, type PlateSelectivity } from './plate-search.ts';

export const EMBEDDED_DB_FILE = 'traffic.duckdb';

const DDL = [
  `CREATE TABLE IF NOT EXISTS traffic_data (
    gcxh VARCHAR PRIMARY KEY, xzqhmc VARCHAR, kkmc VARCHAR NOT NULL, fxlx VARCHAR,
    gcsj TIMESTAMP NOT NULL, hpzl VARCHAR, hphm VARCHAR, clppxh VARCHAR, province VARCHAR,
    is_weekend TINYINT, is_peak_hour TINYINT, vehicle_type_name VARCHAR)`,
  `CREATE TABLE IF NOT EXISTS kkmc_info (
    kkmc VARCHAR PRIMARY KEY, kkmc_name VARCHAR, aliases VARCHAR, road VARCHAR, county VARCHAR,
    stake_km VARCHAR, border VARCHAR, xzqhmc VARCHAR, lon DOUBLE, lat DOUBLE, passes BIGINT)`,
];

/** The plate dimension behind the plate search (store/plate-search.ts); a missing plate is ''. */
const CREATE_PLATE_STATS = `CREATE TABLE IF NOT EXISTS plate_stats (hphm VARCHAR PRIMARY KEY, passes BIGINT NOT NULL)`;

/**
 * An ART index on the plate: a rare plate search fetches its few rows by `hphm IN (…)` instead of
 * scanning (docs/store.md "Plate search"). DuckDB uses it only for a filter on hphm alone, and not
 * under ORDER BY … LIMIT (late materialization scans instead), hence the MATERIALIZED CTE in
 * EmbeddedStore.page. A store from before it gets it at open (~0.7 s per 725k rows).
 */
const CREATE_PLATE_INDEX = `CREATE INDEX IF NOT EXISTS idx_traffic_hphm ON traffic_data (hphm)`;

const SELECT_PASS = `gcxh, xzqhmc, kkmc, fxlx, strftime(gcsj, '%Y-%m-%d %H:%M:%S') AS gcsj, hpzl, hphm, clppxh,
  province, is_weekend, is_peak_hour, vehicle_type_name`;

function sqlString(s: string): string {
  return "'" + s.replace(/'/g, "''") + "'";
}

/**
 * contains() is the LIKE '%…%' of a literal (the same rows) without the pattern matcher: ~1.3×
 * faster over plate_stats and over a plate search's window (docs/store.md "Plate search").
 */
const DUCKDB_FILTER: FilterDialect = { time: 'CAST(? AS TIMESTAMP)', hphmLike: 'contains(hphm, ?)', hphmParam: (s) => s };

function where(f: QueryFilter): { sql: string; params: DuckDBValue[] } {
  return filterWhere(f, DUCKDB_FILTER);
}

/**
 * The export's row as one VARCHAR: the 12 fields joined by U+001F, NULL as ''. A text field can
 * hold any character, so U+001E and U+001F inside one are escaped as U+001E followed by 0 or 1,
 * and exportPass undoes it; GCSJ and the 0/1 flags cannot hold them.
 */
const EXPORT_LINE = `concat_ws(chr(31), ${PASS_COLUMNS.map((c) =>
  c === 'gcsj'
    ? `strftime(gcsj, '%Y-%m-%d %H:%M:%S')`
    : c === 'is_weekend' || c === 'is_peak_hour'
      ? `coalesce(CAST(${c} AS VARCHAR), '')`
      : `replace(replace(coalesce(${c}, ''), chr(30), chr(30) || '0'), chr(31), chr(30) || '1')`,
).join(', ')})`;

/** Rows per onChunk call. */
const EXPORT_CHUNK = 2000;

const ESCAPED = /\x1e[01]/g;
const unescapeField = (s: string): string => (s.indexOf('\x1e') === -1 ? s : s.replace(ESCAPED, (m) => (m === '\x1e0' ? '\x1e' : '\x1f')));

/** A row of EXPORT_LINE back as a PassRecord. */
export function exportPass(line: string): PassRecord {
  let c = line.split('\x1f');
  if (line.indexOf('\x1e') !== -1) c = c.map(unescapeField);
  return passFromFields(c);
}

/** A rare plate search lists at most this many plates in `hphm IN (…)` instead of the LIKE. */
const MAX_EQUAL_PLATES = 50;

/** Read connections beside the write connection: concurrent API requests run in parallel. */
const READERS = 3;

interface Lane {
  conn: DuckDBConnection;
  queue: Promise<unknown>;
  pending: number;
}

/** plate_stats from traffic_data, in one transaction. */
async function rebuildPlateStats(conn: DuckDBConnection): Promise<void> {
  await conn.run('BEGIN TRANSACTION');
  try {
    await conn.run('DELETE FROM plate_stats');
    await conn.run(`INSERT INTO plate_stats SELECT coalesce(hphm, '') AS h, count(*) FROM traffic_data GROUP BY h`);
    await conn.run('COMMIT');
  } catch (err) {
    await conn.run('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

export class EmbeddedStore implements TrafficStore {
  readonly kind = 'embedded' as const;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly readers: Lane[],
    readonly file: string,
    private readonly queryTimeoutMs: number,
  ) {}

  /**
   * `queryTimeoutMs` (0 = none) bounds each read from the moment it starts running: past it the
   * query is interrupted and fails with SERVICE_UNAVAILABLE (the API answers 503). Writes are
   * never interrupted.
   */
  static async open(file: string, opts: { queryTimeoutMs?: number } = {}): Promise<EmbeddedStore> {
    if (file !== ':memory:') await mkdir(path.dirname(path.resolve(file)), { recursive: true });
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(file);
    } catch (err) {
      throw new TrafficError('SERVICE_UNAVAILABLE', `cannot open the embedded store ${file}: ${(err as Error).message} (is another process using it?)`, {
        file,
      });
    }
    const conn = await instance.connect();
    for (const sql of DDL) await conn.run(sql);
    const had = await conn.runAndReadAll(`SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'plate_stats' AND schema_name = 'main'`);
    await conn.run(CREATE_PLATE_STATS);
    await conn.run(CREATE_PLATE_INDEX);
    // A store from before the plate search: build its plate dimension once.
    if (Number(had.getRowObjectsJS()[0]?.n ?? 0) === 0) await rebuildPlateStats(conn);
    const readers: Lane[] = [];
    for (let i = 0; i < READERS; i++) readers.push({ conn: await instance.connect(), queue: Promise.resolve(), pending: 0 });
    return new EmbeddedStore(instance, conn, readers, file, opts.queryTimeoutMs ?? 0);
  }

  /**
   * Writes take turns on the write connection (one statement at a time per connection). Each
   * write completes (autocommit) before it resolves, so later reads on any connection see it.
   */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Reads go to the least busy read connection; DuckDB runs them in parallel. */
  private async rows(sql: string, params: DuckDBValue[] = [], timed = true): Promise<Record<string, unknown>[]> {
    let lane = this.readers[0]!;
    for (const r of this.readers) if (r.pending < lane.pending) lane = r;
    lane.pending++;
    const limit = timed ? this.queryTimeoutMs : 0;
    const run = async (): Promise<Record<string, unknown>[]> => {
      let timedOut = false;
      // A lane runs one statement at a time, so the statement interrupted is this one.
      const timer =
        limit > 0
          ? setTimeout(() => {
              timedOut = true;
              lane.conn.interrupt();
            }, limit)
          : undefined;
      try {
        const reader = await lane.conn.runAndReadAll(sql, params);
        return reader.getRowObjectsJS() as Record<string, unknown>[];
      } catch (err) {
        if (timedOut) {
          throw new TrafficError('SERVICE_UNAVAILABLE', `embedded store query timed out after ${limit} ms (TRAFFIC_QUERY_TIMEOUT_MS)`, {}, { cause: err });
        }
        throw err;
      } finally {
        clearTimeout(timer);
      }
    };
    const next = lane.queue.then(run, run).finally(() => lane.pending--);
    lane.queue = next.catch(() => undefined);
    return next;
  }

  async query(f: QueryFilter, page: number, size: number): Promise<{ total: number; rows: PassRecord[] }> {
    if (plateWindowed(f)) return this.plateQuery(f, page, size);
    const w = where(f);
    const [countRow] = await this.rows(`SELECT count(*) AS n FROM traffic_data ${w.sql}`, w.params);
    return { total: Number(countRow?.n ?? 0), rows: await this.page(f, page, size) };
  }

  private async page(f: QueryFilter, page: number, size: number, since?: string, plates?: string[]): Promise<PassRecord[]> {
    const limit = [size, (page - 1) * size];
    let rows: Record<string, unknown>[];
    if (plates) {
      // The plate index answers `hphm IN (…)` alone; the rest of the filter and the order apply
      // to the rows it found (idx_traffic_hphm).
      const w = filterWhere(f, DUCKDB_FILTER);
      rows = await this.rows(
        `WITH m AS MATERIALIZED (SELECT * FROM traffic_data WHERE hphm IN (${plates.map(() => '?').join(', ')}))
         SELECT ${SELECT_PASS} FROM m ${w.sql} ORDER BY m.gcsj DESC, gcxh LIMIT ? OFFSET ?`,
        [...plates, ...w.params, ...limit],
      );
    } else if (since) {
      // A plate search's time window holds few matches: sorted after one scan of the window
      // (ORDER BY … LIMIT on the table itself plans a second scan, late materialization).
      const w = filterWhere(f, DUCKDB_FILTER, ['gcsj >= CAST(? AS TIMESTAMP)'], [since]);
      rows = await this.rows(
        `WITH m AS MATERIALIZED (SELECT * FROM traffic_data ${w.sql})
         SELECT ${SELECT_PASS} FROM m ORDER BY m.gcsj DESC, gcxh LIMIT ? OFFSET ?`,
        [...w.params, ...limit],
      );
    } else {
      const w = where(f);
      rows = await this.rows(`SELECT ${SELECT_PASS} FROM traffic_data ${w.sql} ORDER BY traffic_data.gcsj DESC, gcxh LIMIT ? OFFSET ?`, [
        ...w.params,
        ...limit,
      ]);
    }
    return rows.map(passFromObject);
  }

  /**
   * Plate search: total from plate_stats, rows from the newest time window that should hold the
   * page (row groups outside it are skipped by their gcsj min/max). DuckDB has no ordered index to
   * walk back from the newest row, so the window start is estimated from the time span and widened
   * (×8) while the window comes back short; the last try reads the whole table.
   */
  private async plateQuery(f: QueryFilter, page: number, size: number): Promise<{ total: number; rows: PassRecord[] }> {
    const [st] = await this.rows(
      `SELECT coalesce(sum(passes), 0) AS total, coalesce(sum(passes) FILTER (WHERE contains(hphm, ?)), 0) AS hit,
         (SELECT epoch(max(gcsj)) FROM traffic_data) AS newest, (SELECT epoch(min(gcsj)) FROM traffic_data) AS oldest
       FROM plate_stats`,
      [f.hphm!],
    );
    const sel: PlateSelectivity = { matching: Number(st?.hit ?? 0), total: Number(st?.total ?? 0) };
    if (sel.matching === 0) return { total: 0, rows: [] };
    let total = sel.matching;
    if (!plateOnly(f)) {
      const w = where(f);
      const [countRow] = await this.rows(`SELECT count(*) AS n FROM traffic_data ${w.sql}`, w.params);
      total = Number(countRow?.n ?? 0);
    }
    const need = page * size;
    const windowed = windowRows(need, sel);
    const newest = Number(st?.newest);
    const oldest = Number(st?.oldest);
    if (windowed !== null && Number.isFinite(newest) && Number.isFinite(oldest) && newest > oldest) {
      // Seconds that hold `windowed` rows at the average rate, twice over (night hours are thin).
      let span = ((newest - oldest) * windowed * 2) / sel.total;
      for (let tries = 0; tries < 2 && newest - span > oldest; tries++, span *= 8) {
        // gcsj is a plain TIMESTAMP of China wall-clock times: epoch() and back without a zone.
        const since = new Date((newest - Math.ceil(span)) * 1000).toISOString().slice(0, 19).replace('T', ' ');
        const got = await this.page(f, 1, need, since);
        if (got.length >= need) return { total, rows: got.slice((page - 1) * size) };
      }
    }
    if (windowed === null) {
      // A rare match: its few rows come by the plate index (page). plate_stats lists exactly the
      // plates the LIKE would match.
      const plates = await this.rows(`SELECT hphm FROM plate_stats WHERE contains(hphm, ?) AND passes > 0 LIMIT ?`, [f.hphm!, MAX_EQUAL_PLATES + 1]);
      if (plates.length <= MAX_EQUAL_PLATES) {
        const { hphm: _plate, ...rest } = f;
        return {
          total,
          rows: await this.page(
            rest,
            page,
            size,
            undefined,
            plates.map((p) => String(p.hphm)),
          ),
        };
      }
    }
    return { total, rows: await this.page(f, page, size) };
  }

  /**
   * One query, streamed: DuckDB sorts once (spilling to disk past its memory limit) and hands the
   * result over a vector (2,048 rows) at a time, so the export is one scan whatever its size and
   * sees one snapshot. (Keyset pages of 5,000 rows re-scanned and re-sorted the table per page:
   * measured ~5.6k rows/s on a 1M-row table.) Its own connection, closed at the end, so a long
   * export never queues the API's read lanes.
   *
   * Each row comes over as ONE string (EXPORT_LINE), split here: reading the 12 columns cost a
   * native call and a UTF-8 decode per value, most of the export's CPU (docs/store.md "Export and
   * archive figures").
   */
  async exportRows(f: QueryFilter, onChunk: (rows: PassRecord[]) => Promise<void> | void): Promise<number> {
    const w = where(f);
    const conn = await this.instance.connect();
    let n = 0;
    let next: Promise<DuckDBDataChunk | null> | null = null;
    try {
      const result = await conn.stream(`SELECT ${EXPORT_LINE} AS line FROM traffic_data ${w.sql} ORDER BY traffic_data.gcsj DESC, gcxh`, w.params);
      let out: PassRecord[] = [];
      // One vector ahead: DuckDB produces the next one on its own thread while this one is
      // written out (the fetch runs off the event loop), so the two overlap on two cores.
      next = result.fetchChunk();
      for (;;) {
        const data = await next;
        next = null;
        if (!data || data.rowCount === 0) break;
        // Read out completely before the next await: the vector's memory is DuckDB's and is
        // freed when the chunk object is collected, which may happen once the code stops using it.
        const lines = data.getColumnVector(0);
        const count = data.rowCount; // a native call each time it is read
        for (let i = 0; i < count; i++) out.push(exportPass(lines.getItem(i) as string));
        next = result.fetchChunk();
        if (out.length >= EXPORT_CHUNK) {
          n += out.length;
          await onChunk(out);
          out = [];
        }
      }
      if (out.length) {
        n += out.length;
        await onChunk(out);
      }
      return n;
    } finally {
      // A fetch still running (the client went away mid-export) ends before its connection closes.
      if (next) await next.catch(() => undefined);
      conn.closeSync();
    }
  }

  async kkmcCount(limit: number): Promise<NameValue[]> {
    const rows = await this.rows(`SELECT kkmc AS name, count(*) AS value FROM traffic_data GROUP BY kkmc ORDER BY value DESC, name LIMIT ?`, [limit]);
    return rows.map((r) => ({ name: String(r.name), value: Number(r.value) }));
  }

  async hourly(date: string, kkmc?: string): Promise<number[]> {
    const params: DuckDBValue[] = [date + ' 00:00:00', date + ' 00:00:00'];
    let extra = '';
    if (kkmc !== undefined) {
      extra = ' AND kkmc = ?';
      params.push(kkmc);
    }
    const rows = await this.rows(
      `SELECT hour(gcsj) AS h, count(*) AS n FROM traffic_data
       WHERE gcsj >= CAST(? AS TIMESTAMP) AND gcsj < CAST(? AS TIMESTAMP) + INTERVAL 1 DAY${extra}
       GROUP BY h`,
      params,
    );
    const out = new Array<number>(24).fill(0);
    for (const r of rows) out[Number(r.h)] = Number(r.n);
    return out;
  }

  async fiveMinuteCounts(kkmc: string, date: string): Promise<number[]> {
    const rows = await this.rows(
      `SELECT hour(gcsj) * 12 + minute(gcsj) // 5 AS k, count(*) AS n FROM traffic_data
       WHERE kkmc = ? AND gcsj >= CAST(? AS TIMESTAMP) AND gcsj < CAST(? AS TIMESTAMP) + INTERVAL 1 DAY
       GROUP BY k`,
      [kkmc, date + ' 00:00:00', date + ' 00:00:00'],
    );
    const out = new Array<number>(FIVE_MINUTE_WINDOWS).fill(0);
    for (const r of rows) out[Number(r.k)] = Number(r.n);
    return out;
  }

  async latestGcsj(): Promise<string | null> {
    const [r] = await this.rows(`SELECT strftime(max(gcsj), '%Y-%m-%d %H:%M:%S') AS t FROM traffic_data`);
    return r?.t == null ? null : String(r.t);
  }

  async minuteCounts(from: string, to: string): Promise<{ minute: string; value: number }[]> {
    const rows = await this.rows(
      `SELECT strftime(date_trunc('minute', gcsj), '%Y-%m-%d %H:%M') AS m, count(*) AS n FROM traffic_data
       WHERE gcsj >= CAST(? AS TIMESTAMP) AND gcsj <= CAST(? AS TIMESTAMP) GROUP BY m ORDER BY m`,
      [from, to],
    );
    return rows.map((r) => ({ minute: String(r.m), value: Number(r.n) }));
  }

  async hourlyByCheckpoint(from: string, to: string): Promise<HourlyCount[]> {
    const rows = await this.rows(
      `SELECT kkmc, strftime(date_trunc('hour', gcsj), '%Y-%m-%d %H:%M:%S') AS h, count(*) AS n FROM traffic_data
       WHERE gcsj >= CAST(? AS TIMESTAMP) AND gcsj < CAST(? AS TIMESTAMP) AND gcxh NOT LIKE 'SYN%'
       GROUP BY kkmc, h ORDER BY h, kkmc`,
      [from, to],
    );
    return rows.map((r) => ({ kkmc: String(r.kkmc), hour: String(r.h), value: Number(r.n) }));
  }

  async routes(date: string, limit: number): Promise<RouteStat[]> {
    const w = routeWindow(date);
    const rows = await this.rows(duckdbRoutesSql(), [w.from, w.to, w.dayStart, limit]);
    return rows.map((r) => ({
      from: String(r.from_k),
      to: String(r.to_k),
      value: Number(r.value),
      median_minutes: minutes1(Number(r.median_s)),
    }));
  }

  async platePasses(hphm: string, from: string, to: string, clppxh: string | undefined, max: number): Promise<PassRecord[]> {
    const params: DuckDBValue[] = [hphm, from, to];
    let extra = '';
    if (clppxh !== undefined) {
      extra = ' AND clppxh = ?';
      params.push(clppxh);
    }
    const rows = await this.rows(
      `SELECT ${SELECT_PASS} FROM traffic_data
       WHERE hphm = ? AND gcsj >= CAST(? AS TIMESTAMP) AND gcsj < CAST(? AS TIMESTAMP)${extra}
       ORDER BY traffic_data.gcsj, gcxh LIMIT ${Math.trunc(max)}`,
      params,
    );
    return rows.map(passFromObject);
  }

  private async groupCount(column: 'province' | 'vehicle_type_name'): Promise<NameValue[]> {
    const rows = await this.rows(`SELECT ${column} AS name, count(*) AS value FROM traffic_data GROUP BY ${column} ORDER BY value DESC, name`);
    return rows.map((r) => ({ name: String(r.name), value: Number(r.value) }));
  }

  provinceCount(): Promise<NameValue[]> {
    return this.groupCount('province');
  }

  vehicleTypeCount(): Promise<NameValue[]> {
    return this.groupCount('vehicle_type_name');
  }

  async total(): Promise<number> {
    const [r] = await this.rows(`SELECT count(*) AS n FROM traffic_data`);
    return Number(r?.n ?? 0);
  }

  /** Row count for the writers' own bookkeeping: never interrupted by the API's query timeout. */
  private async rowCount(): Promise<number> {
    const [r] = await this.rows(`SELECT count(*) AS n FROM traffic_data`, [], false);
    return Number(r?.n ?? 0);
  }

  async checkpointCount(): Promise<number> {
    const [r] = await this.rows(`SELECT count(DISTINCT kkmc) AS n FROM traffic_data`);
    return Number(r?.n ?? 0);
  }

  async checkpoints(): Promise<CheckpointInfo[]> {
    const rows = await this.rows(`SELECT kkmc, kkmc_name, lon, lat FROM kkmc_info ORDER BY kkmc`);
    return rows.map((r) => ({
      kkmc: String(r.kkmc),
      kkmc_name: String(r.kkmc_name ?? r.kkmc),
      lon: r.lon == null ? null : Number(r.lon),
      lat: r.lat == null ? null : Number(r.lat),
    }));
  }

  async hasCheckpoint(kkmc: string): Promise<boolean> {
    const rows = await this.rows(`SELECT 1 AS x FROM kkmc_info WHERE kkmc = ? UNION ALL (SELECT 1 AS x FROM traffic_data WHERE kkmc = ? LIMIT 1) LIMIT 1`, [
      kkmc,
      kkmc,
    ]);
    return rows.length > 0;
  }

  async insert(rows: readonly MasterRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    return timeStoreWrite('duckdb', () => this.insertBatches(rows));
  }

  private async insertBatches(rows: readonly MasterRow[]): Promise<number> {
    const batch = 500;
    const tuple = '(' + new Array(12).fill('?').join(',') + ')';
    // Rows and plate_stats change in one transaction; RETURNING lists only the rows that were new.
    return this.serial(async () => {
      await this.conn.run('BEGIN TRANSACTION');
      try {
        const plates = new Map<string, number>();
        let added = 0;
        for (let i = 0; i < rows.length; i += batch) {
          const part = rows.slice(i, i + batch);
          const values: DuckDBValue[] = [];
          for (const r of part) {
            for (let k = 0; k < 12; k++) {
              const v = r[k] ?? '';
              values.push(k === 9 || k === 10 ? Number(v) : v);
            }
          }
          const res = await this.conn.runAndReadAll(
            `INSERT OR IGNORE INTO traffic_data VALUES ${new Array(part.length).fill(tuple).join(',')} RETURNING hphm`,
            values,
          );
          for (const [h] of res.getRows()) {
            const key = h == null ? '' : String(h);
            plates.set(key, (plates.get(key) ?? 0) + 1);
            added++;
          }
        }
        const entries = [...plates];
        for (let i = 0; i < entries.length; i += batch) {
          const part = entries.slice(i, i + batch);
          await this.conn.run(
            `INSERT INTO plate_stats VALUES ${part.map(() => '(?, ?)').join(',')}
             ON CONFLICT (hphm) DO UPDATE SET passes = passes + excluded.passes`,
            part.flat(),
          );
        }
        await this.conn.run('COMMIT');
        return added;
      } catch (err) {
        await this.conn.run('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * Runs one statement on the store's connection, in turn with every other request (DuckDB
   * allows one writer process per file, so in-process writers such as the congestion engine's
   * window store go through here; it fits `DuckLikeConnection` of store/flow-window.ts).
   */
  async run(sql: string, params: DuckDBValue[] = []): Promise<void> {
    await this.serial(() => this.conn.run(sql, params));
  }

  /** Rows per day (YYYY-MM-DD) before `before` (exclusive); for retention against an archive. */
  async dayCounts(before: string): Promise<Map<string, number>> {
    const rows = await this.rows(`SELECT strftime(gcsj, '%Y-%m-%d') AS d, count(*) AS n FROM traffic_data WHERE gcsj < CAST(? AS TIMESTAMP) GROUP BY d`, [
      before + ' 00:00:00',
    ]);
    return new Map(rows.map((r) => [String(r.d), Number(r.n)]));
  }

  /**
   * Deletes every row of one day (YYYY-MM-DD) and takes them off plate_stats, in one transaction;
   * returns how many. With `expected` (the day's count in its archive), a day that holds another
   * count by the time of the delete (a late record came in) is left as it was and -1 returned:
   * no row that is not archived is ever deleted.
   */
  async deleteDay(day: string, expected?: number): Promise<number> {
    const from = day + ' 00:00:00';
    return this.serial(async () => {
      await this.conn.run('BEGIN TRANSACTION');
      try {
        const r = await this.conn.runAndReadAll(
          `DELETE FROM traffic_data WHERE gcsj >= CAST(? AS TIMESTAMP) AND gcsj < CAST(? AS TIMESTAMP) + INTERVAL 1 DAY RETURNING hphm`,
          [from, from],
        );
        const rows = r.getRows();
        if (expected !== undefined && rows.length !== expected) {
          await this.conn.run('ROLLBACK');
          return -1;
        }
        const minus = new Map<string, number>();
        for (const [h] of rows) {
          const key = h == null ? '' : String(h);
          minus.set(key, (minus.get(key) ?? 0) + 1);
        }
        const entries = [...minus];
        for (let i = 0; i < entries.length; i += 500) {
          const part = entries.slice(i, i + 500);
          await this.conn.run(
            `UPDATE plate_stats SET passes = plate_stats.passes - d.n FROM (VALUES ${part.map(() => '(?, ?)').join(',')}) AS d(h, n) WHERE plate_stats.hphm = d.h`,
            part.flat(),
          );
        }
        await this.conn.run('COMMIT');
        return rows.length;
      } catch (err) {
        await this.conn.run('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /** Deletes rows with gcsj before `cutoff` (`YYYY-MM-DD HH:mm:ss`); returns how many. */
  async deleteBefore(cutoff: string): Promise<number> {
    return this.serial(async () => Number((await this.conn.run(`DELETE FROM traffic_data WHERE gcsj < CAST(? AS TIMESTAMP)`, [cutoff])).rowsChanged));
  }

  /**
   * Bulk load of a master CSV (UTF-8, header, 12 columns); idempotent. Returns rows added.
   * Every row is checked first with the MySQL loader's rule (storeRowProblem: a safe checkpoint
   * code, a real GCSJ, 0/1 flags, widths), so both stores hold the same rows and a bad row goes to
   * `onReject` with its line and reason instead of failing the whole file. A clean file (the
   * usual case) is then read by DuckDB directly; otherwise the good rows go through a temporary copy.
   */
  async loadMasterCsv(file: string, opts: { onReject?: (r: Reject) => void } = {}): Promise<number> {
    const clean = await this.checkedCopy(file, opts.onReject);
    try {
      const before = await this.rowCount();
      const types = PASS_COLUMNS.map((c) => `'${c}': '${c === 'is_weekend' || c === 'is_peak_hour' ? 'TINYINT' : c === 'gcsj' ? 'TIMESTAMP' : 'VARCHAR'}'`);
      await this.serial(() =>
        this.conn.run(
          `INSERT OR IGNORE INTO traffic_data SELECT * FROM read_csv(${sqlString(path.resolve(clean?.file ?? file))},
             header = true, delim = ',', quote = '"', escape = '"', timestampformat = '%Y-%m-%d %H:%M:%S',
             columns = {${types.join(', ')}})`,
        ),
      );
      // A bulk load recounts the plates (one GROUP BY) rather than tallying millions of new rows.
      await this.serial(() => rebuildPlateStats(this.conn));
      return (await this.rowCount()) - before;
    } finally {
      if (clean) await rm(clean.dir, { recursive: true, force: true });
    }
  }

  /** Checks every row; null when all are good, else a temporary CSV of the good ones. */
  private async checkedCopy(file: string, onReject?: (r: Reject) => void): Promise<{ dir: string; file: string } | null> {
    const bad = new Set<number>();
    {
      const { rows } = await openCsvTable(file, MASTER_COLUMNS);
      for await (const rec of rows) {
        const problem = rec.error ?? storeRowProblem(rec.fields);
        if (!problem) continue;
        bad.add(rec.line);
        onReject?.({ sourceFile: file, line: rec.line, stage: 'load', reason: problem, raw: rec.raw });
      }
    }
    if (bad.size === 0) return null;
    const dir = await mkdtemp(path.join(os.tmpdir(), 'traffic-load-'));
    const out = await TextFileWriter.open(path.join(dir, 'clean.csv'));
    try {
      out.writeCsv(MASTER_COLUMNS);
      const { rows } = await openCsvTable(file, MASTER_COLUMNS);
      for await (const rec of rows) {
        if (bad.has(rec.line)) continue;
        const full = out.writeCsv(rec.fields);
        if (full) await full;
      }
    } finally {
      await out.close();
    }
    return { dir, file: path.join(dir, 'clean.csv') };
  }

  /** Replaces kkmc_info with a kkmc_dimension.csv. */
  async loadDimensionCsv(file: string): Promise<number> {
    const cols = DIMENSION_COLUMNS.map((c) => `'${c.toLowerCase()}': '${c === 'LON' || c === 'LAT' ? 'DOUBLE' : c === 'PASSES' ? 'BIGINT' : 'VARCHAR'}'`);
    await this.serial(async () => {
      await this.conn.run('DELETE FROM kkmc_info');
      await this.conn.run(
        `INSERT INTO kkmc_info SELECT * FROM read_csv(${sqlString(path.resolve(file))}, header = true,
           columns = {${cols.join(', ')}})`,
      );
    });
    const [r] = await this.rows('SELECT count(*) AS n FROM kkmc_info');
    return Number(r?.n ?? 0);
  }

  async health(): Promise<{ ok: boolean; detail: string }> {
    try {
      const n = await this.total();
      return { ok: true, detail: `embedded DuckDB ${this.file}, ${n} rows` };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    }
  }

  async close(): Promise<void> {
    await this.queue;
    for (const r of this.readers) {
      await r.queue;
      r.conn.closeSync();
    }
    this.conn.closeSync();
    this.instance.closeSync();
  }
}
