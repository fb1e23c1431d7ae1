/**
 * Runs RowStages over batches of rows. A chain of stages is fused: each batch goes through every
 * stage in memory (no CSV between them), and each stage still writes its own output file. A stage
 * with `scan()` needs its whole input before its first transform, so it starts a new segment whose
 * source is re-readable: the previous stage's rows kept in a RowStore (a run from stage 01), or its
 * input file streamed twice (`--from` / `--only`, bounded memory). etl/executor.ts places the
 * segments (here or in a stage thread) and links them.
 *
 * Each stage receives its own copy of every row: a later stage may extend or edit its row without
 * touching rows an earlier stage keeps (stage 04 keeps source days to copy them into missing days).
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { csvLine } from '../core/csv.ts';
import { TrafficError } from '../core/errors.ts';
import { openCsvTable } from '../core/io.ts';
import { openTextSink, type TextSink, type WriterThread } from '../core/writer-thread.ts';
import type { Progress } from '../core/progress.ts';
import { F, SYN_PREFIX, type Reject } from '../core/schema.ts';
import type { RowContext, RowStage, StageIO } from '../core/stage.ts';
import { emptyStageEntry, reasonKey, type StageEntry } from './manifest.ts';
import { boundHeapGrowth, PRESSURE_CHECK_ROWS, underPressure } from './memory.ts';
import type { SortedRows } from './sorted-runs.ts';
import { decodeRecord, encodeRecord, SpillFile } from './spill.ts';
import { FS, unpackRow } from './stages/01-merge.ts';

/** Rows per batch between stages and threads: a batch as CSV stays near CHUNK_CHARS (core/io.ts). */
export const BATCH_ROWS = 512;

export type Batch = string[][];
/** A source that can be read more than once (a scan stage reads its input twice). */
export type BatchSource = () => AsyncIterable<Batch>;

export interface StageRunOptions {
  outDir: string;
  /** Input file name (in outDir) the rows belong to: the RowContext of rejects. */
  inputName: string;
  /** Data output file name, or null for a stage that only passes rows on (02). */
  outputName: string | null;
  source: StageEntry['source'];
  sideHeaders: Record<string, readonly string[]>;
  onReject: (r: Reject) => void;
  /** Writes the output and side files off the main thread when given. */
  writer?: WriterThread;
  /**
   * Where the output's text goes instead of a file this run opens: its owner writes the file
   * (a stage thread fed by this stage writes this stage's file: etl/stage-thread.ts).
   */
  outputSink?: TextSink;
}

/** One stage in a chain: its RowStage, its output writers and its counts. */
export class StageRun {
  readonly stage: RowStage;
  readonly entry: StageEntry;
  private writer: TextSink | undefined;
  private readonly sides = new Map<string, TextSink>();
  private readonly pending: Promise<void>[] = [];
  private readonly ctx: RowContext;
  private readonly io: StageIO;
  private rejectedInCall = false;
  private synIn = 0;
  private synOut = 0;
  private synInRejected = 0;
  private out: string[][] = [];
  private readonly emit = (row: string[]): void => {
    this.out.push(row);
    if (this.onChunk !== undefined && this.out.length >= BATCH_ROWS) this.spill();
  };

  /**
   * The stages after this one (set by runSegment). A transform may emit far more rows than it was
   * given (stage 04 emits whole filled days before the row after a gap); those go on in chunks of
   * BATCH_ROWS as they are emitted, so they never pile up in memory (and in the old generation of
   * the heap, which the collector then has to copy and mark).
   */
  onChunk: ((rows: Batch) => void) | undefined;

  private spill(): void {
    const rows = this.out;
    this.out = [];
    this.write(rows);
    const t = performance.now();
    this.onChunk!(rows);
    // The next stages time themselves.
    this.entry.seconds -= (performance.now() - t) / 1000;
  }

