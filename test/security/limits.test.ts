/**
 * The API's limits, each against the real thing: a store query that runs too long is stopped and
 * answered 503 (DuckDB interrupted; MariaDB's max_statement_time stops it on the server), an
 * export whose client vanishes stops reading the store, live streams share one flow query per
 * tick, and a static file that cannot be read ends only its own response.
 */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAlertFeed } from '../../api/alerts.ts';
import { createApiApp, type AppDeps } from '../../api/app.ts';
import { serveFile } from '../../api/static.ts';
import { createServer } from 'node:http';
import { csvText } from '../../core/io.ts';
import { MASTER_COLUMNS } from '../../core/schema.ts';
import { MysqlApiStore } from '../../store/api-store.ts';
import { EmbeddedStore } from '../../store/duckdb-store.ts';
import { loadMaster } from '../../store/load.ts';
import { ShardedStore } from '../../store/mysql.ts';
import type { TrafficStore } from '../../store/store-api.ts';
import { dropDb, q, shardUrls, testDbName } from '../store/db.ts';
import { makeApiFixture } from '../api/fixture.ts';
import { rawRequest } from './raw-http.ts';

async function listen(deps: Partial<AppDeps> & { store: TrafficStore }): Promise<{ port: number; close: () => Promise<void> }> {
  const app = createApiApp({ alerts: new MemoryAlertFeed(), predictor: null, cors: { origins: [] }, ...deps });
  await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', () => r()));
  return { port: (app.server.address() as AddressInfo).port, close: () => app.shutdown(200) };
}

const POST_ALL = 'POST /api/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}';

describe('store query timeout → 503', () => {
  it('embedded: a query past TRAFFIC_QUERY_TIMEOUT_MS is interrupted and answered 503 at once', async () => {
    const store = await EmbeddedStore.open(':memory:', { queryTimeoutMs: 300 });
    // The same columns, computed slowly: every count has to hash 200 M numbers.
    await store.run('DROP TABLE traffic_data');
    await store.run(`CREATE VIEW traffic_data AS SELECT 'g' || i AS gcxh, '' AS xzqhmc, 'K_1' AS kkmc, '1' AS fxlx,
      TIMESTAMP '2024-01-01' AS gcsj, '02' AS hpzl, 'P' AS hphm, '-' AS clppxh, '江苏' AS province, 0 AS is_weekend,
      0 AS is_peak_hour, '小型汽车' AS vehicle_type_name FROM range(200000000) t(i) WHERE md5(i::VARCHAR) LIKE '%zzzz%'`);
    const api = await listen({ store });
    try {
      const r = await rawRequest(api.port, POST_ALL, { timeoutMs: 10_000 });
      expect(r.status).toBe(503);
      expect(JSON.parse(r.body)).toEqual({
        code: 503,
        msg: expect.stringMatching(/embedded store query timed out after 300 ms/),
        error: 'SERVICE_UNAVAILABLE',
        data: null,
      });
      expect(r.headers['retry-after']).toBe('5');
      expect(r.ms).toBeLessThan(2000);
      // The connection was freed: the next query runs (and times out) the same way.
      expect((await rawRequest(api.port, POST_ALL, { timeoutMs: 10_000 })).status).toBe(503);
    } finally {
      await api.close();
      await store.close();
    }
  });

  describe('MySQL shards', () => {
    const db = testDbName('traffic_timeout');
    let sharded: ShardedStore;
    beforeAll(async () => {
      for (const port of [3306, 3307]) {
        await q(port, `CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4`);
        await q(
          port,
          `CREATE TABLE \`${db}\`.t (gcxh VARCHAR(64), xzqhmc VARCHAR(8), kkmc VARCHAR(64), fxlx VARCHAR(4), gcsj DATETIME,
          hpzl VARCHAR(4), hphm VARCHAR(32), clppxh VARCHAR(32), province VARCHAR(8), is_weekend TINYINT, is_peak_hour TINYINT, vehicle_type_name VARCHAR(16))`,
        );
        await q(
          port,
          `INSERT INTO \`${db}\`.t VALUES ('1','','K_1','1','2024-01-01 00:00:00','02','P','-','江苏',0,0,'x'),
          ('2','','K_1','1','2024-01-01 00:00:00','02','P','-','江苏',0,0,'x'), ('3','','K_1','1','2024-01-01 00:00:00','02','P','-','江苏',0,0,'x')`,
        );
        // Each row read sleeps half a second: a count takes 1.5 s per shard.
        await q(port, `CREATE VIEW \`${db}\`.traffic_data AS SELECT * FROM \`${db}\`.t WHERE SLEEP(0.5) = 0`);
      }
      sharded = ShardedStore.open({ urls: shardUrls(db) });
    });
    afterAll(async () => {
      await sharded?.close();
      await dropDb(db);
    });

    it('the server stops the statement at the limit and the API answers 503', async () => {
      const api = await listen({ store: new MysqlApiStore(sharded, { queryTimeoutMs: 300 }) });
      try {
        const r = await rawRequest(api.port, POST_ALL, { timeoutMs: 10_000 });
        expect(r.status).toBe(503);
        expect(JSON.parse(r.body).msg).toMatch(/MySQL query timed out after 300 ms/);
        expect(r.ms).toBeLessThan(1400);
        // Stopped on the server too: nothing of ours is still running there.
        const running = await q(
          3306,
          `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = ? AND COMMAND = 'Query' AND INFO LIKE '%traffic_data%'`,
          [db],
        );
        expect(Number((running[0] as { n: number }).n)).toBe(0);
      } finally {
        await api.close();
      }
    });
  });
});

