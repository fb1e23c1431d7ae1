/**
 * manifest.json: what a run read (inputs with sha256 and rows), what each stage did (rows in/out,
 * rejects by reason, removed copies, added rows, the stage's own counts, seconds), with which
 * options and which code. Row accounting is checked here: a stage whose numbers do not balance
 * stops the run, because a row that vanished without a reason is a bug, not a statistic.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { TrafficError } from '../core/errors.ts';
import { FILES } from '../core/schema.ts';
import type { ToolVersion } from '../core/version.ts';

export const MANIFEST_FORMAT = 'etl-manifest/1';

export interface InputEntry {
  /** Path relative to the raw dir, `/`-separated (`202312/12-01.csv`). */
  path: string;
  sha256: string;
  bytes: number;
  /** Data records read (after the header), rejected ones included. */
  rows: number;
  format: 'csv' | 'xlsx';
  encoding?: string;
  sheet?: string;
  headerLine: number;
  header: string[];
  /** Set when the file is byte-identical to an earlier input (same sha256). */
  identicalTo?: string;
}

export interface StageEntry {
  stage: string;
  /** `raw` for stage 01, else the input file name in the output dir. */
  input: string;
  /** Files the stage wrote (names in the output dir). */
  outputs: string[];
  /** Whether the rows came from the previous stage in memory (fused) or from the input file. */
  source: 'raw' | 'memory' | 'file';
  in: number;
  out: number;
  rejected: number;
  rejectsByReason: Record<string, number>;
  removedCopies: number;
  /** Rows the stage created (missing-day fill, GCXH `SYN…`). */
  added: number;
  /** The stage's own counters (io.count): imputed values by field and method, etc. */
  counts: Record<string, number>;
  seconds: number;
  rowsPerSecond: number;
}

/** A stage's entry before it has seen a row: all counts zero. */
export function emptyStageEntry(stage: string, input: string, outputs: string[], source: StageEntry['source']): StageEntry {
  return {
    stage,
    input,
    outputs,
    source,
    in: 0,
    out: 0,
    rejected: 0,
    rejectsByReason: {},
    removedCopies: 0,
    added: 0,
    counts: {},
    seconds: 0,
    rowsPerSecond: 0,
  };
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  tool: ToolVersion;
  run: { started: string; finished: string; seconds: number; stages: string[] };
  options: Record<string, unknown>;
  inputs: InputEntry[];
  stages: Record<string, StageEntry>;
  totals: { rawRecords: number; masterRows: number; rejected: number; removedCopies: number; added: number };
}

/** Rejects are grouped by the part of the reason before the first `:` (the value after it varies). */
export function reasonKey(reason: string): string {
  const i = reason.indexOf(':');
  return (i === -1 ? reason : reason.slice(0, i)).trim();
}

/** rows in + rows added = rows out + rejects + removed copies, or the run stops. */
export function checkBalance(e: Pick<StageEntry, 'stage' | 'in' | 'out' | 'rejected' | 'removedCopies' | 'added'>): void {
  const lhs = e.in + e.added;
  const rhs = e.out + e.rejected + e.removedCopies;
  if (lhs !== rhs || e.added < 0) {
    throw new TrafficError(
      'INTERNAL',
      `row accounting does not balance in stage ${e.stage}: in ${e.in} + added ${e.added} ≠ out ${e.out} + rejected ${e.rejected} + removed ${e.removedCopies}`,
    );
  }
}

export function totals(stages: Record<string, StageEntry>): Manifest['totals'] {
  const list = Object.values(stages);
  const merge = stages['01-merge'];
  const master = stages['05-features'];
  return {
    rawRecords: merge?.in ?? 0,
    masterRows: master?.out ?? 0,
    rejected: list.reduce((s, e) => s + e.rejected, 0),
    removedCopies: list.reduce((s, e) => s + e.removedCopies, 0),
    added: list.reduce((s, e) => s + e.added, 0),
  };
}

export async function readManifest(outDir: string): Promise<Manifest | undefined> {
  try {
    const m = JSON.parse(await readFile(path.join(outDir, FILES.manifest), 'utf8')) as Manifest;
    return m.format === MANIFEST_FORMAT ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Written to a temporary name and renamed, so a reader never sees half a manifest. */
export async function writeManifest(outDir: string, m: Manifest): Promise<string> {
  const file = path.join(outDir, FILES.manifest);
  await writeFile(file + '.partial', JSON.stringify(m, null, 2) + '\n');
  await rename(file + '.partial', file);
  return file;
}
