/**
 * Heap limits of the long-lived worker threads (ETL readers, writer, stage threads). V8 flags are
 * process-wide: `npm run etl:all` starts Node with `--max-semi-space-size=64` for the main thread,
 * whose short-lived strings should die young, and every worker would otherwise get the same
 * young generation (up to 3 × 64 MB each; measured: six threads took ~620 MB RSS before any
 * row was held). The workers' own allocation is per batch, so V8's usual 48 MB young generation
 * is enough for them (measured earlier as no slower, docs/etl.md) and keeps the run within its
 * memory budget (etl/memory.ts).
 */
import type { ResourceLimits } from 'node:worker_threads';

export const WORKER_YOUNG_GENERATION_MB = 48;

export const WORKER_RESOURCE_LIMITS: ResourceLimits = { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB };
