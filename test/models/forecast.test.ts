import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvLine, parseCsv } from '../../core/csv.ts';
import { TrafficError } from '../../core/errors.ts';
import { chinaHourNumber } from '../../core/time.ts';
import { HOURS } from '../../models/features.ts';
import {
  baselineValue,
  FORECAST_FEATURES,
  FORECAST_LAMBDAS,
  forecastOne,
  forecastTable,
  HourlyHistory,
  historyFromGrid,
  type HorizonEvaluation,
} from '../../models/forecast.ts';
import { command as forecast, readHistoryCsv } from '../../models/forecast-cli.ts';
import { MASTER_COLUMNS } from '../../core/schema.ts';
import { HourlyGridBuilder } from '../../models/grid.ts';
import { EmbeddedStore, EMBEDDED_DB_FILE } from '../../store/duckdb-store.ts';
import { loadPredictor } from '../../models/predictor.ts';
import { writeSyntheticMaster } from '../../models/synthetic-master.ts';
import { trainModelFile } from '../../models/train-cli.ts';
import { trainFlowModel } from '../../models/train.ts';
import { row, syntheticGrid } from './helpers.ts';

const META = { file: 'master.csv', sha256: 'f'.repeat(64) };
const H = (t: string): number => chinaHourNumber(t);

describe('naive baselines under the history rule', () => {
  // Checkpoint A: on 2024-01-01 hour h has h + 1 passes, on 2024-01-02 hour h has 2h + 1.
  const h = new HourlyHistory(['A', 'B'], H('2024-01-01 00:00:00'), 48);
  for (let hour = 0; hour < HOURS; hour++) {
    h.add('A', H('2024-01-01 00:00:00') + hour, hour + 1);
    h.add('A', H('2024-01-02 00:00:00') + hour, 2 * hour + 1);
    h.add('B', H('2024-01-01 00:00:00') + hour, 1);
  }
  const cellMean = new Float64Array(2 * HOURS * 2).fill(7);
  const t = H('2024-01-02 05:00:00');

  it('persistence is the last hour before the origin, which moves back with the horizon', () => {
    expect(baselineValue('persistence', h, cellMean, 0, t, 1)).toEqual({ value: 9, fallback: false }); // 04:00 → 2·4+1
    expect(baselineValue('persistence', h, cellMean, 0, t, 2)).toEqual({ value: 7, fallback: false }); // 03:00
    expect(baselineValue('persistence', h, cellMean, 0, t, 3)).toEqual({ value: 5, fallback: false }); // 02:00
  });

  it('same hour yesterday reads T − 24 h; an hour with no passes anywhere falls back to the cell mean', () => {
    expect(baselineValue('same_hour_yesterday', h, cellMean, 0, t, 1)).toEqual({ value: 6, fallback: false });
    // 2023-12-31 is outside the history: not observed.
    expect(baselineValue('same_hour_yesterday', h, cellMean, 0, H('2024-01-01 05:00:00'), 1)).toEqual({ value: 7, fallback: true });
    expect(baselineValue('cell_mean', h, cellMean, 1, t, 3)).toEqual({ value: 7, fallback: false });
  });

  it('a checkpoint with no passes in an observed hour counts as zero, not as missing', () => {
    // B has no passes on 2024-01-02, but A has: the hour is observed, so B's persistence is 0.
    expect(baselineValue('persistence', h, cellMean, 1, t, 1)).toEqual({ value: 0, fallback: false });
  });
});

