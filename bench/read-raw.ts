/**
 * Raw reader throughput: rows/s and MB/s per real file (best of N passes, warm), each beside a
 * baseline measured in the same run on the same file:
 *   CSV  — the floor any reader pays: read the bytes, decode them (TextDecoder), count lines;
 *   XLSX — exceljs's streaming WorkbookReader, the generic alternative (one pass; it is slow).
 *
 *   npx tsx bench/read-raw.ts [DIR] [--repeat N] [--no-exceljs]
 * DIR defaults to ../shared/realdata (month folders as the ETL reads them).
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import ExcelJS from 'exceljs';
import { listRawFiles, openRawFile } from '../etl/read/raw.ts';
import { PACKAGE_ROOT } from '../core/paths.ts';

export interface ReadBenchResult {
  file: string;
  format: 'csv' | 'xlsx';
  encoding?: string;
  rows: number;
  bytes: number;
  /** Best wall time of the passes, seconds. */
  seconds: number;
  /** Best process CPU time (user + system) of the passes, seconds: what a busy machine cannot inflate. */
  cpuSeconds: number;
  rowsPerSecond: number;
  mbPerSecond: number;
  baseline: { name: string; seconds: number; rowsPerSecond: number } | null;
}

export interface ReadBenchOptions {
  repeat?: number;
  exceljs?: boolean;
  log?: (line: string) => void;
}

/** Reads every raw file under dir `repeat` times and reports the best pass of each. */
export async function benchReadRaw(dir: string, opts: ReadBenchOptions = {}): Promise<ReadBenchResult[]> {
  const repeat = opts.repeat ?? 5;
  const log = opts.log ?? (() => {});
  const files = await listRawFiles(dir);
  const results: ReadBenchResult[] = [];
  for (const file of files) {
    let best = Infinity;
    let bestCpu = Infinity;
    let rows = 0;
    let format: 'csv' | 'xlsx' = 'csv';
    let encoding: string | undefined;
    let bytes = 0;
    for (let i = 0; i < repeat; i++) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const { info, records } = await openRawFile(file);
      let n = 0;
      for await (const _ of records) n++;
      const c = process.cpuUsage(c0);
      best = Math.min(best, (performance.now() - t0) / 1000);
      bestCpu = Math.min(bestCpu, (c.user + c.system) / 1e6);
      rows = n;
      format = info.format;
      encoding = info.encoding;
      bytes = info.bytes;
    }
    let baseline: ReadBenchResult['baseline'] = null;
    if (format === 'csv') {
      const s = await bestOf(repeat, () => decodeFloor(file, encoding ?? 'utf-8'));
      baseline = { name: `read+TextDecoder(${encoding})+count lines`, seconds: s, rowsPerSecond: rows / s };
    } else if (opts.exceljs !== false) {
      const s = await bestOf(1, () => exceljsStream(file));
      baseline = { name: 'exceljs streaming WorkbookReader', seconds: s, rowsPerSecond: rows / s };
    }
    const r: ReadBenchResult = {
      file,
      format,
      rows,
      bytes,
      seconds: best,
      cpuSeconds: bestCpu,
      rowsPerSecond: rows / best,
      mbPerSecond: bytes / 1e6 / best,
      baseline,
    };
    if (encoding) r.encoding = encoding;
    results.push(r);
    log(formatResult(r, dir));
  }
  return results;
}

async function bestOf(n: number, fn: () => Promise<unknown>): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return best;
}

async function decodeFloor(file: string, encoding: string): Promise<number> {
  const text = new TextDecoder(encoding).decode(await readFile(file));
  let lines = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
  return lines;
}

async function exceljsStream(file: string): Promise<number> {
  let rows = 0;
  const reader = new ExcelJS.stream.xlsx.WorkbookReader(file, { sharedStrings: 'cache', worksheets: 'emit' });
  for await (const ws of reader) {
    for await (const _row of ws) rows++;
    if (rows > 0) break;
  }
  return rows;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function formatResult(r: ReadBenchResult, dir: string): string {
  const name = path.relative(dir, r.file) || path.basename(r.file);
  const kind = r.format === 'csv' ? `csv/${r.encoding}` : 'xlsx';
  let line = `${name.padEnd(26)} ${kind.padEnd(12)} ${fmt(r.rows).padStart(8)} rows ${(r.bytes / 1e6).toFixed(2).padStart(6)} MB ${(r.seconds * 1000).toFixed(1).padStart(7)} ms ${fmt(r.rowsPerSecond).padStart(10)} rows/s ${r.mbPerSecond.toFixed(1).padStart(6)} MB/s`;
  line += ` (cpu ${(r.cpuSeconds * 1000).toFixed(1)} ms = ${fmt(r.rows / r.cpuSeconds)} rows/s)`;
  if (r.baseline) {
    line += ` | ${r.baseline.name}: ${fmt(r.baseline.rowsPerSecond)} rows/s (ours ×${(r.rowsPerSecond / r.baseline.rowsPerSecond).toFixed(2)})`;
  }
  return line;
}

export function summarize(results: readonly ReadBenchResult[]): string[] {
  const out: string[] = [];
  for (const format of ['csv', 'xlsx'] as const) {
    const rs = results.filter((r) => r.format === format);
    if (!rs.length) continue;
    const rows = rs.reduce((a, r) => a + r.rows, 0);
    const s = rs.reduce((a, r) => a + r.seconds, 0);
    const cpu = rs.reduce((a, r) => a + r.cpuSeconds, 0);
    const mb = rs.reduce((a, r) => a + r.bytes, 0) / 1e6;
    out.push(
      `${format.toUpperCase()} total: ${fmt(rows)} rows in ${(s * 1000).toFixed(0)} ms = ${fmt(rows / s)} rows/s, ${(mb / s).toFixed(1)} MB/s` +
        ` (cpu ${(cpu * 1000).toFixed(0)} ms = ${fmt(rows / cpu)} rows/s)`,
    );
  }
  return out;
}

async function main(argv: string[]): Promise<void> {
  let dir = path.resolve(PACKAGE_ROOT, '../shared/realdata');
  let repeat = 5;
  let exceljs = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--repeat') repeat = Math.max(1, Number(argv[++i]) || 1);
    else if (a === '--no-exceljs') exceljs = false;
    else dir = path.resolve(a);
  }
  console.log(
    `read-raw bench: ${dir}; best of ${repeat} warm passes per file; node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(2)}`,
  );
  // One untimed pass so the first file is not charged for JIT warm-up.
  for (const f of (await listRawFiles(dir)).slice(0, 2)) for await (const _ of (await openRawFile(f)).records);
  const results = await benchReadRaw(dir, { repeat, exceljs, log: (l) => console.log(l) });
  for (const l of summarize(results)) console.log(l);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
