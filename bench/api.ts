/**
 * `npm run bench:api`: the API under load from a second process. The server runs as a child
 * (`traffic api`), this process is the client: autocannon for throughput (predictions/s, p99)
 * and a sampler for per-request latency (p95 of each stats endpoint and of filtered queries),
 * on the embedded store and on two MySQL shards holding the same master. Stats aggregates are
 * reused for up to 2 s by the server (TRAFFIC_STATS_CACHE_MS): each endpoint's "cold" figure is one
 * request after that window, i.e. the store query itself. Baseline: the same
 * server answering an empty 204 (the floor of node:http on this machine), measured in the run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { readEnv } from '../core/config.ts';
import { int, optStr, parseFlags } from '../core/args.ts';
import type { Command } from '../core/command.ts';
import { EmbeddedStore, EMBEDDED_DB_FILE } from '../store/duckdb-store.ts';
import { TrafficError } from '../core/errors.ts';
import { FILES } from '../core/schema.ts';
import { addDays } from '../core/time.ts';
import { loadMaster, readDimension } from '../store/load.ts';
import { ShardedStore } from '../store/mysql.ts';
import { PACKAGE_ROOT } from '../core/paths.ts';
import { XLSX_COLUMNS, XLSX_MAX_ROWS } from '../api/export.ts';
import { XlsxStreamWriter } from '../core/xlsx-stream.ts';
import { runHistory } from './api-history.ts';

const usage = `usage: traffic bench:api [--in master.csv] [--model FILE] [--seconds N] [--mysql URL,URL | --no-mysql]
                        [--history 5]

Loads the master into a fresh embedded store and into two MySQL shards (a fresh database
traffic_bench_api_<random> on the given servers, dropped at the end),
serves each with \`traffic api\` in a child process and measures it from this process.
Also: the XLSX export against the CSV export of the same rows (rows/s, ratio), and the XLSX
writer alone with native zlib against fflate's ZipDeflate.
Then the plate searches at 1× and --history × the rows (default 5; 1 = skip) on both stores:
the master repeated further back in time, whole weeks earlier per copy (GCXH prefixed H<k>-),
the same plates; p95 and its growth (bench/api-history.ts).`;

interface Figures {
  store: string;
  floorRps: number;
  predictRps: number;
  predictP99: number;
  latency: Array<{ name: string; cold: number; p50: number; p95: number; n: number }>;
  exports: ExportFigures;
}

interface ExportFigures {
  filter: string;
  rows: number;
  /** Seconds per full download, each run. */
  csv: number[];
  xlsx: number[];
  csvBytes: number;
  xlsxBytes: number;
}

