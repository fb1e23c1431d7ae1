/**
 * Stage 01's sorted output as something to read in order, whether it is held in memory or was
 * spilled to disk as sorted runs (etl/memory.ts decides): an external merge sort's second half.
 *
 * Each run is sorted by GCSJ then GCXH (01-merge.ts sortPacked); a k-way merge over the runs with
 * a binary heap gives the same order as sorting everything at once, because kept rows have
 * distinct GCXH, so (GCSJ, GCXH) is a total order: the outputs are byte-identical.
 */
import { FS } from './stages/01-merge.ts';
import type { SpillCursor, SpillFile, SpillRange } from './spill.ts';

export interface SortedRows {
  /** Kept rows in all. */
  readonly length: number;
  /** Sorted runs written to disk (0: everything was held in memory). */
  readonly spilledRuns: number;
  /** The packed rows in order, in batches of at most `size` (can be read again until release). */
  batches(size: number): Generator<string[]>;
  /** Drops the rows (and removes the spill file). */
  release(): void;
}

/** Rows sorted in memory. */
export function arrayRows(rows: string[]): SortedRows {
  let held: string[] | undefined = rows;
  return {
    length: rows.length,
    spilledRuns: 0,
    *batches(size) {
      const r = held ?? [];
      for (let i = 0; i < r.length; i += size) yield r.slice(i, i + size);
    },
    release() {
      held = undefined;
    },
  };
}

interface Source {
  head: string | undefined;
  advance(): void;
  /** GCSJ and GCXH of head. */
  t: string;
  g: string;
}

class ArrayCursor {
  head: string | undefined;
  private i = 0;
  constructor(private readonly rows: readonly string[]) {
    this.head = rows[0];
  }
  advance(): void {
    this.head = this.rows[++this.i];
  }
}

function keyOf(s: Source): void {
  const p = s.head as string;
  const a = p.indexOf(FS);
  const b = p.indexOf(FS, a + 1);
  s.t = p.slice(0, a);
  s.g = p.slice(a + 1, b);
}

/** GCSJ then GCXH as text: 01-merge.ts comparePacked on the heads' cached keys. */
function less(x: Source, y: Source): boolean {
  if (x.t !== y.t) return x.t < y.t;
  return x.g < y.g;
}

function siftDown(h: Source[], i: number): void {
  const n = h.length;
  const s = h[i] as Source;
  for (;;) {
    let c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && less(h[c + 1] as Source, h[c] as Source)) c++;
    if (!less(h[c] as Source, s)) break;
    h[i] = h[c] as Source;
    i = c;
  }
  h[i] = s;
}

/** Sorted runs in a spill file, plus the last run still in memory, merged. */
export function mergedRuns(file: SpillFile, runs: readonly SpillRange[], last: readonly string[]): SortedRows {
  let length = last.length;
  for (const r of runs) length += r.count;
  let released = false;
  let lastRows: readonly string[] = last;
  return {
    length,
    spilledRuns: runs.length,
    *batches(size) {
      if (released) return;
      const cursors: (SpillCursor | ArrayCursor)[] = runs.map((r) => file.cursor(r));
      if (lastRows.length) cursors.push(new ArrayCursor(lastRows));
      const heap: Source[] = [];
      for (const c of cursors) {
        if (c.head === undefined) continue;
        const s = c as unknown as Source;
        keyOf(s);
        heap.push(s);
      }
      for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(heap, i);
      let batch: string[] = [];
      while (heap.length > 0) {
        const top = heap[0] as Source;
        batch.push(top.head as string);
        top.advance();
        if (top.head === undefined) {
          const end = heap.pop() as Source;
          if (heap.length > 0) {
            heap[0] = end;
            siftDown(heap, 0);
          }
        } else if (heap.length > 1) {
          keyOf(top);
          siftDown(heap, 0);
        }
        if (batch.length >= size) {
          yield batch;
          batch = [];
        }
      }
      if (batch.length) yield batch;
    },
    release() {
      released = true;
      lastRows = [];
      file.remove();
    },
  };
}
