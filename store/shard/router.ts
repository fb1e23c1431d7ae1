/**
 * MyCat 1.6 `PartitionByMurmurHash` (rule function `murmur`), reproduced exactly so that rows we
 * route client-side land on the same shard a MyCat in front of the same databases would pick.
 *
 * - hash = Guava `Hashing.murmur3_32(seed).hashUnencodedChars(s).asInt()`: MurmurHash3_x86_32 over
 *   the UTF-16 code units of `s`, each unit as 2 little-endian bytes (JS strings are UTF-16
 *   already, so `charCodeAt` is exactly Java's `charAt`; no charset encoding, no normalization).
 * - ring: for each shard i, one StringBuilder "SHARD-i" that keeps growing by "-NODE-n" for
 *   n < virtualBucketTimes × weight(i); every intermediate name is hashed. The names accumulate
 *   (the builder is never reset) — that is MyCat's behaviour, and the vectors check it.
 * - lookup: first ring key ≥ hash (TreeMap.tailMap is inclusive), wrapping to the first key.
 *   Ring keys are signed int32 in signed order; on equal keys the later shard overwrites.
 */

export interface MurmurShardConfig {
  /** Number of shards (MyCat `count`). */
  count: number;
  /** MyCat `seed` (default 0). */
  seed?: number;
  /** MyCat `virtualBucketTimes` (default 160). */
  virtualBucketTimes?: number;
  /** Shard index → weight (MyCat `weightMapFile`); missing → 1, non-positive → 1. */
  weights?: ReadonlyMap<number, number> | Record<number, number>;
}

const C1 = 0xcc9e2d51 | 0;
const C2 = 0x1b873593 | 0;

function mixK1(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

function mixH1(h: number, k: number): number {
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + (0xe6546b64 | 0)) | 0;
}

function fmix(h: number, length: number): number {
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b | 0);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35 | 0);
  h ^= h >>> 16;
  return h | 0;
}

/**
 * Guava `murmur3_32(seed).hashUnencodedChars(s).asInt()`: signed 32-bit. Two code units make one
 * 4-byte block (low unit in the low half); an odd last unit is the tail; length in bytes = 2 × units.
 */
export function murmur3HashUnencodedChars(s: string, seed = 0): number {
  let h1 = seed | 0;
  const n = s.length;
  let i = 1;
  for (; i < n; i += 2) {
    const k1 = s.charCodeAt(i - 1) | (s.charCodeAt(i) << 16);
    h1 = mixH1(h1, mixK1(k1));
  }
  if ((n & 1) === 1) h1 ^= mixK1(s.charCodeAt(n - 1));
  return fmix(h1, 2 * n);
}

function weightOf(weights: MurmurShardConfig['weights'], i: number): number {
  let w: number | undefined;
  if (weights instanceof Map) w = weights.get(i);
  else if (weights) w = (weights as Record<number, number>)[i];
  if (w === undefined) return 1;
  return w > 0 ? Math.floor(w) : 1;
}

/** The consistent-hash ring as two parallel sorted arrays (keys ascending, signed). */
export class MurmurShardRouter {
  readonly count: number;
  readonly seed: number;
  readonly virtualBucketTimes: number;
  /** Effective weight per shard (after MyCat's defaulting). */
  readonly weights: readonly number[];
  private readonly keys: Int32Array;
  private readonly shards: Int32Array;
  private readonly cache = new Map<string, number>();

  constructor(config: MurmurShardConfig) {
    const { count } = config;
    if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`shard count must be ≥ 1, got ${count}`);
    this.count = count;
    this.seed = config.seed ?? 0;
    this.virtualBucketTimes = config.virtualBucketTimes ?? 160;
    if (!Number.isSafeInteger(this.virtualBucketTimes) || this.virtualBucketTimes < 1) {
      throw new RangeError(`virtualBucketTimes must be ≥ 1, got ${this.virtualBucketTimes}`);
    }
    const weights: number[] = [];
    // TreeMap.put semantics: a later shard overwrites an equal key.
    const ring = new Map<number, number>();
    for (let i = 0; i < count; i++) {
      const w = weightOf(config.weights, i);
      weights.push(w);
      let name = `SHARD-${i}`;
      for (let n = 0, nodes = this.virtualBucketTimes * w; n < nodes; n++) {
        name += `-NODE-${n}`;
        ring.set(murmur3HashUnencodedChars(name, this.seed), i);
      }
    }
    this.weights = weights;
    const sorted = [...ring.entries()].sort((a, b) => a[0] - b[0]);
    this.keys = Int32Array.from(sorted, (e) => e[0]);
    this.shards = Int32Array.from(sorted, (e) => e[1]);
  }

  /** Ring size after collisions (for diagnostics and tests). */
  get ringSize(): number {
    return this.keys.length;
  }

  /** Ring entries [hash, shard] in order (for diagnostics and tests). */
  ringEntries(): Array<[number, number]> {
    return Array.from(this.keys, (k, i) => [k, this.shards[i]!] as [number, number]);
  }

  hash(key: string): number {
    return murmur3HashUnencodedChars(key, this.seed);
  }

  /** 0-based shard of `key`, as MyCat's `calculate(String)` returns it. */
  shardOf(key: string): number {
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const shard = this.shardOfHash(this.hash(key));
    // Checkpoint codes are few (tens); the cache only bounds itself against unexpected keys.
    if (this.cache.size < 100_000) this.cache.set(key, shard);
    return shard;
  }

  shardOfHash(h: number): number {
    const keys = this.keys;
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keys[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return this.shards[lo === keys.length ? 0 : lo]!;
  }
}
