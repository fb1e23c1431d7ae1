/**
 * An export whose client goes away stops reading the MySQL shards at once: the per-shard
 * connections are destroyed, so no export query keeps running on either server, and the API
 * still answers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAlertFeed } from '../../api/alerts.ts';
import { createApiApp, type ApiApp } from '../../api/app.ts';
import { openMysqlApiStore } from '../../store/api-store.ts';
import { loadMaster } from '../../store/load.ts';
import { ShardedStore } from '../../store/mysql.ts';
import type { TrafficStore } from '../../store/store-api.ts';
import { dropDb, PORTS, q, shardUrls, testDbName } from './db.ts';
import { makeRows, writeMasterCsv } from './fixture.ts';

const db = testDbName('traffic_export_abort');
let tmp = '';
let store: TrafficStore;
let app: ApiApp;
let base = '';

/** Export queries still running on a server for the test's database. */
async function runningExports(port: number): Promise<number> {
  const rows = await q<{ n: number }>(
    port,
    `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = ? AND COMMAND = 'Query' AND INFO LIKE 'SELECT%FROM traffic_data%ORDER BY%'`,
    [db],
  );
  return Number(rows[0]?.n ?? 0);
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'export-abort-'));
  const master = path.join(tmp, 'master.csv');
  await writeMasterCsv(master, makeRows(150_000, { seed: 5 }));
  const sharded = ShardedStore.open({ urls: shardUrls(db) });
  try {
    await sharded.ensureSchema();
    await loadMaster(sharded, master, { method: 'infile', chunkRows: 50_000 });
  } finally {
    await sharded.close();
  }
  store = await openMysqlApiStore(shardUrls(db));
  app = createApiApp({ store, alerts: new MemoryAlertFeed(), predictor: null, cors: { origins: [] }, bodyLimit: 1024 });
  await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}, 120_000);

afterAll(async () => {
  await app?.shutdown();
  await store?.close();
  await dropDb(db);
  await rm(tmp, { recursive: true, force: true });
});

describe('CSV export on the MySQL shards', () => {
  it('leaves no export query running when the client goes away, and serves a full export after it (destroyed connections replaced)', async () => {
    const ac = new AbortController();
    const res = await fetch(`${base}/api/export.csv`, { signal: ac.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(first.value!.byteLength).toBeGreaterThan(0);
    ac.abort();
    await reader.cancel().catch(() => undefined);
    // Within a couple of seconds no export query is left on either server.
    let left = -1;
    for (let i = 0; i < 40; i++) {
      left = 0;
      for (const p of PORTS) left += await runningExports(p);
      if (left === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(left).toBe(0);
    const health = await fetch(`${base}/api/health`);
    expect(health.status).toBe(200);
    // A full export still works afterwards (the pool replaced the destroyed connections).
    const full = await (await fetch(`${base}/api/export.csv?kkmc=${encodeURIComponent(makeRows(1, { seed: 5 })[0]![2]!)}`)).text();
    expect(full.split('\n')[0]).toMatch(/^GCXH,XZQHMC,KKMC/);
  }, 60_000);
});