describe('the forecast part', () => {
  it('never reads history at or after its origin: cutting the history there changes nothing', () => {
    const g = syntheticGrid({ checkpoints: 4, days: 24, seed: 3, dailyPerCheckpoint: 500 });
    const m = trainFlowModel(g, META, { holdoutDays: 3, lambda: 1 }).model;
    const p = loadPredictor(JSON.parse(JSON.stringify(m)));
    const f = p.forecaster!;
    const full = historyFromGrid(g, f.checkpoints);
    for (const target of [H('2023-12-20 00:00:00'), H('2023-12-21 08:00:00'), H('2023-12-22 17:00:00')]) {
      for (const horizon of [1, 2, 3]) {
        const origin = target - (horizon - 1);
        const cut = full.cut(origin);
        for (const code of f.checkpoints) {
          const a = f.forecast(full, code, target, horizon);
          const b = f.forecast(cut, code, target, horizon);
          expect(b).toEqual(a);
        }
        // …while cutting one hour later does change it (the last hour before the origin is read).
        const later = full.cut(origin - 1);
        const changed = f.checkpoints.some((code) => f.forecast(later, code, target, horizon).predicted !== f.forecast(full, code, target, horizon).predicted);
        expect(changed).toBe(true);
      }
    }
  });

  it('follows a day that runs at twice its usual level most of the way, where the profile cannot', () => {
    const g = syntheticGrid({ checkpoints: 4, days: 28, seed: 11, dailyPerCheckpoint: 800, daySd: 0.35 });
    const m = trainFlowModel(g, META, { holdoutDays: 3, lambda: 1 }).model;
    const f = loadPredictor(m).forecaster!;
    // A history where the last day before 2023-12-28 14:00 runs at twice the data's level.
    const h = historyFromGrid(g, f.checkpoints);
    const doubled = new HourlyHistory(f.checkpoints, h.start, h.length);
    const target = H('2023-12-28 14:00:00');
    for (let c = 0; c < f.checkpoints.length; c++) {
      for (let n = h.start; n < h.start + h.length; n++) {
        const k = n >= target - 24 && n < target ? 2 : 1;
        doubled.add(f.checkpoints[c]!, n, h.y(c, n) * k);
      }
    }
    let plain = 0;
    let twice = 0;
    for (const code of f.checkpoints) {
      plain += f.forecast(h, code, target, 1).predicted;
      twice += f.forecast(doubled, code, target, 1).predicted;
    }
    // Most of the way (a doubled day is also partly noise to a forecaster), never beyond it.
    expect(twice / plain).toBeGreaterThan(1.45);
    expect(twice / plain).toBeLessThan(2.3);
  });

  it('beats the best naive baseline one hour ahead on a synthetic master whose day level varies', () => {
    const g = syntheticGrid({ checkpoints: 6, days: 42, seed: 7, dailyPerCheckpoint: 1500, daySd: 0.35 });
    const m = trainFlowModel(g, META).model;
    const e = m.metrics.forecast.horizons;
    expect(e.map((x) => x.horizon)).toEqual([1, 2, 3]);
    expect(e[0]!.n).toBe(7 * 24 * 6);
    expect(e[0]!.beats_best_baseline).toBe(true);
    expect(e[0]!.mae_ratio_to_best).toBeLessThan(0.9);
    expect(m.metrics.forecast.goal_met).toBe(true);
    // The forecast gets worse with the horizon, as it should, but stays ahead of the cell mean.
    expect(e[0]!.model.mae).toBeLessThan(e[2]!.model.mae);
    expect(e[2]!.model.mae).toBeLessThan(e[2]!.baselines.cell_mean.mae);
  });

  it('the hold-out evaluation is rolling-origin: each forecast equals the fitted form applied to the history before its origin', () => {
    const g = syntheticGrid({ checkpoints: 3, days: 20, seed: 2, dailyPerCheckpoint: 400 });
    const seen: { c: number; target: number; horizon: number; predicted: number; actual: number }[] = [];
    trainFlowModel(g, META, {
      holdoutDays: 2,
      lambda: 1,
      onHoldoutForecast: (c, target, horizon, predicted, actual) => seen.push({ c, target, horizon, predicted, actual }),
    });
    expect(seen.length).toBe(3 * 2 * 24 * 3);
    const h = historyFromGrid(g);
    for (const s of seen.slice(0, 50)) expect(s.actual).toBe(h.y(s.c, s.target));
  });

  it('is written in the same JSON as format /2, keeping every /1 field, and a /1 model still loads', () => {
    const g = syntheticGrid({ checkpoints: 3, days: 20, seed: 4, dailyPerCheckpoint: 400 });
    const m = trainFlowModel(g, META, { holdoutDays: 3, lambda: 1 }).model;
    expect(m.format).toBe('traffic-flow-linear/2');
    for (const k of ['trained_at', 'data', 'features', 'intercept', 'coefficients', 'metrics']) expect(m).toHaveProperty(k);
    expect(m.forecast.features.map((x) => x.name)).toContain('log_ratio_3h');
    expect(m.forecast.features.every((x) => x.description.length > 20)).toBe(true);
    expect(m.forecast.horizons.map((x) => x.coefficients.length)).toEqual([1, 2, 3].map(() => FORECAST_FEATURES.length));
    const v1 = { ...JSON.parse(JSON.stringify(m)), format: 'traffic-flow-linear/1' } as Record<string, unknown>;
    delete v1.forecast;
    const p1 = loadPredictor(v1);
    expect(p1.forecaster).toBeNull();
    expect(p1.predict(m.features.checkpoints[0]!, 8, 0)).toBe(loadPredictor(m).predict(m.features.checkpoints[0]!, 8, 0));
    const broken = JSON.parse(JSON.stringify(m));
    broken.forecast.features.reverse();
    expect(() => loadPredictor(broken)).toThrow(/forecast.features must name/);
  });

  it('chooses the ridge penalty of each horizon by blocked cross-validation over the fitting days and records the trials', () => {
    const g = syntheticGrid({ checkpoints: 3, days: 24, seed: 5, dailyPerCheckpoint: 400 });
    const m = trainFlowModel(g, META, { holdoutDays: 3, lambda: 1 }).model;
    for (const h of m.forecast.horizons) {
      expect(FORECAST_LAMBDAS).toContain(h.lambda);
      expect(h.lambda_trials!.map((t) => t.lambda)).toEqual(FORECAST_LAMBDAS);
      const best = Math.min(...h.lambda_trials!.map((t) => t.cv_mae));
      expect(h.lambda_trials!.find((t) => t.lambda === h.lambda)!.cv_mae).toBe(best);
    }
  });

  it('forecastOne on an empty history stays close to the profile (the recent-history ratios are neutral)', () => {
    const g = syntheticGrid({ checkpoints: 3, days: 20, seed: 4, dailyPerCheckpoint: 400 });
    const m = trainFlowModel(g, META, { holdoutDays: 3, lambda: 1 }).model;
    const p = loadPredictor(m);
    const f = p.forecaster!;
    const t = H('2024-03-06 09:00:00'); // a Wednesday, far from any history
    const v = f.forecast(f.emptyHistory(t - 200, t), f.checkpoints[0]!, t, 1).predicted;
    // exp(a + b·ln(1+P)) − 1 with the fitted a, b: close to P when the profile is trusted.
    const P = p.predict(f.checkpoints[0]!, 9, 0);
    expect(v).toBeGreaterThan(0.5 * P);
    expect(v).toBeLessThan(1.5 * P);
    expect(forecastOne).toBeTypeOf('function');
  });
});

