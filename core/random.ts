/**
 * mulberry32: a small, fast, seeded PRNG for reproducible synthetic data and injections (the
 * same seed gives the same sequence on every machine). Not for anything security-related.
 * The sample generator has its own named-stream generator (etl/sample/rng.ts).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
