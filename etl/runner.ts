/**
 * The ETL runner: stages 01–05 in order, or a range of them (`--from N`, `--only N`).
 *
 * The runner prepares a run (raw data or a generated sample, the memory budget, the rejects file,
 * the writer thread), has etl/executor.ts execute the stages — one path for every range and
 * placement: 01's rows flow through {02, 03} and {04, 05} in memory, each segment on this thread
 * or in a stage thread; a run from stage N ≥ 2 streams stage N's input file — and writes the
 * manifest.
 *
 * Every stage's numbers must balance (rows in + added = rows out + rejects + removed copies) and
 * each stage must receive exactly the rows its predecessor emitted; otherwise the run fails.
 */
import { existsSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { WriterThread } from '../core/writer-thread.ts';
import { TrafficError } from '../core/errors.ts';
import { fmtInt } from '../core/progress.ts';
import { FILES, type Reject } from '../core/schema.ts';
import { chinaIso } from '../core/time.ts';
import type { StageRun } from './chain.ts';
import { execute } from './executor.ts';
import { MANIFEST_FORMAT, readManifest, totals, writeManifest, type Manifest, type StageEntry } from './manifest.ts';
import { mergeRawFiles } from './merge-files.ts';
import type { SortedRows } from './sorted-runs.ts';
import { listRawFiles } from './read/raw.ts';
import { RejectSink } from './rejects.ts';
import type { StageThread } from './stage-thread.ts';
import { boundHeapGrowth, heapBoundNeeded, memoryBudgetFromEnv, memoryPlan, type MemoryPlan } from './memory.ts';
import { STAGE_NAMES, type StageNo } from './stages.ts';
import { toolVersion } from '../core/version.ts';

export interface EtlOptions {
  raw: string;
  /** The raw dir was given with --raw (then a missing dir is an error, never a reason to generate). */
  rawExplicit: boolean;
  out: string;
  from: StageNo;
  to: StageNo;
  geo?: string;
  overrides?: string;
  fill: boolean;
  /** Seed of the sample generated when there is no raw data. */
  seed: number;
  /** Size of the sample generated when there is no raw data (default: the generator's). */
  sample?: { days?: number; passesPerDay?: number };
  /** Force the live progress line on/off (default: the stream is a TTY and CI is unset). */
  tty?: boolean;
  /** Where progress and summary lines go (default stderr). */
  stream?: NodeJS.WriteStream;
  /** Reader threads for the raw files (0 = in this thread; default merge-source.ts defaultReaders). */
  readers?: number;
  /** Write the stage outputs from a thread of their own (default: when the machine has 2+ cores). */
  writerThread?: boolean;
  /**
   * Segments in stage threads where they can run there (etl/executor.ts planSegments: 02–03 fed
   * 01's rows, 05 fed 04's output). Default: when the writer thread is used. Same outputs either way.
   */
  stageThreads?: boolean;
  /**
   * Memory budget in MiB (`--memory-mb`; default TRAFFIC_ETL_MEMORY_MB, else DEFAULT_MEMORY_MB):
   * rows beyond it are spilled to scratch files in --out (etl/memory.ts). Same outputs either way.
   */
  memoryMb?: number;
}

export interface EtlResult {
  manifest: Manifest;
  outDir: string;
  seconds: number;
  /** Set when the run generated the sample raw data first. */
  generated?: { dir: string; files: number; rows: number; truthFile: string };
  /** Heap bytes per kept row while stage 01 held the data (estimate of the sort's memory). */
  mergeBytesPerRow?: number;
  /** The memory budget the run kept to (MiB). */
  memoryMb: number;
  /** Peak resident memory of this process so far (MiB), all threads: to compare with memoryMb. */
  peakRssMb: number;
}

/** `01-merge   92,345 in → 80,000 out · 3 rejected · 12,345 copies removed · 1.20 s · 76,954 rows/s` */
export function summaryLine(e: StageEntry): string {
  const parts = [`${e.stage.padEnd(14)} ${fmtInt(e.in).padStart(9)} in → ${fmtInt(e.out)} out`, `${fmtInt(e.rejected)} rejected`];
  if (e.removedCopies) parts.push(`${fmtInt(e.removedCopies)} copies removed`);
  if (e.added) parts.push(`${fmtInt(e.added)} added`);
  parts.push(`${e.seconds.toFixed(2)} s`, `${fmtInt(e.rowsPerSecond)} rows/s`);
  if (e.source === 'file') parts.push(`read from ${e.input}`);
  return parts.join(' · ');
}

async function hasRawFiles(dir: string): Promise<boolean> {
  try {
    return (await listRawFiles(dir)).length > 0;
  } catch (err) {
    if (err instanceof TrafficError && (err.code === 'INPUT_NOT_FOUND' || err.code === 'INPUT_EMPTY')) return false;
    throw err;
  }
}

export async function runEtl(o: EtlOptions): Promise<EtlResult> {
  const t0 = performance.now();
  const started = chinaIso();
  const stream = o.stream ?? process.stderr;
  const log = (line: string): void => {
    stream.write(line + '\n');
  };
  const tty = o.tty;
  const outDir = path.resolve(o.out);
  const rawDir = path.resolve(o.raw);
  if (o.from > o.to) throw new TrafficError('INVALID_OPTION', `--from ${o.from} is after the last stage ${o.to}`, { option: '--from' });
  await mkdir(outDir, { recursive: true });
  const result: Partial<EtlResult> = {};

  if (o.from === 1 && !o.rawExplicit && !(await hasRawFiles(rawDir))) {
    const { DEFAULT_SAMPLE_DAYS, generateSample } = await import('./sample/generate.ts');
    const days = o.sample?.days ?? DEFAULT_SAMPLE_DAYS;
    const g = await generateSample({
      out: rawDir,
      seed: o.seed,
      days,
      ...(o.sample?.passesPerDay === undefined ? {} : { passesPerDay: o.sample.passesPerDay }),
    });
    result.generated = { dir: rawDir, files: g.files.length, rows: g.rows, truthFile: g.truthFile };
    log(`no raw data in ${rawDir}: generated a sample of ${fmtInt(g.rows)} rows in ${g.files.length} files (seed ${o.seed}, ${days} days)`);
  }

  const stagesRun = STAGE_NAMES.slice(o.from - 1, o.to);
  const rejects = new RejectSink(outDir);
  const onReject = (r: Reject): void => rejects.add(r);
  const drain = (): Promise<void> => rejects.drain();
  const entries: Record<string, StageEntry> = {};
  const previous = o.from > 1 || o.to < 5 ? await readManifest(outDir) : undefined;
  let inputs: Manifest['inputs'] = previous?.inputs ?? [];
  const settings = {
    outDir,
    fill: o.fill,
    ...(o.geo === undefined ? {} : { geo: o.geo }),
    ...(o.overrides === undefined ? {} : { overrides: o.overrides }),
  };
  const open: StageRun[] = [];
  const threads: StageThread[] = [];
  const plan = memoryPlan(o.memoryMb ?? memoryBudgetFromEnv());
  // A run from a stage file holds only 04's state, which grows with the data: bounded as before.
  // A full run is bounded now only if its raw input is clearly too big, else when 01 ends (afterMerge).
  if (o.from > 1 || heapBoundNeeded(plan, { rawBytes: await rawInputBytes(rawDir) })) boundHeapGrowth();
  /** Rows held for a later read, in memory or spilled: released at the end, also after a failure. */
  const scratch: { release(): void }[] = [];
  const writer = (o.writerThread ?? os.availableParallelism() >= 2) ? WriterThread.start() : undefined;
  try {
    for (const name of stagesRun) await rejects.open(name);
    const r = await execute({
      from: o.from,
      to: o.to,
      stageThreads: writer !== undefined && o.stageThreads !== false,
      settings,
      outDir,
      stream,
      ...(tty === undefined ? {} : { tty }),
      ...(writer ? { writer } : {}),
      plan,
      onReject,
      drain,
      summary: summaryLine,
      merge: async (writeOutput) => {
        const m = await mergeRawFiles({
          rawDir,
          outDir,
          onReject,
          drain,
          summary: summaryLine,
          stream,
          writeOutput,
          ...(writer ? { writer } : {}),
          ...(o.readers === undefined ? {} : { readers: o.readers }),
          ...(tty === undefined ? {} : { tty }),
          spill: { dir: outDir, rows: plan.mergeRows, pressureBytes: plan.pressureBytes },
        });
        afterMerge(plan, m.sorted);
        return m;
      },
      open,
      threads,
      scratch,
    });
    for (const e of r.entries) entries[e.stage] = e;
    if (r.merge) {
      inputs = r.merge.inputs;
      result.mergeBytesPerRow = r.merge.bytesPerRow;
    }
  } catch (err) {
    for (const t of threads) await t.abort();
    for (const run of open) await run.abort();
    await rejects.cleanup();
    throw err;
  } finally {
    for (const s of scratch) s.release();
    await writer?.stop();
  }

  await rejects.finish(STAGE_NAMES);
  const stages: Record<string, StageEntry> = {};
  for (const name of STAGE_NAMES) {
    const e = entries[name] ?? previous?.stages[name];
    if (e) stages[name] = e;
  }
  const seconds = Math.round(performance.now() - t0) / 1000;
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    tool: toolVersion(),
    run: { started, finished: chinaIso(), seconds, stages: stagesRun },
    options: {
      raw: rawDir,
      out: outDir,
      from: o.from,
      to: o.to,
      geo: o.geo ?? null,
      overrides: o.overrides ?? null,
      fill: o.fill,
      seed: o.seed,
      generatedSample: result.generated !== undefined,
    },
    inputs,
    stages,
    totals: totals(stages),
  };
  await writeManifest(outDir, manifest);
  const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  return { ...result, manifest, outDir, seconds, memoryMb: plan.budgetMb, peakRssMb };
}

