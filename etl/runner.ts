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
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { WriterThread } from '../pipeline/writer-thread.ts';
import { TrafficError } from '../pipeline/errors.ts';
import { fmtInt, Progress } from '../pipeline/progress.ts';
import { FILES, type Reject } from '../pipeline/schema.ts';
import { chinaIso } from '../pipeline/time.ts';
import { fileSource, packedSource, RowStore, runSegment, StageRun, type BatchSource } from './chain.ts';
import { checkBalance, MANIFEST_FORMAT, readManifest, totals, writeManifest, type Manifest, type StageEntry } from './manifest.ts';
import { mergeRawFiles } from './merge-files.ts';
import { listRawFiles } from './read/raw.ts';
import { RejectSink } from './rejects.ts';
import { STAGE_NAMES, stageDef, type StageNo } from './stages.ts';
import { toolVersion } from './version.ts';

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
}

export interface EtlResult {
  manifest: Manifest;
  outDir: string;
  seconds: number;
  /** Set when the run generated the sample raw data first. */
  generated?: { dir: string; files: number; rows: number; truthFile: string };
  /** Heap bytes per kept row while stage 01 held the data (estimate of the sort's memory). */
  mergeBytesPerRow?: number;
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
  const writer = (o.writerThread ?? os.availableParallelism() >= 2) ? WriterThread.start() : undefined;
  try {
    for (const name of stagesRun) await rejects.open(name);

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
      });
      checkBalance(m.entry);
      entries[m.entry.stage] = m.entry;
      inputs = m.inputs;
      result.mergeBytesPerRow = m.bytesPerRow;
      lastOut = m.entry;
      if (o.to > 1) {
        source = packedSource(m.rows);
        memory = true;
      }
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
      const collect = k <= o.to && memory ? new RowStore() : undefined;
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
      source = collect ? collect.source() : undefined;
      if (!collect) memory = false;
      n = k;
    }
  } catch (err) {
    for (const run of open) await run.abort();
    await rejects.cleanup();
    throw err;
  } finally {
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
  return { ...result, manifest, outDir, seconds };
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
    `${r.seconds.toFixed(2)} s; outputs in ${r.outDir}` +
    (existsSync(path.join(r.outDir, FILES.rejects)) && t.rejected ? ` (rejects: ${FILES.rejects})` : '')
  );
}