describe('train says plainly when the forecast does not beat the best baseline', () => {
  it('prints a warning naming the horizon and the baseline', () => {
    const base = { mae: 10, rmse: 12, fallbacks: 0 };
    const e: HorizonEvaluation = {
      horizon: 3,
      n: 10,
      model: { mae: 11, rmse: 13 },
      baselines: { cell_mean: base, persistence: { ...base, mae: 12 }, same_hour_yesterday: { ...base, mae: 15 } },
      best_baseline: 'cell_mean',
      mae_ratio_to_best: 1.1,
      rmse_ratio_to_best: 1.083,
      beats_best_baseline: false,
    };
    expect(forecastTable([e])).toMatch(/WARNING: 3 h ahead the forecast does NOT beat the best baseline \(cell_mean\): MAE ratio 1\.100/);
  });
});

describe('profile recency weights', () => {
  it('follow a level that drifts, so the profile beats the historical cell mean on MAE', () => {
    // The traffic grows by half over six weeks: thin the early days of a synthetic master.
    const g0 = syntheticGrid({ checkpoints: 5, days: 42, seed: 9, dailyPerCheckpoint: 1200 });
    const b = new HourlyGridBuilder();
    let id = 0;
    g0.days.forEach((d, i) => {
      const keep = 0.5 + (0.5 * i) / (g0.days.length - 1);
      g0.checkpoints.forEach((k, c) => {
        for (let h = 0; h < HOURS; h++) {
          const n = Math.round(d.real[c * HOURS + h]! * keep);
          for (let j = 0; j < n; j++) b.add(row(String(id++), k, `${d.date} ${String(h).padStart(2, '0')}:10:00`));
        }
      });
    });
    const m = trainFlowModel(b.finish(), META).model;
    expect(m.fit.half_life_days).not.toBeNull();
    expect(m.metrics.model.mae).toBeLessThan(m.metrics.baselines.cell_mean.mae);
  });
});

