/**
 * Stage 01 driver: reads every raw file with the raw readers (etl/read/raw.ts), feeds each record
 * to the merge logic (etl/stages/01-merge.ts), sorts, and writes merged_data.csv.
 * A file that cannot be read as a whole (header matches nothing, XLSX without data, unreadable)
 * stops the run with the reader's error naming the file: skipping it would lose its rows.
 */
import { rename } from 'node:fs/promises';
import path from 'node:path';
import { TrafficError } from '../core/errors.ts';
import { openTextSink, type WriterThread } from '../core/writer-thread.ts';
import { Progress } from '../core/progress.ts';
import { FILES, RAW_COLUMNS, type Reject } from '../core/schema.ts';
import { BATCH_ROWS, batchCsv } from './chain.ts';
import { listRawFiles } from './read/raw.ts';
import { admitPacked, Deduper, MERGE_STAGE, sortPacked, unpackRow } from './stages/01-merge.ts';
import { mergeSource, readerCount } from './merge-source.ts';
import { emptyStageEntry, reasonKey, type InputEntry, type StageEntry } from './manifest.ts';
import { arrayRows, mergedRuns, type SortedRows } from './sorted-runs.ts';
import { MIN_ROWS, PRESSURE_CHECK_ROWS, underPressure } from './memory.ts';
import { SpillFile } from './spill.ts';

export interface MergeRun {
  /**
   * Kept rows, sorted, packed (01-merge.ts packRow): held in memory, or merged from the sorted
   * runs spilled to disk. Release it once read.
   */
  sorted: SortedRows;
  inputs: InputEntry[];
  entry: StageEntry;
  /** Reader threads the files were read in (0: in this thread). */
  readers: number;
  /** Heap growth while the rows were held, per kept row (the sort's memory cost; 0 once spilled). */
  bytesPerRow: number;
}

export interface MergeFilesOptions {
  rawDir: string;
  outDir: string;
  onReject: (r: Reject) => void;
  /** Between files and every few thousand records (reject sink backpressure). */
  drain?: () => Promise<void>;
  tty?: boolean;
  /** The stage's one-line summary, printed when it ends. */
  summary: (e: StageEntry) => string;
  stream?: NodeJS.WriteStream;
  /** Reader threads (0 = read in this thread; default merge-source.ts defaultReaders). */
  readers?: number;
  /** Writes merged_data.csv off the main thread when given. */
  writer?: WriterThread;
  /**
   * Write merged_data.csv here (default). False when the caller has it written from the
   * returned rows (a stage thread writes it while stages 02–03 run: etl/stage-thread.ts).
   */
  writeOutput?: boolean;
  /**
   * Bounded memory (etl/memory.ts): once `rows` kept rows are held, they are sorted and spilled to
   * a scratch file in `dir` as one sorted run; the runs are merged when read. Default: no limit.
   */
  spill?: { dir: string; rows: number; pressureBytes?: number };
}

async function writeMerged(opts: MergeFilesOptions, rows: SortedRows): Promise<void> {
  const target = path.join(opts.outDir, FILES.merged);
  const w = await openTextSink(target + '.partial', opts.writer);
  w.writeCsv(RAW_COLUMNS);
  for (const packed of rows.batches(BATCH_ROWS)) {
    const batch = new Array<string[]>(packed.length);
    for (let j = 0; j < packed.length; j++) batch[j] = unpackRow(packed[j] as string);
    const p = w.write(batchCsv(batch));
    if (p) await p;
  }
  w.lines += rows.length;
  await w.close();
  await rename(target + '.partial', target);
}

/** `/`-separated path relative to the raw dir: stable across machines and OSes. */
export function relPath(rawDir: string, file: string): string {
  const rel = path.relative(rawDir, file);
  // --raw may name a single file: then its name.
  return rel === '' ? path.basename(file) : rel.split(path.sep).join('/');
}

