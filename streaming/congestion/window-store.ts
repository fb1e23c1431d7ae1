/**
 * Where closed flow windows are written: the MySQL shards (routed by kkmc), an embedded DuckDB
 * file, or nowhere (a replay that only measures levels). Both stores upsert idempotently.
 */
import type { FlowWindow } from '../../core/flow-window.ts';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { TrafficError } from '../../core/errors.ts';
import { ensureFlowWindowTable, ensureFlowWindowTableDuckDB, upsertFlowWindows, upsertFlowWindowsDuckDB } from '../../store/flow-window.ts';
import { ShardedStore, type StoreOptions } from '../../store/mysql.ts';

export interface WindowStore {
  readonly where: string;
  write(rows: readonly FlowWindow[]): Promise<void>;
  close(): Promise<void>;
}

export async function openMysqlWindowStore(opts: StoreOptions): Promise<WindowStore> {
  const store = ShardedStore.open(opts);
  try {
    await ensureFlowWindowTable(store);
  } catch (err) {
    await store.close();
    throw err;
  }
  return {
    where: `mysql ${store.shards.map((s) => s.url.label).join(',')}`,
    write: async (rows) => {
      if (rows.length) await upsertFlowWindows(store, rows);
    },
    close: () => store.close(),
  };
}

export async function openDuckdbWindowStore(file: string): Promise<WindowStore> {
  let instance: DuckDBInstance;
  let conn: DuckDBConnection;
  try {
    instance = await DuckDBInstance.create(file);
    conn = await instance.connect();
  } catch (err) {
    throw new TrafficError('SERVICE_UNAVAILABLE', `cannot open the embedded store ${file}: ${(err as Error).message} (is another process using it?)`, {
      file,
    });
  }
  await ensureFlowWindowTableDuckDB(conn);
  return {
    where: `duckdb ${file}`,
    write: async (rows) => {
      if (rows.length) await upsertFlowWindowsDuckDB(conn, rows);
    },
    close: async () => {
      conn.closeSync();
      instance.closeSync();
    },
  };
}
