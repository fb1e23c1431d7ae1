/**
 * Heap limits of the long-lived worker threads (ETL readers, writer, stage threads). V8 flags are
 * process-wide: `npm run etl:all` starts Node with `--max-semi-space-size=64` for the main thread,
 * whose short-lived strings should die young. That flag also **overrides** a worker's
 * `resourceLimits.maxYoungGenerationSizeMb` (V8 reads the flag after the isolate's constraints),
 * so every worker got 2 × 64 MB of young generation too (measured: each busy worker's new space
 * 128 MB, six threads ~620 MB RSS before any row was held). The main thread's heap is configured
 * once, when it starts; so before the first worker starts, the flag is set back to its default
 * (0: "use the isolate's own limits") and each worker gets the young generation asked for here.
 * The workers' own allocation is per batch, so V8's usual 48 MB young generation is enough for
 * them, and it keeps the run within its memory budget (etl/memory.ts).
 */
import type { ResourceLimits } from 'node:worker_threads';
import v8 from 'node:v8';

export const WORKER_YOUNG_GENERATION_MB = 48;

const LIMITS: ResourceLimits = { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB };

let flagReset = false;

/** The limits to start a worker with; the first call makes V8 honour them (see above). */
export function workerResourceLimits(): ResourceLimits {
  if (!flagReset) {
    flagReset = true;
    // Only worker isolates created from now on read it; the running main thread keeps its own.
    v8.setFlagsFromString('--max-semi-space-size=0');
  }
  return LIMITS;
}