  private constructor(
    make: (io: StageIO) => RowStage,
    private readonly opts: StageRunOptions,
  ) {
    const io: StageIO = (this.io = {
      reject: (row, reason, where) => {
        this.rejectedInCall = true;
        this.entry.rejected++;
        const key = reasonKey(reason);
        this.entry.rejectsByReason[key] = (this.entry.rejectsByReason[key] ?? 0) + 1;
        opts.onReject({
          sourceFile: where.file,
          line: where.line,
          stage: this.stage.name,
          reason,
          raw: csvLine(row).slice(0, -1),
        });
      },
      count: (key, n = 1) => {
        this.entry.counts[key] = (this.entry.counts[key] ?? 0) + n;
        if (key === 'removed' || key.startsWith('removed.')) this.entry.removedCopies += n;
      },
      side: (name, fields) => {
        const w = this.sides.get(name);
        if (!w) throw new TrafficError('INTERNAL', `stage ${this.stage.name} wrote to unknown side output ${name}`);
        const p = w.writeCsv(fields);
        if (p) this.pending.push(p);
      },
    });
    this.stage = make(io);
    this.ctx = { file: opts.inputName, line: 1 };
    const outputs = opts.outputName ? [opts.outputName] : [];
    this.entry = emptyStageEntry(this.stage.name, opts.inputName, outputs, opts.source);
  }

  /** Builds the stage (no files yet), so the runner can see whether it scans. */
  static create(make: (io: StageIO) => RowStage, opts: StageRunOptions): StageRun {
    return new StageRun(make, opts);
  }

  /** Opens the output and side files (as `.partial`, renamed into place by close()). */
  async openFiles(): Promise<void> {
    const opts = this.opts;
    if (opts.outputName) {
      this.writer = opts.outputSink ?? (await openTextSink(path.join(opts.outDir, opts.outputName + '.partial'), opts.writer));
      this.writer.writeCsv(this.stage.outputColumns);
    }
    for (const [name, header] of Object.entries(opts.sideHeaders)) {
      const w = await openTextSink(path.join(opts.outDir, `${name}.csv.partial`), opts.writer);
      w.writeCsv(header);
      this.sides.set(name, w);
    }
  }

  /**
   * Whether the stage gets its own copy of each input row. The head of a segment reads rows fresh
   * from a file or from packed memory that nobody else holds, so it can skip the copy; a stage
   * fed by another stage cannot (the feeder may keep the rows it emitted).
   */
  copyInput = true;

  get name(): string {
    return this.stage.name;
  }

  addSeconds(s: number): void {
    this.entry.seconds += s;
  }

  scanBatch(batch: Batch): void {
    const t = performance.now();
    const scan = this.stage.scan;
    if (scan) for (const row of batch) scan.call(this.stage, row);
    this.entry.seconds += (performance.now() - t) / 1000;
  }

  private prepared = false;

  /** The stage's prepare(), once (the runner may call it before runSegment does). */
  prepare(): void {
    if (this.prepared) return;
    this.prepared = true;
    const t = performance.now();
    this.stage.prepare?.();
    this.entry.seconds += (performance.now() - t) / 1000;
  }

  /** Sends the output text to `sink` (whose owner writes the file) instead of a file: before openFiles(). */
  setOutputSink(sink: TextSink): void {
    if (this.writer) throw new TrafficError('INTERNAL', `stage ${this.stage.name}: output sink set after its files were opened`);
    this.opts.outputSink = sink;
  }

  /** Transforms a batch; returns the rows emitted (and written to the stage's output file). */
  process(batch: Batch): Batch {
    const t = performance.now();
    const width = this.stage.inputColumns.length;
    this.out = [];
    for (const row of batch) {
      this.entry.in++;
      this.ctx.line++;
      const where: RowContext = { file: this.ctx.file, line: this.ctx.line };
      const isSyn = isSynthetic(row);
      if (isSyn) this.synIn++;
      if (row.length !== width) {
        // Only possible when a stage reads a file that was edited by hand or truncated.
        this.rejectedInCall = false;
        this.io.reject(row, `expected ${width} fields, got ${row.length}`, where);
        if (isSyn) this.synInRejected++;
        continue;
      }
      this.rejectedInCall = false;
      this.stage.transform(this.copyInput ? row.slice() : row, this.emit, where);
      if (isSyn && this.rejectedInCall) this.synInRejected++;
    }
    const emitted = this.out;
    this.write(emitted);
    this.entry.seconds += (performance.now() - t) / 1000;
    return emitted;
  }

  /** End of input: the stage's remaining rows (e.g. filled days held back until the end). */
  flush(): Batch {
    const t = performance.now();
    this.out = [];
    this.stage.flush?.(this.emit);
    const emitted = this.out;
    this.write(emitted);
    this.entry.seconds += (performance.now() - t) / 1000;
    return emitted;
  }

