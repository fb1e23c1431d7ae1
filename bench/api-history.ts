/**
 * bench:api's history part: the query page's plate searches on the master (1×) and on the master
 * repeated further back in time (k×, same plates), each behind the embedded store and behind two
 * MySQL shards, served by `traffic api` in a child process; p95 at 4 concurrent clients and its
 * growth from 1× to k×. Sub-linear growth is the point: a plate search that scanned would grow k×.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { openCsvTable, TextFileWriter } from '../core/io.ts';
import { F, FILES, MASTER_COLUMNS } from '../core/schema.ts';
import { formatChinaTime, toEpochSeconds } from '../core/time.ts';
import { EmbeddedStore, EMBEDDED_DB_FILE } from '../store/duckdb-store.ts';
import { loadMaster, readDimension } from '../store/load.ts';
import { ShardedStore } from '../store/mysql.ts';

export interface PlateCase {
  name: string;
  path: string;
  body: unknown;
}

export interface PlateFigure {
  name: string;
  cold: number;
  p50: number;
  p95: number;
  n: number;
}

/** The query page's plate searches: prefixes, a fragment of the visible characters, one plate. */
export function plateCases(plate: string): PlateCase[] {
  return [
    { name: 'plate substring 苏C, page 3', path: '/api/query', body: { hphm: '苏C', size: 20, page: 3 } },
    { name: 'plate prefix 苏C0', path: '/api/query', body: { hphm: '苏C0', size: 20 } },
    { name: 'plate prefix 鲁Q', path: '/api/query', body: { hphm: '鲁Q', size: 20 } },
    { name: 'plate fragment D7', path: '/api/query', body: { hphm: 'D7', size: 20 } },
    { name: `one plate ${plate}`, path: '/api/query', body: { hphm: plate, size: 20 } },
  ];
}

/** A plate with about 20 passes in the master (a typical single-vehicle lookup). */
export async function typicalPlate(master: string): Promise<string> {
  const t = await openCsvTable(master, MASTER_COLUMNS);
  const n = new Map<string, number>();
  for await (const r of t.rows) {
    const h = r.fields[F.HPHM] ?? '';
    n.set(h, (n.get(h) ?? 0) + 1);
  }
  let best = '';
  let gap = Infinity;
  for (const [h, c] of n) {
    if (h.length === 7 && Math.abs(c - 20) < gap) {
      best = h;
      gap = Math.abs(c - 20);
    }
  }
  return best;
}

/**
 * The master k times: copies i = k−1 … 1 moved back by i × the master's span rounded up to whole
 * weeks (weekday flags stay true), GCXH prefixed `H<i>-`, then the master itself; oldest first, so
 * the file stays in GCSJ order like a real history.
 */
export async function repeatHistory(master: string, out: string, k: number): Promise<number> {
  const first = await openCsvTable(master, MASTER_COLUMNS);
  let lo = Infinity;
  let hi = -Infinity;
  for await (const r of first.rows) {
    const t = toEpochSeconds(r.fields[F.GCSJ]!);
    if (t < lo) lo = t;
    if (t > hi) hi = t;
  }
  const week = 7 * 86400;
  const shift = Math.ceil((hi - lo + 1) / week) * week;
  const w = await TextFileWriter.open(out);
  w.writeCsv(MASTER_COLUMNS);
  let n = 0;
  for (let i = k - 1; i >= 0; i--) {
    const t = await openCsvTable(master, MASTER_COLUMNS);
    for await (const r of t.rows) {
      const f = [...r.fields];
      if (i > 0) {
        f[F.GCXH] = `H${i}-${f[F.GCXH]}`;
        f[F.GCSJ] = formatChinaTime((toEpochSeconds(f[F.GCSJ]!) - i * shift) * 1000);
      }
      const p = w.writeCsv(f);
      if (p) await p;
      n++;
    }
  }
  await w.close();
  return n;
}

export interface HistoryRun {
  master: string;
  dimension: string;
  model: string;
  /** Scratch directory of the run (one data dir per history size inside it). */
  tmp: string;
  port: number;
  /** k of the longer history (≥ 2). */
  history: number;
  /** MySQL servers (a fresh database of the bench's own is made on them and dropped), or none. */
  servers: string[] | null;
  /** bench:api's own API runner and latency sampler. */
  startApi: (port: number, dataDir: string, model: string, mysql?: string[]) => Promise<{ stop: () => Promise<void> }>;
  sample: (base: string, req: PlateCase, n: number, concurrency: number) => Promise<{ p50: number; p95: number; n: number }>;
  out: (text: string) => void;
}

