/**
 * The memory budget (etl/memory.ts): a run whose budget is too small to hold its rows spills
 * stage 01's sorted runs and 04's second-pass rows to disk, and must write exactly the files a
 * run holding everything writes: same bytes, counts, rejects (a conflicting copy whose first row
 * is already on disk included), with and without stage threads. Scratch files never outlive a run.
 */
import { spawnSync } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FILES } from '../../core/schema.ts';
import { WORKER_YOUNG_GENERATION_MB } from '../../core/thread-memory.ts';
import { parseEtlArgs } from '../../etl/cli.ts';
import type { Manifest } from '../../etl/manifest.ts';
import { DEFAULT_MEMORY_MB, heapBoundNeeded, memoryBudgetFromEnv, memoryPlan, MIN_ROWS } from '../../etl/memory.ts';
import { runEtl, type EtlOptions } from '../../etl/runner.ts';

/** Collects what the run prints (progress is off: not a TTY). */
function sink(): { stream: NodeJS.WriteStream; text: () => string } {
  let text = '';
  const stream = {
    write: (s: string) => {
      text += s;
      return true;
    },
    isTTY: false,
  } as unknown as NodeJS.WriteStream;
  return { stream, text: () => text };
}

let dir: string;
let raw: string;
/** A budget this small puts every cap at its floor (MIN_ROWS): the ~25k rows below spill ~10 runs. */
const TINY = 64;
const LARGE = 64 * 1024;

const opts = (out: string, memoryMb: number, threads: boolean, stream: NodeJS.WriteStream): EtlOptions => ({
  raw,
  rawExplicit: true,
  out,
  from: 1,
  to: 5,
  fill: true,
  seed: 3,
  tty: false,
  stream,
  memoryMb,
  writerThread: threads,
  stageThreads: threads,
});

const OUTPUTS = [
  FILES.merged,
  'kkmc_statistics.txt',
  'kkmc_statistics.json',
  FILES.standardized,
  FILES.dimension,
  FILES.cleaned,
  'repair_log.csv',
  'repair_quality.json',
  FILES.master,
  FILES.rejects,
];

async function manifestOf(out: string): Promise<Manifest> {
  return JSON.parse(await readFile(path.join(out, FILES.manifest), 'utf8')) as Manifest;
}

const counts = (m: Manifest) =>
  Object.fromEntries(Object.entries(m.stages).map(([k, e]) => [k, [e.in, e.out, e.rejected, e.removedCopies, e.added, e.counts, e.outputs]]));

/** Byte comparison (Buffer.equals: a deep toEqual over megabytes takes minutes). */
async function expectSameFiles(out: string): Promise<void> {
  for (const f of OUTPUTS) {
    const [a, b] = [await readFile(path.join(out, f)), await readFile(path.join(reference, f))];
    expect(a.equals(b), `${f} differs (${a.length} vs ${b.length} bytes)`).toBe(true);
  }
}

const scratchFiles = async (out: string): Promise<string[]> => (await readdir(out)).filter((n) => n.startsWith('.spill-') || n.includes('partial'));

let reference: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'etl-memory-'));
  raw = path.join(dir, 'raw');
  const { generateSample } = await import('../../etl/sample/generate.ts');
  await generateSample({ out: raw, seed: 3, days: 10, startDate: '2023-12-20', passesPerDay: 3500 });
  // A later file repeats the first file's first pass id with another plate: a conflicting copy
  // whose first row is long spilled when the budget is tiny (its reason must name it exactly).
  const dec = path.join(raw, '202312');
  const csvs = (await readdir(dec)).filter((n) => n.endsWith('.csv')).sort();
  const text = iconv.decode(await readFile(path.join(dec, csvs[0]!)), 'gb18030');
  const first = text.split(/\r?\n/)[1]!.split(',');
  first[6] = '苏A00000';
  await appendFile(path.join(dec, csvs[csvs.length - 1]!), iconv.encode(first.join(',') + '\r\n', 'gb18030'));
  reference = path.join(dir, 'large');
  await runEtl(opts(reference, LARGE, true, sink().stream));
}, 240_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('memory budget', () => {
  it('a run over its budget spills to disk and writes byte-identical files, counts and rejects (stage threads)', async () => {
    const out = path.join(dir, 'tiny-threads');
    const log = sink();
    await runEtl(opts(out, TINY, true, log.stream));
    await expectSameFiles(out);
    const [big, small] = [await manifestOf(reference), await manifestOf(out)];
    expect(counts(small)).toEqual(counts(big));
    expect(small.stages['01-merge']!.in).toBeGreaterThan(10 * MIN_ROWS);
    // The conflicting copy: rejected, naming the first file and line although that row was on disk.
    const rejects = await readFile(path.join(out, FILES.rejects), 'utf8');
    expect(rejects).toMatch(/GCXH duplicate with different content: first at 202312\/[^ ]+\.csv line 2 \(differs in HPHM\)/);
    // Summaries say what was spilled; every stage still has its line.
    const text = log.text();
    expect(text).toMatch(/01-merge .* sorted in \d+ runs spilled to disk/);
    expect(text).toMatch(/04-repair scanned [\d,]+ rows .* of them kept on disk for the second pass/);
    for (const s of ['01-merge', '02-profile', '03-standardize', '04-repair', '05-features']) expect(text).toMatch(new RegExp(`^${s} +[\\d,]+ in → `, 'm'));
    expect(await scratchFiles(out)).toEqual([]);
  }, 240_000);

  it('the same on the main thread only (no stage or writer threads)', async () => {
    const out = path.join(dir, 'tiny-main');
    await runEtl(opts(out, TINY, false, sink().stream));
    await expectSameFiles(out);
    expect(counts(await manifestOf(out))).toEqual(counts(await manifestOf(reference)));
    expect(await scratchFiles(out)).toEqual([]);
  }, 240_000);

  it('a run that fails after spilling leaves no scratch file behind', async () => {
    const bad = path.join(dir, 'raw-bad');
    await mkdir(path.join(bad, '202401'), { recursive: true });
    // Enough rows to spill first, then a file whose header matches nothing stops the run.
    const lines = ['GCXH,XZQHMC,KKMC,FXLX,GCSJ,HPZL,HPHM,CLPPXH'];
    for (let i = 0; i < 3 * MIN_ROWS; i++)
      lines.push(`${320300000000000000 + i},徐州市,K1,1,2024/1/${1 + (i % 28)} 0:${String(i % 60).padStart(2, '0')}:00,02,苏C${String(i).padStart(5, '0')},-`);
    await writeFile(path.join(bad, '202401', 'a.csv'), lines.join('\n') + '\n');
    await writeFile(path.join(bad, '202401', 'b.csv'), 'what,is,this\n1,2,3\n');
    const out = path.join(dir, 'tiny-bad');
    await expect(runEtl({ ...opts(out, TINY, true, sink().stream), raw: bad })).rejects.toMatchObject({ code: 'HEADER_UNRECOGNISED' });
    expect(await scratchFiles(out)).toEqual([]);
  }, 120_000);
});

