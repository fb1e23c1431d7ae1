/**
 * `traffic report --in master.csv --model traffic_flow_model.json --out report.html`
 * One streaming pass over the master, then one self-contained HTML page: charts rendered
 * server-side to SVG with ECharts, inline CSS, no scripts and no network needed to view it.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from '../core/command.ts';
import { optStr, parseFlags } from '../core/args.ts';
import { readEnv } from '../core/config.ts';
import { TrafficError } from '../core/errors.ts';
import { FILES } from '../core/schema.ts';
import { chinaIso } from '../core/time.ts';
import { loadPredictor, type Predictor } from '../models/predictor.ts';
import type { HourlyGrid } from '../models/grid.ts';
import { readMasterGrid } from '../models/read-master.ts';
import { trainFlowModel, type FlowModelJson, type TrainResult } from '../models/train.ts';
import { dailySummary, holdoutSeries, hourlyProfile, RowCounters, topN } from './analyses.ts';
import {
  barRankOption,
  checkpointDaysOption,
  COLORS,
  dailyTotalsOption,
  forecastLineOption,
  holdoutLineOption,
  holdoutScatterOption,
  hourlyProfileOption,
  renderSvg,
} from './charts.ts';
import { esc, figure, fmt, note, page, section, table } from './page.ts';
import { BASELINE_DESCRIPTIONS, BASELINES, dayNumber, type HorizonEvaluation } from '../models/forecast.ts';
import { flattenJson, readRepairSummary, type RepairSummary } from './repair.ts';

const usage = `usage: traffic report [--in MASTER.csv] [--model MODEL.json] [--out report.html]

  --in FILE      master CSV (default: <data dir>/${FILES.master})
  --model FILE   model JSON (default: <data dir>/${FILES.model}; the model section says so when absent)
  --out FILE     HTML page (default: <data dir>/report.html)
Stage 04 artifacts (repair_log.csv, manifest.json, repair_quality.json) are read from the
master's folder when present.`;

const W = 1240;

export const command: Command = {
  name: 'report',
  summary: 'render the analysis report (self-contained HTML)',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, { in: { type: 'string' }, model: { type: 'string' }, out: { type: 'string' } });
    const env = readEnv();
    const input = path.resolve(optStr(values.in, 'in') ?? path.join(env.dataDir, FILES.master));
    const modelFile = path.resolve(optStr(values.model, 'model') ?? path.join(env.dataDir, FILES.model));
    const out = path.resolve(optStr(values.out, 'out') ?? path.join(env.dataDir, 'report.html'));
    const t0 = performance.now();
    const html = await buildReport(input, modelFile, values.model !== undefined);
    await mkdir(path.dirname(out), { recursive: true });
    await writeFile(out, html);
    process.stdout.write(`wrote ${out} (${(html.length / 1024).toFixed(0)} KB) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    return 0;
  },
};

interface ModelInfo {
  json: FlowModelJson | null;
  predictor: Predictor | null;
  problem: string | null;
}

async function loadModel(file: string, explicit: boolean): Promise<ModelInfo> {
  if (!existsSync(file)) {
    if (explicit) throw new TrafficError('INPUT_NOT_FOUND', `no model at ${file}`, { file });
    return { json: null, predictor: null, problem: `no model file at ${file} (run \`npm run train\`)` };
  }
  const text = await readFile(file, 'utf8');
  const predictor = loadPredictor(text); // throws MODEL_INVALID with the field
  return { json: JSON.parse(text) as FlowModelJson, predictor, problem: null };
}

export async function buildReport(input: string, modelFile: string, modelExplicit = false): Promise<string> {
  const counters = new RowCounters();
  const scan = await readMasterGrid(input, { visit: (f) => counters.add(f), progressLabel: 'report: read master' });
  const grid = scan.grid;
  const model = await loadModel(modelFile, modelExplicit);
  const repairs = await readRepairSummary(path.dirname(input));

  // Hold-out evaluation with the model's own settings (λ, blocks, hold-out length), fitted on the
  // training days only, so the chart shows predictions the model could not have seen.
  let evaluation: TrainResult | null = null;
  let evalProblem: string | null = null;
  // Every 1 h and 3 h forecast of the hold-out, by checkpoint index and hour number.
  const ahead = new Map<string, { predicted: number; actual: number }>();
  try {
    evaluation = trainFlowModel(
      grid,
      { file: path.basename(input), sha256: scan.sha256 },
      model.json
        ? {
            lambda: model.json.fit.lambda,
            weekendHourRatio: model.json.fit.weekend_hour_ratio ?? 1,
            blocks: model.json.features.blocks,
            holdoutDays: model.json.metrics.holdout.days.length,
            // A /1 model was fitted without recency weights.
            halfLife: model.json.fit.half_life_days ?? null,
            onHoldoutForecast: (c, target, horizon, predicted, actual) => {
              if (horizon !== 2) ahead.set(`${c}:${target}:${horizon}`, { predicted, actual });
            },
          }
        : {
            onHoldoutForecast: (c, target, horizon, predicted, actual) => {
              if (horizon !== 2) ahead.set(`${c}:${target}:${horizon}`, { predicted, actual });
            },
          },
    );
  } catch (err) {
    evalProblem = (err as Error).message;
  }

  const daily = dailySummary(grid);
  const profile = hourlyProfile(grid);
  const parts: string[] = [];

  // Overview.
  const statusCount = (s: string): number => grid.days.filter((d) => d.status === s).length;
  const skipped = Object.values(grid.skipped).reduce((a, b) => a + b, 0);
  parts.push(
    section(
      'overview',
      'Overview 概览',
      table(
        ['', ''],
        [
          ['master file', input],
          ['sha256', scan.sha256],
          ['rows 总行数', grid.rows],
          ['real rows 真实过车', grid.realRows],
          ['SYN rows 补全行 (stage 04 fill)', grid.synRows],
          ['rows not placed on the grid (bad KKMC/GCSJ)', skipped],
          ['checkpoints 卡口数', grid.checkpoints.length],
          ['first / last pass', `${grid.from} … ${grid.to}`],
          ['days in range 天数', grid.days.length],
          [
            'complete / partial / SYN-filled / empty days',
            `${statusCount('complete')} / ${statusCount('partial')} / ${statusCount('filled')} / ${statusCount('empty')}`,
          ],
          ['median real passes per day', grid.medianDailyReal],
          ['stage 02 day flags', scan.flagsFrom ?? 'not available (kkmc_statistics.json not found); own rules only'],
        ],
        { cls: 'kv' },
      ) +
        note(
          'A day is complete when it holds real passes only, at least 50% of the median day, and data from before 01:00 to after 23:00. ' +
            '完整日：无补全行、过车量不低于日中位数的50%、数据覆盖全天。',
        ),
    ),
  );

  // Daily passes.
  const excluded = grid.days.filter((d) => d.status !== 'complete');
  const heatH = Math.max(360, 150 + grid.checkpoints.length * 22);
  parts.push(
    section(
      'daily',
      'Daily passes per checkpoint 每日各卡口过车',
      figure(renderSvg(dailyTotalsOption(daily), W, 380)) +
        figure(renderSvg(checkpointDaysOption(daily, grid.checkpoints, W, heatH), W, heatH)) +
        `<h3>Days not used for fitting or evaluation 未用于建模的日期 (${excluded.length})</h3>` +
        (excluded.length
          ? `<div class="scroll">${table(
              ['date', 'status', 'reason', 'real passes', 'SYN rows'],
              excluded.map((d) => [d.date, d.status, d.reason, d.realPasses, d.synPasses]),
              { numeric: [false, false, false, true, true] },
            )}</div>`
          : note('none: every day in range is complete')),
    ),
  );

  // Hourly profile.
  const predicted = model.predictor ? { weekday: model.predictor.predictDay(null, 0), weekend: model.predictor.predictDay(null, 1) } : undefined;
  parts.push(section('hourly', 'Hourly profile: weekday vs weekend 工作日与周末小时曲线', figure(renderSvg(hourlyProfileOption(profile, predicted), W, 400))));

  // Provinces and vehicle types.
  const provinces = topN(counters.provinces, 15);
  const types = topN(counters.vehicleTypes, 12);
  parts.push(
    section(
      'origin',
      'Origin provinces and vehicle types 车辆来源省份与车型',
      `<div class="row">${figure(renderSvg(barRankOption('Top origin provinces 来源省份', `real passes by plate province (${fmt(counters.realRows)} rows; SYN rows excluded)`, provinces, COLORS.complete), 600, 440))}` +
        `${figure(renderSvg(barRankOption('Vehicle types 车辆类型', 'real passes by GA 24.7 plate type name', types, COLORS.model), 600, 440))}</div>` +
        note(
          `Peak-hour passes (IS_PEAK_HOUR = 1): ${fmt(counters.peak.peak)} of ${fmt(counters.realRows)} (${counters.realRows ? ((100 * counters.peak.peak) / counters.realRows).toFixed(1) : '0'}%).`,
        ),
    ),
  );

  parts.push(section('repair', 'What stage 04 repaired 数据修复', repairHtml(repairs)));
  parts.push(section('model', 'Flow model 流量预测模型', modelHtml(model, evaluation, evalProblem, grid, scan.sha256)));
  parts.push(section('forecast', 'Short-term forecast 短时预测', forecastHtml(model, evaluation, evalProblem, grid, ahead)));

  return page(
    'Checkpoint traffic report 卡口过车分析报告',
    `${grid.from?.slice(0, 10)} … ${grid.to?.slice(0, 10)} · ${grid.checkpoints.length} checkpoints · generated ${chinaIso()}`,
    [
      ['overview', 'Overview 概览'],
      ['daily', 'Daily 每日'],
      ['hourly', 'Hourly 小时'],
      ['origin', 'Provinces & types 省份车型'],
      ['repair', 'Repairs 修复'],
      ['model', 'Model 模型'],
      ['forecast', 'Forecast 短时预测'],
    ],
    parts.join('\n'),
  );
}

function repairHtml(r: RepairSummary): string {
  const out: string[] = [];
  out.push('<h3>repair_log.csv</h3>');
  if (r.log === null) out.push(note('not available 无: no repair_log.csv beside the master'));
  else if ('error' in r.log) out.push(note(`not readable: ${r.log.error} (${r.log.file})`, 'warn'));
  else {
    out.push(
      note(`${fmt(r.log.rows)} repairs logged (${r.log.file})`) +
        table(
          ['field', 'method', 'count', 'mean confidence'],
          r.log.byFieldMethod.map((g) => [g.field, g.method, g.count, g.meanConfidence === null ? '-' : g.meanConfidence.toFixed(3)]),
          { numeric: [false, false, true, true] },
        ),
    );
  }
  for (const [name, v] of [
    ['repair_quality.json (accuracy on values hidden on purpose)', r.quality],
    ['manifest.json (inputs, per-stage counts)', r.manifest],
  ] as const) {
    out.push(`<h3>${esc(name)}</h3>`);
    if (v === null) out.push(note('not available 无'));
    else if ('error' in v) out.push(note(`not readable: ${v.error} (${v.file})`, 'warn'));
    else out.push(`<div class="scroll">${table(['key', 'value'], flattenJson(v.json), { cls: 'kv' })}</div>`);
  }
  return out.join('\n');
}

function modelHtml(model: ModelInfo, ev: TrainResult | null, evalProblem: string | null, grid: HourlyGrid, sha256: string): string {
  const out: string[] = [];
  const m = model.json;
  if (!m) out.push(note(`Model not available: ${model.problem}. The hold-out evaluation below is computed now with default settings.`, 'warn'));
  else {
    out.push(
      table(
        ['', ''],
        [
          ['format', m.format],
          ['trained at', m.trained_at],
          ['input', `${m.data.file} (${fmt(m.data.rows)} rows, sha256 ${m.data.sha256.slice(0, 16)}…)`],
          ['features', `${m.coefficients.length} coefficients; blocks ${m.features.blocks.join(', ')}`],
          ['λ', `${m.fit.lambda} (weekend-hour penalty ×${m.fit.weekend_hour_ratio ?? 1}): ${m.fit.lambda_selection}`],
          ['exported fit', m.fit.fitted_on],
        ],
        { cls: 'kv' },
      ),
    );
    if (m.data.sha256 !== sha256)
      out.push(note('The model was trained on a different master file (sha256 differs); its stored metrics belong to that file.', 'warn'));
    const mm = m.metrics;
    out.push(`<h3>Stored hold-out metrics (${mm.holdout.days.length} days: ${esc(mm.holdout.days.join(', '))})</h3>`);
    out.push(
      table(
        ['model', 'MAE', 'RMSE', 'R²', 'description'],
        [
          ['model (ridge)', mm.model.mae, mm.model.rmse, mm.model.r2, 'this model, fitted on the training days'],
          ['plain_linear', mm.baselines.plain_linear.mae, mm.baselines.plain_linear.rmse, mm.baselines.plain_linear.r2, mm.baselines.plain_linear.description],
          ['cell_mean', mm.baselines.cell_mean.mae, mm.baselines.cell_mean.rmse, mm.baselines.cell_mean.r2, mm.baselines.cell_mean.description],
        ],
        { numeric: [false, true, true, true, false] },
      ) +
        note(
          mm.beats_baselines
            ? 'The model beats both baselines on MAE and RMSE. 模型优于两个基线。'
            : 'The model does NOT beat both baselines on this hold-out. 模型未全面优于基线。',
          mm.beats_baselines ? 'info' : 'warn',
        ),
    );
  }
  if (!ev) {
    out.push(note(`Hold-out evaluation not possible: ${evalProblem}`, 'warn'));
    return out.join('\n');
  }
  const s = holdoutSeries(grid, ev.split.holdout, ev.holdoutTables);
  const em = ev.model.metrics;
  if (m && m.data.sha256 === sha256) {
    const same = Math.abs(em.model.mae - m.metrics.model.mae) < 1e-6 && Math.abs(em.baselines.cell_mean.mae - m.metrics.baselines.cell_mean.mae) < 1e-6;
    out.push(
      note(
        same
          ? 'Recomputed from the master for the charts below: the figures match the stored metrics.'
          : `Recomputed from the master: model MAE ${fmt(em.model.mae)} (stored ${fmt(m.metrics.model.mae)}).`,
        same ? 'info' : 'warn',
      ),
    );
  } else {
    out.push(
      table(
        ['model', 'MAE', 'RMSE', 'R²'],
        [
          ['model (ridge)', em.model.mae, em.model.rmse, em.model.r2],
          ['plain_linear', em.baselines.plain_linear.mae, em.baselines.plain_linear.rmse, em.baselines.plain_linear.r2],
          ['cell_mean', em.baselines.cell_mean.mae, em.baselines.cell_mean.rmse, em.baselines.cell_mean.r2],
        ],
        { numeric: [false, true, true, true] },
      ),
    );
  }
  out.push(figure(renderSvg(holdoutLineOption(s), W, 400)));
  out.push(
    `<div class="row">${figure(renderSvg(holdoutScatterOption(s), 560, 460))}<div style="flex:1 1 560px"><h3>Hold-out MAE per checkpoint 各卡口误差</h3>` +
      table(
        ['checkpoint', 'passes', 'model MAE', 'cell_mean MAE'],
        s.perCheckpoint.map((r) => [r.kkmc, r.passes, r.modelMae, r.cellMeanMae]),
        { numeric: [false, true, true, true] },
      ) +
      '</div></div>',
  );
  return out.join('\n');
}

function forecastTableHtml(evals: readonly HorizonEvaluation[]): string {
  return (
    table(
      [
        'horizon',
        'model MAE',
        'model RMSE',
        ...BASELINES.flatMap((b) => [`${b} MAE`, `${b} RMSE`]),
        'best baseline',
        'MAE ratio to best',
        'RMSE ratio to best',
      ],
      evals.map((e) => [
        `${e.horizon} h`,
        e.model.mae,
        e.model.rmse,
        ...BASELINES.flatMap((b) => [e.baselines[b].mae, e.baselines[b].rmse]),
        e.best_baseline,
        e.mae_ratio_to_best,
        e.rmse_ratio_to_best,
      ]),
      { numeric: [false, true, true, ...BASELINES.flatMap(() => [true, true]), false, true, true] },
    ) +
    evals
      .map((e) =>
        e.beats_best_baseline
          ? note(`${e.horizon} h ahead: the forecast beats the best baseline (${e.best_baseline}) on MAE, ratio ${e.mae_ratio_to_best.toFixed(3)}.`)
          : note(
              `${e.horizon} h ahead: the forecast does NOT beat the best baseline (${e.best_baseline}): MAE ratio ${e.mae_ratio_to_best.toFixed(3)}. 未优于最佳基线。`,
              'warn',
            ),
      )
      .join('')
  );
}

function forecastHtml(
  model: ModelInfo,
  ev: TrainResult | null,
  evalProblem: string | null,
  grid: HourlyGrid,
  ahead: Map<string, { predicted: number; actual: number }>,
): string {
  const out: string[] = [];
  const stored = model.json?.metrics.forecast;
  if (stored) {
    out.push(`<h3>Stored rolling-origin evaluation (${stored.holdout.days.length} hold-out days: ${esc(stored.holdout.days.join(', '))})</h3>`);
    out.push(forecastTableHtml(stored.horizons));
    out.push(note(`Goal: ${stored.goal} — ${stored.goal_met ? 'met 达成' : 'NOT met 未达成'}.`, stored.goal_met ? 'info' : 'warn'));
  } else if (model.json) {
    out.push(note(`The model (format ${model.json.format}) has no forecast part: retrain with npm run train.`, 'warn'));
  }
  if (!ev) {
    out.push(note(`Rolling-origin evaluation not possible: ${evalProblem}`, 'warn'));
    return out.join('\n');
  }
  const fm = ev.model.metrics.forecast;
  if (!stored) {
    out.push(`<h3>Rolling-origin evaluation, recomputed (${fm.holdout.days.length} hold-out days)</h3>`);
    out.push(forecastTableHtml(fm.horizons));
  }
  out.push(
    note(
      'Each hour of the hold-out is forecast from the real passes before its origin (rolling origin; SYN rows are never history), by the forecast part fitted on the training days, ' +
        'and by three naive baselines: ' +
        BASELINES.map((b) => `${b} = ${BASELINE_DESCRIPTIONS[b]}`).join('; ') +
        '.',
    ),
  );
  // The busiest checkpoint over the hold-out days, hour by hour.
  const K = grid.checkpoints.length;
  const hold = ev.split.holdout.map((i) => grid.days[i]!);
  let busiest = 0;
  let most = -1;
  for (let c = 0; c < K; c++) {
    let n = 0;
    for (const d of hold) for (let h = 0; h < 24; h++) n += d.real[c * 24 + h]!;
    if (n > most) [busiest, most] = [c, n];
  }
  const f = {
    kkmc: grid.checkpoints[busiest]!,
    labels: [] as string[],
    actual: [] as number[],
    ahead1: [] as number[],
    ahead3: [] as number[],
    persistence: [] as number[],
  };
  for (const d of hold) {
    const base = dayNumber(d.date) * 24;
    for (let h = 0; h < 24; h++) {
      const t = base + h;
      const one = ahead.get(`${busiest}:${t}:1`);
      f.labels.push(`${d.date.slice(5)} ${String(h).padStart(2, '0')}`);
      f.actual.push(d.real[busiest * 24 + h]!);
      f.ahead1.push(one ? Math.round(one.predicted * 10) / 10 : NaN);
      const three = ahead.get(`${busiest}:${t}:3`);
      f.ahead3.push(three ? Math.round(three.predicted * 10) / 10 : NaN);
      // Persistence: the hour before (a gap where that hour is not a hold-out hour of the chart).
      f.persistence.push(h > 0 ? d.real[busiest * 24 + h - 1]! : NaN);
    }
  }
  out.push(figure(renderSvg(forecastLineOption(f), W, 400)));
  return out.join('\n');
}
