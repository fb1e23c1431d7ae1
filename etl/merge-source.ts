/**
 * Stage 01's input: every raw file read and each record normalized (`normalizeRecord`), as an
 * ordered stream of events — batches of normalized rows and rejects (in line order), then the
 * file's info once it has been read to the end (a CSV's sha256 is known only then).
 *
 * Reading (decode, CSV parse, XLSX unzip + XML) and normalizing are the heavy per-record work that
 * needs no shared state, so they run in a pool of reader threads (one file each at a time) while
 * the main thread dedupes and sorts (see readerCount). Kept rows travel as packed strings (packRow),
 * a batch's rows joined into one string: structured-cloning millions of small strings costs more
 * than splitting one, and the main thread stores the packed rows as they are.
 * Events arrive in exactly the order the in-thread reader produces them, so the outputs are the
 * same either way.
 */
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import { siblingModule, startWorker } from '../core/threads.ts';
import { errorFromThread, TrafficError, type ThreadErrorMessage } from '../core/errors.ts';
import { openRawFile, type RawFileInfo } from './read/raw.ts';
import { normalizeRecord, packRow, separatorReason } from './stages/01-merge.ts';
import { workerResourceLimits } from '../core/thread-memory.ts';

/** A kept record is its normalized row packed (01-merge.ts packRow); else a reject. */
export type MergeItem = { line: number; packed: string } | { line: number; reason: string; raw: string };
export type MergeEvent = { type: 'batch'; file: number; items: MergeItem[] } | { type: 'end'; file: number; info: RawFileInfo; rows: number };

/** Kept rows per reader message, packed into one string: small, like chain.ts BATCH_ROWS. */
export const MERGE_BATCH = 512;

/** One file → batches of normalized rows / rejects, then its info. */
export async function* readNormalized(file: string, index: number): AsyncGenerator<MergeEvent> {
  const { info, records } = await openRawFile(file);
  let items: MergeItem[] = [];
  let rows = 0;
  for await (const rec of records) {
    rows++;
    const bad = rec.error ?? separatorReason(rec.raw);
    if (bad !== undefined) items.push({ line: rec.line, reason: bad, raw: rec.raw });
    else {
      const n = normalizeRecord(rec.fields);
      items.push(n.ok ? { line: rec.line, packed: packRow(n.row) } : { line: rec.line, reason: n.reason, raw: rec.raw });
    }
    if (items.length >= MERGE_BATCH) {
      yield { type: 'batch', file: index, items };
      items = [];
    }
  }
  if (items.length) yield { type: 'batch', file: index, items };
  yield { type: 'end', file: index, info, rows };
}

export async function* inThreadSource(files: readonly string[]): AsyncGenerator<MergeEvent> {
  for (let i = 0; i < files.length; i++) yield* readNormalized(files[i] as string, i);
}

// ---- worker transport --------------------------------------------------------------------------

const RS = '\x1e';

/** A batch as posted by the worker: kept rows joined into one string, rejects by position. */
export interface PackedBatch {
  type: 'batch';
  file: number;
  lines: Int32Array;
  /** Kept packed rows joined by \x1e (a packed row never holds it: separatorReason). */
  packed: string;
  /** [position in the batch, reason, raw] for each reject. */
  rejects: [number, string, string][];
}

export function packBatch(ev: Extract<MergeEvent, { type: 'batch' }>): PackedBatch {
  const lines = new Int32Array(ev.items.length);
  const rows: string[] = [];
  const rejects: [number, string, string][] = [];
  ev.items.forEach((it, i) => {
    lines[i] = it.line;
    if ('packed' in it) rows.push(it.packed);
    else rejects.push([i, it.reason, it.raw]);
  });
  return { type: 'batch', file: ev.file, lines, packed: rows.join(RS), rejects };
}

export function unpackBatch(b: PackedBatch): Extract<MergeEvent, { type: 'batch' }> {
  const n = b.lines.length;
  // A packed row is never '' (8 fields → 7 separators), so '' means no kept rows.
  const kept = b.packed ? b.packed.split(RS) : [];
  const items: MergeItem[] = new Array<MergeItem>(n);
  let k = 0;
  let j = 0;
  for (let i = 0; i < n; i++) {
    const rej = b.rejects[j];
    if (rej && rej[0] === i) {
      items[i] = { line: b.lines[i] as number, reason: rej[1], raw: rej[2] };
      j++;
    } else items[i] = { line: b.lines[i] as number, packed: kept[k++] as string };
  }
  return { type: 'batch', file: b.file, items };
}

export type WorkerMessage = PackedBatch | Extract<MergeEvent, { type: 'end' }> | ThreadErrorMessage;