describe('memory budget options', () => {
  it('--memory-mb wins over TRAFFIC_ETL_MEMORY_MB, which wins over the default', () => {
    expect(parseEtlArgs([], {}).memoryMb).toBe(DEFAULT_MEMORY_MB);
    expect(DEFAULT_MEMORY_MB).toBeLessThanOrEqual(1024);
    expect(parseEtlArgs([], { TRAFFIC_ETL_MEMORY_MB: '2048' }).memoryMb).toBe(2048);
    expect(parseEtlArgs(['--memory-mb', '512'], { TRAFFIC_ETL_MEMORY_MB: '2048' }).memoryMb).toBe(512);
  });

  it('rejects budgets that are not whole MiB in range, naming the flag or the variable', () => {
    expect(() => parseEtlArgs(['--memory-mb', 'lots'], {})).toThrow(/--memory-mb must be a whole number, got "lots"/);
    expect(() => parseEtlArgs(['--memory-mb', '10'], {})).toThrow(/--memory-mb must be in/);
    expect(() => parseEtlArgs([], { TRAFFIC_ETL_MEMORY_MB: '1.5' })).toThrow(/TRAFFIC_ETL_MEMORY_MB must be a whole number of MiB/);
    expect(() => memoryBudgetFromEnv({ TRAFFIC_ETL_MEMORY_MB: '0' })).toThrow(/TRAFFIC_ETL_MEMORY_MB/);
  });

  it("worker threads get their own young generation even when Node was started with the main thread's --max-semi-space-size", () => {
    // The flag overrides a worker's resourceLimits unless it is set back before the worker starts
    // (core/thread-memory.ts): a busy worker then had 128 MB of new space instead of ~32 MB.
    const module = pathToFileURL(path.resolve('core/thread-memory.ts')).href;
    const code = `
      import { Worker } from 'node:worker_threads';
      import { workerResourceLimits } from ${JSON.stringify(module)};
      const busy = "import v8 from 'node:v8'; import { parentPort } from 'node:worker_threads'; let keep = [];" +
        "for (let i = 0; i < 1e7; i++) { keep.push({ i }); if (keep.length > 300000) keep = []; }" +
        "parentPort.postMessage(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size);";
      const w = new Worker(new URL('data:text/javascript,' + encodeURIComponent(busy)), { resourceLimits: workerResourceLimits() });
      w.on('message', (n) => { console.log(n); w.terminate(); });`;
    const r = spawnSync(process.execPath, ['--max-semi-space-size=64', '--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const newSpaceMb = Number(r.stdout.trim()) / 2 ** 20;
    expect(newSpaceMb).toBeGreaterThan(0);
    expect(newSpaceMb).toBeLessThanOrEqual(WORKER_YOUNG_GENERATION_MB);
  }, 60_000);

  it('a larger budget holds more rows; the smallest still holds MIN_ROWS', () => {
    const small = memoryPlan(64);
    const dflt = memoryPlan(DEFAULT_MEMORY_MB);
    const big = memoryPlan(4096);
    expect(small.mergeRows).toBe(MIN_ROWS);
    expect(dflt.mergeRows).toBeGreaterThan(small.mergeRows);
    expect(big.mergeRows).toBeGreaterThan(dflt.mergeRows);
    expect(big.storeRows).toBeGreaterThan(dflt.storeRows);
  });

  it('bounds the heaps for a year-sized input from the start, not for one the budget holds whole', () => {
    const plan = memoryPlan(DEFAULT_MEMORY_MB);
    // The bench inputs: a generated year (627 MB of raw CSV, 4.2M rows) and the two-month
    // stand-in (68 MB, 603,714 rows kept by stage 01, nothing spilled).
    expect(heapBoundNeeded(plan, { rawBytes: 626_552_976 })).toBe(true);
    expect(heapBoundNeeded(plan, { rawBytes: 67_701_465 })).toBe(false);
    expect(heapBoundNeeded(plan, { keptRows: 603_714, spilled: false })).toBe(false);
    // When 01 ends: more rows than the store may hold, or a sort that had to spill.
    expect(heapBoundNeeded(plan, { keptRows: plan.storeRows + 1, spilled: false })).toBe(true);
    expect(heapBoundNeeded(plan, { keptRows: 10_000, spilled: true })).toBe(true);
    // A small budget makes the same stand-in too big for it.
    expect(heapBoundNeeded(memoryPlan(512), { keptRows: 603_714, spilled: false })).toBe(true);
  });
});
