/**
 * Bulk load of a master CSV into the shards (history behind the query page). Rows are checked,
 * routed by kkmc and written per shard in chunks, shards in parallel, reading overlapped with
 * writing (one chunk in flight per shard). Idempotent: rows already present (same gcxh) are
 * skipped. Never deletes (retention is the sink's and `traffic ttl`'s job).
 *
 * Two write methods, same result: `infile` (default) streams a generated per-shard TSV through
 * LOAD DATA LOCAL INFILE … IGNORE; `insert` sends multi-row INSERT … ON DUPLICATE KEY UPDATE.
 * LOAD DATA is the faster one (bench:sink measures both); since IGNORE would also coerce bad
 * values, every row is checked first (storeRowProblem) and bad rows are rejected, not coerced.
 */
import { Readable } from 'node:stream';
import { openCsvTable } from '../core/io.ts';
import { DIMENSION_COLUMNS, MASTER_COLUMNS, type MasterRow, type Reject } from '../core/schema.ts';
import { TrafficError, withRetry } from '../core/errors.ts';
import { storeRowProblem } from './ddl.ts';
import { tsvLine, type ShardedStore } from './mysql.ts';

export type LoadMethod = 'infile' | 'insert';

export interface LoadOptions {
  method: LoadMethod;
  /** Rows per LOAD DATA / INSERT statement per shard. */
  chunkRows: number;
  /** Retries of a statement on a dropped connection (default 5). */
  retries?: number;
  onRows?: (n: number) => void;
  onReject?: (r: Reject) => void;
}

export interface LoadResult {
  read: number;
  /** Newly inserted per shard. */
  inserted: number[];
  /** Valid rows routed per shard (inserted + already present). */
  routed: number[];
  rejected: number;
  rejectReasons: Record<string, number>;
  seconds: number;
}

/** Streams `file` (master CSV with header) into the store. */
export async function loadMaster(store: ShardedStore, file: string, opts: LoadOptions): Promise<LoadResult> {
  const t0 = performance.now();
  const { rows } = await openCsvTable(file, MASTER_COLUMNS);
  const n = store.shards.length;
  const routed = new Array<number>(n).fill(0);
  const inserted = new Array<number>(n).fill(0);
  const rejectReasons: Record<string, number> = {};
  let read = 0;
  let rejected = 0;

  // Per shard: rows collected for the next statement, and the statement in flight.
  const pending: MasterRow[][] = Array.from({ length: n }, () => []);
  const inflight: (Promise<void> | null)[] = new Array(n).fill(null);

  const write = async (i: number, batch: MasterRow[]): Promise<void> => {
    const shard = store.shards[i]!;
    // A dropped connection rolls the statement back; the retry resends it (idempotent anyway).
    const retry = { retries: opts.retries ?? 5, initialMs: 500, maxMs: 5000 };
    if (opts.method === 'infile') {
      let text = '';
      for (const r of batch) text += tsvLine(r);
      const buf = Buffer.from(text, 'utf8');
      const res = await withRetry(() => store.loadTsv(shard, Readable.from([buf]), batch), retry);
      inserted[i]! += res.inserted;
    } else {
      inserted[i]! += await withRetry(() => store.insertChunk(shard, batch), retry);
    }
    opts.onRows?.(batch.length);
  };
  const flush = async (i: number): Promise<void> => {
    const batch = pending[i]!;
    if (batch.length === 0) return;
    pending[i] = [];
    if (inflight[i]) await inflight[i];
    const p = write(i, batch);
    // Keep the rejection observed; it is rethrown when awaited below.
    p.catch(() => undefined);
    inflight[i] = p;
  };

  for await (const rec of rows) {
    read++;
    const problem = rec.error ?? storeRowProblem(rec.fields);
    if (problem) {
      rejected++;
      const reason = problem.replace(/: ".*$/, '');
      rejectReasons[reason] = (rejectReasons[reason] ?? 0) + 1;
      opts.onReject?.({ sourceFile: file, line: rec.line, stage: 'load', reason: problem, raw: rec.raw });
      continue;
    }
    const i = store.shardOfRow(rec.fields);
    routed[i]!++;
    pending[i]!.push(rec.fields);
    if (pending[i]!.length >= opts.chunkRows) await flush(i);
  }
  for (let i = 0; i < n; i++) await flush(i);
  await Promise.all(inflight.map((p) => p ?? undefined));
  return { read, inserted, routed, rejected, rejectReasons, seconds: (performance.now() - t0) / 1000 };
}

/** kkmc_dimension.csv → kkmc_info rows (lower-case columns; LON/LAT empty → NULL). */
export async function readDimension(file: string): Promise<(string | number | null)[][]> {
  const { rows } = await openCsvTable(file, DIMENSION_COLUMNS);
  const out: (string | number | null)[][] = [];
  const iLon = DIMENSION_COLUMNS.indexOf('LON');
  const iLat = DIMENSION_COLUMNS.indexOf('LAT');
  const iPasses = DIMENSION_COLUMNS.indexOf('PASSES');
  for await (const rec of rows) {
    const f = rec.fields;
    if (f.length !== DIMENSION_COLUMNS.length || !f[0]) {
      throw new TrafficError('BAD_ROW', `expected ${DIMENSION_COLUMNS.length} fields with a KKMC, got ${f.length}`, { file, line: rec.line });
    }
    const row: (string | number | null)[] = [...f];
    for (const [i, name] of [
      [iLon, 'LON'],
      [iLat, 'LAT'],
      [iPasses, 'PASSES'],
    ] as const) {
      const v = (f[i] ?? '').trim();
      if (v === '') {
        row[i] = name === 'PASSES' ? 0 : null;
        continue;
      }
      const x = Number(v);
      if (!Number.isFinite(x)) throw new TrafficError('BAD_ROW', `${name} is not a number: "${v}"`, { file, line: rec.line, field: name, value: v });
      row[i] = x;
    }
    out.push(row);
  }
  return out;
}