export async function mergeRawFiles(opts: MergeFilesOptions): Promise<MergeRun> {
  const t0 = performance.now();
  const heap0 = process.memoryUsage().heapUsed;
  const files = await listRawFiles(opts.rawDir);
  const entry: StageEntry = emptyStageEntry(MERGE_STAGE, 'raw', [FILES.merged], 'raw');
  const progress = new Progress({
    label: `${MERGE_STAGE} reading ${files.length} files`,
    ...(opts.stream ? { stream: opts.stream } : {}),
    ...(opts.tty === undefined ? {} : { tty: opts.tty }),
  });
  const dedupe = new Deduper();
  const inputs: InputEntry[] = [];
  const bySha = new Map<string, string>();
  const onReject = (r: { file: string; line: number; reason: string; raw: string }): void => {
    entry.rejected++;
    const key = reasonKey(r.reason);
    entry.rejectsByReason[key] = (entry.rejectsByReason[key] ?? 0) + 1;
    opts.onReject({ sourceFile: r.file, line: r.line, stage: MERGE_STAGE, reason: r.reason, raw: r.raw });
  };
  const rels = files.map((f) => relPath(opts.rawDir, f));
  let fileRows = 0;
  let copiesBefore = 0;
  let sinceDrain = 0;
  const readers = readerCount(files.length, opts.readers);
  const spillRows = opts.spill ? Math.max(1, opts.spill.rows) : Infinity;
  let spillFile: SpillFile | undefined;
  const pressure = opts.spill?.pressureBytes === undefined ? undefined : { pressureBytes: opts.spill.pressureBytes };
  let checked = 0;
  try {
    for await (const ev of mergeSource(files, readers)) {
      const rel = rels[ev.file] as string;
      if (ev.type === 'batch') {
        for (const it of ev.items) {
          if ('packed' in it) admitPacked(dedupe, rel, it.line, it.packed, onReject);
          else onReject({ file: rel, line: it.line, reason: it.reason, raw: it.raw });
        }
        fileRows += ev.items.length;
        progress.add(ev.items.length);
        let spill = dedupe.rows.length >= spillRows;
        if (!spill && pressure && (checked += ev.items.length) >= PRESSURE_CHECK_ROWS) {
          checked = 0;
          spill = dedupe.rows.length >= MIN_ROWS && underPressure(pressure);
        }
        if (spill) dedupe.spillRun((spillFile ??= SpillFile.create(opts.spill!.dir, 'merge', true)));
        sinceDrain += ev.items.length;
        if (sinceDrain >= 4096 && opts.drain) {
          sinceDrain = 0;
          await opts.drain();
        }
        continue;
      }
      const info = ev.info;
      if (ev.rows !== fileRows) throw new TrafficError('INTERNAL', `reader count mismatch for ${rel}: ${ev.rows} vs ${fileRows}`);
      entry.in += fileRows;
      const input: InputEntry = {
        path: rel,
        sha256: info.sha256,
        bytes: info.bytes,
        rows: fileRows,
        format: info.format,
        headerLine: info.headerLine,
        header: info.header,
      };
      if (info.encoding) input.encoding = info.encoding;
      if (info.sheet) input.sheet = info.sheet;
      const same = bySha.get(info.sha256);
      if (same !== undefined) input.identicalTo = same;
      else bySha.set(info.sha256, rel);
      entry.counts[`copies.${rel}`] = dedupe.copies - copiesBefore;
      inputs.push(input);
      fileRows = 0;
      copiesBefore = dedupe.copies;
      if (opts.drain) await opts.drain();
    }
  } catch (err) {
    spillFile?.remove();
    throw err;
  }
  // Only files that contributed copies are worth a line in the manifest.
  for (const k of Object.keys(entry.counts)) if (entry.counts[k] === 0) delete entry.counts[k];
  // Once anything was spilled, the last rows are too: the rows held after stage 01 are then the
  // next stages' (04's tables, 03's rows), not 01's.
  if (spillFile) dedupe.spillRun(spillFile);
  const held = sortPacked(dedupe.rows);
  const heap1 = process.memoryUsage().heapUsed;
  const sorted = spillFile ? mergedRuns(spillFile, dedupe.runs, held) : arrayRows(held);
  entry.out = sorted.length;
  entry.removedCopies = dedupe.copies;

  try {
    if (opts.writeOutput !== false) await writeMerged(opts, sorted);
  } catch (err) {
    sorted.release();
    throw err;
  }

  entry.seconds = Math.round(performance.now() - t0) / 1000;
  entry.rowsPerSecond = entry.seconds > 0 ? Math.round(entry.in / entry.seconds) : 0;
  const notes = [
    readers > 0 ? `files read by ${readers} reader thread${readers > 1 ? 's' : ''}` : '',
    sorted.spilledRuns > 0 ? `sorted in ${sorted.spilledRuns} runs spilled to disk` : '',
  ].filter(Boolean);
  progress.done(opts.summary(entry) + notes.map((n) => ` · ${n}`).join(''));
  return { sorted, inputs, entry, readers, bytesPerRow: !spillFile && held.length ? Math.max(0, Math.round((heap1 - heap0) / held.length)) : 0 };
}