/** Plate searches at 1× and k× the history on both stores; prints each figure with its growth. */
export async function runHistory(o: HistoryRun): Promise<void> {
  const plate = await typicalPlate(o.master);
  const cases = plateCases(plate);
  const longer = path.join(o.tmp, `master-x${o.history}.csv`);
  const rows = await repeatHistory(o.master, longer, o.history);
  const at1 = new Map<string, PlateFigure[]>();
  for (const [k, master] of [
    [1, o.master],
    [o.history, longer],
  ] as const) {
    o.out(`\n[plate search, ${k}× history${k > 1 ? `: ${rows.toLocaleString('en')} rows, the master repeated ${k} times further back` : ''}]\n`);
    const dir = path.join(o.tmp, `history-x${k}`);
    mkdirSync(dir, { recursive: true });
    copyFileSync(o.model, path.join(dir, FILES.model));
    const embedded = await EmbeddedStore.open(path.join(dir, EMBEDDED_DB_FILE));
    try {
      await embedded.loadMasterCsv(master);
      if (existsSync(o.dimension)) await embedded.loadDimensionCsv(o.dimension);
    } finally {
      await embedded.close();
    }
    await measureStore(o, 'embedded DuckDB', o.port, dir, undefined, cases, k, at1);
    if (!o.servers) continue;
    const db = `traffic_bench_hist_${Math.random().toString(16).slice(2, 8)}`;
    const urls = o.servers.map((u) => u.trim().replace(/\/[^/]*$/, `/${db}`));
    try {
      const sharded = ShardedStore.open({ urls });
      try {
        await sharded.ensureSchema();
        await loadMaster(sharded, master, { method: 'infile', chunkRows: 50_000 });
        if (existsSync(o.dimension)) await sharded.replaceKkmcInfo(await readDimension(o.dimension));
      } finally {
        await sharded.close();
      }
      await measureStore(o, `MySQL ${urls.length} shards`, o.port + 1, dir, urls, cases, k, at1);
    } finally {
      // The bench database is the bench's own: leave nothing behind.
      const cleanup = ShardedStore.open({ urls });
      await cleanup.onAll('drop bench database', (pool, s) => pool.query(`DROP DATABASE IF EXISTS \`${s.url.database}\``)).catch(() => undefined);
      await cleanup.close();
    }
  }
}

async function measureStore(
  o: HistoryRun,
  store: string,
  port: number,
  dir: string,
  urls: string[] | undefined,
  cases: PlateCase[],
  k: number,
  at1: Map<string, PlateFigure[]>,
): Promise<void> {
  const api = await o.startApi(port, dir, o.model, urls);
  const figures: PlateFigure[] = [];
  try {
    const base = `http://127.0.0.1:${port}`;
    for (const c of cases) {
      const cold = await o.sample(base, c, 1, 1);
      figures.push({ name: c.name, cold: cold.p50, ...(await o.sample(base, c, 200, 4)) });
    }
  } finally {
    await api.stop();
  }
  if (k === 1) at1.set(store, figures);
  o.out(`  ${store}\n`);
  for (const f of figures) {
    const before = k > 1 ? at1.get(store)?.find((b) => b.name === f.name) : undefined;
    const growth = before
      ? `  p95 ${(f.p95 / before.p95).toFixed(2)}× the 1× history (rows ${k}×): ${f.p95 / before.p95 < k ? 'sub-linear' : 'NOT sub-linear'}`
      : '';
    o.out(
      `    ${f.name.padEnd(28)} cold ${f.cold.toFixed(1).padStart(7)} ms  p50 ${f.p50.toFixed(1).padStart(7)} ms  p95 ${f.p95.toFixed(1).padStart(7)} ms  (n=${f.n}, 4 concurrent)  ` +
        `goal p95 ≤ 100 ms: ${f.p95 <= 100 ? 'met' : 'NOT met'}${growth}\n`,
    );
  }
}
