/**
 * A fused segment of RowStages (stage-thread-worker.ts) run in a worker thread of its own.
 *
 * On a full run the main thread's work is a chain: 02 → 03 → 04 scan → 04 transform → 05, and the
 * second core sat mostly idle after stage 01. Stages that neither scan nor feed a scan on this
 * thread move to threads: 02 + 03 (fed stage 01's sorted rows; their rows come back for 04's scan,
 * which runs while they go on) and 05 (fed 04's output text). Each thread also writes the file of
 * the stage that feeds it (merged_data.csv, master_data_cleaned.csv), so the rows cross the thread
 * boundary once, in a form the main thread holds or builds anyway: stage 01's packed strings,
 * 04's CSV text.
 *
 * The stages run exactly as in this thread (StageRun, runSegment): same rows, same files, same
 * counts; rejects come back as messages and go to the run's rejects.csv; the stage entries come
 * back at the end. Fed rows wait in the thread's queue at most FEED_AHEAD batches (or
 * FEED_AHEAD_CHARS of text) deep.
 */
import type { Worker } from 'node:worker_threads';
import { csvLine } from '../core/csv.ts';
import { errorFromThread, TrafficError, type ThreadErrorMessage } from '../core/errors.ts';
import type { TextSink } from '../core/writer-thread.ts';
import type { Reject } from '../core/schema.ts';
import type { StageEntry } from './manifest.ts';
import type { StageNo, StageSettings } from './stages.ts';
import { FS } from './stages/01-merge.ts';
import { siblingModule, startWorker } from '../core/threads.ts';
import { workerResourceLimits } from '../core/thread-memory.ts';

/** The stage thread's code. */
export const STAGE_WORKER = siblingModule(import.meta.url, 'stage-thread-worker');

/** Rows as they cross threads: one string per row (fields joined by U+001F), or its fields. */
export type PackedRows = (string | string[])[];

export interface StageThreadSpec {
  /** Consecutive stages, none with a scan. */
  stages: StageNo[];
  settings: StageSettings;
  /**
   * What the thread is fed: `merge` = rows packed by stage 01's packRow (GCSJ first); `csv` = the
   * CSV text the feeding stage writes for its file (textSink), header first.
   */
  input: 'merge' | 'csv';
  /** The file of the stage that feeds this thread, written here from the fed rows (name in outDir). */
  inputFile?: { name: string; columns: readonly string[] };
  /** Post the last stage's rows back (onRows), packed like packFields. */
  forward: boolean;
}

/** Fed rows: packed, or the CSV text the feeding stage writes (its header first). */
export type StageThreadCommand = { type: 'rows'; rows: PackedRows } | { type: 'text'; text: string } | { type: 'end' } | { type: 'abort' };

export type StageThreadReply =
  | { type: 'ack' }
  | { type: 'rows'; rows: PackedRows }
  | { type: 'reject'; reject: Reject }
  | { type: 'done'; entries: StageEntry[] }
  | { type: 'aborted' }
  | ThreadErrorMessage;

/** Packed batches the thread may hold before feed() asks the caller to wait. */
const FEED_AHEAD = 8;
/**
 * Text the thread may hold before feed() asks the caller to wait. Deep on purpose: stage 04
 * emits a filled day's rows in a burst (cheap for it, a day of work for 05) and must not wait for
 * them; the thread catches up while 04 works on the rows after.
 */
const FEED_AHEAD_CHARS = 64 << 20;

/** A row as one string (fields joined by U+001F), or as its fields when one holds U+001F. */
export function packFields(row: string[]): string | string[] {
  for (let i = 0; i < row.length; i++) if ((row[i] as string).indexOf(FS) !== -1) return row;
  return row.join(FS);
}

/** packFields undone. */
export function unpackFields(r: string | string[]): string[] {
  return typeof r === 'string' ? r.split(FS) : r;
}

export interface StageThreadHandlers {
  onReject(r: Reject): void;
  /** The last stage's rows, in order (spec.forward). An error thrown here fails the run. */
  onRows?(rows: PackedRows): void;
}

