/**
 * Vote tables keyed by pairs of small integer ids, stored in typed arrays. Stage 04 learns up to a
 * dozen votes per pass over ~1M passes; with `${a}|${b}` string keys (or doubles combining two ids)
 * in a Map, building and hashing keys and the collector tracing ~1M map entries and vote arrays
 * cost most of its time. Here a key is two int32s in an open-addressing table and an entry's first
 * value and count live in typed arrays; only keys that see more than one value get a JS array.
 */
import type { Tally } from './votes.ts';

const EMPTY = -1;

function hashPair(a: number, b: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 13;
  return h >>> 0;
}

/**
 * Open-addressing map from (a, b) (both ≥ 0, < 2^31) to a dense entry index 0, 1, 2, …
 * A slot is one record [a, b, entry] in a single Int32Array: a probe touches one cache line, not
 * three arrays (on tables of 100k+ keys the misses, not the arithmetic, are the cost).
 */
export class IntPairIndex {
  private t: Int32Array;
  private mask: number;
  size = 0;

  constructor(capacity = 1024) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.t = new Int32Array(cap * 3).fill(EMPTY);
    this.mask = cap - 1;
  }

  /** The entry of (a, b), or -1. */
  get(a: number, b: number): number {
    const t = this.t;
    const mask = this.mask;
    let i = hashPair(a, b) & mask;
    for (;;) {
      const r = i * 3;
      const e = t[r + 2]!;
      if (e === EMPTY) return EMPTY;
      if (t[r] === a && t[r + 1] === b) return e;
      i = (i + 1) & mask;
    }
  }

  /** The entry of (a, b), created (as `size`) when new. */
  intern(a: number, b: number): number {
    const t = this.t;
    const mask = this.mask;
    let i = hashPair(a, b) & mask;
    for (;;) {
      const r = i * 3;
      const e = t[r + 2]!;
      if (e === EMPTY) break;
      if (t[r] === a && t[r + 1] === b) return e;
      i = (i + 1) & mask;
    }
    const e = this.size++;
    const r = i * 3;
    t[r] = a;
    t[r + 1] = b;
    t[r + 2] = e;
    if (this.size * 4 > mask * 3) this.grow();
    return e;
  }

  private grow(): void {
    const old = this.t;
    const cap = (this.mask + 1) * 2;
    const t = new Int32Array(cap * 3).fill(EMPTY);
    const mask = cap - 1;
    for (let r = 0; r < old.length; r += 3) {
      if (old[r + 2] === EMPTY) continue;
      const a = old[r]!;
      const b = old[r + 1]!;
      let i = hashPair(a, b) & mask;
      while (t[i * 3 + 2] !== EMPTY) i = (i + 1) & mask;
      t[i * 3] = a;
      t[i * 3 + 1] = b;
      t[i * 3 + 2] = old[r + 2]!;
    }
    this.t = t;
    this.mask = mask;
  }
}

/** Slot record of IdVoteTable: key a, key b, entry, first value, its count, second value, its count. */
const REC = 7;

/**
 * Votes per (a, b) key: values are ids whose text `names` gives (ties between equally voted
 * values go to the smaller text, as in VoteTable, so the answer never depends on arrival order).
 * A key's slot holds its first two values and their counts next to the key, so a vote costs one
 * probe; only keys that see more than two values keep the others in a JS array.
 */
export class IdVoteTable {
  private t: Int32Array;
  private mask: number;
  private entries = 0;
  /** Entries with more than one value: the others, as a flat [valueId, count, …] list. */
  private readonly more = new Map<number, number[]>();

  constructor(private readonly names: readonly string[]) {
    const cap = 1024;
    this.t = new Int32Array(cap * REC).fill(EMPTY);
    this.mask = cap - 1;
  }

  private find(a: number, b: number): number {
    const t = this.t;
    const mask = this.mask;
    let i = hashPair(a, b) & mask;
    for (;;) {
      const r = i * REC;
      if (t[r + 2] === EMPTY) return -1 - r;
      if (t[r] === a && t[r + 1] === b) return r;
      i = (i + 1) & mask;
    }
  }

  add(a: number, b: number, value: number): void {
    let r = this.find(a, b);
    if (r < 0) {
      r = -1 - r;
      const t = this.t;
      t[r] = a;
      t[r + 1] = b;
      t[r + 2] = this.entries++;
      t[r + 3] = value;
      t[r + 4] = 1;
      if (this.entries * 4 > this.mask * 3) this.grow();
      return;
    }
    const t = this.t;
    if (t[r + 3] === value) {
      t[r + 4]!++;
      return;
    }
    if (t[r + 5] === value) {
      const c = ++t[r + 6]!;
      // The more frequent of the two goes first: most votes then stop at the first compare.
      if (c > t[r + 4]!) {
        t[r + 5] = t[r + 3]!;
        t[r + 6] = t[r + 4]!;
        t[r + 3] = value;
        t[r + 4] = c;
      }
      return;
    }
    if (t[r + 6] === EMPTY) {
      t[r + 5] = value;
      t[r + 6] = 1;
      return;
    }
    const e = t[r + 2]!;
    let flat = this.more.get(e);
    if (!flat) this.more.set(e, (flat = []));
    for (let i = 0; i < flat.length; i += 2) {
      if (flat[i] === value) {
        const c = ++flat[i + 1]!;
        // A value outvoting the slot's second moves into the slot (and the second out to the
        // list): a key's common values are then found without the list. Tallies add every
        // value whatever its place, so the answers do not change.
        if (c > t[r + 6]!) {
          flat[i] = t[r + 5]!;
          flat[i + 1] = t[r + 6]!;
          t[r + 5] = value;
          t[r + 6] = c;
        }
        return;
      }
    }
    flat.push(value, 1);
  }

  private grow(): void {
    const old = this.t;
    const cap = (this.mask + 1) * 2;
    const t = new Int32Array(cap * REC).fill(EMPTY);
    const mask = cap - 1;
    for (let r = 0; r < old.length; r += REC) {
      if (old[r + 2] === EMPTY) continue;
      let i = hashPair(old[r]!, old[r + 1]!) & mask;
      while (t[i * REC + 2] !== EMPTY) i = (i + 1) & mask;
      // Field by field: a subarray per entry would allocate an object for each.
      const d = i * REC;
      for (let k = 0; k < REC; k++) t[d + k] = old[r + k]!;
    }
    this.t = t;
    this.mask = mask;
  }

  tally(a: number, b: number): Tally | undefined {
    const r = this.find(a, b);
    if (r < 0) return undefined;
    const t = this.t;
    const names = this.names;
    let n = t[r + 4]!;
    let topCount = n;
    let top = names[t[r + 3]!]!;
    if (t[r + 6] === EMPTY) return { n, top, topCount };
    {
      const v = names[t[r + 5]!]!;
      const c = t[r + 6]!;
      n += c;
      if (c > topCount || (c === topCount && v < top)) {
        top = v;
        topCount = c;
      }
    }
    const flat = this.more.get(t[r + 2]!);
    if (flat) {
      for (let i = 0; i < flat.length; i += 2) {
        const v = names[flat[i]!]!;
        const c = flat[i + 1]!;
        n += c;
        if (c > topCount || (c === topCount && v < top)) {
          top = v;
          topCount = c;
        }
      }
    }
    return { n, top, topCount };
  }

  get size(): number {
    return this.entries;
  }
}