  private write(rows: Batch): void {
    this.entry.out += rows.length;
    for (const r of rows) if (isSynthetic(r)) this.synOut++;
    const w = this.writer;
    if (!w) return;
    w.lines += rows.length;
    const text = batchCsv(rows);
    // While the file is behind (a write asked to wait), later chunks of the same call are held
    // here and written by drain(): one wait per file at a time, not one per chunk.
    if (this.blocked) {
      this.held.push(text);
      return;
    }
    const p = w.write(text);
    if (p) {
      this.pending.push(p);
      this.blocked = true;
    }
  }

  private blocked = false;
  private held: string[] = [];

  async drain(): Promise<void> {
    if (this.pending.length) await Promise.all(this.pending.splice(0));
    this.blocked = false;
    // Held chunks go one by one, each waited for when the sink asks: joined into one text, a
    // burst of filled days would reach a stage thread as one huge batch it works on alone.
    while (this.held.length && this.writer) {
      const held = this.held;
      this.held = [];
      for (const text of held) {
        const p = this.writer.write(text);
        if (p) await p;
      }
    }
  }

  /** Writes artifacts, closes files (renaming them into place) and checks the accounting. */
  async close(): Promise<void> {
    const t = performance.now();
    await this.drain();
    const finals: [string, string][] = [];
    if (this.writer && this.opts.outputName) {
      await this.writer.close();
      // A sink's owner puts the file in place itself.
      if (!this.opts.outputSink) finals.push([this.opts.outputName + '.partial', this.opts.outputName]);
    }
    for (const [name, w] of this.sides) {
      await w.close();
      finals.push([`${name}.csv.partial`, `${name}.csv`]);
      this.entry.outputs.push(`${name}.csv`);
    }
    const artifacts = this.stage.artifacts?.() ?? {};
    for (const [name, content] of Object.entries(artifacts)) {
      await writeFile(path.join(this.opts.outDir, name + '.partial'), content);
      finals.push([name + '.partial', name]);
      this.entry.outputs.push(name);
    }
    for (const [from, to] of finals) await rename(path.join(this.opts.outDir, from), path.join(this.opts.outDir, to));
    this.entry.added = this.synOut - (this.synIn - this.synInRejected);
    this.entry.seconds += (performance.now() - t) / 1000;
    this.entry.seconds = round3(this.entry.seconds);
    this.entry.rowsPerSecond = this.entry.seconds > 0 ? Math.round(this.entry.in / this.entry.seconds) : 0;
  }

  /** Removes this stage's temporary files after a failure. */
  async abort(): Promise<void> {
    await this.writer?.close().catch(() => undefined);
    for (const w of this.sides.values()) await w.close().catch(() => undefined);
    const names = [this.opts.outputName ? this.opts.outputName + '.partial' : null, ...[...this.sides.keys()].map((n) => `${n}.csv.partial`)];
    for (const n of names) if (n) await rm(path.join(this.opts.outDir, n), { force: true });
  }
}

const S = SYN_PREFIX.charCodeAt(0);

function isSynthetic(row: readonly string[]): boolean {
  const g = row[F.GCXH];
  return g !== undefined && g.charCodeAt(0) === S && g.startsWith(SYN_PREFIX);
}

