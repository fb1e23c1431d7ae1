/**
 * Vote tables keyed by pairs of small integer ids, stored in typed arrays. Stage 04 learns up to a
 * dozen votes per pass over ~1M passes; with `${a}|${b}` string keys (or doubles combining two ids)
 * in a Map, building and hashing keys and the collector tracing ~1M map entries and vote arrays
 * cost most of its time. Here a key is two int32s in an open-addressing table and an entry's first
 * value and count live in typed arrays; only keys that see more than one value get a JS array.
 */
import type { Tally } from './votes.ts';

const EMPTY = -1;

/** Open-addressing map from (a, b) (both ≥ 0, < 2^31) to a dense entry index 0, 1, 2, … */
export class IntPairIndex {
  private ka: Int32Array;
  private kb: Int32Array;
  private slot: Int32Array;
  private mask: number;
  size = 0;

  constructor(capacity = 1024) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.ka = new Int32Array(cap);
    this.kb = new Int32Array(cap);
    this.slot = new Int32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
  }

  private static hash(a: number, b: number): number {
    let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 13;
    return h >>> 0;
  }

  /** The entry of (a, b), or -1. */
  get(a: number, b: number): number {
    const mask = this.mask;
    let i = IntPairIndex.hash(a, b) & mask;
    for (;;) {
      const e = this.slot[i]!;
      if (e === EMPTY) return EMPTY;
      if (this.ka[i] === a && this.kb[i] === b) return e;
      i = (i + 1) & mask;
    }
  }

  /** The entry of (a, b), created (as `size`) when new. */
  intern(a: number, b: number): number {
    const mask = this.mask;
    let i = IntPairIndex.hash(a, b) & mask;
    for (;;) {
      const e = this.slot[i]!;
      if (e === EMPTY) break;
      if (this.ka[i] === a && this.kb[i] === b) return e;
      i = (i + 1) & mask;
    }
    const e = this.size++;
    this.ka[i] = a;
    this.kb[i] = b;
    this.slot[i] = e;
    if (this.size * 2 > mask) this.grow();
    return e;
  }

  private grow(): void {
    const { ka, kb, slot } = this;
    const cap = slot.length * 2;
    this.ka = new Int32Array(cap);
    this.kb = new Int32Array(cap);
    this.slot = new Int32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
    for (let j = 0; j < slot.length; j++) {
      const e = slot[j]!;
      if (e === EMPTY) continue;
      const a = ka[j]!;
      const b = kb[j]!;
      let i = IntPairIndex.hash(a, b) & this.mask;
      while (this.slot[i] !== EMPTY) i = (i + 1) & this.mask;
      this.ka[i] = a;
      this.kb[i] = b;
      this.slot[i] = e;
    }
  }
}

/**
 * Votes per (a, b) key: values are ids whose text `names` gives (ties between equally voted
 * values go to the smaller text, as in VoteTable, so the answer never depends on arrival order).
 */
export class IdVoteTable {
  private readonly index = new IntPairIndex();
  private first = new Int32Array(1024);
  private count = new Int32Array(1024);
  /** Entries with more than one value: the others, as a flat [valueId, count, …] list. */
  private readonly more = new Map<number, number[]>();

  constructor(private readonly names: readonly string[]) {}

  add(a: number, b: number, value: number): void {
    const e = this.index.intern(a, b);
    if (e >= this.first.length) {
      const first = new Int32Array(this.first.length * 2);
      first.set(this.first);
      this.first = first;
      const count = new Int32Array(this.count.length * 2);
      count.set(this.count);
      this.count = count;
    }
    const c = this.count[e]!;
    if (c === 0) {
      this.first[e] = value;
      this.count[e] = 1;
      return;
    }
    if (this.first[e] === value) {
      this.count[e] = c + 1;
      return;
    }
    let flat = this.more.get(e);
    if (!flat) this.more.set(e, (flat = []));
    for (let i = 0; i < flat.length; i += 2) {
      if (flat[i] === value) {
        flat[i + 1]!++;
        return;
      }
    }
    flat.push(value, 1);
  }

  tally(a: number, b: number): Tally | undefined {
    const e = this.index.get(a, b);
    if (e === EMPTY) return undefined;
    const names = this.names;
    let n = this.count[e]!;
    let topCount = n;
    let top = names[this.first[e]!]!;
    const flat = this.more.get(e);
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
    return this.index.size;
  }
}
