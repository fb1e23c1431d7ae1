/**
 * `traffic train --in master.csv --out traffic_flow_model.json [--holdout-days 7] [--lambda L]`
 * Defaults: the master and the model live in the data dir (TRAFFIC_DATA_DIR, else data/out).
 */
import { writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from '../core/command.ts';
import { int, num, optStr, parseFlags } from '../core/args.ts';
import { readEnv } from '../core/config.ts';
import { TrafficError } from '../core/errors.ts';
import { FILES } from '../core/schema.ts';
import { readMasterGrid, type MasterScan } from './read-master.ts';
import { forecastTable } from './forecast.ts';
import { metricsTable, trainFlowModel, type TrainOptions, type TrainResult } from './train.ts';

/**
 * Reads a master, trains, writes the model JSON; for callers that compose commands (e.g. `start`).
 * Throws INPUT_NOT_FOUND / INPUT_EMPTY / HEADER_UNRECOGNISED like the command.
 */
export async function trainModelFile(input: string, output: string, opts: TrainOptions = {}): Promise<{ scan: MasterScan; result: TrainResult }> {
  const scan = await readMasterGrid(input, { progressLabel: 'train: read master' });
  const result = trainFlowModel(scan.grid, { file: path.basename(input), sha256: scan.sha256 }, opts);
  await mkdir(path.dirname(output), { recursive: true });
  await writeFile(output, JSON.stringify(result.model, null, 1) + '\n');
  return { scan, result };
}

const usage = `usage: traffic train [--in MASTER.csv] [--out MODEL.json] [--holdout-days N] [--lambda L [--weekend-hour-ratio R]]

Fits the hourly flow model (ridge regression on checkpoint/hour/weekend one-hots and their
interactions) on the complete real days of the master, evaluates it on the last N complete days
against two baselines, and writes the model JSON (refit on all complete days).

  --in FILE          master CSV (default: <data dir>/${FILES.master})
  --out FILE         model JSON (default: <data dir>/${FILES.model})
  --holdout-days N   complete days held out for evaluation (default 7)
  --lambda L         fixed ridge penalty instead of choosing it by blocked cross-validation
  --weekend-hour-ratio R
                     with --lambda: penalty of the checkpoint×hour×weekend block = R × L (default 1)
  data dir: TRAFFIC_DATA_DIR, else data/out`;

export const command: Command = {
  name: 'train',
  summary: 'fit the hourly flow model → traffic_flow_model.json',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, {
      in: { type: 'string' },
      out: { type: 'string' },
      'holdout-days': { type: 'string' },
      lambda: { type: 'string' },
      'weekend-hour-ratio': { type: 'string' },
    });
    const env = readEnv();
    const input = path.resolve(optStr(values.in, 'in') ?? path.join(env.dataDir, FILES.master));
    const output = path.resolve(optStr(values.out, 'out') ?? path.join(env.dataDir, FILES.model));
    const holdoutDays = int(values['holdout-days'], 'holdout-days', 7, { min: 1, max: 366 });
    const lambda = values.lambda === undefined ? undefined : num(values.lambda, 'lambda', 1, { min: 0 });
    const ratioGiven = values['weekend-hour-ratio'] !== undefined;
    if (ratioGiven && lambda === undefined) {
      throw new TrafficError('INVALID_OPTION', '--weekend-hour-ratio needs --lambda (otherwise both are chosen by cross-validation)', {
        option: '--weekend-hour-ratio',
      });
    }
    const weekendHourRatio = ratioGiven ? num(values['weekend-hour-ratio'], 'weekend-hour-ratio', 1, { min: 0 }) : undefined;

    const { scan, result } = await trainModelFile(input, output, { holdoutDays, lambda, weekendHourRatio });
    for (const ex of scan.skippedExamples) process.stderr.write(`train: skipped ${ex}\n`);
    const m = result.model;

    const excluded = m.data.days.excluded;
    process.stdout.write(
      [
        `days ${m.data.days.in_range} in range, ${m.data.days.complete} complete; excluded ${excluded.length}` + (excluded.length ? ':' : ''),
        ...excluded.map((d) => `  ${d.date} ${d.status}: ${d.reason}`),
        scan.flagsFrom ? `stage 02 day flags read from ${scan.flagsFrom}` : 'stage 02 day flags: none found (own rules only)',
        `λ = ${m.fit.lambda}, weekend-hour penalty ×${m.fit.weekend_hour_ratio} (${m.fit.lambda_selection})`,
        metricsTable(m.metrics),
        m.metrics.beats_baselines ? 'model beats both baselines on MAE and RMSE' : 'WARNING: the model does NOT beat both baselines',
        `profile recency weights: ${m.fit.half_life_days === null ? 'none' : `half-life ${m.fit.half_life_days} days`} (${m.fit.half_life_selection})`,
        `forecast part, rolling origin over the hold-out (${m.metrics.forecast.horizons[0]?.n ?? 0} checkpoint-hours per horizon):`,
        forecastTable(m.metrics.forecast.horizons),
        m.metrics.forecast.goal_met
          ? `goal met: ${m.metrics.forecast.goal}`
          : `goal NOT met: ${m.metrics.forecast.goal} (ratio ${m.metrics.forecast.horizons[0]?.mae_ratio_to_best.toFixed(3)})`,
        `wrote ${output} (${m.coefficients.length} coefficients, refit on ${m.data.days.complete} complete days; ` +
          `fit ${result.trainSeconds.toFixed(2)} s, total ${(scan.seconds + result.trainSeconds).toFixed(1)} s)`,
      ].join('\n') + '\n',
    );
    return 0;
  },
};
