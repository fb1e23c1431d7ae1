/**
 * Closed flow windows in the store: table `traffic_flow_window` (kkmc, fxlx, window_start,
 * window_len_s, passes, late), key (kkmc, fxlx, window_start, window_len_s). On the MySQL shards a
 * row lives on the shard of its kkmc (the same MyCat murmur routing as traffic_data, so a
 * checkpoint's passes and windows sit together); the embedded DuckDB store has one table.
 *
 * Writes are idempotent upserts that never lower a count: passes = GREATEST(old, new),
 * late = GREATEST(old, new). A window is written when it closes and again when a late record
 * raises its `late`; a replay writes the same values again and changes nothing.
 */
import type { ResultSetHeader } from 'mysql2/promise';
import type { FlowWindow } from '../core/flow-window.ts';
import type { ShardedStore } from './mysql.ts';

export const FLOW_WINDOW_TABLE = 'traffic_flow_window';
export const FLOW_WINDOW_COLUMNS = ['kkmc', 'fxlx', 'window_start', 'window_len_s', 'passes', 'late'] as const;

export const CREATE_FLOW_WINDOW_MYSQL = `CREATE TABLE IF NOT EXISTS ${FLOW_WINDOW_TABLE} (
  kkmc VARCHAR(64) COLLATE utf8mb4_bin NOT NULL,
  fxlx VARCHAR(16) NOT NULL DEFAULT '',
  window_start DATETIME NOT NULL,
  window_len_s INT NOT NULL,
  passes INT NOT NULL DEFAULT 0,
  late INT NOT NULL DEFAULT 0,
  PRIMARY KEY (kkmc, fxlx, window_start, window_len_s),
  KEY idx_window_start (window_start, window_len_s)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`;

export const CREATE_FLOW_WINDOW_DUCKDB = `CREATE TABLE IF NOT EXISTS ${FLOW_WINDOW_TABLE} (
  kkmc VARCHAR NOT NULL, fxlx VARCHAR NOT NULL, window_start TIMESTAMP NOT NULL,
  window_len_s INTEGER NOT NULL, passes INTEGER NOT NULL, late INTEGER NOT NULL,
  PRIMARY KEY (kkmc, fxlx, window_start, window_len_s))`;

const key = (w: FlowWindow): string => `${w.kkmc}\u0000${w.fxlx}\u0000${w.window_start}\u0000${w.window_len_s}`;

/** One row per key (the last wins): an upsert statement must not touch a row twice. */
export function dedupeWindows(rows: readonly FlowWindow[]): FlowWindow[] {
  const m = new Map<string, FlowWindow>();
  for (const r of rows) m.set(key(r), r);
  return [...m.values()];
}

// ------------------------------------------------------------------------------------ MySQL

/** Creates the databases (when missing), the base tables and traffic_flow_window on every shard. */
export async function ensureFlowWindowTable(store: ShardedStore): Promise<void> {
  await store.ensureSchema();
  await store.onAll('create flow window table', (p) => p.query(CREATE_FLOW_WINDOW_MYSQL));
}

/** Shard of a window row: the murmur shard of its kkmc (0 behind MyCat, which routes itself). */
export function shardOfWindow(store: ShardedStore, w: FlowWindow): number {
  return store.router ? store.router.shardOf(w.kkmc) : 0;
}

/** Upserts windows on their shards (shards in parallel); returns rows inserted or changed. */
export async function upsertFlowWindows(store: ShardedStore, rows: readonly FlowWindow[], chunkRows = 500): Promise<number> {
  const parts: FlowWindow[][] = store.shards.map(() => []);
  for (const r of dedupeWindows(rows)) parts[shardOfWindow(store, r)]!.push(r);
  const done = await Promise.all(
    parts.map(async (part, i) => {
      let n = 0;
      for (let at = 0; at < part.length; at += chunkRows) {
        const chunk = part.slice(at, at + chunkRows);
        const values = chunk.flatMap((w) => [w.kkmc, w.fxlx, w.window_start, w.window_len_s, w.passes, w.late]);
        const sql =
          `INSERT INTO ${FLOW_WINDOW_TABLE} (${FLOW_WINDOW_COLUMNS.join(', ')}) VALUES ` +
          chunk.map(() => '(?, ?, ?, ?, ?, ?)').join(', ') +
          ' ON DUPLICATE KEY UPDATE passes = GREATEST(passes, VALUES(passes)), late = GREATEST(late, VALUES(late))';
        const [res] = await store.onShard(store.shards[i]!, 'upsert flow windows', (p) => p.query<ResultSetHeader>(sql, values));
        // MySQL: 1 per new row, 2 per changed row, 0 per untouched duplicate.
        n += res.affectedRows;
      }
      return n;
    }),
  );
  return done.reduce((a, b) => a + b, 0);
}

// ------------------------------------------------------------------------------------ DuckDB

/** What the functions need of an embedded (DuckDB) connection, e.g. @duckdb/node-api's DuckDBConnection. */
export interface DuckLikeConnection {
  run(sql: string, values?: (string | number)[]): Promise<unknown>;
}

export async function ensureFlowWindowTableDuckDB(conn: DuckLikeConnection): Promise<void> {
  await conn.run(CREATE_FLOW_WINDOW_DUCKDB);
}

export async function upsertFlowWindowsDuckDB(conn: DuckLikeConnection, rows: readonly FlowWindow[], chunkRows = 500): Promise<void> {
  const all = dedupeWindows(rows);
  for (let at = 0; at < all.length; at += chunkRows) {
    const chunk = all.slice(at, at + chunkRows);
    const values = chunk.flatMap((w) => [w.kkmc, w.fxlx, w.window_start, w.window_len_s, w.passes, w.late]);
    await conn.run(
      `INSERT INTO ${FLOW_WINDOW_TABLE} (${FLOW_WINDOW_COLUMNS.join(', ')}) VALUES ` +
        chunk.map(() => '(?, ?, CAST(? AS TIMESTAMP), ?, ?, ?)').join(', ') +
        ' ON CONFLICT (kkmc, fxlx, window_start, window_len_s) DO UPDATE SET' +
        ' passes = greatest(passes, excluded.passes), late = greatest(late, excluded.late)',
      values,
    );
  }
}
