/**
 * The API's view of the MySQL shards: every read fans out to the shards that can hold the answer
 * (one shard when the checkpoint is given — rows are sharded on kkmc) and merges, so totals,
 * rankings and pages are the same as on one database. Order everywhere: gcsj desc, then gcxh
 * ascending in binary order (the embedded store sorts the same way, so both give identical pages).
 */
import type { Readable } from 'node:stream';
import type { Connection as CoreConnection } from 'mysql2';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import type { MasterRow } from '../core/schema.ts';
import {
  FIVE_MINUTE_WINDOWS,
  filterWhere,
  passFromObject,
  type FilterDialect,
  type CheckpointInfo,
  type NameValue,
  type HourlyCount,
  type PassRecord,
  type QueryFilter,
  type TrafficStore,
} from './store-api.ts';
import { TrafficError } from '../core/errors.ts';
import { plateMatches } from '../core/metrics.ts';
import { ShardedStore, storeError, type Shard } from './mysql.ts';
import { routeStats, routeWindow, type RoutePass, type RouteStat } from './routes.ts';
import { PLATE_TABLE, TRAFFIC_TABLE } from './ddl.ts';
import { MAX_LISTED_PLATES, plateOnly, plateWindowed, windowRows } from './plate-search.ts';
import { likeContains } from './store-api.ts';
import { ShardPlateList, type PlateMatch } from './plate-list.ts';

const SELECT_PASS = `gcxh, xzqhmc, kkmc, fxlx, DATE_FORMAT(gcsj, '%Y-%m-%d %H:%i:%s') AS gcsj, hpzl, hphm, clppxh,
  province, is_weekend, is_peak_hour, vehicle_type_name`;
const ORDER = 'ORDER BY gcsj DESC, gcxh COLLATE utf8mb4_bin ASC';

// Binary collation on hphm: the same case-sensitive match as the embedded store.
const MYSQL_FILTER: FilterDialect = { time: '?', hphmLike: "hphm COLLATE utf8mb4_bin LIKE ? ESCAPE '\\\\'" };

function where(f: QueryFilter, extra: string[] = [], extraParams: (string | number)[] = []): { sql: string; params: unknown[] } {
  return filterWhere(f, MYSQL_FILTER, extra, extraParams);
}

/**
 * The rows of a mysql2 row stream, taken synchronously while its buffer holds some. An async
 * iterator costs a promise and a microtask per row: ~8 % of the API thread's time in an XLSX
 * export from the shards (`--cpu-prof`, 725,922 rows).
 */
class RowPuller {
  private ended = false;
  private failure: unknown = undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly stream: Readable) {
    stream.on('readable', this.notify);
    stream.on('end', () => {
      this.ended = true;
      this.notify();
    });
    stream.on('error', (err: unknown) => {
      this.failure ??= err;
      this.notify();
    });
  }

  private readonly notify = (): void => {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  };

  /** The next row; null at the end; undefined when none is buffered yet (then await more()). */
  take(): RowDataPacket | null | undefined {
    if (this.failure !== undefined) throw this.failure;
    const r = this.stream.read() as RowDataPacket | null;
    if (r !== null) return r;
    return this.ended ? null : undefined;
  }

  /** Resolves when rows arrived, the stream ended or failed. */
  more(): Promise<void> {
    if (this.ended || this.failure !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }
}

/** gcsj desc, gcxh asc (code-unit order = binary order for these ASCII ids). */
export function passOrder(a: PassRecord, b: PassRecord): number {
  if (a.gcsj !== b.gcsj) return a.gcsj < b.gcsj ? 1 : -1;
  return a.gcxh < b.gcxh ? -1 : a.gcxh > b.gcxh ? 1 : 0;
}

/** gcsj asc, gcxh asc: a trajectory's order. */
function oldestFirst(a: PassRecord, b: PassRecord): number {
  if (a.gcsj !== b.gcsj) return a.gcsj < b.gcsj ? -1 : 1;
  return a.gcxh < b.gcxh ? -1 : a.gcxh > b.gcxh ? 1 : 0;
}

