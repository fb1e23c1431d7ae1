/**
 * The one way a run executes its stages. Stage 01 (when the run starts there) reads, dedupes and
 * sorts the raw files; stages 02..to follow in fused **segments** (etl/chain.ts runSegment): a
 * stage with `scan()` needs its whole input before its first row, so it starts a new segment. With
 * the five stages that is {01}, {02, 03}, {04, 05}.
 *
 * Each segment has a **placement**: `here` (every stage on this thread) or `thread` (its stages in
 * a stage thread of their own, etl/stage-thread.ts; a head that scans stays here, since it holds
 * its input for the second pass, and hands the thread the CSV text of its output). The placement
 * moves work between cores and nothing else: the same StageRun / runSegment code runs the stages
 * either way, so the rows, files, counts, rejects, progress and summary lines are the same.
 *
 * Between segments the rows go on in memory: 01's sorted rows feed {02, 03}; the rows leaving
 * {02, 03} are kept (RowStore, spilled past the memory budget) and scanned by 04 as they leave,
 * then read again for 04's transform. A run that starts at stage N ≥ 2 streams stage N's input file
 * instead (twice when it scans), and a scanning head after it re-reads the file its predecessor
 * just wrote, so such a run holds nothing but the stages' own state.
 */
import path from 'node:path';
import { TrafficError } from '../core/errors.ts';
import { fmtInt, Progress } from '../core/progress.ts';
import { FILES, RAW_COLUMNS, type Reject } from '../core/schema.ts';
import type { WriterThread } from '../core/writer-thread.ts';
import { BATCH_ROWS, fileSource, packedSource, RowStore, runSegment, scanSource, StageRun, type Batch, type BatchSource } from './chain.ts';
import { checkBalance, type StageEntry } from './manifest.ts';
import type { MergeRun } from './merge-files.ts';
import type { MemoryPlan } from './memory.ts';
import type { SortedRows } from './sorted-runs.ts';
import { StageThread, unpackFields, type PackedRows } from './stage-thread.ts';
import { stageDef, type StageNo, type StageSettings } from './stages.ts';

/** Where a segment's stages run. */
export type Placement = 'here' | 'thread';

export interface Segment {
  /** Consecutive stages, fused; only the first may scan. */
  stages: StageNo[];
  placement: Placement;
}

/**
 * Stages from..to (from ≥ 2) in segments. On a run from stage 01 (`after01`) with `threads`, each
 * segment goes to a thread that can be fed there: its head scans (it stays here and feeds the rest
 * of the segment its output text), or its rows are 01's (the packed rows 01 holds anyway). A run
 * from a stage file keeps every segment here: there 05's thread measured no faster and cost CPU
 * and memory (docs/etl.md "One path").
 */
export function planSegments(from: StageNo, to: StageNo, threads: boolean, after01: boolean): Segment[] {
  const segments: Segment[] = [];
  for (let n = from; n <= to; n++) {
    const def = stageDef(n);
    const seg = segments[segments.length - 1];
    if (seg && !def.scans) seg.stages.push(n);
    else segments.push({ stages: [n], placement: 'here' });
  }
  for (const [i, seg] of segments.entries()) {
    const head = stageDef(seg.stages[0] as StageNo);
    const away = head.scans ? seg.stages.length - 1 : seg.stages.length;
    if (threads && after01 && away > 0 && (head.scans || i === 0)) seg.placement = 'thread';
  }
  return segments;
}

export interface ExecuteOptions {
  from: StageNo;
  to: StageNo;
  /** Place segments in stage threads where they can run there (planSegments). */
  stageThreads: boolean;
  settings: StageSettings;
  outDir: string;
  stream: NodeJS.WriteStream;
  tty?: boolean;
  writer?: WriterThread;
  plan: MemoryPlan;
  onReject: (r: Reject) => void;
  /** Reject sink backpressure, between batches. */
  drain: () => Promise<void>;
  summary: (e: StageEntry) => string;
  /** Stage 01 (from = 1); `writeOutput` false when a stage thread writes merged_data.csv. */
  merge: (writeOutput: boolean) => Promise<MergeRun>;
  /** Filled as runs open and threads start, for the caller to abort on failure. */
  open: StageRun[];
  threads: StageThread[];
  /** Rows held for a later read: released by the caller at the end (also after a failure). */
  scratch: { release(): void }[];
}

export interface Executed {
  /** The stages' entries in order, each checked (balance, rows received = rows emitted before). */
  entries: StageEntry[];
  merge?: MergeRun;
}

