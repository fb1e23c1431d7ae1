/**
 * The ETL runner: stages 01–05 in order, or a range of them (`--from N`, `--only N`).
 *
 * Full run: 01 reads every raw file (reader threads) and merges and sorts in memory; its rows then
 * flow through 02→03 in memory in batches (no CSV between stages), 04 scans them as they leave 03
 * and they are kept for 04's transform, then flow through 04→05. Each stage still writes its own
 * file (through the writer thread, which encodes and writes while the stages go on). A run that
 * starts at stage N ≥ 2 streams stage N's input file from the output dir (twice when the stage
 * scans first), so its memory stays bounded.
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
import { fmtInt, Progress } from '../core/progress.ts';
import { FILES, RAW_COLUMNS, type Reject } from '../core/schema.ts';
import { chinaIso } from '../core/time.ts';
import { BATCH_ROWS, fileSource, packedSource, RowStore, runSegment, StageRun, type BatchSource } from './chain.ts';
import { checkBalance, MANIFEST_FORMAT, readManifest, totals, writeManifest, type Manifest, type StageEntry } from './manifest.ts';
import { mergeRawFiles } from './merge-files.ts';
import type { SortedRows } from './sorted-runs.ts';
import { listRawFiles } from './read/raw.ts';
import { RejectSink } from './rejects.ts';
import { StageThread, unpackFields } from './stage-thread.ts';
import { boundHeapGrowth, heapBoundNeeded, memoryBudgetFromEnv, memoryPlan, type MemoryPlan } from './memory.ts';
import { STAGE_NAMES, stageDef, type StageNo, type StageSettings } from './stages.ts';
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
   * Full runs: stages 02–03 and 05 in threads of their own (etl/stage-thread.ts). Default: when
   * the writer thread is used. Same outputs either way.
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
    if (o.from === 1 && o.to === 5 && writer && o.stageThreads !== false) {
      const r = await runWithStageThreads({ o, rawDir, outDir, settings, writer, stream, onReject, drain, open, threads, plan, scratch });
      Object.assign(entries, r.entries);
      inputs = r.inputs;
      result.mergeBytesPerRow = r.bytesPerRow;
    } else {
      // Stage 01 (rows stay in memory for the next stages), or the first stage's input file.
      let source: BatchSource | undefined;
      let memory = false;
      let lastOut: StageEntry | undefined;
      if (o.from === 1) {
        const m = await mergeRawFiles({
          rawDir,
          outDir,
          onReject,
          drain,
          summary: summaryLine,
          stream,
          ...(writer ? { writer } : {}),
          ...(o.readers === undefined ? {} : { readers: o.readers }),
          ...(tty === undefined ? {} : { tty }),
          spill: { dir: outDir, rows: plan.mergeRows, pressureBytes: plan.pressureBytes },
        });
        scratch.push(m.sorted);
        afterMerge(plan, m.sorted);
        checkBalance(m.entry);
        entries[m.entry.stage] = m.entry;
        inputs = m.inputs;
        result.mergeBytesPerRow = m.bytesPerRow;
        lastOut = m.entry;
        if (o.to > 1) {
          source = packedSource(m.sorted);
          memory = true;
        } else m.sorted.release();
      }

      // Stages 02..to in fused segments; a stage with scan() starts a new segment.
      let n: number = Math.max(2, o.from);
      let nextHead: StageRun | undefined;
      /** A head that scanned its input while the previous segment ran. */
      let scannedHead: StageRun | undefined;
      while (n <= o.to) {
        const segment: StageRun[] = [];
        let k = n;
        for (; k <= o.to; k++) {
          let run = k === n ? nextHead : undefined;
          if (!run) {
            const def = stageDef(k);
            const make = await def.load!(settings);
            run = StageRun.create(make, {
              outDir,
              inputName: def.input ?? '',
              outputName: def.output,
              source: 'memory',
              sideHeaders: def.sides,
              onReject,
              ...(writer ? { writer } : {}),
            });
          }
          if (k > n && run.stage.scan) {
            nextHead = run; // needs all of its input before its first row: heads the next segment
            break;
          }
          nextHead = undefined;
          await run.openFiles();
          open.push(run);
          segment.push(run);
        }
        const head = segment[0] as StageRun;
        // Known only now: a stage built ahead as the next head reads a file unless rows are in memory.
        for (const run of segment) {
          run.entry.source = run === head && !memory ? 'file' : 'memory';
          run.copyInput = run !== head; // the head's rows come fresh from a file or packed memory
        }
        if (!source) source = fileSource(path.join(outDir, stageDef(n).input!), head.stage.inputColumns, head.name);
        // Kept in memory only when another segment follows and the run is fused.
        const collect = k <= o.to && memory ? new RowStore({ rows: plan.storeRows, dir: outDir, pressureBytes: plan.pressureBytes }) : undefined;
        if (collect) scratch.push(collect);
        // The next head scans the rows as they leave this segment (no second pass over them).
        const scanNext = collect && nextHead?.stage.scan ? nextHead : undefined;
        const headScanned = head === scannedHead;
        const progress = new Progress({ label: segment.map((r) => r.name).join(' + '), stream, ...(tty === undefined ? {} : { tty }) });
        const progressOf = (r: StageRun): Progress => new Progress({ label: `${r.name} scan`, stream, ...(tty === undefined ? {} : { tty }) });
        const scanProgress = head.stage.scan && !headScanned ? progressOf(head) : undefined;
        const scanNextProgress = scanNext ? progressOf(scanNext) : undefined;
        await runSegment(source, segment, {
          progress,
          drain,
          ...(collect ? { collect } : {}),
          ...(scanProgress ? { scanProgress } : {}),
          ...(scanNext ? { scanNext } : {}),
          ...(scanNextProgress ? { scanNextProgress } : {}),
          headScanned,
        });
        if (scanNext) scannedHead = scanNext;
        const lines: string[] = [];
        for (const run of segment) {
          await run.close();
          open.splice(open.indexOf(run), 1);
          checkBalance(run.entry);
          if (lastOut && run.entry.in !== lastOut.out) {
            throw new TrafficError('INTERNAL', `stage ${run.name} received ${run.entry.in} rows but ${lastOut.stage} emitted ${lastOut.out}`);
          }
          entries[run.name] = run.entry;
          lastOut = run.entry;
          lines.push(summaryLine(run.entry));
        }
        progress.done(lines.join('\n'));
        if (scanNext && scanNextProgress) {
          const last = segment[segment.length - 1] as StageRun;
          scanNextProgress.done(
            `${scanNext.name} scanned ${fmtInt(scanNextProgress.rows)} rows (first pass, as they left ${last.name}) in ${scanNext.entry.seconds.toFixed(2)} s`,
          );
        }
        // The rows this segment read are not read again.
        for (const s of scratch.splice(0, collect ? scratch.length - 1 : scratch.length)) s.release();
        source = collect ? collect.source() : undefined;
        if (!collect) memory = false;
        n = k;
      }
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

