/**
 * Deterministic pseudo-random hold-out: whether a row's known value of a field is hidden from the
 * evidence to measure imputation quality. Depends only on (seed, field, GCXH), so a run is
 * repeatable and the same rows are hidden whatever the order they arrive in.
 */

/** FNV-1a 32-bit hash of a string (UTF-16 code units; enough spread for a sampling decision). */
export function fnv1a(text: string): number {
  return fnvFinish(fnvUpdate(FNV_OFFSET, text));
}

const FNV_OFFSET = 0x811c9dc5;

function fnvUpdate(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h;
}

function fnvFinish(h: number): number {
  // Final avalanche (murmur3 fmix32): FNV alone is weak in its low bits for short similar keys.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function isHeldOut(seed: number, field: string, gcxh: string, rate: number): boolean {
  if (rate <= 0) return false;
  return fnv1a(`${seed}|${field}|${gcxh}`) / 0x1_0000_0000 < rate;
}

/**
 * `isHeldOut` for one seed and field, for many GCXH: the hash of the `${seed}|${field}|` prefix is
 * computed once (FNV-1a is sequential), so no key string is built per row. Same answers.
 */
export function heldOutTest(seed: number, field: string, rate: number): (gcxh: string) => boolean {
  if (rate <= 0) return () => false;
  const prefix = fnvUpdate(FNV_OFFSET, `${seed}|${field}|`);
  return (gcxh) => fnvFinish(fnvUpdate(prefix, gcxh)) / 0x1_0000_0000 < rate;
}