/** csvField's rule: a field holding one of these is quoted. */
const NEEDS_QUOTES = /[",\r\n]/;

/**
 * The CSV text of a batch, byte-identical to concatenating csvLine(row): a row whose fields need
 * no quoting (nearly all) is joined in one step, and the batch is joined once, instead of building
 * a chain of small strings per field that the collector then has to trace and flatten.
 */
export function batchCsv(rows: Batch): string {
  if (rows.length === 0) return '';
  const lines = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    let plain = true;
    for (let j = 0; j < r.length; j++) {
      const f = r[j];
      if (f !== undefined && NEEDS_QUOTES.test(f)) {
        plain = false;
        break;
      }
    }
    lines[i] = plain ? r.join(',') : csvLine(r).slice(0, -1);
  }
  return lines.join('\n') + '\n';
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Batches of stage 01's sorted rows, unpacked batch by batch (short-lived arrays). */
export function packedSource(rows: SortedRows): BatchSource {
  return async function* () {
    for (const packed of rows.batches(BATCH_ROWS)) {
      const batch: Batch = new Array<string[]>(packed.length);
      for (let j = 0; j < packed.length; j++) batch[j] = unpackRow(packed[j] as string);
      yield batch;
    }
  };
}

/**
 * Rows kept between fused segments (03's output, held for 04's second pass), packed like stage
 * 01's: one string per row (fields joined by U+001F) instead of an array of strings, so the
 * collector has a tenth of the objects to trace. A row holding U+001F stays an array.
 *
 * Bounded memory (etl/memory.ts): past `limit.rows` rows, the rest go to a spill file in
 * `limit.dir` (appended as they come, read back in order by source()), so a data set of any size
 * is held up to the budget and streamed from disk beyond it. The held rows also give way to what
 * grows beside them (stage 04's tables fill while its rows arrive): once the process is past the
 * pressure point, the rows held so far are written out too (`evicted`), in order, and none are
 * held after that.
 */
export class RowStore {
  private rows: (string | string[])[] = [];
  /** Rows appended after the held ones (or every row, once the held ones were evicted first). */
  private spill: SpillFile | undefined;
  /** The held rows, written out when the tail file already had rows: read before it. */
  private head: SpillFile | undefined;
  private cap: number;
  /** Rows written out of memory by eviction. */
  evicted = 0;

  private sinceCheck = 0;

  /**
   * `limit.rows`: rows held at most; `limit.pressureBytes`: past this resident size (looked at
   * every PRESSURE_CHECK_ROWS rows) the rows held so far are written out (etl/memory.ts).
   */
  constructor(private readonly limit?: { rows: number; dir: string; pressureBytes?: number }) {
    this.cap = limit ? Math.max(0, limit.rows) : Infinity;
  }

  push(row: string[]): void {
    for (const f of row) {
      if (f.indexOf(FS) !== -1) {
        this.pushPacked(row);
        return;
      }
    }
    this.pushPacked(row.join(FS));
  }

  /** A row already packed (etl/stage-thread.ts packFields: the same form). */
  pushPacked(row: string | string[]): void {
    if (this.limit?.pressureBytes !== undefined && this.rows.length > 0 && ++this.sinceCheck >= PRESSURE_CHECK_ROWS) {
      this.sinceCheck = 0;
      if (underPressure({ pressureBytes: this.limit.pressureBytes })) this.evict();
    }
    if (this.rows.length < this.cap) {
      this.rows.push(row);
      return;
    }
    (this.spill ??= SpillFile.create(this.limit!.dir, 'rows')).append(encodeRecord(row));
  }

  /** Writes the held rows out, in order before the ones already on disk, and holds no more. */
  private evict(): void {
    // What pushed the run past its pressure point grows on: keep the heaps near what they hold.
    boundHeapGrowth();
    const rows = this.rows;
    this.rows = [];
    this.cap = 0;
    this.evicted += rows.length;
    // No row on disk yet: the held rows start the file and later rows follow them.
    const file = this.spill ? (this.head = SpillFile.create(this.limit!.dir, 'rows')) : (this.spill = SpillFile.create(this.limit!.dir, 'rows'));
    for (const r of rows) file.append(encodeRecord(r));
    file.flush();
  }

  get length(): number {
    return this.rows.length + (this.head?.count ?? 0) + (this.spill?.count ?? 0);
  }

  /** Rows written to disk. */
  get spilled(): number {
    return (this.head?.count ?? 0) + (this.spill?.count ?? 0);
  }

  /** Removes the spill files (after the last read; also after a failure). */
  release(): void {
    this.head?.remove();
    this.spill?.remove();
  }

  source(): BatchSource {
    const rows = this.rows;
    const files = [this.head, this.spill].filter((f): f is SpillFile => f !== undefined);
    return async function* () {
      for (let i = 0; i < rows.length; i += BATCH_ROWS) {
        const end = Math.min(rows.length, i + BATCH_ROWS);
        const batch: Batch = new Array<string[]>(end - i);
        for (let j = i; j < end; j++) {
          const r = rows[j] as string | string[];
          batch[j - i] = typeof r === 'string' ? r.split(FS) : r;
        }
        yield batch;
      }
      let batch: Batch = [];
      for (const spill of files) {
        const cursor = spill.cursor({ start: 0, end: spill.size, count: spill.count });
        while (cursor.head !== undefined) {
          for (const rec of cursor.takeBlock()) {
            const r = decodeRecord(rec);
            batch.push(typeof r === 'string' ? r.split(FS) : r);
            if (batch.length >= BATCH_ROWS) {
              yield batch;
              batch = [];
            }
          }
        }
      }
      if (batch.length) yield batch;
    };
  }
}

/** Batches of an in-memory table. */
export function arraySource(rows: readonly string[][]): BatchSource {
  return async function* () {
    for (let i = 0; i < rows.length; i += BATCH_ROWS) yield rows.slice(i, i + BATCH_ROWS) as string[][];
  };
}

/** Batches of a UTF-8 CSV this toolkit wrote, after checking its header. */
export function fileSource(file: string, columns: readonly string[], stage: string): BatchSource {
  return async function* () {
    let table;
    try {
      table = await openCsvTable(file, columns);
    } catch (err) {
      if (err instanceof TrafficError && err.code === 'INPUT_NOT_FOUND') {
        throw new TrafficError(
          'STAGE_INPUT_MISSING',
          `stage ${stage} reads ${path.basename(file)}, which is not in ${path.dirname(file)}: run the earlier stages first (etl:all --from 1)`,
          { file },
        );
      }
      throw err;
    }
    let batch: Batch = [];
    for await (const rec of table.rows) {
      batch.push(rec.fields);
      if (batch.length >= BATCH_ROWS) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length) yield batch;
  };
}

export interface SegmentOptions {
  progress: Progress;
  /**
   * Each batch of rows leaving the last stage, in order (kept for the next segment and scanned by
   * its head, or posted back from a stage thread).
   */
  leave?: (rows: Batch) => void;
  /** Called between batches (reject sink backpressure). */
  drain?: () => Promise<void>;
  /**
   * Charge the time spent waiting for the source to the head stage (default: yes, it is the
   * reading and parsing of its input). A stage thread's source is the rows it is fed: waiting
   * for them is not the stage's work.
   */
  chargeSource?: boolean;
  /** The head already scanned its input (scanSource, or as the rows left the previous segment). */
  headScanned?: boolean;
}

/**
 * The head stage's first pass (scan) over a source it will read again for its transform; the
 * reading is charged to it. Returns the rows scanned.
 */
export async function scanSource(source: BatchSource, head: StageRun, progress?: Progress): Promise<number> {
  let rows = 0;
  await timedIterate(source, head, (b) => {
    head.scanBatch(b);
    rows += b.length;
    progress?.add(b.length);
  });
  return rows;
}

/**
 * Runs one fused segment: the head stage may scan (its source is read twice, unless
 * `headScanned`); the others only transform. Flushed rows of a stage go through the stages after it.
 */
export async function runSegment(source: BatchSource, runs: readonly StageRun[], opts: SegmentOptions): Promise<void> {
  const head = runs[0];
  if (!head) return;
  if (head.stage.scan && !opts.headScanned) await scanSource(source, head);
  for (const r of runs) r.prepare();
  const leave = opts.leave ?? ((): void => undefined);
  // Rows a stage emits beyond a batch go on through the stages after it at once (in order: a
  // chunk holds rows emitted before the ones the stage returns at the end of its call).
  for (let i = 0; i < runs.length - 1; i++) {
    (runs[i] as StageRun).onChunk = (chunk: Batch): void => {
      let rows = chunk;
      for (let j = i + 1; j < runs.length; j++) rows = (runs[j] as StageRun).process(rows);
      leave(rows);
    };
  }
  const pass = async (b: Batch, from: number): Promise<void> => {
    let rows = b;
    for (let i = from; i < runs.length; i++) {
      const r = runs[i] as StageRun;
      rows = r.process(rows);
      await r.drain();
    }
    leave(rows);
  };
  await timedIterate(source, opts.chargeSource === false ? undefined : head, async (b) => {
    await pass(b, 0);
    opts.progress.add(b.length);
    if (opts.drain) await opts.drain();
  });
  for (let i = 0; i < runs.length; i++) {
    const flushed = (runs[i] as StageRun).flush();
    await (runs[i] as StageRun).drain();
    if (flushed.length) await pass(flushed, i + 1);
  }
}

/** Iterates a source, charging the time spent reading (decode + parse) to the head stage. */
async function timedIterate(source: BatchSource, head: StageRun | undefined, each: (b: Batch) => void | Promise<void>): Promise<void> {
  const it = source()[Symbol.asyncIterator]();
  for (;;) {
    const t = performance.now();
    const n = await it.next();
    head?.addSeconds((performance.now() - t) / 1000);
    if (n.done) break;
    await each(n.value);
  }
}
