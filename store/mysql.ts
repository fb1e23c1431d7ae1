/**
 * The sharded MySQL store: one pool per shard URL (in the order TRAFFIC_MYSQL lists them) plus
 * the MyCat murmur router on `kkmc`. Writers (sink, load) route each row to its shard; readers
 * (ttl, and the API later) fan out to every shard and merge. With `mycat: true` the single URL
 * is a MyCat server that routes by itself: rows go there unrouted.
 *
 * All statements are parameterized (mysql2 `?` placeholders); identifiers are constants.
 * Connection failures become retriable TrafficErrors naming the shard, so callers can wrap any
 * call in `withRetry` and survive a shard restart.
 */
import { Readable } from 'node:stream';
import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, PoolOptions, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { TrafficError } from '../core/errors.ts';
import { F, type MasterRow } from '../core/schema.ts';
import { formatChinaTime, toEpochSeconds } from '../core/time.ts';
import { MurmurShardRouter } from './shard/router.ts';
import { retentionCutoff } from './store-api.ts';
import {
  CREATE_KKMC_INFO,
  CREATE_PLATE_STATS,
  CREATE_PLATE_STATS_VERSION,
  CREATE_TRAFFIC_DATA,
  KKMC_COLUMNS,
  KKMC_TABLE,
  PLATE_TABLE,
  PLATE_VERSION_TABLE,
  TRAFFIC_COLUMNS,
  TRAFFIC_TABLE,
} from './ddl.ts';
import { timeStoreWrite } from '../core/metrics.ts';

export interface ShardUrl {
  url: string;
  /** `host:port/db` without credentials, for messages. */
  label: string;
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/** `mysql://user[:pass]@host[:port]/db` → parts. The database defaults to traffic_db. */
export function parseMysqlUrl(url: string): ShardUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TrafficError('INVALID_OPTION', `not a MySQL URL: "${url}" (expected mysql://user@host:port/db)`);
  }
  if (u.protocol !== 'mysql:' && u.protocol !== 'mariadb:') {
    throw new TrafficError('INVALID_OPTION', `not a MySQL URL: "${url}" (expected mysql://user@host:port/db)`);
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || 'traffic_db';
  if (!/^[A-Za-z0-9_]{1,64}$/.test(database)) {
    // The name goes into CREATE DATABASE, which takes no placeholder: allow only plain names.
    throw new TrafficError('INVALID_OPTION', `database name must be [A-Za-z0-9_]{1,64}, got "${database}" in ${url}`);
  }
  const host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = u.port ? Number(u.port) : 3306;
  return {
    url,
    label: `${host}:${port}/${database}`,
    host,
    port,
    user: decodeURIComponent(u.username) || 'root',
    password: decodeURIComponent(u.password),
    database,
  };
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'ECONNABORTED',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_QUERY_INTERRUPTED',
  'ER_LOCK_DEADLOCK',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_CANT_CONNECT_TO_SERVER',
  'ER_SERVER_GONE_ERROR',
  'ER_SERVER_LOST',
]);

/** True when the failure is about the connection (or a transient lock), not about the data. */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: unknown; fatal?: unknown; message?: unknown } | null;
  if (!e) return false;
  if (typeof e.code === 'string' && CONNECTION_CODES.has(e.code)) return true;
  if (e.fatal === true) return true;
  return typeof e.message === 'string' && /closed state|connection lost|Pool is closed|socket hang up/i.test(e.message);
}

/**
 * True when the server refused the values themselves (SQLSTATE class 22 data exception or 23
 * integrity constraint): retrying cannot help, but the other rows of the statement are fine.
 * Schema or permission errors (42xxx, …) are not data errors: they must stop the writer.
 */
export function isDataError(err: unknown): boolean {
  const state = (err as { sqlState?: unknown } | null)?.sqlState;
  return typeof state === 'string' && (state.startsWith('22') || state.startsWith('23'));
}