describe('npm run forecast', () => {
  let dir: string;
  let master: string;
  let model: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'traffic-forecast-'));
    master = path.join(dir, 'master.csv');
    model = path.join(dir, 'model.json');
    await writeSyntheticMaster(master, { checkpoints: 4, days: 21, seed: 5, dailyPerCheckpoint: 300, synDays: ['2023-12-10'] });
    await trainModelFile(master, model, { holdoutDays: 3, lambda: 1 });
  }, 60_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function run(args: string[], out: string): Promise<string[][]> {
    const err = process.stderr.write;
    process.stderr.write = () => true;
    try {
      await forecast.run(['--model', model, ...args, '--out', out]);
    } finally {
      process.stderr.write = err;
    }
    return parseCsv(await readFile(out, 'utf8')).map((r) => r.fields);
  }

  it('writes KKMC,HOUR,HORIZON,PREDICTED, one row per checkpoint per hour in [from, to)', async () => {
    const rows = await run(['--history', master, '--from', '2023-12-18 00:00:00', '--to', '2023-12-19 00:00:00', '--horizon', '2'], path.join(dir, 'a.csv'));
    expect(rows[0]).toEqual(['KKMC', 'HOUR', 'HORIZON', 'PREDICTED']);
    expect(rows.length - 1).toBe(24 * 4);
    expect(rows[1]![1]).toBe('2023-12-18 00:00:00');
    expect(rows.at(-1)![1]).toBe('2023-12-18 23:00:00');
    expect(rows.slice(1).every((r) => r[2] === '2' && Number(r[3]) >= 0)).toBe(true);
  });

  it('forecast → cut the history at the origin → forecast again gives identical rows', async () => {
    const text = await readFile(master, 'utf8');
    const records = parseCsv(text).map((r) => r.fields);
    for (const [from, horizon] of [
      ['2023-12-17 08:00:00', 1],
      ['2023-12-19 00:00:00', 3],
    ] as const) {
      const to = '2023-12-19 12:00:00';
      const full = await run(['--history', master, '--from', from, '--to', to, '--horizon', String(horizon)], path.join(dir, 'full.csv'));
      // Every hour's row, recomputed from a master holding only the passes before that row's origin.
      for (const hour of [from, '2023-12-19 06:00:00']) {
        const origin = chinaHourNumber(hour) - (horizon - 1);
        const cut = path.join(dir, 'cut.csv');
        const kept = records.filter((r, i) => i === 0 || chinaHourNumber(r[4]!.slice(0, 13) + ':00:00') < origin);
        expect(kept.length).toBeLessThan(records.length);
        await writeFile(cut, kept.map((r) => csvLine(r)).join(''));
        const next = `${hour.slice(0, 11)}${String(+hour.slice(11, 13) + 1).padStart(2, '0')}:00:00`;
        const again = await run(['--history', cut, '--from', hour, '--to', next, '--horizon', String(horizon)], path.join(dir, 'again.csv'));
        const expected = full.filter((r) => r[1] === hour);
        expect(expected.length).toBe(4);
        expect(again.slice(1)).toEqual(expected);
      }
    }
  });

  it('--from-store (embedded store in the data dir) gives the same rows as the master; SYN rows are history in neither', async () => {
    const dataDir = path.join(dir, 'store');
    const store = await EmbeddedStore.open(path.join(dataDir, EMBEDDED_DB_FILE));
    await store.loadMasterCsv(master);
    await store.close();
    const args = ['--from', '2023-12-10 00:00:00', '--to', '2023-12-12 00:00:00', '--horizon', '2'];
    const fromMaster = await run(['--history', master, ...args], path.join(dir, 'm.csv'));
    const saved = { data: process.env.TRAFFIC_DATA_DIR, mysql: process.env.TRAFFIC_MYSQL };
    process.env.TRAFFIC_DATA_DIR = dataDir;
    delete process.env.TRAFFIC_MYSQL;
    try {
      const fromStore = await run(['--from-store', ...args], path.join(dir, 's.csv'));
      expect(fromStore).toEqual(fromMaster);
      expect(fromStore.length - 1).toBe(48 * 4);
    } finally {
      if (saved.data === undefined) delete process.env.TRAFFIC_DATA_DIR;
      else process.env.TRAFFIC_DATA_DIR = saved.data;
      if (saved.mysql !== undefined) process.env.TRAFFIC_MYSQL = saved.mysql;
    }
  });

  it('reads the history span on the GCSJ text: quoted and multi-line records, SYN rows, rows outside the span and unreadable rows', async () => {
    const f = loadPredictor(JSON.parse(await readFile(model, 'utf8'))).forecaster!;
    const [a, b] = f.checkpoints as [string, string];
    const start = H('2023-12-18 06:00:00');
    const q = (fields: string[]): string => fields.map((x) => `"${x.replaceAll('"', '""')}"`).join(',') + '\n';
    const quotedNewline = row('q2', b, '2023-12-18 07:30:00');
    quotedNewline[7] = 'Foo, "Bar"\nBaz'; // a comma, quotes and a line break inside one field
    const text =
      csvLine([...MASTER_COLUMNS]) +
      csvLine(row('1', a, '2023-12-18 05:59:59')) + // before the span
      csvLine(row('2', a, '2023-12-18 06:00:00')) +
      csvLine(row('3', a, '2023-12-18 06:59:59')) +
      q(row('q1', b, '2023-12-18 07:00:00')) + // every cell quoted
      csvLine(quotedNewline) +
      csvLine(row('SYN202312180001', a, '2023-12-18 07:10:00')) +
      csvLine(row('4', a, '2023-12-18 08:00:00')) + // at the end: excluded
      csvLine(row('5', a, '2023-12-18 07:5')) + // in the span by its text, but not a time
      csvLine(row('6', a, '2023/12/01 00:00:00')) + // outside the span by its text: not even looked at
      'only,three,fields\r\n' +
      csvLine(row('7', b, '2023-12-18 07:59:00')).replace('\n', '\r\n');
    expect(csvLine(quotedNewline)).toContain('""Bar""\nBaz"'); // the writer quoted the line break
    const file = path.join(dir, 'span.csv');
    await writeFile(file, text);
    const r = await readHistoryCsv(file, f, start, start + 2);
    expect({ used: r.used, syn: r.syn, unreadable: r.unreadable }).toEqual({ used: 5, syn: 1, unreadable: 2 });
    const c = (k: string): number => f.checkpoints.indexOf(k);
    expect([r.history.y(c(a), start), r.history.y(c(a), start + 1), r.history.y(c(b), start + 1)]).toEqual([2, 0, 3]);
    await writeFile(file, 'GCXH,KKMC\n');
    await expect(readHistoryCsv(file, f, start, start + 2)).rejects.toThrow(/unexpected header/);
  });

  it('rejects bad options naming them', async () => {
    const msg = async (args: string[]): Promise<string> => {
      try {
        await forecast.run(['--model', model, '--history', master, ...args]);
      } catch (err) {
        expect(err).toBeInstanceOf(TrafficError);
        return (err as Error).message;
      }
      throw new Error('expected an error');
    };
    expect(await msg(['--from', '2023-12-18 00:30:00', '--to', '2023-12-19 00:00:00'])).toMatch(/--from must be the start of an hour/);
    expect(await msg(['--from', '2023-12-18 00:00:00', '--to', '2023-12-18 00:00:00'])).toMatch(/--to must be after --from/);
    expect(await msg(['--from', '2023-12-18 00:00:00', '--to', '2023-12-19 00:00:00', '--horizon', '4'])).toMatch(/--horizon/);
    expect(await msg(['--from', '2023-12-18 00:00:00', '--to', '2023-12-19 00:00:00', '--kkmc', 'NOPE'])).toMatch(/unknown checkpoint "NOPE"/);
    expect(await msg(['--from-store', '--from', '2023-12-18 00:00:00', '--to', '2023-12-19 00:00:00'])).toMatch(/--history FILE or --from-store, not both/);
  });
});