/** A segment as it runs: the stages here, then the stages of its thread. */
interface Part {
  seg: Segment;
  here: StageRun[];
  away: StageNo[];
  thread?: StageThread;
  /** Where the thread's rows go as they come back (set when the segment starts). */
  rowsBack?: (rows: PackedRows) => void;
}

/** The segment's input: 01's sorted rows, the previous segment's kept rows, or its input file. */
type Input = { kind: 'sorted'; rows: SortedRows } | { kind: 'store'; rows: RowStore } | { kind: 'file' };

export async function execute(o: ExecuteOptions): Promise<Executed> {
  const fromFile = o.from > 1;
  const progressOf = (label: string, total?: number): Progress =>
    new Progress({ label, stream: o.stream, ...(total === undefined ? {} : { total }), ...(o.tty === undefined ? {} : { tty: o.tty }) });
  const build = async (n: StageNo): Promise<StageRun> => {
    const def = stageDef(n);
    const run = StageRun.create(await def.load!(o.settings), {
      outDir: o.outDir,
      inputName: def.input ?? '',
      outputName: def.output,
      source: 'memory',
      sideHeaders: def.sides,
      onReject: o.onReject,
      ...(o.writer ? { writer: o.writer } : {}),
    });
    if (!run.stage.scan !== !def.scans) throw new TrafficError('INTERNAL', `stage ${def.name}: scan() and its stage table entry disagree`);
    return run;
  };

  // Every stage here is built and every thread started before stage 01, so that options load
  // (and fail) early and the threads are up when 01's rows come.
  const segments = o.to >= 2 ? planSegments(Math.max(2, o.from) as StageNo, o.to, o.stageThreads, !fromFile) : [];
  const parts: Part[] = [];
  for (const [i, seg] of segments.entries()) {
    const scans = stageDef(seg.stages[0] as StageNo).scans === true;
    const hereStages = seg.placement === 'here' ? seg.stages : scans ? seg.stages.slice(0, 1) : [];
    const part: Part = { seg, here: [], away: seg.stages.slice(hereStages.length) };
    for (const n of hereStages) part.here.push(await build(n));
    parts.push(part);
    if (part.away.length === 0) continue;
    const feeder = part.here[part.here.length - 1];
    const feederOutput = feeder ? stageDef(hereStages[hereStages.length - 1] as StageNo).output : FILES.merged;
    if (!feederOutput) throw new TrafficError('INTERNAL', `stage ${feeder?.name} writes no file to feed a stage thread`);
    part.thread = StageThread.start(
      {
        stages: part.away,
        settings: o.settings,
        input: feeder ? 'csv' : 'merge',
        inputFile: { name: feederOutput, columns: feeder ? feeder.stage.outputColumns : RAW_COLUMNS },
        forward: !fromFile && i < segments.length - 1,
      },
      {
        onReject: o.onReject,
        onRows: (rows) => {
          if (!part.rowsBack) throw new TrafficError('INTERNAL', `stage thread (${part.away.join(', ')}) sent rows before it was fed`);
          part.rowsBack(rows);
        },
      },
    );
    o.threads.push(part.thread);
  }

  const entries: StageEntry[] = [];
  let last: StageEntry | undefined;
  /** Checks a stage's entry against its own numbers and its predecessor's; its summary line. */
  const accept = (e: StageEntry): string => {
    checkBalance(e);
    if (last && e.in !== last.out) throw new TrafficError('INTERNAL', `stage ${e.stage} received ${e.in} rows but ${last.stage} emitted ${last.out}`);
    entries.push(e);
    last = e;
    return o.summary(e);
  };

  let input: Input = { kind: 'file' };
  let merge: MergeRun | undefined;
  if (!fromFile) {
    // A thread fed 01's rows writes merged_data.csv from them.
    const first = parts[0];
    merge = await o.merge(!(first?.thread && first.here.length === 0));
    o.scratch.push(merge.sorted);
    accept(merge.entry);
    // A thread that failed while 01 ran (options it could not load, a file it could not open).
    for (const t of o.threads) t.throwIfFailed();
    if (parts.length) input = { kind: 'sorted', rows: merge.sorted };
    else merge.sorted.release();
  }

  /** The head of the current segment scanned its input as it left the previous one. */
  let headScanned = false;
  for (const [i, part] of parts.entries()) {
    const next = parts[i + 1];
    const label = part.seg.stages.map((n) => stageDef(n).name);
    // Rows leaving this segment: kept for the next one (read from memory, or from disk past the
    // budget), and scanned by its head as they leave (no second pass over them).
    const keep: RowStore | undefined =
      next && input.kind !== 'file' ? new RowStore({ rows: o.plan.storeRows, dir: o.outDir, pressureBytes: o.plan.pressureBytes }) : undefined;
    if (keep) o.scratch.push(keep);
    const nextHead = keep ? next?.here[0] : undefined;
    if (keep && !nextHead?.stage.scan) throw new TrafficError('INTERNAL', `segment after ${label.join(' + ')} has no scanning head`);
    let scannedNext = 0;
    const leave = keep
      ? (rows: Batch): void => {
          nextHead?.scanBatch(rows);
          for (const r of rows) keep.push(r);
          scannedNext += rows.length;
        }
      : undefined;
    if (keep) {
      part.rowsBack = (packed) => {
        const batch = new Array<string[]>(packed.length);
        for (let j = 0; j < packed.length; j++) {
          const r = packed[j] as string | string[];
          keep.pushPacked(r);
          batch[j] = unpackFields(r);
        }
        nextHead?.scanBatch(batch);
        scannedNext += packed.length;
      };
    }
    // Made when the rows start to flow, so that its rate counts neither a scan pass nor prepare().
    const segmentProgress = (): Progress =>
      progressOf(label.join(' + ') + (nextHead ? ` → ${nextHead.name} scan` : ''), input.kind === 'file' ? undefined : input.rows.length);
    let progress: Progress;
    const lines: string[] = [];
    const runs = part.here;
    const head = runs[0];
    if (head) {
      const headNo = part.seg.stages[0] as StageNo;
      const source: BatchSource =
        input.kind === 'sorted'
          ? packedSource(input.rows)
          : input.kind === 'store'
            ? input.rows.source()
            : fileSource(path.join(o.outDir, stageDef(headNo).input!), head.stage.inputColumns, head.name);
      let inputRows = input.kind === 'file' ? 0 : input.rows.length;
      if (head.stage.scan && !headScanned) {
        const p = progressOf(`${head.name} scan`);
        inputRows = await scanSource(source, head, p);
        p.done(`${head.name} scanned ${fmtInt(inputRows)} rows (first pass) in ${p.seconds.toFixed(2)} s`);
      }
      head.prepare();
      // The placement's one exception: a head that adds more than half its input (04 filling many
      // days) keeps the rest of its segment here. A filled row costs the head a copy and the
      // thread as much as any row, so the thread would become the slow end of the run.
      if (part.thread && (head.stage.plannedAdded?.() ?? 0) > inputRows / 2) {
        await part.thread.abort();
        o.threads.splice(o.threads.indexOf(part.thread), 1);
        delete part.thread;
        for (const n of part.away.splice(0)) runs.push(await build(n));
      }
      if (part.thread) (runs[runs.length - 1] as StageRun).setOutputSink(part.thread.textSink());
      for (const run of runs) {
        run.entry.source = run === head && input.kind === 'file' ? 'file' : 'memory';
        run.copyInput = run !== head; // the head's rows come fresh from a file or packed memory
        await run.openFiles();
        o.open.push(run);
      }
      progress = segmentProgress();
      await runSegment(source, runs, { progress, drain: o.drain, headScanned: true, ...(leave && !part.thread ? { leave } : {}) });
      if (input.kind !== 'file') input.rows.release();
      for (const run of runs) {
        await run.close();
        o.open.splice(o.open.indexOf(run), 1);
        lines.push(accept(run.entry));
      }
    } else {
      // The whole segment in its thread, fed 01's packed rows.
      if (!part.thread || input.kind !== 'sorted') throw new TrafficError('INTERNAL', `segment ${label.join(' + ')} has nothing to run it`);
      progress = segmentProgress();
      for (const batch of input.rows.batches(BATCH_ROWS)) {
        const p = part.thread.feed(batch);
        progress.add(batch.length);
        if (p) await p;
      }
      // 01's rows now live in the thread: dropped here, so that the collector no longer marks them.
      input.rows.release();
    }
    if (part.thread) lines.push(...(await part.thread.end()).map(accept));
    if (keep && nextHead && last) {
      if (keep.length !== last.out)
        throw new TrafficError('INTERNAL', `${last.stage} emitted ${last.out} rows but ${keep.length} were kept for ${nextHead.name}`);
      lines.push(
        `${nextHead.name} scanned ${fmtInt(scannedNext)} rows (first pass, as they left ${last.stage}) in ${nextHead.entry.seconds.toFixed(2)} s` +
          (keep.spilled ? ` · ${fmtInt(keep.spilled)} of them kept on disk for the second pass` : ''),
      );
    }
    progress.done(lines.join('\n'));
    input = keep ? { kind: 'store', rows: keep } : { kind: 'file' };
    headScanned = keep !== undefined;
  }
  return { entries, ...(merge ? { merge } : {}) };
}