/** The reader thread's code. */
export const READER_WORKER = siblingModule(import.meta.url, 'merge-worker');

/** How many batches a reader may run ahead of the consumer (bounds the memory in flight). */
export const WORKER_AHEAD = 16;

/** Messages to a reader: read file i, a batch was taken, stop. */
export type ReaderCommand = { type: 'read'; file: number } | { type: 'ack' } | { type: 'stop' };

interface Reader {
  worker: Worker;
  /** Events of the files assigned to this reader, in the order it posted them. */
  queue: WorkerMessage[];
  exited: boolean;
  failure?: Error;
}

/**
 * Files read by a pool of `n` reader threads, each taking the next unread file when it finishes
 * one; events are yielded file by file in the files' order, exactly as inThreadSource yields them,
 * so which thread read a file never shows in the result. A reader stays at most WORKER_AHEAD
 * batches ahead of this consumer; the reader of the file being consumed is never the one waiting
 * for a later file, so the pool cannot stall. A reader's error surfaces when its file's turn comes
 * (the same error, at the same point, as reading in-thread).
 */
export async function* poolSource(files: readonly string[], n: number): AsyncGenerator<MergeEvent> {
  const count = Math.max(1, Math.min(n, files.length));
  const readers: Reader[] = [];
  /** Which reader holds each file (undefined: not handed out yet). */
  const holder: (Reader | undefined)[] = new Array<Reader | undefined>(files.length);
  let next = 0;
  let wake: (() => void) | undefined;
  const assign = (r: Reader): void => {
    if (next >= files.length) {
      r.worker.postMessage({ type: 'stop' } satisfies ReaderCommand);
      return;
    }
    holder[next] = r;
    r.worker.postMessage({ type: 'read', file: next++ } satisfies ReaderCommand);
  };
  for (let i = 0; i < count; i++) {
    const worker = startWorker(READER_WORKER, {
      resourceLimits: workerResourceLimits(),
      workerData: { files: [...files] },
    });
    const r: Reader = { worker, queue: [], exited: false };
    worker.on('message', (m: WorkerMessage) => {
      r.queue.push(m);
      // The reader finished a file (or failed): hand it the next one while this side catches up.
      if (m.type === 'end') assign(r);
      wake?.();
    });
    worker.on('error', (err) => {
      r.failure = err;
      wake?.();
    });
    worker.on('exit', () => {
      r.exited = true;
      wake?.();
    });
    readers.push(r);
    assign(r);
  }
  try {
    for (let f = 0; f < files.length; f++) {
      const r = holder[f];
      if (!r) throw new TrafficError('INTERNAL', `raw file ${f} was never handed to a reader`);
      for (;;) {
        while (r.queue.length === 0 && !r.failure && !r.exited) await new Promise<void>((res) => (wake = res));
        wake = undefined;
        const m = r.queue.shift();
        if (!m) throw r.failure ?? new TrafficError('INTERNAL', 'raw reader thread stopped unexpectedly');
        if (m.type === 'error') throw errorFromThread(m);
        if (m.type === 'batch') {
          r.worker.postMessage({ type: 'ack' } satisfies ReaderCommand);
          yield unpackBatch(m);
          continue;
        }
        yield m;
        break; // 'end' of file f
      }
    }
  } finally {
    await Promise.all(readers.map((r) => r.worker.terminate()));
  }
}

/** Reader threads for `files` when the caller or TRAFFIC_ETL_READERS gives no number. */
export function defaultReaders(files: number): number {
  // Two readers at least, else one per core beyond this one, at most four: the consumer (dedupe,
  // sort) needs about a third of the readers' time, so on 2 cores two readers and it share them well.
  const cores = os.availableParallelism();
  if (cores < 2 || files < 2) return 0;
  return Math.min(files, Math.max(2, cores - 1), 4);
}

/**
 * How many reader threads stage 01 uses: `TRAFFIC_ETL_READERS=N` forces it (0 = read in this
 * thread), else the caller's choice (`--readers`), else defaultReaders.
 */
export function readerCount(files: number, requested?: number): number {
  const env = process.env.TRAFFIC_ETL_READERS;
  if (env !== undefined && env !== '') {
    const v = Number(env);
    if (!Number.isInteger(v) || v < 0 || v > 64) {
      throw new TrafficError('INVALID_OPTION', `TRAFFIC_ETL_READERS must be an integer 0..64, got ${env}`, { option: 'TRAFFIC_ETL_READERS' });
    }
    return v;
  }
  return requested ?? defaultReaders(files);
}

export function mergeSource(files: readonly string[], readers: number): AsyncGenerator<MergeEvent> {
  return readers > 0 ? poolSource(files, readers) : inThreadSource(files);
}