/** Bytes of the raw files a full run reads (0 when there are none: stage 01 then says why). */
async function rawInputBytes(rawDir: string): Promise<number> {
  if (!(await hasRawFiles(rawDir))) return 0;
  let bytes = 0;
  for (const f of await listRawFiles(rawDir)) bytes += (await stat(f)).size;
  return bytes;
}

/** Stage 01's real size decides what its guess from the raw bytes left open (etl/memory.ts). */
function afterMerge(plan: MemoryPlan, sorted: SortedRows): void {
  if (heapBoundNeeded(plan, { keptRows: sorted.length, spilled: sorted.spilledRuns > 0 })) boundHeapGrowth();
}

/** The run's last line: what went in, what came out, where it is. */
export function finalLine(r: EtlResult): string {
  const t = r.manifest.totals;
  const ran = r.manifest.run.stages;
  const range = ran.length === 1 ? ran[0] : `${ran[0]} … ${ran[ran.length - 1]}`;
  const rows = r.manifest.stages[ran[ran.length - 1] ?? '']?.out ?? 0;
  return (
    `etl:all done (${range}): ${fmtInt(t.rawRecords)} raw records → ${fmtInt(rows)} rows out; ` +
    `${fmtInt(t.rejected)} rejected, ${fmtInt(t.removedCopies)} copies removed, ${fmtInt(t.added)} added; ` +
    `${r.seconds.toFixed(2)} s; peak RSS ${fmtInt(r.peakRssMb)} MB (budget ${fmtInt(r.memoryMb)} MB); outputs in ${r.outDir}` +
    (existsSync(path.join(r.outDir, FILES.rejects)) && t.rejected ? ` (rejects: ${FILES.rejects})` : '')
  );
}
