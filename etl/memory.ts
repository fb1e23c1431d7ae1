/**
 * The ETL's memory budget (`etl:all --memory-mb N`, `TRAFFIC_ETL_MEMORY_MB=N`; default 1024 MiB)
 * and how a run divides it. Two things in a full run grow with the data set: stage 01's kept rows
 * (the sort) and 03's rows held for stage 04's second pass. Each gets a number of rows it may hold
 * in memory; beyond it, stage 01 spills sorted runs and merges them (etl/sorted-runs.ts) and the
 * held rows go on to disk in order (chain.ts RowStore). Everything else a run holds is either
 * fixed (threads, buffers, the young generation) or grows with distinct keys rather than rows
 * (stage 04's evidence tables, one entry per plate/brand key), plus stage 01's compact key set
 * (~40 bytes a kept row, for copy detection). The outputs do not depend on the budget.
 *
 * The numbers below are measured (docs/etl.md "Memory budget"): with the default budget, the
 * two-month stand-in spills nothing and a generated year (4.2M raw rows) stays under 1 GiB.
 */
import v8 from 'node:v8';
import { TrafficError } from '../core/errors.ts';

export const DEFAULT_MEMORY_MB = 1024;
/** Smaller budgets cannot be honoured (see FIXED_MB); the caps then fall to MIN_ROWS. */
export const MIN_MEMORY_MB = 64;
export const MAX_MEMORY_MB = 1 << 20;
export const MEMORY_ENV = 'TRAFFIC_ETL_MEMORY_MB';

/**
 * What a full run takes besides the rows it holds, measured as peak RSS less the held rows: the
 * main thread's heap and young generation, five worker threads (readers, writer, stage threads)
 * with theirs, stage 04's tables, stage 01's key set, write and read buffers.
 */
const FIXED_MB = 448;
/** Heap per held row, packed (one string per row): ~0.41 kB measured, rounded up. */
const BYTES_PER_ROW = 460;
/** Floor of each cap: runs of fewer rows would only multiply files and merge work. */
export const MIN_ROWS = 2048;

export interface MemoryPlan {
  budgetMb: number;
  /** Resident bytes above which the holders stop taking rows into memory (MemoryGuard). */
  pressureBytes: number;
  /** Stage 01: kept rows held before a sorted run is spilled. */
  mergeRows: number;
  /** Rows held for stage 04's second pass before the rest go to disk. */
  storeRows: number;
}

/**
 * The caps for a budget. The two holdings overlap in a full run (stage 01's sorted rows are fed to
 * 02 + 03 while 03's rows come back and are held), so each gets half of what is left.
 */
export function memoryPlan(budgetMb: number): MemoryPlan {
  const free = Math.max(0, budgetMb - FIXED_MB) * 2 ** 20;
  const rows = Math.max(MIN_ROWS, Math.floor(free / 2 / BYTES_PER_ROW));
  return { budgetMb, pressureBytes: Math.floor(budgetMb * PRESSURE_SHARE * 2 ** 20), mergeRows: rows, storeRows: rows };
}

/**
 * Share of the budget at which the row holders stop holding, whatever their caps: what else the
 * run holds (stage 04's tables, the threads' heaps) is not known in advance and differs with the
 * data, so the caps are checked against the process's real resident size as well. The rest of
 * the budget is headroom for what comes after (04's tables grow during the second pass too).
 */
const PRESSURE_SHARE = 0.8;
/**
 * How much a heap's old generation may grow past what was live after a full collection before the
 * next one starts. V8 picks a factor of up to 4× on a machine with this much memory: stage 04's
 * main-thread heap held ~0.4 GB live but grew to ~1.3 GB of mostly dead objects on a generated
 * year, which no row cap can foresee. At 30 % the year's main heap stayed at ~0.65 GB, and the
 * collections it adds are short (docs/etl.md "Memory budget"). Short, but not free: on an input
 * whose rows the budget holds anyway (the two-month stand-in) they cost ~2 s of CPU in a ~19 s
 * run and save nothing that matters, so a run bounds the heaps only when its input needs it
 * (heapBoundNeeded).
 */
export const HEAP_GROWING_PERCENT = 30;

/**
 * Raw bytes a raw row takes at least, for guessing the rows before stage 01 has read them: the
 * CSV exports take ~110 bytes a record (the generated sets too); XLSX fewer, which only makes the
 * guess larger, i.e. the bound comes sooner.
 */
const RAW_BYTES_PER_ROW = 100;

/** What is known of a run's size: its raw files before stage 01, its kept rows after. */
export type RunSize = { rawBytes: number } | { keptRows: number; spilled: boolean };

/**
 * Whether a run's heaps must be bounded (boundHeapGrowth). Before stage 01 only from the raw size,
 * and only when it is clearly beyond the budget (over twice the rows the store may hold: then
 * stage 01 itself runs bounded, as a year's must); otherwise it is decided when 01 ends, from its
 * real row count: bounded if 01 spilled or the store cannot hold every row, since then 04's
 * tables grow beside rows the budget had to give way for. An input the budget holds whole (the
 * two-month stand-in: 603,714 kept rows against 656,565) keeps V8's own growth.
 */
export function heapBoundNeeded(plan: MemoryPlan, size: RunSize): boolean {
  if ('rawBytes' in size) return size.rawBytes / RAW_BYTES_PER_ROW > 2 * plan.storeRows;
  return size.spilled || size.keptRows > plan.storeRows;
}

let heapBounded = false;

/**
 * Bounds heap growth for the rest of the process (every thread, also those already running: V8
 * flags are process-wide and the factor is read at each full collection), once; a
 * `--heap-growing-percent` given to Node on the command line wins.
 */
export function boundHeapGrowth(): void {
  if (heapBounded) return;
  heapBounded = true;
  if (process.execArgv.some((a) => /^--heap[-_]growing[-_]percent/.test(a))) return;
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

/** Rows between two looks at the resident size (process.memoryUsage.rss() is a system call). */
export const PRESSURE_CHECK_ROWS = 4096;

/** Whether the process is past the plan's pressure point (resident size of all threads). */
export function underPressure(plan: Pick<MemoryPlan, 'pressureBytes'>): boolean {
  return process.memoryUsage.rss() > plan.pressureBytes;
}

/** A budget given as text (flag or env var), validated; errors name `option`. */
export function parseMemoryMb(v: string, option: string): number {
  const n = Number(v.trim());
  if (v.trim() === '' || !Number.isInteger(n) || n < MIN_MEMORY_MB || n > MAX_MEMORY_MB) {
    throw new TrafficError('INVALID_OPTION', `${option} must be a whole number of MiB, ${MIN_MEMORY_MB}..${MAX_MEMORY_MB}, got ${v}`, { option });
  }
  return n;
}

/** TRAFFIC_ETL_MEMORY_MB when set, else DEFAULT_MEMORY_MB. */
export function memoryBudgetFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env[MEMORY_ENV];
  return v === undefined || v === '' ? DEFAULT_MEMORY_MB : parseMemoryMb(v, MEMORY_ENV);
}
