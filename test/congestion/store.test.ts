/** traffic_flow_window on the real MariaDB shards (3306 + 3307, a database of this test's own) and in DuckDB. */
import type { FlowWindow } from '../../core/flow-window.ts';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { MurmurShardRouter } from '../../store/shard/router.ts';
import { ensureFlowWindowTable, ensureFlowWindowTableDuckDB, upsertFlowWindows, upsertFlowWindowsDuckDB } from '../../store/flow-window.ts';
import { ShardedStore } from '../../store/mysql.ts';
import { dropDb, PORTS, q, shardUrls, testDbName } from '../store/db.ts';

const db = testDbName('traffic_flow_test');
afterAll(() => dropDb(db));

// Murmur shards of 2: the first three go to shard 1, the last two to shard 0.
const KKMC = ['G104_Suining_K873', 'G310_Tongshan_K310', 'S250_Pizhou_K1', 'G206_Tongshan_K816', 'S324_Suining_K201'];
const rows: FlowWindow[] = KKMC.flatMap((kkmc, i) => [
  { kkmc, fxlx: '1', window_start: '2024-01-15 08:00:00', window_len_s: 60, passes: i + 1, late: 0 },
  { kkmc, fxlx: '1', window_start: '2024-01-15 08:00:00', window_len_s: 300, passes: 10 + i, late: 0 },
]);

describe('flow windows in the store', () => {
  it('upserts windows on the murmur shard of their kkmc, idempotently, never lowering a count', async () => {
    const store = ShardedStore.open({ urls: shardUrls(db) });
    try {
      await ensureFlowWindowTable(store);
      await upsertFlowWindows(store, rows);
      // A replay writes the same rows: nothing changes.
      expect(await upsertFlowWindows(store, rows)).toBe(0);
      // A late record re-emits one window with late 1; a stale copy (late 0) cannot undo it.
      const late = { ...rows[1]!, late: 1 };
      expect(await upsertFlowWindows(store, [late])).toBe(2);
      await upsertFlowWindows(store, [rows[1]!]);
      const router = new MurmurShardRouter({ count: 2 });
      const seen: string[] = [];
      const perShard = [0, 0];
      for (const [i, port] of PORTS.entries()) {
        const got = await q<{ kkmc: string; window_len_s: number; passes: number; late: number; window_start: string }>(
          port,
          `SELECT kkmc, window_start, window_len_s, passes, late FROM \`${db}\`.traffic_flow_window ORDER BY kkmc, window_len_s`,
        );
        for (const r of got) {
          expect(router.shardOf(r.kkmc)).toBe(i);
          perShard[i]!++;
          seen.push(`${r.kkmc} ${r.window_start} ${r.window_len_s} ${r.passes}+${r.late}`);
        }
      }
      expect(perShard).toEqual([4, 6]);
      expect(seen.sort()).toEqual(rows.map((r) => `${r.kkmc} ${r.window_start} ${r.window_len_s} ${r.passes}+${r === rows[1] ? 1 : 0}`).sort());
    } finally {
      await store.close();
    }
  });

  it('upserts the same way in the embedded DuckDB store', async () => {
    const inst = await DuckDBInstance.create(':memory:');
    const conn = await inst.connect();
    try {
      await ensureFlowWindowTableDuckDB(conn);
      await upsertFlowWindowsDuckDB(conn, rows);
      await upsertFlowWindowsDuckDB(conn, [...rows, { ...rows[0]!, late: 2 }]);
      const r = await conn.runAndReadAll(`SELECT count(*) AS n, sum(passes) AS p, sum(late) AS l FROM traffic_flow_window`);
      expect(r.getRowObjectsJS()[0]).toEqual({ n: 10n, p: 75n, l: 2n });
    } finally {
      conn.closeSync();
      inst.closeSync();
    }
  });
});
