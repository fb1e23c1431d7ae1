/**
 * Stage 01's input: every raw file read and each record normalized (`normalizeRecord`), as an
 * ordered stream of events — batches of normalized rows and rejects (in line order), then the
 * file's info once it has been read to the end (a CSV's sha256 is known only then).
 *
 * Reading (decode, CSV parse, XLSX unzip + XML) and normalizing are the heavy per-record work that
 * needs no shared state, so they can run in a worker thread while the main thread dedupes, sorts
 * and runs stages 02–05 (opt-in, see useWorker). Kept rows travel as packed strings (packRow),
 * a batch's rows joined into one string: structured-cloning millions of small strings costs more
 * than splitting one, and the main thread stores the packed rows as they are.
 * Events arrive in exactly the order the in-thread reader produces them, so the outputs are the
 * same either way.
 */
import { Worker } from 'node:worker_threads';
import { TrafficError, type ErrorCode, type ErrorContext } from '../pipeline/errors.ts';
import { openRawFile, type RawFileInfo } from './read/raw.ts';
import { normalizeRecord, packRow, separatorReason } from './stages/01-merge.ts';

/** A kept record is its normalized row packed (01-merge.ts packRow); else a reject. */
export type MergeItem = { line: number; packed: string } | { line: number; reason: string; raw: string };
export type MergeEvent =
  | { type: 'batch'; file: number; items: MergeItem[] }
  | { type: 'end'; file: number; info: RawFileInfo; rows: number };

export const MERGE_BATCH = 4096;

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

interface ErrorMessage {
  type: 'error';
  code?: ErrorCode;
  message: string;
  context?: ErrorContext;
  stack?: string;
}

export type WorkerMessage = PackedBatch | Extract<MergeEvent, { type: 'end' }> | ErrorMessage | { type: 'done' };

/** Rebuilds the worker's error on this side: a TrafficError keeps its code, message and context. */
function toError(m: ErrorMessage): Error {
  if (m.code) {
    const e = new TrafficError(m.code, m.message);
    // The message already carries the location; keep the structured context too.
    Object.assign(e, { message: m.message, context: m.context ?? {} });
    return e;
  }
  const e = new Error(m.message);
  if (m.stack) e.stack = m.stack;
  return e;
}

/** How many batches the worker may run ahead of the consumer (bounds the memory in flight). */
export const WORKER_AHEAD = 16;

export async function* workerSource(files: readonly string[]): AsyncGenerator<MergeEvent> {
  const worker = new Worker(new URL('./merge-worker.mjs', import.meta.url), { workerData: { files: [...files] } });
  const queue: WorkerMessage[] = [];
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  let exited = false;
  worker.on('message', (m: WorkerMessage) => {
    queue.push(m);
    wake?.();
  });
  worker.on('error', (err) => {
    failure = err;
    wake?.();
  });
  worker.on('exit', () => {
    exited = true;
    wake?.();
  });
  try {
    for (;;) {
      while (queue.length === 0 && !failure && !exited) await new Promise<void>((r) => (wake = r));
      wake = undefined;
      const m = queue.shift();
      if (!m) throw failure ?? new TrafficError('INTERNAL', 'raw reader worker stopped unexpectedly');
      if (m.type === 'error') throw toError(m);
      if (m.type === 'done') return;
      if (m.type === 'batch') {
        worker.postMessage('ack');
        yield unpackBatch(m);
      } else yield m;
    }
  } finally {
    await worker.terminate();
  }
}

/**
 * Whether to read in a worker: `TRAFFIC_ETL_WORKER=1|0` forces it, else the caller's choice, else
 * no. Off by default: on the shared 2-core machine it measured slower (1.36M rows, stage 01 alone:
 * 41 s wall / 17.4 s CPU with the worker against 17.5 s / 13.3 s in-thread), the packing, cloning
 * and splitting costing more than the overlap gained. Kept, tested, for machines with spare cores.
 */
export async function useWorker(requested?: boolean): Promise<boolean> {
  const env = process.env.TRAFFIC_ETL_WORKER;
  if (env === '0' || env === '1') return env === '1';
  return requested ?? false;
}

export function mergeSource(files: readonly string[], worker: boolean): AsyncGenerator<MergeEvent> {
  return worker ? workerSource(files) : inThreadSource(files);
}
