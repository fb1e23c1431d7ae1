/**
 * The five ETL stages by number: name, the file each reads when run alone, the data file it
 * writes, and how to build its RowStage from the run's options. Stage 01 is multi-file and runs
 * through etl/merge-files.ts; 02–05 are RowStages the chain runner fuses. Stage modules load
 * when a run needs them (`--only 1` does not pay for the codename or repair tables).
 */
import { FILES, REPAIR_LOG_COLUMNS } from '../core/schema.ts';
import type { RowStage, StageIO } from '../core/stage.ts';
import { MERGE_STAGE } from './stages/01-merge.ts';
import { createProfileStage, DEFAULT_PROFILE_OPTIONS, PROFILE_STAGE } from './stages/02-profile.ts';

export type StageNo = 1 | 2 | 3 | 4 | 5;

export interface StageSettings {
  outDir: string;
  geo?: string;
  overrides?: string;
  fill: boolean;
}

export interface StageDef {
  n: StageNo;
  name: string;
  /** File (in the output dir) the stage reads when it runs without its predecessor in memory. */
  input: string | null;
  /** Data file the stage writes; null for a pass-through stage (02). */
  output: string | null;
  /** Side outputs (name → header) the stage writes through io.side. */
  sides: Record<string, readonly string[]>;
  /**
   * The stage has a `scan()` (a first pass over its whole input): it heads a segment and runs on
   * the main thread, which holds its input for the second pass (etl/executor.ts).
   */
  scans?: true;
  /** Builds the stage factory once its options are loaded (files read, validated). */
  load?: (s: StageSettings) => Promise<(io: StageIO) => RowStage>;
}

export const STAGES: readonly StageDef[] = [
  { n: 1, name: MERGE_STAGE, input: null, output: FILES.merged, sides: {} },
  {
    n: 2,
    name: PROFILE_STAGE,
    input: FILES.merged,
    output: null,
    sides: {},
    load: async () => (io) => createProfileStage(DEFAULT_PROFILE_OPTIONS, io),
  },
  {
    n: 3,
    name: '03-standardize',
    input: FILES.merged,
    output: FILES.standardized,
    sides: {},
    load: async (s) => {
      const { createStandardizeStage, loadStandardizeOptions } = await import('./stages/03-standardize.ts');
      const opts = await loadStandardizeOptions({
        outDir: s.outDir,
        ...(s.geo === undefined ? {} : { geo: s.geo }),
        ...(s.overrides === undefined ? {} : { overrides: s.overrides }),
      });
      return (io) => createStandardizeStage(opts, io);
    },
  },
  {
    n: 4,
    name: '04-repair',
    input: FILES.standardized,
    output: FILES.cleaned,
    sides: { repair_log: REPAIR_LOG_COLUMNS },
    scans: true,
    load: async (s) => {
      const { createRepairStage, DEFAULT_REPAIR_OPTIONS } = await import('./stages/04-repair.ts');
      const opts = { ...DEFAULT_REPAIR_OPTIONS, fill: s.fill };
      return (io) => createRepairStage(opts, io);
    },
  },
  {
    n: 5,
    name: '05-features',
    input: FILES.cleaned,
    output: FILES.master,
    sides: {},
    load: async () => {
      const { createFeaturesStage, DEFAULT_FEATURES_OPTIONS } = await import('./stages/05-features.ts');
      return (io) => createFeaturesStage(DEFAULT_FEATURES_OPTIONS, io);
    },
  },
];

export const STAGE_NAMES: readonly string[] = STAGES.map((s) => s.name);

export function stageDef(n: number): StageDef {
  const d = STAGES[n - 1];
  if (!d) throw new Error(`no stage ${n}`);
  return d;
}