/** A master of `n` rows on one checkpoint (for exports big enough to outrun socket buffers). */
function bigMaster(n: number): string {
  const rows: string[][] = [];
  for (let i = 0; i < n; i++) {
    const s = i % 86400;
    const t = `2023-12-10 ${String(Math.floor(s / 3600)).padStart(2, '0')}:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
    rows.push([
      `E${String(i).padStart(8, '0')}`,
      '丰县',
      'A_Feng_K1',
      '1',
      t,
      '02',
      `苏C${i % 99999}`,
      '福田牌-某某系列-2020年款',
      '江苏',
      '1',
      '0',
      '小型汽车',
    ]);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'traffic-export-'));
  const file = path.join(dir, 'master.csv');
  writeFileSync(file, csvText(MASTER_COLUMNS, rows));
  return file;
}

describe('an export whose client vanishes stops reading the store', () => {
  const master = bigMaster(120_000);
  const db = testDbName('traffic_export');
  let embedded: EmbeddedStore;
  let sharded: ShardedStore;
  beforeAll(async () => {
    embedded = await EmbeddedStore.open(':memory:');
    await embedded.loadMasterCsv(master);
    sharded = ShardedStore.open({ urls: shardUrls(db) });
    await sharded.ensureSchema();
    await loadMaster(sharded, master, { method: 'infile', chunkRows: 20_000 });
  }, 120_000);
  afterAll(async () => {
    await embedded?.close();
    await sharded?.close();
    await dropDb(db);
  });

  it.each(['embedded', 'mysql'] as const)('%s: at most a few 5,000-row chunks after the client left, and the request ends', async (kind) => {
    const base: TrafficStore = kind === 'embedded' ? embedded : new MysqlApiStore(sharded);
    let chunks = 0;
    let finished: (v: number) => void;
    const done = new Promise<number>((r) => (finished = r));
    const store = Object.create(base) as TrafficStore;
    store.exportRows = (f, onChunk) => {
      const t0 = performance.now();
      const run = base.exportRows(f, async (rows) => {
        chunks++;
        await onChunk(rows);
      });
      run.then(
        () => finished(performance.now() - t0),
        () => finished(performance.now() - t0),
      );
      return run;
    };
    const api = await listen({ store });
    try {
      // Read the first bytes, then hang up without reading the rest.
      await new Promise<void>((resolve) => {
        const s = net.connect(api.port, '127.0.0.1', () => s.write('GET /api/export.csv HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'));
        s.once('data', () => {
          s.pause();
          setTimeout(() => {
            s.destroy();
            resolve();
          }, 100);
        });
      });
      const left = performance.now();
      await done;
      // 120,000 rows are 24 chunks; the export stopped long before.
      expect(chunks).toBeLessThan(12);
      expect(performance.now() - left).toBeLessThan(2000);
      expect((await rawRequest(api.port, 'GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')).status).toBe(200);
    } finally {
      await api.close();
    }
  });
});

describe('live streams', () => {
  it('share one flow query per tick, whatever the number of clients', async () => {
    const fx = makeApiFixture();
    const base = await EmbeddedStore.open(':memory:');
    await base.loadMasterCsv(fx.master);
    let minuteQueries = 0;
    const store = Object.create(base) as TrafficStore;
    store.minuteCounts = (from, to) => {
      minuteQueries++;
      return base.minuteCounts(from, to);
    };
    const api = await listen({ store, flowIntervalMs: 100 });
    const sockets: net.Socket[] = [];
    const flows: number[] = [];
    try {
      for (let i = 0; i < 8; i++) {
        const s = net.connect(api.port, '127.0.0.1', () => s.write('GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
        flows.push(0);
        s.on('data', (d) => (flows[i]! += (d.toString().match(/event: flow/g) ?? []).length));
        sockets.push(s);
      }
      await new Promise((r) => setTimeout(r, 1000));
      // ~10 ticks in a second: ~10 queries, not ~80.
      expect(minuteQueries).toBeLessThanOrEqual(14);
      for (const n of flows) expect(n).toBeGreaterThanOrEqual(5);
    } finally {
      for (const s of sockets) s.destroy();
      await api.close();
      await base.close();
    }
  });
});

describe('static files', () => {
  it('a read error mid-file ends only that response; a folder or a missing file is a 404', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'traffic-static-'));
    mkdirSync(path.join(dir, 'folder.js'));
    const server = createServer((req, res) => {
      const file = req.url === '/mem' ? '/proc/self/mem' : path.join(dir, req.url === '/folder' ? 'folder.js' : 'missing.js');
      serveFile(req, res, file).catch((err: { httpStatus?: number }) => {
        res.writeHead(err.httpStatus ?? 500);
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    try {
      // /proc/self/mem is a "file" whose read fails (EIO): the server survives it.
      const mem = await rawRequest(port, 'GET /mem HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(mem.closed).toBe(true);
      expect((await rawRequest(port, 'GET /folder HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).status).toBe(404);
      expect((await rawRequest(port, 'GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).status).toBe(404);
    } finally {
      server.close();
    }
  });
});