export class StageThread {
  private readonly worker: Worker;
  private inFlight = 0;
  private inFlightChars = 0;
  /** Text length of each message in flight, in order (acks come in order). */
  private readonly sizes: number[] = [];
  /** Callers of feed() waiting for the thread to catch up. */
  private readonly waiters: (() => void)[] = [];
  private failure: Error | undefined;
  private done: { resolve: (e: StageEntry[]) => void; reject: (e: Error) => void } | undefined;
  private entries: StageEntry[] | undefined;
  /** Resolves once the thread has stopped working: done, failed, aborted or exited. */
  private readonly stopped: Promise<void>;
  private stop!: () => void;

  private constructor(
    spec: StageThreadSpec,
    private readonly handlers: StageThreadHandlers,
  ) {
    this.stopped = new Promise<void>((resolve) => (this.stop = resolve));
    this.worker = startWorker(STAGE_WORKER, { workerData: spec, resourceLimits: workerResourceLimits() });
    this.worker.on('message', (m: StageThreadReply) => this.onReply(m));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => {
      this.stop();
      if (!this.entries) this.fail(new TrafficError('INTERNAL', `stage thread (${spec.stages.join(', ')}) exited (code ${code}) before it finished`));
    });
  }

  static start(spec: StageThreadSpec, handlers: StageThreadHandlers): StageThread {
    return new StageThread(spec, handlers);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiters.splice(0)) w();
    this.done?.reject(this.failure);
    this.done = undefined;
  }

  private onReply(m: StageThreadReply): void {
    switch (m.type) {
      case 'ack':
        {
          const size = this.sizes.shift() ?? 0;
          if (size > 0) this.inFlightChars -= size;
          else this.inFlight--;
        }
        if (!this.behind()) for (const w of this.waiters.splice(0)) w();
        return;
      case 'rows':
        if (this.failure) return;
        try {
          this.handlers.onRows?.(m.rows);
        } catch (err) {
          this.fail(err as Error);
          this.worker.postMessage({ type: 'abort' } satisfies StageThreadCommand);
        }
        return;
      case 'reject':
        this.handlers.onReject(m.reject);
        return;
      case 'done':
        this.stop();
        this.entries = m.entries;
        this.done?.resolve(m.entries);
        this.done = undefined;
        return;
      case 'aborted':
        this.stop();
        return;
      case 'error':
        this.stop();
        this.fail(errorFromThread(m));
        return;
    }
  }

  private behind(): boolean {
    return this.inFlight >= FEED_AHEAD || this.inFlightChars >= FEED_AHEAD_CHARS;
  }

  /** Throws the thread's error, if it failed already (a check between phases of a run). */
  throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /** Sends a batch of rows (or CSV text); returns a promise when the thread is FEED_AHEAD batches behind. */
  feed(rows: PackedRows | string): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    const text = typeof rows === 'string';
    if (text) this.inFlightChars += rows.length;
    else this.inFlight++;
    this.sizes.push(text ? rows.length : 0);
    this.worker.postMessage((text ? { type: 'text', text: rows } : { type: 'rows', rows }) satisfies StageThreadCommand);
    if (!this.behind()) return undefined;
    return new Promise<void>((resolve, reject) => {
      this.waiters.push(() => (this.failure ? reject(this.failure) : resolve()));
    });
  }

  /**
   * The output sink of the stage feeding this thread (spec.input `csv`): the text it would write
   * to its file comes here, and the thread writes the file and reads the rows back from the text
   * (the feeding stage builds that text anyway; handing it over costs the main thread nothing more).
   */
  textSink(): TextSink {
    return {
      lines: 0,
      write: (text) => (text.length ? this.feed(text) : undefined),
      writeCsv(fields) {
        return this.write(csvLine(fields));
      },
      // The end of input is end(): the thread closes and renames the file.
      close: async () => undefined,
    };
  }

  /** End of input: resolves with the stages' entries once their files are in place. */
  end(): Promise<StageEntry[]> {
    if (this.failure) return Promise.reject(this.failure);
    const p = new Promise<StageEntry[]>((resolve, reject) => (this.done = { resolve, reject }));
    this.worker.postMessage({ type: 'end' } satisfies StageThreadCommand);
    return p.finally(() => this.worker.terminate());
  }

  /** After a failure elsewhere: the thread removes its partial files, then stops. */
  async abort(): Promise<void> {
    this.worker.postMessage({ type: 'abort' } satisfies StageThreadCommand);
    await Promise.race([this.stopped, new Promise((r) => setTimeout(r, 5000).unref())]);
    await this.worker.terminate();
  }
}