/** Downloads a URL to the end; seconds and bytes. */
async function download(url: string): Promise<{ seconds: number; bytes: number }> {
  const t0 = performance.now();
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status} ${await r.text()}`);
  let bytes = 0;
  for await (const c of r.body as unknown as AsyncIterable<Uint8Array>) bytes += c.length;
  return { seconds: (performance.now() - t0) / 1000, bytes };
}

/**
 * The XLSX export against the CSV export of the same rows (the baseline: same store cursor, same
 * HTTP path, no zip or XML), alternating runs so both see the same machine load. The whole table
 * when one sheet holds it, else the latest day.
 */
async function measureExports(base: string, day: string, runs: number): Promise<ExportFigures> {
  const count = async (qs: string): Promise<number> => {
    const body = Object.fromEntries(new URLSearchParams(qs));
    const r = await fetch(base + '/api/query', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ...body, size: 1 }) });
    return ((await r.json()) as { data: { total: number } }).data.total;
  };
  let qs = '';
  let rows = await count(qs);
  if (rows > XLSX_MAX_ROWS) {
    qs = `start=${day}`;
    rows = await count(qs);
  }
  const suffix = qs ? '?' + qs : '';
  const f: ExportFigures = { filter: qs || 'all rows', rows, csv: [], xlsx: [], csvBytes: 0, xlsxBytes: 0 };
  for (let i = 0; i < runs; i++) {
    const c = await download(`${base}/api/export.csv${suffix}`);
    const x = await download(`${base}/api/export.xlsx${suffix}`);
    f.csv.push(c.seconds);
    f.xlsx.push(x.seconds);
    f.csvBytes = c.bytes;
    f.xlsxBytes = x.bytes;
  }
  return f;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The XLSX writer alone on generated rows: native zlib (ours) against fflate's ZipDeflate. */
async function measureXlsxWriter(rows: number): Promise<void> {
  const chunk: (string | number)[][] = [];
  for (let i = 0; i < 5000; i++) {
    chunk.push([
      `G${String(i).padStart(17, '0')}`,
      '丰县',
      `K_${i % 19}`,
      String(1 + (i % 2)),
      `2024-01-${String(1 + (i % 28)).padStart(2, '0')} ${String(i % 24).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:07`,
      '02',
      `苏C${String(i % 1000).padStart(3, '0')}***`,
      '五菱牌-五菱宏光-2013',
      '江苏',
      i % 7 < 2 ? 1 : 0,
      0,
      '小型汽车',
    ]);
  }
  // The export's own columns (shared strings for the few-valued ones, as GET /api/export.xlsx).
  const columns = XLSX_COLUMNS;
  const rate: Record<string, number> = {};
  for (const how of ['native', 'fflate', 'native', 'fflate'] as const) {
    let bytes = 0;
    const w = new XlsxStreamWriter({ columns, onData: (c) => (bytes += c.length), sheetDeflate: how });
    const t0 = performance.now();
    for (let n = 0; n < rows; n += chunk.length) await w.writeRows(chunk);
    await w.finish();
    rate[how] = Math.max(rate[how] ?? 0, rows / ((performance.now() - t0) / 1000));
    void bytes;
  }
  process.stdout.write(
    `\n[xlsx writer alone, ${rows.toLocaleString('en')} generated rows, best of 2]\n` +
      `  fflate ZipDeflate (baseline)  ${rate.fflate!.toFixed(0).padStart(8)} rows/s\n` +
      `  native zlib in fflate Zip     ${rate.native!.toFixed(0).padStart(8)} rows/s  ratio ${(rate.native! / rate.fflate!).toFixed(2)}\n`,
  );
}

const ROOT = PACKAGE_ROOT;

export async function startApi(port: number, dataDir: string, model: string, mysql?: string[]): Promise<ChildProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, TRAFFIC_PORT: String(port) };
  delete env.TRAFFIC_MYSQL;
  delete env.TRAFFIC_REDIS;
  delete env.TRAFFIC_API_KEY;
  const args = [path.join(ROOT, 'bin/traffic.mjs'), 'api', '--port', String(port), '--data-dir', dataDir, '--model', model];
  if (mysql) args.push('--mysql', mysql.join(','));
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`api exited early: ${err}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/api/health`);
      if (r.ok) return child;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`api did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function stopApi(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGINT');
  await done;
}

export function cannon(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

async function sampleLatency(
  base: string,
  req: { path: string; body?: unknown },
  n: number,
  concurrency: number,
): Promise<{ p50: number; p95: number; n: number }> {
  const times: number[] = [];
  let next = 0;
  async function worker(): Promise<void> {
    while (next < n) {
      next++;
      const t0 = performance.now();
      const r = await fetch(
        base + req.path,
        req.body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(req.body) },
      );
      await r.arrayBuffer();
      if (!r.ok) throw new Error(`${req.path}: HTTP ${r.status}`);
      times.push(performance.now() - t0);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  times.sort((a, b) => a - b);
  const q = (p: number): number => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  return { p50: q(0.5), p95: q(0.95), n: times.length };
}

async function measure(
  store: string,
  base: string,
  seconds: number,
  kkmc: string,
  day: string,
  /** A day a month back (routes over history, not the stream's day) and a plate seen on `day`. */
  probe: { monthBack: string; hphm: string; clppxh: string },
): Promise<Figures> {
  const { monthBack, ...plate } = probe;
  const floor = await cannon({ url: base + '/favicon.ico', connections: 10, duration: seconds });
  const predict = await cannon({
    url: base + `/api/predict/flow?kkmc=${encodeURIComponent(kkmc)}&hour=8&is_weekend=0`,
    connections: 10,
    duration: seconds,
  });
  if (predict.non2xx > 0) throw new Error(`predict answered ${predict.non2xx} non-2xx replies`);
  const endpoints: Array<{ name: string; path: string; body?: unknown }> = [
    { name: 'stats/overview', path: '/api/stats/overview' },
    { name: 'stats/kkmc_count', path: '/api/stats/kkmc_count?limit=10' },
    { name: 'stats/flow_24h', path: '/api/stats/flow_24h' },
    { name: 'stats/map_data', path: '/api/stats/map_data' },
    { name: 'stats/vehicle_type', path: '/api/stats/vehicle_type' },
    { name: 'stats/routes', path: '/api/stats/routes?limit=10' },
    { name: 'stats/routes, month back', path: `/api/stats/routes?limit=10&date=${monthBack}` },
    { name: 'trajectory', path: `/api/trajectory?hphm=${encodeURIComponent(plate.hphm)}&date=${day}&clppxh=${encodeURIComponent(plate.clppxh)}` },
    { name: 'query kkmc+day', path: '/api/query', body: { kkmc, start: day, end: day, size: 20 } },
    { name: 'query plate substring', path: '/api/query', body: { hphm: '苏C', size: 20, page: 3 } },
    { name: 'query day, all shards', path: '/api/query', body: { start: day, end: day, hpzl: '02', size: 50 } },
  ];
  const latency = [];
  for (const e of endpoints) {
    // Cold: one request after the stats reuse window (2 s) has passed, i.e. the query itself.
    await new Promise((r) => setTimeout(r, 2100));
    const cold = await sampleLatency(base, e, 1, 1);
    latency.push({ name: e.name, cold: cold.p50, ...(await sampleLatency(base, e, 200, 4)) });
  }
  const exports = await measureExports(base, day, 2);
  return {
    store,
    exports,
    floorRps: floor.requests.average,
    predictRps: predict.requests.average,
    predictP99: predict.latency.p99,
    latency,
  };
}

function print(f: Figures): void {
  const out = process.stdout;
  out.write(`\n[${f.store}]\n`);
  out.write(`  baseline  empty 204 reply           ${f.floorRps.toFixed(0).padStart(8)} req/s\n`);
  out.write(
    `  predict   /api/predict/flow          ${f.predictRps.toFixed(0).padStart(8)} req/s  p99 ${f.predictP99} ms  ` +
      `ratio to baseline ${(f.predictRps / f.floorRps).toFixed(2)}  goal ≥ 10000 req/s: ${f.predictRps >= 10_000 ? 'met' : 'NOT met'}\n`,
  );
  for (const l of f.latency) {
    out.write(
      `  ${l.name.padEnd(25)} cold ${l.cold.toFixed(1).padStart(7)} ms  p50 ${l.p50.toFixed(1).padStart(7)} ms  p95 ${l.p95.toFixed(1).padStart(7)} ms  (n=${l.n}, 4 concurrent)  ` +
        `goal p95 ≤ 100 ms: ${l.p95 <= 100 ? 'met' : 'NOT met'}\n`,
    );
  }
  const e = f.exports;
  const csvRate = e.rows / median(e.csv);
  const xlsxRate = e.rows / median(e.xlsx);
  out.write(
    `  export    /api/export.csv  (baseline) ${e.rows} rows (${e.filter})  median ${median(e.csv).toFixed(2)} s  ${csvRate.toFixed(0).padStart(8)} rows/s  ${(e.csvBytes / e.rows).toFixed(1)} bytes/row\n` +
      `  export    /api/export.xlsx           ${e.rows} rows (${e.filter})  median ${median(e.xlsx).toFixed(2)} s  ${xlsxRate.toFixed(0).padStart(8)} rows/s  ${(e.xlsxBytes / e.rows).toFixed(1)} bytes/row  ` +
      `ratio to CSV ${(xlsxRate / csvRate).toFixed(2)}  goal ≥ 100000 rows/s: ${xlsxRate >= 100_000 ? 'met' : 'NOT met'}  (runs: csv ${e.csv.map((x) => x.toFixed(2)).join(', ')} s; xlsx ${e.xlsx.map((x) => x.toFixed(2)).join(', ')} s)\n`,
  );
}

export const command: Command = {
  name: 'bench:api',
  summary: 'benchmark the API',
  usage,
  async run(argv) {
    const env = readEnv();
    const { values } = parseFlags(argv, {
      in: { type: 'string' },
      model: { type: 'string' },
      seconds: { type: 'string' },
      mysql: { type: 'string' },
      'no-mysql': { type: 'boolean' },
      history: { type: 'string' },
    });
    const history = int(values.history, 'history', 5, { min: 1, max: 20 });
    const master = optStr(values.in, 'in') ?? path.join(env.dataDir, FILES.master);
    const model = optStr(values.model, 'model') ?? path.join(path.dirname(master), FILES.model);
    const seconds = int(values.seconds, 'seconds', 10, { min: 1, max: 120 });
    for (const [f, how] of [
      [master, 'npm run etl:all'],
      [model, 'npm run train'],
    ] as const) {
      if (!existsSync(f)) throw new TrafficError('INPUT_NOT_FOUND', `${f} is missing: run \`${how}\` first`, { file: f });
    }
    const dimension = path.join(path.dirname(master), FILES.dimension);
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'traffic-bench-api-'));
    process.stdout.write(
      `bench:api — ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}; ` +
        `master ${master}; ${seconds} s per autocannon run, 10 connections\n`,
    );
    const results: Figures[] = [];
    await measureXlsxWriter(200_000);
    try {
      const store = await EmbeddedStore.open(path.join(tmp, EMBEDDED_DB_FILE));
      const rows = await store.loadMasterCsv(master);
      if (existsSync(dimension)) await store.loadDimensionCsv(dimension);
      const [top] = await store.kkmcCount(1);
      const latest = (await store.latestGcsj())!.slice(0, 10);
      // A plate with a known brand seen on the latest day, for the trajectory request.
      const [seen] = (await store.query({ start: `${latest} 00:00:00`, end: `${latest} 23:59:59`, hphm: '***' }, 1, 200)).rows.filter((r) => r.clppxh !== '-');
      const probe = { monthBack: addDays(latest, -30), hphm: seen?.hphm ?? '苏C', clppxh: seen?.clppxh ?? '' };
      await store.close();
      copyFileSync(model, path.join(tmp, FILES.model));
      process.stdout.write(`rows ${rows}; busiest checkpoint ${top!.name}; latest day ${latest}\n`);

      const port = 5600 + Math.floor(Math.random() * 300);
      let child = await startApi(port, tmp, model);
      try {
        const f = await measure('embedded DuckDB', `http://127.0.0.1:${port}`, seconds, top!.name, latest, probe);
        results.push(f);
        print(f);
      } finally {
        await stopApi(child);
      }

      if (!values['no-mysql']) {
        // Always a fresh database of the bench's own on the given servers (dropped at the end),
        // never the database named in the URLs.
        const servers = optStr(values.mysql, 'mysql')?.split(',') ??
          env.mysql ?? ['mysql://root@127.0.0.1:3306/traffic_db', 'mysql://root@127.0.0.1:3307/traffic_db'];
        const benchDb = `traffic_bench_api_${Math.random().toString(16).slice(2, 8)}`;
        const urls = servers.map((u) => u.trim().replace(/\/[^/]*$/, `/${benchDb}`));
        const sharded = ShardedStore.open({ urls });
        try {
          await sharded.ensureSchema();
          await loadMaster(sharded, master, { method: 'infile', chunkRows: 50_000 });
          if (existsSync(dimension)) await sharded.replaceKkmcInfo(await readDimension(dimension));
        } finally {
          await sharded.close();
        }
        child = await startApi(port + 1, tmp, model, urls);
        try {
          const f = await measure(`MySQL ${urls.length} shards`, `http://127.0.0.1:${port + 1}`, seconds, top!.name, latest, probe);
          results.push(f);
          print(f);
        } finally {
          await stopApi(child);
          // The bench database is the bench's own: leave nothing behind.
          const cleanup = ShardedStore.open({ urls });
          await cleanup.onAll('drop bench database', (pool, s) => pool.query(`DROP DATABASE IF EXISTS \`${s.url.database}\``)).catch(() => undefined);
          await cleanup.close();
        }
      }

      if (history > 1) {
        await runHistory({
          master,
          dimension,
          model,
          tmp,
          port: port + 2,
          history,
          servers: values['no-mysql']
            ? null
            : (optStr(values.mysql, 'mysql')?.split(',') ?? env.mysql ?? ['mysql://root@127.0.0.1:3306/traffic_db', 'mysql://root@127.0.0.1:3307/traffic_db']),
          startApi: async (p, dir, m, urls) => {
            const api = await startApi(p, dir, m, urls);
            return { stop: () => stopApi(api) };
          },
          sample: sampleLatency,
          out: (text) => process.stdout.write(text),
        });
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    return 0;
  },
};