/** Wraps a driver error: connection trouble → retriable CONNECTION_FAILED naming the shard. */
export function storeError(err: unknown, shard: ShardUrl, what: string): unknown {
  if (err instanceof TrafficError) return err;
  if (isConnectionError(err)) {
    const code = (err as { code?: string }).code ?? 'connection error';
    return new TrafficError('CONNECTION_FAILED', `MySQL shard ${shard.label}: ${what} failed (${code})`, { shard: shard.label }, { cause: err });
  }
  return err;
}

export interface Shard {
  index: number;
  url: ShardUrl;
  pool: Pool;
}

export interface StoreOptions {
  /** Shard URLs in order (or one MyCat URL with `mycat`). */
  urls: readonly string[];
  /** Shard → weight for the murmur ring (must be the same for every writer). */
  weights?: ReadonlyMap<number, number>;
  /** The single URL is a MyCat server: no client-side routing, no CREATE DATABASE. */
  mycat?: boolean;
  connectTimeoutMs?: number;
  connectionLimit?: number;
}

export interface TtlResult {
  newest: string | null;
  cutoff: string | null;
  deleted: number[];
}

export class ShardedStore {
  readonly shards: readonly Shard[];
  /** Null in MyCat mode (MyCat routes). */
  readonly router: MurmurShardRouter | null;
  readonly mycat: boolean;

  private constructor(shards: Shard[], router: MurmurShardRouter | null, mycat: boolean) {
    this.shards = shards;
    this.router = router;
    this.mycat = mycat;
  }

  /** Opens pools (lazy: no connection is made until the first statement). */
  static open(opts: StoreOptions): ShardedStore {
    if (opts.urls.length === 0) throw new TrafficError('INVALID_OPTION', 'no MySQL URL given');
    if (opts.mycat && opts.urls.length !== 1) {
      throw new TrafficError('INVALID_OPTION', `--mycat takes one URL (the MyCat server), got ${opts.urls.length}`);
    }
    const parsed = opts.urls.map(parseMysqlUrl);
    const seen = new Set<string>();
    for (const p of parsed) {
      if (seen.has(p.label)) throw new TrafficError('INVALID_OPTION', `shard ${p.label} listed twice`);
      seen.add(p.label);
    }
    const shards = parsed.map((url, index) => ({ index, url, pool: mysql.createPool(poolOptions(url, opts)) }));
    const router = opts.mycat ? null : new MurmurShardRouter({ count: shards.length, weights: opts.weights });
    return new ShardedStore(shards, router, opts.mycat === true);
  }

  /** Shard index of a row (0 in MyCat mode). */
  shardOfRow(row: readonly string[]): number {
    return this.router ? this.router.shardOf(row[F.KKMC] ?? '') : 0;
  }

  /** Splits rows by shard, keeping their order within each shard. */
  partition<T extends readonly string[]>(rows: readonly T[]): T[][] {
    const out: T[][] = this.shards.map(() => []);
    for (const r of rows) out[this.shardOfRow(r)]!.push(r);
    return out;
  }

  /** Runs `fn` on one shard, turning connection failures into retriable errors. */
  async onShard<T>(shard: Shard, what: string, fn: (pool: Pool) => Promise<T>): Promise<T> {
    try {
      return await fn(shard.pool);
    } catch (err) {
      throw storeError(err, shard.url, what);
    }
  }

  /** Runs `fn` on every shard in parallel; results in shard order. */
  async onAll<T>(what: string, fn: (pool: Pool, shard: Shard) => Promise<T>): Promise<T[]> {
    return Promise.all(this.shards.map((s) => this.onShard(s, what, (p) => fn(p, s))));
  }

