/**
 * How an ETL stage is written: a pure row transform that knows nothing about files.
 * The runner (etl/runner.ts) streams rows from files (or from the previous stage, in memory)
 * through it; tests call it directly on literal rows.
 *
 * Lifecycle for one run:  scan(row)* → prepare() → transform(row, emit)* → flush(emit)
 * `scan` is an optional first pass over the whole input (stage 04 learns plate → type votes and
 * which days are missing); stages without it run in a single pass.
 */
import type { Reject } from './schema.ts';

export interface RowContext {
  /** Where the row came from, for rejects: the stage input file and 1-based data line. */
  file: string;
  line: number;
}

export interface StageIO {
  /** Send a row to rejects.csv with a reason; it is counted, never lost. */
  reject(row: readonly string[], reason: string, where: RowContext): void;
  /** Count something for the stage summary and manifest (e.g. `imputed.HPZL.same_plate`). */
  count(key: string, n?: number): void;
  /** Log line (repair log etc.) written to a named side output. */
  side(output: string, fields: readonly string[]): void;
}

export interface RowStage {
  /** e.g. `03-standardize`. */
  readonly name: string;
  readonly inputColumns: readonly string[];
  readonly outputColumns: readonly string[];
  scan?(row: readonly string[]): void;
  prepare?(): void;
  /**
   * After prepare(): about how many rows the stage will add beyond its input (stage 04's filled
   * days). A hint for the runner (where to run the next stage), never a count it relies on.
   */
  plannedAdded?(): number;
  transform(row: string[], emit: (row: string[]) => void, where: RowContext): void;
  flush?(emit: (row: string[]) => void): void;
  /** Extra files the stage writes at the end (e.g. kkmc_dimension.csv), name → content. */
  artifacts?(): Record<string, string>;
}

export interface InMemoryResult {
  rows: string[][];
  rejects: Reject[];
  counts: Record<string, number>;
  side: Record<string, string[][]>;
  artifacts: Record<string, string>;
}

/** Runs a stage over literal rows in memory: the way tests call it. */
export function runStageInMemory(make: (io: StageIO) => RowStage, rows: readonly string[][], file = '(memory)'): InMemoryResult {
  const rejects: Reject[] = [];
  const counts: Record<string, number> = {};
  const side: Record<string, string[][]> = {};
  const out: string[][] = [];
  const io: StageIO = {
    reject: (row, reason, where) => rejects.push({ sourceFile: where.file, line: where.line, stage: stage.name, reason, raw: row.join(',') }),
    count: (key, n = 1) => {
      counts[key] = (counts[key] ?? 0) + n;
    },
    side: (name, fields) => {
      (side[name] ??= []).push([...fields]);
    },
  };
  const stage = make(io);
  const emit = (r: string[]): void => {
    out.push(r);
  };
  if (stage.scan) for (const r of rows) stage.scan(r);
  stage.prepare?.();
  rows.forEach((r, i) => stage.transform([...r], emit, { file, line: i + 2 }));
  stage.flush?.(emit);
  return { rows: out, rejects, counts, side, artifacts: stage.artifacts?.() ?? {} };
}
