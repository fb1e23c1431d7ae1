import { describe, expect, it } from 'vitest';
import { cellIndex, HOURS } from '../../models/features.ts';
import { HourlyGridBuilder } from '../../models/grid.ts';
import { loadPredictor } from '../../models/predictor.ts';
import { cellMeanTable, cellSums, evaluateTable, plainLinearFit, splitDays, trainFlowModel } from '../../models/train.ts';
import { addDays } from '../../core/time.ts';
import { row, syntheticGrid } from './helpers.ts';

const META = { file: 'master.csv', sha256: 'f'.repeat(64) };

describe('hold-out selection', () => {
  it('is the last 7 complete days; SYN-filled, partial and empty days never enter it', () => {
    // 31 days of December; near the end a mix of SYN fill, a partial day and an empty day.
    const g = syntheticGrid({
      checkpoints: 4,
      days: 31,
      seed: 5,
      dailyPerCheckpoint: 400,
      synDays: ['2023-12-29', '2023-12-24'],
      partialDays: { '2023-12-27': 12 },
      emptyDays: ['2023-12-30'],
    });
    const notComplete = g.days.filter((d) => d.status !== 'complete').map((d) => `${d.date} ${d.status}`);
    expect(notComplete).toEqual(['2023-12-24 filled', '2023-12-27 partial', '2023-12-29 filled', '2023-12-30 empty']);
    const split = splitDays(g, 7);
    const holdout = split.holdout.map((i) => g.days[i]!.date);
    expect(holdout).toEqual(['2023-12-21', '2023-12-22', '2023-12-23', '2023-12-25', '2023-12-26', '2023-12-28', '2023-12-31']);
    // Training is every other complete day, all before the hold-out; folds partition it.
    expect(split.train.every((i) => g.days[i]!.status === 'complete' && g.days[i]!.date < '2023-12-21')).toBe(true);
    expect(split.train.length).toBe(20);
    expect(split.folds.flat()).toEqual(split.train);
    // And the trained model reports exactly those days.
    const m = trainFlowModel(g, META).model;
    expect(m.metrics.holdout.days).toEqual(holdout);
    expect(m.data.days.excluded.map((d) => d.date)).toEqual(['2023-12-24', '2023-12-27', '2023-12-29', '2023-12-30']);
    expect(m.data.syn_rows).toBeGreaterThan(0);
  });
});

describe('evaluation and baselines', () => {
  /** Two checkpoints, days given as 48 hourly counts each (checkpoint A hours 0-23, then B). */
  function grid(days: Record<string, (c: number, h: number) => number>) {
    const b = new HourlyGridBuilder();
    let id = 0;
    for (const [date, f] of Object.entries(days)) {
      ['A', 'B'].forEach((k, c) => {
        for (let h = 0; h < HOURS; h++) {
          for (let n = 0; n < f(c, h); n++) b.add(row(String(id++), k, `${date} ${String(h).padStart(2, '0')}:30:00`));
        }
      });
    }
    return b.finish();
  }

  it('MAE, RMSE and R² are computed over every checkpoint-hour of the days, zeros included', () => {
    const g = grid({ '2024-01-01': (c, h) => (c === 0 ? h % 3 : 2) + (h === 0 || h === 23 ? 1 : 0) });
    const table = new Float64Array(2 * HOURS * 2); // predicts 0 everywhere
    const y = [...g.days[0]!.real];
    const m = evaluateTable(g, [0], table);
    const mean = y.reduce((a, v) => a + v, 0) / y.length;
    expect(m.n).toBe(48);
    expect(m.mae).toBeCloseTo(mean, 12);
    expect(m.rmse).toBeCloseTo(Math.sqrt(y.reduce((a, v) => a + v * v, 0) / 48), 12);
    expect(m.r2).toBeCloseTo(1 - y.reduce((a, v) => a + v * v, 0) / y.reduce((a, v) => a + (v - mean) ** 2, 0), 12);
  });

  it('cell_mean is the training mean of the same checkpoint, hour and day type', () => {
    // 2024-01-01 Mon, 01-02 Tue, 01-06 Sat (01-03..05 have no rows → empty days in the range).
    const g = grid({
      '2024-01-01': (c, h) => 1 + c + (h === 5 ? 2 : 0),
      '2024-01-02': (c, _h) => 3 + c,
      '2024-01-06': (c) => 10 * (c + 1),
    });
    const idx = g.days.flatMap((d, i) => (d.realPasses > 0 ? [i] : []));
    const t = cellMeanTable(g, cellSums(g, idx));
    expect(t[cellIndex(0, 5, 0)]).toBe((3 + 3) / 2);
    expect(t[cellIndex(1, 7, 0)]).toBe((2 + 4) / 2);
    expect(t[cellIndex(1, 7, 1)]).toBe(20);
  });

  it('plain_linear recovers a flow that is linear in checkpoint index, hour and weekend', () => {
    const days: Record<string, (c: number, h: number) => number> = {};
    for (let i = 0; i < 14; i++) {
      const date = addDays('2024-01-01', i);
      const w = i % 7 >= 5 ? 1 : 0;
      days[date] = (c, h) => 4 + 3 * c + h + 5 * w;
    }
    const g = grid(days);
    const fit = plainLinearFit(
      cellSums(
        g,
        g.days.map((_, i) => i),
      ),
      2,
    );
    expect(fit.intercept).toBeCloseTo(4, 9);
    expect(fit.coefficients[0]).toBeCloseTo(3, 9);
    expect(fit.coefficients[1]).toBeCloseTo(1, 9);
    expect(fit.coefficients[2]).toBeCloseTo(5, 9);
  });
});