function byValueThenName(a: NameValue, b: NameValue): number {
  if (a.value !== b.value) return b.value - a.value;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export interface MysqlApiStoreOptions {
  /**
   * Longest a read may take, ms (0 = no limit). The server stops the statement (MariaDB
   * max_statement_time, MySQL MAX_EXECUTION_TIME) and the client gives up a little later in any
   * case; either way the read fails with SERVICE_UNAVAILABLE (the API answers 503).
   */
  queryTimeoutMs?: number;
  /**
   * Least time between two background reads of a shard's plate_stats copy after writes (ms,
   * default PLATE_LIST_REFRESH_MS); `warmPlateLists()` reads at once whatever it is.
   */
  plateListRefreshMs?: number;
}

type Flavor = 'mariadb' | 'mysql';

/** Plates a plate search lists in its first read of plate_stats (more are counted, not listed). */
const LISTED_PLATES = 256;

/**
 * Most rows a query's page cut may walk (fullQuery): ~20k row lookups take ~40 ms, about a third of
 * a sequential read of a 500k-row shard, which a rarer match falls back to.
 */
const CUT_WALK_ROWS = 20_000;

/** How long a shard's pass count sizes plate-search windows before it is read again. */
const PASSES_TTL_MS = 5000;

export class MysqlApiStore implements TrafficStore {
  readonly kind = 'mysql' as const;
  private readonly queryTimeoutMs: number;
  private readonly plateListRefreshMs: number | undefined;
  private flavor: Promise<Flavor> | null = null;
  /** Per shard: its passes and when they were read (shardPasses). */
  private readonly passes = new Map<Pool, { at: number; value: Promise<number> }>();
  /** Per shard: the API's exact copy of plate_stats (plateList). */
  private readonly plateLists = new Map<Pool, ShardPlateList>();

  constructor(
    readonly sharded: ShardedStore,
    opts: MysqlApiStoreOptions = {},
  ) {
    this.queryTimeoutMs = opts.queryTimeoutMs ?? 0;
    this.plateListRefreshMs = opts.plateListRefreshMs;
  }

  /** One read on one shard, bounded by the query timeout. */
  private async read(pool: Pool, sql: string, params: unknown[]): Promise<RowDataPacket[]> {
    const ms = this.queryTimeoutMs;
    if (ms <= 0) {
      const [r] = await pool.query<RowDataPacket[]>(sql, params);
      return r;
    }
    // The server stops the statement itself (freeing its threads and locks); the client-side
    // timeout, a second later, covers a server that cannot (or a connection that hangs).
    const limited =
      (await this.serverFlavor(pool)) === 'mariadb'
        ? `SET STATEMENT max_statement_time=${(ms / 1000).toFixed(3)} FOR ${sql}`
        : sql.replace(/^\s*SELECT\b/i, `SELECT /*+ MAX_EXECUTION_TIME(${ms}) */`);
    try {
      const [r] = await pool.query<RowDataPacket[]>({ sql: limited, timeout: ms + 1000 }, params);
      return r;
    } catch (err) {
      const e = err as { code?: string; errno?: number };
      if (e.code === 'PROTOCOL_SEQUENCE_TIMEOUT' || e.errno === 1969 || e.errno === 3024) {
        throw new TrafficError('SERVICE_UNAVAILABLE', `MySQL query timed out after ${ms} ms (TRAFFIC_QUERY_TIMEOUT_MS)`, {}, { cause: err });
      }
      throw err;
    }
  }

  /** MariaDB and MySQL spell a statement time limit differently; asked once. */
  private serverFlavor(pool: Pool): Promise<Flavor> {
    this.flavor ??= pool.query<RowDataPacket[]>('SELECT VERSION() AS v').then(
      ([r]) => (/mariadb/i.test(String(r[0]?.v ?? '')) ? 'mariadb' : 'mysql'),
      (err: unknown) => {
        this.flavor = null;
        throw err;
      },
    );
    return this.flavor;
  }

  /** Only the shard that holds a checkpoint's rows when the filter names one. */
  private shardsFor(f: QueryFilter): readonly Shard[] {
    if (f.kkmc !== undefined && this.sharded.router) {
      return [this.sharded.shards[this.sharded.router.shardOf(f.kkmc)]!];
    }
    return this.sharded.shards;
  }

  private fan<T>(shards: readonly Shard[], what: string, fn: (pool: Pool) => Promise<T>): Promise<T[]> {
    return Promise.all(shards.map((s) => this.sharded.onShard(s, what, fn)));
  }

  async query(f: QueryFilter, page: number, size: number): Promise<{ total: number; rows: PassRecord[] }> {
    const shards = this.shardsFor(f);
    const need = page * size;
    const parts = await this.fan(shards, 'query', (pool) =>
      // A plate search reads plate_stats first (store/plate-search.ts); in MyCat mode there is none.
      plateWindowed(f) && !this.sharded.mycat ? this.plateQuery(pool, f, need) : this.fullQuery(pool, f, need),
    );
    const merged = parts.flatMap((p) => p.rows).sort(passOrder);
    return { total: parts.reduce((s, p) => s + p.n, 0), rows: merged.slice((page - 1) * size, need) };
  }

  /** One shard's total and first `need` rows (each shard's first page×size rows contain the merged page). */
  private async fullQuery(
    pool: Pool,
    f: QueryFilter,
    need: number,
    extra: string[] = [],
    extraParams: unknown[] = [],
  ): Promise<{ n: number; rows: PassRecord[] }> {
    const w = where(f, extra, extraParams as (string | number)[]);
    const [count] = await this.read(pool, `SELECT COUNT(*) AS n FROM traffic_data ${w.sql}`, w.params);
    const n = Number(count?.n ?? 0);
    if (n === 0) return { n, rows: [] };
    if (need < n && !this.sharded.mycat) {
      // The page is the newest `need` matching rows, but ORDER BY gcsj DESC, gcxh (binary) comes
      // from no index: the server would read every matching row for its filesort (a shard's whole
      // table when nothing is filtered: 0.7 s). The gcsj of the need-th newest match comes from a
      // backward walk of an index in gcsj order, and the page from the rows at or after it. The
      // walk reads about need × rows / matches rows (a row lookup each, when the filter needs
      // columns the index lacks): done only when that is few.
      const rows = await this.shardPasses(pool);
      if ((need * rows) / n <= CUT_WALK_ROWS) {
        const [cut] = await this.read(
          pool,
          `SELECT DATE_FORMAT(gcsj, '%Y-%m-%d %H:%i:%s') AS t FROM traffic_data ${w.sql} ORDER BY gcsj DESC LIMIT 1 OFFSET ?`,
          [...w.params, need - 1],
        );
        if (cut?.t != null) return { n, rows: await this.topRows(pool, f, need, [...extra, 'gcsj >= ?'], [...extraParams, String(cut.t)]) };
      }
    }
    return { n, rows: await this.topRows(pool, f, need, extra, extraParams) };
  }

  private async topRows(pool: Pool, f: QueryFilter, need: number, extra: string[] = [], extraParams: unknown[] = []): Promise<PassRecord[]> {
    const w = filterWhere(f, MYSQL_FILTER, extra, extraParams as (string | number)[]);
    return (await this.read(pool, `SELECT ${SELECT_PASS} FROM traffic_data ${w.sql} ${ORDER} LIMIT ?`, [...w.params, need])).map(passFromObject);
  }

  /**
   * One shard's plate search: total from plate_stats, rows from the newest window that holds them.
   * The matching plates and their passes come from the API's exact copy of plate_stats when it is
   * current (store/plate-list.ts), else from one scan of it (plateMatchSql). Few plates pick
   * their rows by the (hphm, gcsj) index, within the window (when they are far fewer than the
   * window's rows: one index range per plate) or alone for a rare match.
   */
  private async plateQuery(pool: Pool, f: QueryFilter, need: number): Promise<{ n: number; rows: PassRecord[] }> {
    const pattern = likeContains(f.hphm!);
    const copied = await this.plateList(pool).match(f.hphm!, MAX_LISTED_PLATES);
    plateMatches.inc({ source: copied ? 'copy' : 'sql' });
    const m = copied ?? (await this.plateMatchSql(pool, pattern));
    const sel = { matching: m.hit, total: m.total };
    if (sel.matching === 0) return { n: 0, rows: [] };
    const plateCount = m.plateCount;
    // Inside a window the plates are listed only when few (the ¼ rule below; docs/store.md).
    const listed = m.plates !== null && plateCount <= LISTED_PLATES ? m.plates : null;
    let n = sel.matching;
    if (!plateOnly(f)) {
      const w = where(f);
      const [count] = await this.read(pool, `SELECT COUNT(*) AS n FROM traffic_data ${w.sql}`, w.params);
      n = Number(count?.n ?? 0);
    }
    const windowed = windowRows(need, sel);
    if (windowed !== null) {
      // The gcsj of the windowed-th newest row: an index walk of that many entries.
      const [cut] = await this.read(pool, `SELECT DATE_FORMAT(gcsj, '%Y-%m-%d %H:%i:%s') AS t FROM ${TRAFFIC_TABLE} ORDER BY gcsj DESC LIMIT 1 OFFSET ?`, [
        windowed,
      ]);
      if (cut?.t == null) return { n, rows: await this.topRows(pool, f, need) };
      const got =
        listed && listed.length * 4 <= windowed
          ? await this.topRows(pool, f, need, ['gcsj >= ?', 'hphm IN (?)'], [String(cut.t), listed])
          : await this.topRows(pool, f, need, ['gcsj >= ?'], [String(cut.t)]);
      if (got.length >= need) return { n, rows: got };
    } else if (plateCount <= MAX_LISTED_PLATES) {
      // A rare match: the plate index finds its few rows; the LIKE keeps the exact binary match.
      const plates =
        m.plates ??
        (
          await this.read(
            pool,
            `SELECT CAST(hphm AS CHAR CHARACTER SET utf8mb4) AS h FROM ${PLATE_TABLE} WHERE hphm LIKE ? ESCAPE '\\\\' AND passes > 0 LIMIT ?`,
            [pattern, MAX_LISTED_PLATES + 1],
          )
        ).map((p) => String(p.h));
      if (plates.length <= MAX_LISTED_PLATES) return { n, rows: await this.topRows(pool, f, need, ['hphm IN (?)'], [plates]) };
    }
    return { n, rows: await this.topRows(pool, f, need) };
  }

  /**
   * Reads every shard's copy of plate_stats now, so the next plate searches answer from it (without
   * this the first search after a start or a write reads the server and starts the copy's read).
   */
  async warmPlateLists(): Promise<void> {
    if (this.sharded.mycat) return;
    await Promise.all(this.sharded.shards.map((s) => this.sharded.onShard(s, 'plate list', () => this.plateList(s.pool).reload())));
  }

  /** The shard's copy of plate_stats (store/plate-list.ts), made on first use. */
  private plateList(pool: Pool): ShardPlateList {
    let list = this.plateLists.get(pool);
    if (list === undefined) {
      list = new ShardPlateList((sql, params) => this.read(pool, sql, params), this.plateListRefreshMs);
      this.plateLists.set(pool, list);
    }
    return list;
  }

  /**
   * The plate match from the server when the copy is not exact now: one scan of plate_stats gives
   * the matching passes, how many plates match and, when they are at most LISTED_PLATES, the
   * plates themselves (else one row).
   */
  private async plateMatchSql(pool: Pool, pattern: string): Promise<PlateMatch> {
    const [matches, total] = await Promise.all([
      this.read(
        pool,
        `SELECT h, hit, plates FROM (
           SELECT CAST(hphm AS CHAR CHARACTER SET utf8mb4) AS h, SUM(passes) OVER () AS hit, COUNT(*) OVER () AS plates, ROW_NUMBER() OVER () AS i
           FROM ${PLATE_TABLE} WHERE hphm LIKE ? ESCAPE '\\\\' AND passes > 0) m
         WHERE i = 1 OR plates <= ?`,
        [pattern, LISTED_PLATES],
      ),
      this.shardPasses(pool),
    ]);
    const plateCount = Number(matches[0]?.plates ?? 0);
    return {
      hit: Number(matches[0]?.hit ?? 0),
      plateCount,
      plates: plateCount <= LISTED_PLATES ? matches.map((p) => String(p.h)) : null,
      total,
    };
  }

  /**
   * Passes on one shard (the sum over plate_stats), read at most once per PASSES_TTL_MS: it only
   * sizes the plate search's window (a stale value costs speed, never a wrong answer: a short
   * window falls back to the full query) and its scan was a third of a plate search's time.
   */
  private shardPasses(pool: Pool): Promise<number> {
    const now = Date.now();
    const had = this.passes.get(pool);
    if (had && now - had.at < PASSES_TTL_MS) return had.value;
    const value = this.read(pool, `SELECT COALESCE(SUM(passes), 0) AS total FROM ${PLATE_TABLE}`, []).then((r) => Number(r[0]?.total ?? 0));
    this.passes.set(pool, { at: now, value });
    value.catch(() => {
      if (this.passes.get(pool)?.value === value) this.passes.delete(pool);
    });
    return value;
  }

  /**
   * One sorted query per shard, streamed (mysql2 row streams with backpressure), merged here in
   * (gcsj desc, gcxh) order: each shard sorts once and the merge holds one row per shard. (Keyset
   * pages re-sorted the remaining range per page: ORDER BY … gcxh COLLATE utf8mb4_bin cannot use
   * the gcsj index, so every page was a filesort.)
   */
  async exportRows(f: QueryFilter, onChunk: (rows: PassRecord[]) => Promise<void> | void): Promise<number> {
    const shards = this.shardsFor(f);
    const chunk = 5000;
    const w = where(f);
    const sql = `SELECT ${SELECT_PASS} FROM traffic_data ${w.sql} ${ORDER}`;
    // A connection of its own per shard: when the client goes away the connection is destroyed,
    // which stops the server's query and the reading at once (a pooled query could only be read
    // to its end).
    const conns = await Promise.all(shards.map((s) => s.pool.getConnection().catch((err: unknown) => Promise.reject(storeError(err, s.url, 'export')))));
    // The promise wrapper's core connection streams rows (mysql2 types it as the wrapper).
    const streams = conns.map((c) => (c.connection as unknown as CoreConnection).query(sql, w.params).stream({ highWaterMark: 2000 }));
    const pullers = streams.map((st) => new RowPuller(st as unknown as Readable));
    const done = shards.map(() => false);
    /** Shard i's next row when one is buffered: null at its end, undefined when it must be waited for. */
    const take = (i: number): PassRecord | null | undefined => {
      try {
        const r = pullers[i]!.take();
        if (r === null) done[i] = true;
        return r ? passFromObject(r) : r;
      } catch (err) {
        done[i] = true;
        throw storeError(err, shards[i]!.url, 'export');
      }
    };
    const next = async (i: number): Promise<PassRecord | null> => {
      for (;;) {
        const r = take(i);
        if (r !== undefined) return r;
        await pullers[i]!.more();
      }
    };
    try {
      const heads = await Promise.all(shards.map((_, i) => next(i)));
      let n = 0;
      let out: PassRecord[] = [];
      for (;;) {
        let best = -1;
        for (let i = 0; i < heads.length; i++) {
          const h = heads[i];
          if (h && (best < 0 || passOrder(h, heads[best]!) < 0)) best = i;
        }
        if (best < 0) break;
        out.push(heads[best]!);
        n++;
        // Most rows are in the stream's buffer already: taken without a promise.
        const h = take(best);
        heads[best] = h === undefined ? await next(best) : h;
        if (out.length >= chunk) {
          await onChunk(out);
          out = [];
        }
      }
      if (out.length) await onChunk(out);
      return n;
    } finally {
      // A shard read to its end goes back to the pool; one stopped early (the client went away,
      // or another shard failed) is destroyed: its query ends and nothing more is read or held.
      conns.forEach((c, i) => {
        if (done[i]) c.release();
        else {
          streams[i]!.destroy();
          c.destroy();
        }
      });
    }
  }

  private async sumBy(sql: string, params: unknown[], shards: readonly Shard[] = this.sharded.shards): Promise<Map<string, number>> {
    const parts = await this.fan(shards, 'stats', (pool) => this.read(pool, sql, params));
    const m = new Map<string, number>();
    for (const part of parts) for (const r of part) m.set(String(r.k), (m.get(String(r.k)) ?? 0) + Number(r.n));
    return m;
  }

  async kkmcCount(limit: number): Promise<NameValue[]> {
    const m = await this.sumBy('SELECT kkmc AS k, COUNT(*) AS n FROM traffic_data GROUP BY kkmc', []);
    return [...m]
      .map(([name, value]) => ({ name, value }))
      .sort(byValueThenName)
      .slice(0, limit);
  }

  async hourly(date: string, kkmc?: string): Promise<number[]> {
    const params: unknown[] = [date + ' 00:00:00', date + ' 00:00:00'];
    let extra = '';
    if (kkmc !== undefined) {
      extra = ' AND kkmc = ?';
      params.push(kkmc);
    }
    const m = await this.sumBy(
      `SELECT HOUR(gcsj) AS k, COUNT(*) AS n FROM traffic_data
       WHERE gcsj >= ? AND gcsj < ? + INTERVAL 1 DAY${extra} GROUP BY HOUR(gcsj)`,
      params,
      this.shardsFor(kkmc !== undefined ? { kkmc } : {}),
    );
    const out = new Array<number>(24).fill(0);
    for (const [h, n] of m) out[Number(h)] = n;
    return out;
  }

  async fiveMinuteCounts(kkmc: string, date: string): Promise<number[]> {
    // One checkpoint: only its shard holds its rows.
    const m = await this.sumBy(
      `SELECT HOUR(gcsj) * 12 + FLOOR(MINUTE(gcsj) / 5) AS k, COUNT(*) AS n FROM traffic_data
       WHERE kkmc = ? AND gcsj >= ? AND gcsj < ? + INTERVAL 1 DAY GROUP BY k`,
      [kkmc, date + ' 00:00:00', date + ' 00:00:00'],
      this.shardsFor({ kkmc }),
    );
    const out = new Array<number>(FIVE_MINUTE_WINDOWS).fill(0);
    for (const [k, n] of m) out[Number(k)] = n;
    return out;
  }

  async latestGcsj(): Promise<string | null> {
    const parts = await this.fan(this.sharded.shards, 'latest', (pool) =>
      this.read(pool, `SELECT DATE_FORMAT(MAX(gcsj), '%Y-%m-%d %H:%i:%s') AS t FROM traffic_data`, []),
    );
    let best: string | null = null;
    for (const p of parts) {
      const t = p[0]?.t;
      if (t != null && (best === null || String(t) > best)) best = String(t);
    }
    return best;
  }

  async minuteCounts(from: string, to: string): Promise<{ minute: string; value: number }[]> {
    const m = await this.sumBy(
      `SELECT DATE_FORMAT(gcsj, '%Y-%m-%d %H:%i') AS k, COUNT(*) AS n FROM traffic_data
       WHERE gcsj >= ? AND gcsj <= ? GROUP BY k`,
      [from, to],
    );
    return [...m].map(([minute, value]) => ({ minute, value })).sort((a, b) => (a.minute < b.minute ? -1 : 1));
  }

  async hourlyByCheckpoint(from: string, to: string): Promise<HourlyCount[]> {
    // A checkpoint lives on one shard, but sum anyway: rows routed by an older ring must not vanish.
    const parts = await this.fan(this.sharded.shards, 'hourly', (pool) =>
      this.read(
        pool,
        `SELECT kkmc, DATE_FORMAT(gcsj, '%Y-%m-%d %H:00:00') AS h, COUNT(*) AS n FROM traffic_data
         WHERE gcsj >= ? AND gcsj < ? AND gcxh NOT LIKE 'SYN%' GROUP BY kkmc, h`,
        [from, to],
      ),
    );
    const m = new Map<string, HourlyCount>();
    for (const part of parts) {
      for (const r of part) {
        const key = `${String(r.h)}\t${String(r.kkmc)}`;
        const hit = m.get(key);
        if (hit) hit.value += Number(r.n);
        else m.set(key, { kkmc: String(r.kkmc), hour: String(r.h), value: Number(r.n) });
      }
    }
    return [...m.values()].sort((a, b) => (a.hour < b.hour ? -1 : a.hour > b.hour ? 1 : a.kkmc < b.kkmc ? -1 : a.kkmc > b.kkmc ? 1 : 0));
  }

  async routes(date: string, limit: number): Promise<RouteStat[]> {
    // A vehicle's passes sit on several shards (rows are sharded by checkpoint): no shard can
    // run the LAG alone, so each returns the window's passes and they are paired here.
    const w = routeWindow(date);
    const parts = await this.fan(this.sharded.shards, 'routes', (pool) =>
      this.read(
        pool,
        `SELECT kkmc, gcxh, hphm, hpzl, clppxh, TIMESTAMPDIFF(SECOND, ?, gcsj) AS t FROM traffic_data
         WHERE gcsj >= ? AND gcsj < ?`,
        [w.dayStart, w.from, w.to],
      ),
    );
    const passes: RoutePass[] = [];
    for (const part of parts) {
      for (const r of part) {
        passes.push({ kkmc: String(r.kkmc), gcxh: String(r.gcxh), hphm: String(r.hphm), hpzl: String(r.hpzl), clppxh: String(r.clppxh), t: Number(r.t) });
      }
    }
    return routeStats(passes, 0, limit);
  }

  async platePasses(hphm: string, from: string, to: string, clppxh: string | undefined, max: number): Promise<PassRecord[]> {
    const params: unknown[] = [hphm, from, to];
    let extra = '';
    if (clppxh !== undefined) {
      extra = ' AND clppxh = ?';
      params.push(clppxh);
    }
    // `hphm = ?` keeps the (hphm, gcsj) index usable; the exact, case-sensitive match of the
    // embedded store is applied to the few rows it returns.
    const parts = await this.fan(this.sharded.shards, 'plate passes', (pool) =>
      this.read(
        pool,
        `SELECT ${SELECT_PASS} FROM traffic_data WHERE hphm = ? AND gcsj >= ? AND gcsj < ?${extra}
         ORDER BY gcsj, gcxh COLLATE utf8mb4_bin LIMIT ${Math.trunc(max)}`,
        params,
      ),
    );
    return parts
      .flatMap((p) => p.map(passFromObject))
      .filter((p) => p.hphm === hphm && (clppxh === undefined || p.clppxh === clppxh))
      .sort(oldestFirst)
      .slice(0, max);
  }

  async provinceCount(): Promise<NameValue[]> {
    const m = await this.sumBy('SELECT province AS k, COUNT(*) AS n FROM traffic_data GROUP BY province', []);
    return [...m].map(([name, value]) => ({ name, value })).sort(byValueThenName);
  }

  async vehicleTypeCount(): Promise<NameValue[]> {
    const m = await this.sumBy('SELECT vehicle_type_name AS k, COUNT(*) AS n FROM traffic_data GROUP BY vehicle_type_name', []);
    return [...m].map(([name, value]) => ({ name, value })).sort(byValueThenName);
  }

  async total(): Promise<number> {
    const parts = await this.fan(this.sharded.shards, 'count', (pool) => this.read(pool, 'SELECT COUNT(*) AS n FROM traffic_data', []));
    return parts.reduce((s, p) => s + Number(p[0]?.n ?? 0), 0);
  }

  async checkpointCount(): Promise<number> {
    const m = await this.sumBy('SELECT kkmc AS k, 1 AS n FROM traffic_data GROUP BY kkmc', []);
    return m.size;
  }

  async checkpoints(): Promise<CheckpointInfo[]> {
    // kkmc_info is a global table: every shard holds the same rows; read the first.
    const first = this.sharded.shards[0]!;
    const r = await this.sharded.onShard(first, 'kkmc_info', (pool) =>
      this.read(pool, 'SELECT kkmc, kkmc_name, lon, lat FROM kkmc_info ORDER BY kkmc COLLATE utf8mb4_bin', []),
    );
    return r.map((x) => ({
      kkmc: String(x.kkmc),
      kkmc_name: String(x.kkmc_name || x.kkmc),
      lon: x.lon == null ? null : Number(x.lon),
      lat: x.lat == null ? null : Number(x.lat),
    }));
  }

  async hasCheckpoint(kkmc: string): Promise<boolean> {
    const first = this.sharded.shards[0]!;
    const dim = await this.sharded.onShard(first, 'kkmc_info', (pool) => this.read(pool, 'SELECT 1 AS x FROM kkmc_info WHERE kkmc = ? LIMIT 1', [kkmc]));
    if (dim.length) return true;
    // Rows of a checkpoint live on its shard only; (kkmc, gcsj) is indexed.
    const parts = await this.fan(this.shardsFor({ kkmc }), 'checkpoint lookup', (pool) =>
      this.read(pool, 'SELECT 1 AS x FROM traffic_data WHERE kkmc = ? LIMIT 1', [kkmc]),
    );
    return parts.some((p) => p.length > 0);
  }

  async insert(rowsIn: readonly MasterRow[]): Promise<number> {
    const per = await this.sharded.insertRows(rowsIn);
    return per.reduce((a, b) => a + b, 0);
  }

  async health(): Promise<{ ok: boolean; detail: string }> {
    try {
      await this.sharded.ping();
      return { ok: true, detail: `MySQL ${this.sharded.shards.length} shard(s): ${this.sharded.shards.map((s) => s.url.label).join(', ')}` };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    }
  }

  async close(): Promise<void> {
    await this.sharded.close();
  }
}

export async function openMysqlApiStore(urls: string[], opts: MysqlApiStoreOptions = {}): Promise<TrafficStore> {
  const sharded = ShardedStore.open({ urls });
  await sharded.ensureSchema();
  return new MysqlApiStore(sharded, opts);
}
