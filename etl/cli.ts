/**
 * `traffic etl:all [--raw DIR] [--out DIR] [--from N | --only N] [--geo FILE] [--overrides FILE]
 * [--no-fill] [--seed S] [--readers N] [--memory-mb N]`: raw files → the stage outputs, manifest.json and rejects.csv.
 * Options are normalized here once; the runner trusts them.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { int, optStr, parseFlags, str } from '../core/args.ts';
import type { Command } from '../core/command.ts';
import { readEnv } from '../core/config.ts';
import { TrafficError } from '../core/errors.ts';
import { DEFAULT_MEMORY_MB, MAX_MEMORY_MB, memoryBudgetFromEnv, MIN_MEMORY_MB } from './memory.ts';
import { finalLine, runEtl, type EtlOptions } from './runner.ts';
import type { StageNo } from './stages.ts';

export const DEFAULT_RAW_DIR = 'data/raw';
export const DEFAULT_SEED = 42;

const usage = `usage: traffic etl:all [--raw DIR] [--out DIR] [--from N | --only N] [--geo FILE] [--overrides FILE] [--no-fill] [--seed S] [--readers N] [--memory-mb N]

Runs the ETL stages 01 merge → 02 profile → 03 standardize → 04 repair → 05 features.

  --raw DIR         raw files: month folders (YYYYMM/) of .csv (UTF-8 or GBK) and .xlsx files
                    (default ${DEFAULT_RAW_DIR}; when it is missing or empty and --raw is not given,
                    a realistic sample is generated there first)
  --out DIR         output dir (default TRAFFIC_DATA_DIR, else data/out)
  --from N          start at stage N (1–5), reading its input file from --out
  --only N          run stage N alone, reading its input file from --out
  --geo FILE        checkpoint coordinates KKMC_NAME,LON,LAT (default data/ref/kkmc_geo.csv if present)
  --overrides FILE  kkmc_overrides.csv (KKMC_NAME,KKMC): codenames that win over the rule
  --no-fill         do not fill days without passes (stage 04)
  --seed S          seed of the generated sample (default ${DEFAULT_SEED})
  --readers N       threads reading the raw files in stage 01 (0 = the main thread; default: 2
                    on a machine with 2+ cores and 2+ files, up to 4 with more cores;
                    TRAFFIC_ETL_READERS=N overrides)
  --memory-mb N     memory budget of the run in MiB (default TRAFFIC_ETL_MEMORY_MB, else
                    ${DEFAULT_MEMORY_MB}): rows beyond it are sorted and kept in scratch files in
                    --out (removed at the end); the outputs are the same whatever the budget

Outputs in --out: merged_data.csv, kkmc_statistics.txt/.json, merged_data_standardized.csv,
kkmc_dimension.csv, master_data_cleaned.csv, repair_log.csv, master_data_expanded.csv,
rejects.csv, manifest.json.`;

function stageNo(v: unknown, option: string): StageNo | undefined {
  if (v === undefined) return undefined;
  return int(v, option, 1, { min: 1, max: 5 }) as StageNo;
}

/** argv → runner options, or INVALID_OPTION naming the flag. */
export function parseEtlArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): EtlOptions {
  const { values } = parseFlags(argv, {
    raw: { type: 'string' },
    out: { type: 'string' },
    from: { type: 'string' },
    only: { type: 'string' },
    geo: { type: 'string' },
    overrides: { type: 'string' },
    'no-fill': { type: 'boolean' },
    seed: { type: 'string' },
    readers: { type: 'string' },
    'memory-mb': { type: 'string' },
  });
  const from = stageNo(values.from, 'from');
  const only = stageNo(values.only, 'only');
  if (from !== undefined && only !== undefined) {
    throw new TrafficError('INVALID_OPTION', '--from and --only cannot be used together', { option: '--only' });
  }
  const rawGiven = optStr(values.raw, 'raw');
  const raw = path.resolve(rawGiven ?? DEFAULT_RAW_DIR);
  const out = values.out === undefined ? readEnv(env).dataDir : path.resolve(str(values.out, 'out'));
  const geo = optStr(values.geo, 'geo');
  const overrides = optStr(values.overrides, 'overrides');
  for (const [flag, file] of [
    ['--geo', geo],
    ['--overrides', overrides],
  ] as const) {
    if (file !== undefined && !existsSync(file)) {
      throw new TrafficError('INPUT_NOT_FOUND', `${flag} file not found: ${file}`, { option: flag, file });
    }
  }
  const start = only ?? from ?? 1;
  const opts: EtlOptions = {
    raw,
    rawExplicit: rawGiven !== undefined,
    out,
    from: start,
    to: only ?? 5,
    fill: values['no-fill'] !== true,
    seed: int(values.seed, 'seed', DEFAULT_SEED, { min: 0 }),
  };
  if (values.readers !== undefined) opts.readers = int(values.readers, 'readers', 0, { min: 0, max: 64 });
  // The flag wins over the env var; both are checked here, before any work.
  opts.memoryMb = int(values['memory-mb'], 'memory-mb', memoryBudgetFromEnv(env), { min: MIN_MEMORY_MB, max: MAX_MEMORY_MB });
  if (geo !== undefined) opts.geo = path.resolve(geo);
  if (overrides !== undefined) opts.overrides = path.resolve(overrides);
  return opts;
}

export const command: Command = {
  name: 'etl:all',
  summary: 'raw files → master CSV + checkpoint dimension (stages 01–05)',
  usage,
  async run(argv) {
    const opts = parseEtlArgs(argv);
    if (opts.rawExplicit && !existsSync(opts.raw)) {
      throw new TrafficError('INPUT_NOT_FOUND', `--raw dir not found: ${opts.raw}`, { option: '--raw', file: opts.raw });
    }
    const r = await runEtl(opts);
    process.stderr.write(finalLine(r) + '\n');
    return 0;
  },
};
