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
 * Votes an IdVoteTable holds back before it puts them in its slots (see add()): 3 MB of log per
 * table at most, whatever the input's size.
 */
const LOG_VOTES = 1 << 18;
/** Hash-ordered runs of the log: the top LOG_BITS bits of a key's hash pick its run. */
const LOG_BITS = 8;

/** Sort space shared by every table (a flush is synchronous): [hash, a, b, value] per vote. */
let sorted = new Int32Array(0);
/** Each logged vote's hash, computed once per flush for both the count and the scatter. */
let hashes = new Int32Array(0);
const runStarts = new Int32Array((1 << LOG_BITS) + 1);

/**
 * Votes per (a, b) key: values are ids whose text `names` gives (ties between equally voted
 * values go to the smaller text, as in VoteTable, so the answer never depends on arrival order).
 * A key's slot holds its first two values and their counts next to the key, so a vote costs one
 * probe; only keys that see more than two values keep the others in a JS array.
 *
 * A key's home slot is given by the top bits of its hash, so slots are in hash order. add() only
 * logs a vote; the log goes into the slots when it is full or when the table is read, sorted by
 * hash first (a stable counting sort): the slots are then visited in one sweep, from cache, not
 * at random over tens of MB (stage 04 adds ~9 votes per pass over ~1M passes, and with random
 * probes those misses were most of its scan). A key's votes keep their order, so the slots end up
 * exactly as if added one by one.
 */
export class IdVoteTable {
  private t: Int32Array;
  private mask: number;
  /** 32 - log2(slots): a hash's top bits are its home slot. */
  private shift: number;
  private entries = 0;
  /** Entries with more than one value: the others, as a flat [valueId, count, …] list. */
  private readonly more = new Map<number, number[]>();
  /** Votes not yet in the slots: [a, b, value] each, in arrival order. */
  private log = new Int32Array(3 * 1024);
  private logged = 0;
  /** Entries before the flush under way, and the votes it puts (grow() sizes from them). */
  private before = 0;
  private votes = 0;

  constructor(private readonly names: readonly string[]) {
    const cap = 1024;
    this.t = new Int32Array(cap * REC).fill(EMPTY);
    this.mask = cap - 1;
    this.shift = 32 - 10;
  }

  private find(a: number, b: number, h: number): number {
    const t = this.t;
    const mask = this.mask;
    let i = h >>> this.shift;
    for (;;) {
      const r = i * REC;
      if (t[r + 2] === EMPTY) return -1 - r;
      if (t[r] === a && t[r + 1] === b) return r;
      i = (i + 1) & mask;
    }
  }

  /** One vote for `value` under (a, b). */
  add(a: number, b: number, value: number): void {
    if (this.logged === LOG_VOTES) this.flush();
    let log = this.log;
    const at = this.logged * 3;
    if (at === log.length) {
      const grown = new Int32Array(Math.min(LOG_VOTES * 3, log.length * 2));
      grown.set(log);
      this.log = log = grown;
    }
    log[at] = a;
    log[at + 1] = b;
    log[at + 2] = value;
    this.logged++;
  }

  /** Puts the logged votes in the slots, in hash order. */
  private flush(): void {
    const n = this.logged;
    if (n === 0) return;
    this.logged = 0;
    const log = this.log;
    const top = 32 - LOG_BITS;
    if (sorted.length < n * 4) {
      sorted = new Int32Array(Math.max(n, 1024) * 4);
      hashes = new Int32Array(Math.max(n, 1024));
    }
    const s = sorted;
    const hs = hashes;
    const starts = runStarts;
    starts.fill(0);
    for (let k = 0; k < n; k++) {
      const h = hashPair(log[k * 3]!, log[k * 3 + 1]!);
      hs[k] = h | 0;
      starts[(h >>> top) + 1]!++;
    }
    for (let r = 1; r < starts.length; r++) starts[r]! += starts[r - 1]!;
    for (let k = 0; k < n; k++) {
      const h = hs[k]!;
      const d = starts[h >>> top]!++ * 4;
      s[d] = h;
      s[d + 1] = log[k * 3]!;
      s[d + 2] = log[k * 3 + 1]!;
      s[d + 3] = log[k * 3 + 2]!;
    }
    this.before = this.entries;
    this.votes = n;
    for (let k = 0; k < n * 4; k += 4) this.put(s[k + 1]!, s[k + 2]!, s[k + 3]!, s[k]! >>> 0);
    // A small table's log shrinks back: only the big ones need room for a full batch.
    if (log.length > 3 * 1024 && n < log.length / 12) this.log = new Int32Array(3 * 1024);
  }

  private put(a: number, b: number, value: number, h: number): void {
    let r = this.find(a, b, h);
    if (r < 0) {
      r = -1 - r;
      const t = this.t;
      t[r] = a;
      t[r + 1] = b;
      t[r + 2] = this.entries++;
      t[r + 3] = value;
      t[r + 4] = 1;
      if (this.entries * 4 > this.mask * 3) this.grow(h);
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

  /**
   * Room for the keys still to come in this flush, `h` being the hash just put. Doubling is not
   * enough: the keys put so far have the smallest hashes of the flush, so in a table only twice
   * as big they would all share a few home slots (one long probe run). Keys arrive in hash order,
   * so the part of the hash space covered so far tells how many new keys the flush brings.
   */
  private grow(h: number): void {
    const fresh = this.entries - this.before;
    const expected = Math.min(this.before + this.votes, this.before + fresh / ((h + 1) / 2 ** 32));
    let cap = (this.mask + 1) * 2;
    while (cap * 3 < expected * 4) cap *= 2;
    this.resize(cap);
  }

  private resize(cap: number): void {
    const old = this.t;
    const t = new Int32Array(cap * REC).fill(EMPTY);
    const mask = cap - 1;
    const shift = 32 - Math.log2(cap);
    // Slots are in hash order, so their new homes come in order too: one sweep over both arrays.
    for (let r = 0; r < old.length; r += REC) {
      if (old[r + 2] === EMPTY) continue;
      let i = hashPair(old[r]!, old[r + 1]!) >>> shift;
      while (t[i * REC + 2] !== EMPTY) i = (i + 1) & mask;
      // Field by field: a subarray per entry would allocate an object for each.
      const d = i * REC;
      for (let k = 0; k < REC; k++) t[d + k] = old[r + k]!;
    }
    this.t = t;
    this.mask = mask;
    this.shift = shift;
  }

  tally(a: number, b: number): Tally | undefined {
    this.flush();
    const r = this.find(a, b, hashPair(a, b));
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
    this.flush();
    return this.entries;
  }
}