describe('the flow model', () => {
  // Overdispersed counts like the real exports (synthetic-master.ts) and three weeks of days
  // (14 training days): the regime where a weekend cell has only a handful of days and pooling
  // across cells pays. With many more training days of stationary data the two are within ~1%.
  const SYN = { checkpoints: 6, days: 21, dailyPerCheckpoint: 600 };

  it('beats both baselines on a synthetic master with per-checkpoint daily shapes', () => {
    const g = syntheticGrid({ ...SYN, seed: 1 });
    const { metrics } = trainFlowModel(g, META).model;
    const { model, baselines } = metrics;
    expect(model.mae).toBeLessThan(baselines.cell_mean.mae);
    expect(model.rmse).toBeLessThan(baselines.cell_mean.rmse);
    expect(model.mae).toBeLessThan(baselines.plain_linear.mae * 0.8);
    expect(model.rmse).toBeLessThan(baselines.plain_linear.rmse * 0.8);
    expect(model.r2).toBeGreaterThan(baselines.plain_linear.r2);
    expect(metrics.beats_baselines).toBe(true);
  });

  it('its edge over the cell mean is systematic across seeds, not one lucky draw', () => {
    const ratios = [2, 3, 4, 5].map((seed) => {
      const { model, baselines } = trainFlowModel(syntheticGrid({ ...SYN, seed }), META).model.metrics;
      // RMSE (what the ridge fit minimizes) wins on every seed.
      expect(model.rmse).toBeLessThan(baselines.cell_mean.rmse);
      return model.mae / baselines.cell_mean.mae;
    });
    expect(ratios.reduce((a, r) => a + r, 0) / ratios.length).toBeLessThan(0.99);
  });

  it("recovers each checkpoint's own daily shape from noiseless counts", () => {
    // Flow exactly = a per-checkpoint shape (+ a weekend level): the model must reproduce it.
    const shape = (c: number, h: number, w: number) => (c === 0 ? 5 + (h === 8 ? 30 : 0) : 2 + (h >= 17 && h <= 19 ? 12 : 0)) + 3 * w;
    const b = new HourlyGridBuilder();
    let id = 0;
    for (let i = 0; i < 28; i++) {
      const date = addDays('2024-01-01', i);
      const w = i % 7 >= 5 ? 1 : 0;
      ['A', 'B'].forEach((k, c) => {
        for (let h = 0; h < HOURS; h++) {
          for (let n = 0; n < shape(c, h, w); n++) b.add(row(String(id++), k, `${date} ${String(h).padStart(2, '0')}:00:00`));
        }
      });
    }
    const g = b.finish();
    const { model } = trainFlowModel(g, META, { lambda: 1e-6 });
    const p = loadPredictor(model);
    for (const c of [0, 1]) {
      for (let h = 0; h < HOURS; h++) {
        for (const w of [0, 1] as const) expect(p.predict(['A', 'B'][c]!, h, w)).toBeCloseTo(shape(c, h, w), 3);
      }
    }
    expect(model.metrics.model.mae).toBeLessThan(1e-3);
  });

  it('writes a self-describing JSON: format, China-time trained_at, data, features, metrics', () => {
    const g = syntheticGrid({ checkpoints: 3, days: 20, seed: 2, dailyPerCheckpoint: 300 });
    const { model } = trainFlowModel(g, META);
    expect(model.format).toBe('traffic-flow-linear/2');
    expect(model.trained_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$/);
    expect(model.data).toMatchObject({ sha256: META.sha256, rows: g.rows, from: g.from, to: g.to });
    expect(model.features.checkpoints).toEqual(g.checkpoints);
    expect(model.features.names.length).toBe(model.coefficients.length);
    expect(model.features.terms.length).toBe(model.coefficients.length);
    expect(model.fit.fitted_on).toMatch(/all \d+ complete real days/);
    expect(model.fit.lambda_trials.length).toBeGreaterThan(3);
    expect(Object.keys(model.metrics.baselines)).toEqual(['plain_linear', 'cell_mean']);
    expect(model.coefficients.every(Number.isFinite)).toBe(true);
  });

  it('says clearly when there are too few complete days for a hold-out', () => {
    const g = syntheticGrid({ checkpoints: 2, days: 8, seed: 1, dailyPerCheckpoint: 300 });
    expect(() => trainFlowModel(g, META)).toThrow(/need at least 9 complete real days/);
  });
});