  /**
   * Creates each shard's database when missing (a short-lived connection without a default
   * database) and both tables. Idempotent; safe to run on every start.
   */
  async ensureSchema(): Promise<void> {
    await Promise.all(
      this.shards.map(async (s) => {
        if (!this.mycat) {
          const { url } = s;
          let conn: mysql.Connection | undefined;
          try {
            conn = await mysql.createConnection({
              host: url.host,
              port: url.port,
              user: url.user,
              password: url.password,
              connectTimeout: 5000,
            });
            await conn.query(`CREATE DATABASE IF NOT EXISTS \`${url.database}\` DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
          } catch (err) {
            throw storeError(err, url, 'create database');
          } finally {
            await conn?.end().catch(() => undefined);
          }
        }
        await this.onShard(s, 'create tables', async (p) => {
          await p.query(CREATE_TRAFFIC_DATA);
          await p.query(CREATE_KKMC_INFO);
        });
        // MyCat does not know the plate table (its counts are per data node): no plate stats there.
        if (!this.mycat) await this.ensurePlateStats(s);
      }),
    );
  }

  /**
   * Creates plate_stats when missing and, for a table that already holds rows (a database from
   * before the plate search), fills it in one transaction whose locking read holds writers off.
   */
  private async ensurePlateStats(s: Shard): Promise<void> {
    const exists = await this.onShard(s, 'plate stats', async (p) => {
      await p.query(CREATE_PLATE_STATS_VERSION);
      await p.query(`INSERT IGNORE INTO ${PLATE_VERSION_TABLE} (id, version) VALUES (1, ?)`, [randomVersion()]);
      const [r] = await p.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?', [
        PLATE_TABLE,
      ]);
      return Number(r[0]?.n ?? 0) > 0;
    });
    if (exists) return;
    await this.inTransaction(s, 'build plate stats', async (conn) => {
      await conn.query(CREATE_PLATE_STATS);
      await conn.query(
        `INSERT INTO ${PLATE_TABLE} (hphm, passes) SELECT CAST(hphm AS BINARY) AS h, COUNT(*) FROM ${TRAFFIC_TABLE}
         GROUP BY h ON DUPLICATE KEY UPDATE passes = VALUES(passes)`,
      );
      await bumpPlateVersion(conn);
    });
  }

  /** Runs `fn` in one transaction on one connection of the shard (rolled back on error). */
  async inTransaction<T>(shard: Shard, what: string, fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
    return this.onShard(shard, what, async (pool) => {
      const conn = await pool.getConnection();
      let broken = false;
      try {
        await conn.beginTransaction();
        const out = await fn(conn);
        await conn.commit();
        return out;
      } catch (err) {
        broken = isConnectionError(err);
        if (!broken) await conn.rollback().catch(() => undefined);
        throw err;
      } finally {
        if (broken) conn.destroy();
        else conn.release();
      }
    });
  }

  /**
   * Keeps plate_stats exact after `inserted` of `sent` rows (tallied by plate) went in on this
   * connection's transaction: all new → add the tally; some already present → recount those
   * plates (a locking read, so concurrent writers of the same plates serialize); none → nothing.
   */
  private async accountPlates(conn: PoolConnection, tally: ReadonlyMap<string, number>, inserted: number, sent: number): Promise<void> {
    if (this.mycat || inserted === 0 || tally.size === 0) return;
    if (inserted === sent) {
      await addPlatePasses(conn, tally);
      return;
    }
    await conn.query(
      `INSERT INTO ${PLATE_TABLE} (hphm, passes) SELECT CAST(hphm AS BINARY) AS h, COUNT(*) FROM ${TRAFFIC_TABLE}
       WHERE hphm IN (?) GROUP BY h ON DUPLICATE KEY UPDATE passes = VALUES(passes)`,
      [[...tally.keys()]],
    );
    await bumpPlateVersion(conn);
  }

  /**
   * Writes rows to their shards (one multi-row statement per shard and chunk, shards in
   * parallel). Idempotent on gcxh: `ON DUPLICATE KEY UPDATE gcxh = gcxh` keeps the first copy
   * like INSERT IGNORE would, but unlike IGNORE it does not turn data errors (bad dates, too-long
   * values) into silent coercions. Returns rows newly inserted per shard.
   */
  async insertRows(rows: readonly MasterRow[], chunkRows = 1000): Promise<number[]> {
    const parts = this.partition(rows);
    return Promise.all(
      parts.map(async (part, i) => {
        const shard = this.shards[i]!;
        let inserted = 0;
        for (let at = 0; at < part.length; at += chunkRows) {
          inserted += await this.insertChunk(shard, part.slice(at, at + chunkRows));
        }
        return inserted;
      }),
    );
  }

  /** One multi-row INSERT on one shard; returns rows newly inserted. */
  async insertChunk(shard: Shard, rows: readonly MasterRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    const sql = insertSql(rows.length);
    const values: string[] = [];
    for (const r of rows) for (let c = 0; c < TRAFFIC_COLUMNS.length; c++) values.push(r[c] ?? '');
    if (this.mycat) {
      const [res] = await timeStoreWrite('mysql', () => this.onShard(shard, 'insert', (p) => p.query<ResultSetHeader>(sql, values)));
      return res.affectedRows;
    }
    return timeStoreWrite('mysql', () =>
      this.inTransaction(shard, 'insert', async (conn) => {
        const [res] = await conn.query<ResultSetHeader>(sql, values);
        // With ON DUPLICATE KEY UPDATE an untouched duplicate counts 0 and a new row 1.
        await this.accountPlates(conn, tallyPlates(platesOf(rows)), res.affectedRows, rows.length);
        return res.affectedRows;
      }),
    );
  }

  /**
   * LOAD DATA LOCAL INFILE of a tab-separated stream into one shard's traffic_data (IGNORE:
   * duplicates of gcxh are skipped). The stream must hold lines made by `tsvLine` from `rows`
   * (their plates keep plate_stats exact, in the same transaction).
   */
  async loadTsv(shard: Shard, stream: Readable, rows: readonly MasterRow[]): Promise<{ inserted: number; skipped: number }> {
    const res = await this.inTransaction(shard, 'load data', async (conn) => {
      const r = await loadDataOn(conn, stream);
      await this.accountPlates(conn, tallyPlates(platesOf(rows)), r.inserted, rows.length);
      return r;
    });
    return { inserted: res.inserted, skipped: res.skipped };
  }

  /**
   * The stream sink's write: checked rows into one shard, idempotent on gcxh; returns rows newly
   * inserted. LOAD DATA LOCAL INFILE of the chunk as TSV (the server parses it far faster than a
   * multi-row INSERT, and building TSV costs the client less than escaping every value), in a
   * transaction with the plate accounting. LOAD DATA LOCAL turns whatever the server refuses (a
   * value it would coerce, a constraint) into a warning and skips or coerces the row, and a
   * duplicate gcxh is a warning too: a chunk with any warning is rolled back and written by
   * INSERT … ON DUPLICATE KEY UPDATE instead, which skips duplicates silently and raises the data
   * error (the sink then isolates the bad row). Duplicates come only with replays (after a crash
   * or a rebalance), so the fast path is the usual one. MyCat mode always uses the INSERT.
   */
  async storeChunk(shard: Shard, rows: readonly MasterRow[]): Promise<number> {
    return this.storeCarried(
      shard,
      rows.map((row) => ({ row })),
      platesOf(rows),
    );
  }

  /**
   * storeChunk for rows that came as stream records: a record's bytes are sent as they are when
   * they already make a LOAD DATA line (tsvPackets), and `plates[i]` is row i's HPHM, so a row is
   * read (`items[i].row`, which may decode the record) only for a record that cannot go as it is
   * or on the INSERT fallback.
   */
  async storeCarried(shard: Shard, items: readonly CarriedRow[], plates: readonly string[]): Promise<number> {
    if (items.length === 0) return 0;
    if (this.mycat)
      return this.insertChunk(
        shard,
        items.map((it) => it.row),
      );
    const inserted = await timeStoreWrite('mysql', () =>
      this.inTransaction(shard, 'load data', async (conn) => {
        const r = await loadDataOn(conn, Readable.from(tsvPackets(items)));
        if (r.warnings > 0) throw NOT_CLEAN;
        await this.accountPlates(conn, tallyPlates(plates), r.inserted, items.length);
        return r.inserted;
      }),
    ).catch((err: unknown) => {
      if (err === NOT_CLEAN) return null;
      throw err;
    });
    return (
      inserted ??
      this.insertChunk(
        shard,
        items.map((it) => it.row),
      )
    );
  }

  /**
   * Replaces kkmc_info on every shard with `rows` (lower-case dimension columns), in one
   * transaction per shard, so every shard holds exactly the same rows (a MyCat global table).
   */
  async replaceKkmcInfo(rows: readonly (string | number | null)[][]): Promise<void> {
    await Promise.all(
      this.shards.map((s) =>
        this.onShard(s, 'load kkmc_info', async (pool) => {
          const conn = await pool.getConnection();
          try {
            await conn.beginTransaction();
            await conn.query(`DELETE FROM ${KKMC_TABLE}`);
            for (let at = 0; at < rows.length; at += 500) {
              const chunk = rows.slice(at, at + 500);
              const ph = `(${KKMC_COLUMNS.map(() => '?').join(', ')})`;
              await conn.query(`INSERT INTO ${KKMC_TABLE} (${KKMC_COLUMNS.join(', ')}) VALUES ${chunk.map(() => ph).join(', ')}`, chunk.flat());
            }
            await conn.commit();
          } catch (err) {
            await conn.rollback().catch(() => undefined);
            throw err;
          } finally {
            conn.release();
          }
        }),
      ),
    );
  }

  /** Rows per shard. */
  async counts(): Promise<number[]> {
    return this.onAll('count', async (p) => {
      const [rows] = await p.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${TRAFFIC_TABLE}`);
      return Number(rows[0]?.n ?? 0);
    });
  }

  /** Newest gcsj across all shards (`YYYY-MM-DD HH:mm:ss`), or null when empty. */
  async newestGcsj(): Promise<string | null> {
    const per = await this.onAll('max gcsj', async (p) => {
      const [rows] = await p.query<RowDataPacket[]>(`SELECT MAX(gcsj) AS m FROM ${TRAFFIC_TABLE}`);
      return (rows[0]?.m as string | null | undefined) ?? null;
    });
    let newest: string | null = null;
    for (const m of per) if (m !== null && (newest === null || m > newest)) newest = m;
    return newest;
  }

  /**
   * Retention: deletes rows older than `days` days before the newest gcsj across all shards
   * (kept: gcsj ≥ newest − days). 0 keeps everything. Deletes in chunks of `chunkRows` (LIMIT)
   * so no statement holds locks for long while the sink keeps writing.
   */
  async applyTtl(days: number, chunkRows = 5000): Promise<TtlResult> {
    const newest = await this.newestGcsj();
    if (days <= 0 || newest === null) return { newest, cutoff: null, deleted: this.shards.map(() => 0) };
    const cutoff = retentionCutoff(newest, days);
    const deleted = await Promise.all(
      this.shards.map(async (shard) => {
        let total = 0;
        for (;;) {
          // The chunk's rows are locked, deleted and taken off plate_stats in one transaction.
          const n = await this.inTransaction(shard, 'ttl delete', async (conn) => {
            const [old] = await conn.query<RowDataPacket[]>(`SELECT gcxh, hphm FROM ${TRAFFIC_TABLE} WHERE gcsj < ? LIMIT ? FOR UPDATE`, [cutoff, chunkRows]);
            if (old.length === 0) return 0;
            const [res] = await conn.query<ResultSetHeader>(`DELETE FROM ${TRAFFIC_TABLE} WHERE gcxh IN (?)`, [old.map((r) => r.gcxh)]);
            if (!this.mycat) {
              const minus = new Map<string, number>();
              for (const r of old) minus.set(String(r.hphm), (minus.get(String(r.hphm)) ?? 0) - 1);
              await addPlatePasses(conn, minus);
            }
            return res.affectedRows;
          });
          total += n;
          if (n < chunkRows) return total;
        }
      }),
    );
    return { newest, cutoff, deleted };
  }

  /** Rows per day (YYYY-MM-DD) before `before` (exclusive), summed over the shards. */
  async dayCounts(before: string): Promise<Map<string, number>> {
    const per = await this.onAll('count per day', async (p) => {
      const [rows] = await p.query<RowDataPacket[]>(
        `SELECT DATE_FORMAT(gcsj, '%Y-%m-%d') AS d, COUNT(*) AS n FROM ${TRAFFIC_TABLE} WHERE gcsj < ? GROUP BY d`,
        [before + ' 00:00:00'],
      );
      return rows;
    });
    const out = new Map<string, number>();
    for (const rows of per) for (const r of rows) out.set(String(r.d), (out.get(String(r.d)) ?? 0) + Number(r.n));
    return out;
  }

  /**
   * Deletes one day (YYYY-MM-DD) on every shard in chunks, each taken off plate_stats in its
   * transaction (as applyTtl); returns the rows deleted. With `only` (the GCXH an archive holds),
   * a chunk is those records, locked and deleted by key: a pass of that day that is not among
   * them (a late one, written by the sink while the day is being deleted) stays. Without it, the
   * day's rows in LIMIT-bounded chunks.
   */
  async deleteDay(day: string, chunkRows = 5000, only?: readonly string[]): Promise<number> {
    const from = day + ' 00:00:00';
    const to = formatChinaTime((toEpochSeconds(from) + 86400) * 1000);
    const per = await Promise.all(
      this.shards.map(async (shard) => {
        let total = 0;
        for (let at = 0; ; at += chunkRows) {
          const keys = only?.slice(at, at + chunkRows);
          if (keys && keys.length === 0) return total;
          const n = await this.inTransaction(shard, 'delete day', async (conn) => {
            const [old] = keys
              ? await conn.query<RowDataPacket[]>(`SELECT gcxh, hphm FROM ${TRAFFIC_TABLE} WHERE gcxh IN (?) AND gcsj >= ? AND gcsj < ? FOR UPDATE`, [
                  keys,
                  from,
                  to,
                ])
              : await conn.query<RowDataPacket[]>(`SELECT gcxh, hphm FROM ${TRAFFIC_TABLE} WHERE gcsj >= ? AND gcsj < ? LIMIT ? FOR UPDATE`, [
                  from,
                  to,
                  chunkRows,
                ]);
            if (old.length === 0) return 0;
            const [res] = await conn.query<ResultSetHeader>(`DELETE FROM ${TRAFFIC_TABLE} WHERE gcxh IN (?)`, [old.map((r) => r.gcxh)]);
            if (!this.mycat) {
              const minus = new Map<string, number>();
              for (const r of old) minus.set(String(r.hphm ?? ''), (minus.get(String(r.hphm ?? '')) ?? 0) - 1);
              await addPlatePasses(conn, minus);
            }
            return res.affectedRows;
          });
          total += n;
          if (!keys && n < chunkRows) return total;
        }
      }),
    );
    return per.reduce((a, b) => a + b, 0);
  }

  /** Every shard answers `SELECT 1`. */
  async ping(): Promise<void> {
    await this.onAll('ping', (p) => p.query('SELECT 1'));
  }

  async close(): Promise<void> {
    await Promise.all(this.shards.map((s) => s.pool.end().catch(() => undefined)));
  }
}

function poolOptions(url: ShardUrl, opts: StoreOptions): PoolOptions {
  return {
    host: url.host,
    port: url.port,
    user: url.user,
    password: url.password,
    database: url.database,
    charset: 'UTF8MB4_GENERAL_CI',
    // DATETIME comes back as the stored wall-clock text: no JS Date, no machine time zone.
    dateStrings: true,
    // Affected rows, not found rows: a duplicate left alone by ON DUPLICATE KEY UPDATE counts 0.
    flags: ['-FOUND_ROWS'],
    supportBigNumbers: true,
    connectTimeout: opts.connectTimeoutMs ?? 5000,
    connectionLimit: opts.connectionLimit ?? 4,
    maxIdle: opts.connectionLimit ?? 4,
    idleTimeout: 60_000,
    enableKeepAlive: true,
  };
}

const LOAD_DATA_SQL =
  `LOAD DATA LOCAL INFILE 'traffic_data.tsv' IGNORE INTO TABLE ${TRAFFIC_TABLE} CHARACTER SET utf8mb4 ` +
  `FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (${TRAFFIC_COLUMNS.join(', ')})`;

/** Thrown inside a LOAD DATA transaction to roll back a chunk that raised warnings. */
const NOT_CLEAN = Symbol('not clean');

/** LOAD DATA LOCAL INFILE of a TSV stream (lines from `tsvLine`) on one connection. */
async function loadDataOn(conn: PoolConnection, stream: Readable): Promise<{ inserted: number; skipped: number; warnings: number }> {
  const [r] = await conn.query<ResultSetHeader>({ sql: LOAD_DATA_SQL, infileStreamFactory: () => stream });
  const info = r.info ?? '';
  const skipped = /Skipped: (\d+)/.exec(info);
  const warnings = /Warnings: (\d+)/.exec(info);
  return {
    inserted: r.affectedRows,
    skipped: skipped ? Number(skipped[1]) : 0,
    warnings: warnings ? Number(warnings[1]) : (r.warningStatus ?? 0),
  };
}

/** Passes per plate (exact string) in a list of plates. */
function tallyPlates(plates: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const h of plates) m.set(h, (m.get(h) ?? 0) + 1);
  return m;
}

/** The rows' plates (HPHM), in order. */
function platesOf(rows: readonly MasterRow[]): string[] {
  return rows.map((r) => r[F.HPHM] ?? '');
}

/**
 * Adds (or, negative, removes) passes per plate in one multi-row upsert per 1000 plates. Plates in
 * sorted order: concurrent transactions then lock the plate rows they share in the same order
 * and wait for each other instead of deadlocking (they did, several times a second, with the
 * sink's statements running in parallel on one shard).
 */
async function addPlatePasses(conn: PoolConnection, delta: ReadonlyMap<string, number>): Promise<void> {
  // sort() without a comparator compares in the engine, not through a JS callback per pair.
  const entries = [...delta.keys()].sort().map((h) => [h, delta.get(h)!] as const);
  for (let at = 0; at < entries.length; at += 1000) {
    const part = entries.slice(at, at + 1000);
    await conn.query(
      `INSERT INTO ${PLATE_TABLE} (hphm, passes) VALUES ${part.map(() => '(?, ?)').join(',')}
       ON DUPLICATE KEY UPDATE passes = passes + VALUES(passes)`,
      part.flat(),
    );
  }
  await bumpPlateVersion(conn);
}

/**
 * Marks plate_stats changed (ddl.ts CREATE_PLATE_STATS_VERSION), in the writer's transaction and
 * after its plate rows: each transaction that changes plate_stats calls this once, last. The
 * upsert also makes the row when it is missing (a random start, as on creation). Without the
 * table (dropped, or a writer on a store whose schema was not ensured since) there is nothing to
 * mark: readers then find no counter and read plate_stats itself, and the table made again starts
 * at a new random value. InnoDB undoes only the failed statement, not the transaction.
 */
async function bumpPlateVersion(conn: PoolConnection): Promise<void> {
  try {
    await conn.query(`INSERT INTO ${PLATE_VERSION_TABLE} (id, version) VALUES (1, ?) ON DUPLICATE KEY UPDATE version = version + 1`, [randomVersion()]);
  } catch (err) {
    if ((err as { errno?: number }).errno !== 1146) throw err; // ER_NO_SUCH_TABLE
  }
}

/** A random start for the plate_stats version: 2^52 values, so a new database repeats none seen before. */
function randomVersion(): number {
  return Math.floor(Math.random() * 2 ** 52);
}

const insertSqlCache = new Map<number, string>();

function insertSql(n: number): string {
  let sql = insertSqlCache.get(n);
  if (sql === undefined) {
    const ph = `(${TRAFFIC_COLUMNS.map(() => '?').join(',')})`;
    sql =
      `INSERT INTO ${TRAFFIC_TABLE} (${TRAFFIC_COLUMNS.join(', ')}) VALUES ` +
      Array.from({ length: n }, () => ph).join(',') +
      ' ON DUPLICATE KEY UPDATE gcxh = gcxh';
    if (insertSqlCache.size < 64) insertSqlCache.set(n, sql);
  }
  return sql;
}

/** A row to store, with the stream record it arrived as when there is one. */
export interface CarriedRow {
  /** The 12 fields (may be decoded from `bytes` on each access: read only where needed). */
  readonly row: MasterRow;
  /** The stream record: the 12 fields tab-separated, UTF-8. */
  readonly bytes?: Buffer | undefined;
}

/**
 * Bytes per LOAD DATA packet of the sink. mysql2 copies each chunk of a LOAD DATA stream into a
 * packet of its own: 64 KB chunks come from memory the allocator reuses, where a statement-sized
 * buffer cut into 1 MB packets was fresh pages every time (page faults cost ~0.1 s of the sink's
 * ~2.3 s on 200,000 rows on a host where a fresh page costs 3 us; docs/store.md "Sink speed").
 */
export const TSV_PACKET_BYTES = 64 * 1024;

/**
 * The rows as LOAD DATA lines, in packets of up to `size` bytes (a longer line goes alone). A
 * row's stream record is copied as it is: it is already a line unless it holds a backslash (the
 * escape character) or a CR (a CR at its end was not part of the row). One search of each packet
 * for either byte checks all its records at once; only a packet where one is found is built
 * again with each record checked, the rows of those that need it escaped (the rare path). A
 * record holding an LF would make two short lines: the server warns about them, and storeCarried
 * then writes the rows by INSERT.
 */
export function* tsvPackets(items: readonly CarriedRow[], size = TSV_PACKET_BYTES): Generator<Buffer> {
  const lineOf = (it: CarriedRow): Buffer => Buffer.from(tsvLine(it.row), 'utf8');
  // A line built for a row that did not fit the packet before: the next packet's first.
  let carried: Buffer | undefined;
  for (let i = 0; i < items.length; ) {
    const from = i;
    const built: (Buffer | undefined)[] = [];
    let bytes = 0;
    let copied = 0;
    while (i < items.length) {
      const b = items[i]!.bytes;
      const line = b ? undefined : (carried ?? lineOf(items[i]!));
      carried = undefined;
      const len = b ? b.length + 1 : line!.length;
      if (bytes > 0 && bytes + len > size) {
        carried = line;
        break;
      }
      built.push(line);
      bytes += len;
      if (b) copied++;
      i++;
    }
    const packet = fill(items, from, built, bytes);
    if (copied > 0 && (packet.indexOf(0x5c) >= 0 || packet.indexOf(0x0d) >= 0)) {
      // Some record of this packet needs escaping: its row, escaped, instead of its bytes.
      const clean = built.map((l, k) => {
        const b = items[from + k]!.bytes;
        return l ?? (b!.indexOf(0x5c) < 0 && b!.indexOf(0x0d) < 0 ? undefined : lineOf(items[from + k]!));
      });
      let cleanBytes = 0;
      clean.forEach((l, k) => (cleanBytes += l ? l.length : items[from + k]!.bytes!.length + 1));
      yield fill(items, from, clean, cleanBytes);
    } else yield packet;
  }
}

/** items[from …] as lines into one buffer: `lines[k]` where given, else the record's bytes and an LF. */
function fill(items: readonly CarriedRow[], from: number, lines: readonly (Buffer | undefined)[], bytes: number): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (let k = 0; k < lines.length; k++) {
    const l = lines[k];
    if (l) {
      out.set(l, at);
      at += l.length;
    } else {
      const b = items[from + k]!.bytes!;
      out.set(b, at);
      at += b.length;
      out[at++] = 0x0a;
    }
  }
  return out;
}

/** One LOAD DATA line: fields escaped for `FIELDS TERMINATED BY '\t' ESCAPED BY '\\'`. */
export function tsvLine(row: readonly string[]): string {
  let s = '';
  for (let i = 0; i < TRAFFIC_COLUMNS.length; i++) {
    const v = row[i] ?? '';
    if (i) s += '\t';
    s += /[\\\t\n\r]/.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : v;
  }
  return s + '\n';
}