interface ThreadedRun {
  o: EtlOptions;
  rawDir: string;
  outDir: string;
  settings: StageSettings;
  writer: WriterThread;
  stream: NodeJS.WriteStream;
  onReject: (r: Reject) => void;
  drain: () => Promise<void>;
  /** Filled as runs open and threads start, for the caller to abort on failure. */
  open: StageRun[];
  threads: StageThread[];
  plan: MemoryPlan;
  /** Rows held for a later read: the caller releases them at the end (also after a failure). */
  scratch: { release(): void }[];
}

/**
 * A full run with stage threads (etl/stage-thread.ts): 01 here (with its reader threads); its
 * sorted rows go to a thread that writes merged_data.csv and runs 02 → 03, whose rows come back
 * and are scanned by 04 as they arrive; then 04 here, its output text going to a thread that
 * writes master_data_cleaned.csv and runs 05 (or 05 here too, when 04 fills many days). The same
 * stages, rows and files as the in-thread chain.
 */
async function runWithStageThreads(c: ThreadedRun): Promise<{ entries: Record<string, StageEntry>; inputs: Manifest['inputs']; bytesPerRow: number }> {
  const { o, outDir, settings, stream } = c;
  const tty = o.tty;
  const progressOf = (label: string, total: number): Progress => new Progress({ label, total, stream, ...(tty === undefined ? {} : { tty }) });
  const entries: Record<string, StageEntry> = {};
  const t5 = StageThread.start(
    { stages: [5], settings, input: 'csv', inputFile: { name: FILES.cleaned, columns: RAW_COLUMNS }, forward: false },
    { onReject: c.onReject },
  );
  c.threads.push(t5);
  // A stage of this thread fed in memory, writing through the writer thread.
  const memoryRun = async (n: StageNo): Promise<StageRun> => {
    const def = stageDef(n);
    return StageRun.create(await def.load!(settings), {
      outDir,
      inputName: def.input ?? '',
      outputName: def.output,
      source: 'memory',
      sideHeaders: def.sides,
      onReject: c.onReject,
      writer: c.writer,
    });
  };
  const run4 = await memoryRun(4);
  // 03's rows as they come back: kept for 04's transform and scanned by 04 now.
  const store = new RowStore({ rows: c.plan.storeRows, dir: outDir, pressureBytes: c.plan.pressureBytes });
  c.scratch.push(store);
  // One progress line for the rows coming back from 02 + 03 and scanned by 04 (made when the
  // feeding starts, so that its rate does not count stage 01's time).
  let progress23: Progress | undefined;
  let scanned = 0;
  const t23 = StageThread.start(
    { stages: [2, 3], settings, input: 'merge', inputFile: { name: FILES.merged, columns: RAW_COLUMNS }, forward: true },
    {
      onReject: c.onReject,
      onRows: (rows) => {
        const batch = new Array<string[]>(rows.length);
        for (let i = 0; i < rows.length; i++) {
          const r = rows[i] as string | string[];
          store.pushPacked(r);
          batch[i] = unpackFields(r);
        }
        run4.scanBatch(batch);
        progress23?.add(rows.length);
        scanned += rows.length;
      },
    },
  );
  c.threads.push(t23);

  const m = await mergeRawFiles({
    rawDir: c.rawDir,
    outDir,
    onReject: c.onReject,
    drain: c.drain,
    summary: summaryLine,
    stream,
    writer: c.writer,
    writeOutput: false,
    ...(o.readers === undefined ? {} : { readers: o.readers }),
    ...(tty === undefined ? {} : { tty }),
    spill: { dir: outDir, rows: c.plan.mergeRows, pressureBytes: c.plan.pressureBytes },
  });
  c.scratch.push(m.sorted);
  afterMerge(c.plan, m.sorted);
  checkBalance(m.entry);
  entries[m.entry.stage] = m.entry;
  // A thread that failed while 01 ran (options it could not load, a file it could not open).
  for (const t of c.threads) t.throwIfFailed();
  progress23 = progressOf(`${stageDef(2).name} + ${stageDef(3).name} → ${run4.name} scan`, m.sorted.length);
  for (const batch of m.sorted.batches(BATCH_ROWS)) {
    const p = t23.feed(batch);
    if (p) await p;
  }
  // Stage 01's rows now live in thread A: dropped here, the collector no longer marks them while
  // 04 keeps 03's rows.
  m.sorted.release();
  let last = m.entry;
  const accept = (e: StageEntry): string => {
    checkBalance(e);
    if (e.in !== last.out) throw new TrafficError('INTERNAL', `stage ${e.stage} received ${e.in} rows but ${last.stage} emitted ${last.out}`);
    entries[e.stage] = e;
    last = e;
    return summaryLine(e);
  };
  const e23 = await t23.end();
  const lines23 = e23.map(accept);
  if (store.length !== last.out) throw new TrafficError('INTERNAL', `${last.stage} emitted ${last.out} rows but ${store.length} came back from its thread`);
  lines23.push(
    `${run4.name} scanned ${fmtInt(scanned)} rows (first pass, as they left ${last.stage}) in ${run4.entry.seconds.toFixed(2)} s` +
      (store.spilled ? ` · ${fmtInt(store.spilled)} of them kept on disk for the second pass` : ''),
  );
  progress23.done(lines23.join('\n'));

  // 05 runs in its thread unless 04 adds more than half its input in filled days: a filled row
  // costs 04 a copy and 05 as much as any row, so the thread would become the slow end of the run.
  run4.prepare();
  const segment = [run4];
  if ((run4.stage.plannedAdded?.() ?? 0) <= store.length / 2) {
    run4.setOutputSink(t5.textSink());
  } else {
    await t5.abort();
    c.threads.splice(c.threads.indexOf(t5), 1);
    const run5 = await memoryRun(5);
    segment.push(run5);
  }
  for (const run of segment) {
    await run.openFiles();
    c.open.push(run);
    run.entry.source = 'memory';
    run.copyInput = run !== run4;
  }
  const progress4 = progressOf(segment.map((r) => r.name).join(' + '), store.length);
  await runSegment(store.source(), segment, { progress: progress4, drain: c.drain, headScanned: true });
  store.release();
  const lines: string[] = [];
  for (const run of segment) {
    await run.close();
    c.open.splice(c.open.indexOf(run), 1);
    lines.push(accept(run.entry));
  }
  if (segment.length === 1) lines.push(...(await t5.end()).map(accept));
  progress4.done(lines.join('\n'));
  return { entries, inputs: m.inputs, bytesPerRow: m.bytesPerRow };
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
