/**
 * Short-term forecast part of the flow model, pure (no I/O): the passes of a checkpoint in the
 * hour [T, T+1h) from what was seen before the forecast origin O = T − (H−1) h (horizon H = 1–3).
 *
 * The level of real traffic drifts (whole days vary 3× and more), so a profile (checkpoint × hour ×
 * day type) cannot know today's level; the recent hours can. Every feature is a log ratio of what
 * was seen to what the profile expected, plus the profile itself, so one set of coefficients fits
 * quiet and busy checkpoints alike:
 *
 *   target      ln(1 + passes in [T, T+1h))
 *   prediction  max(0, exp(intercept + Σ coefficient × feature) − 1)
 *
 * History rule (the same for `train`, `forecast` and the API): only real passes (no SYN rows)
 * before O. An hour counts as *observed* when the history holds at least one real pass at any of
 * the model's checkpoints in it; an hour that is not observed (a gap in the exports, a SYN-filled
 * day, before the history starts) takes the profile's value, so its ratio is neutral (ln 1 = 0).
 */
import { TrafficError } from '../core/errors.ts';
import { chinaHourNumber, hourNumberText, isWeekendDayNumber } from '../core/time.ts';
import { cellIndex, HOURS } from './features.ts';
import type { HourlyGrid } from './grid.ts';
import { NormalEquations } from './ridge.ts';

export const HORIZONS = [1, 2, 3] as const;
/** Hours of history before the origin that any feature reads (same hour last week). */
export const LOOKBACK_HOURS = 168;
/**
 * Ridge penalties tried for the forecast part, per horizon, by blocked cross-validation over the
 * fitting days (MAE in passes of each block's rows predicted by the fit on the other blocks).
 */
export const FORECAST_LAMBDAS = [0.1, 1, 10, 100, 1000];
/** The penalty when there are too few fitting days for two blocks. */
export const FORECAST_DEFAULT_LAMBDA = 1;

export interface FeatureSpec {
  name: string;
  description: string;
}

/**
 * The features, in coefficient order. x̃(t) = passes in hour t if observed and t < O, else P(t);
 * M = the cell mean (forecast.cell_mean.values: the unweighted mean of the fitting days).
 */
export const FORECAST_FEATURES: readonly FeatureSpec[] = [
  { name: 'log_profile', description: 'ln(1 + P(T)), P = the profile part (intercept/coefficients) for the checkpoint, hour of T and day type of T' },
  { name: 'log_ratio_last_hour', description: 'ln((1 + x̃(O−1h)) / (1 + P(O−1h))): the last hour before the origin against its profile' },
  { name: 'log_ratio_3h', description: 'ln((1 + Σ x̃(O−k h)) / (1 + Σ P(O−k h))), k = 1..3: the last three hours against the profile' },
  { name: 'log_ratio_24h', description: 'ln((1 + Σ x̃(O−k h)) / (1 + Σ P(O−k h))), k = 1..24: the running day level against the profile' },
  { name: 'log_ratio_yesterday', description: 'ln((1 + x̃(T−24h)) / (1 + P(T−24h))): the same hour yesterday against its profile' },
  { name: 'log_ratio_last_week', description: 'ln((1 + x̃(T−168h)) / (1 + P(T−168h))): the same hour a week earlier against its profile' },
  {
    name: 'log_network_ratio_3h',
    description: "as log_ratio_3h but with x̃ and P summed over all the model's checkpoints: the network level, less noisy than one checkpoint",
  },
  {
    name: 'log_mean_to_profile',
    description:
      "ln((1 + M(T)) / (1 + P(T))), M = forecast.cell_mean.values for the checkpoint, hour of T and day type of T: the unweighted mean beside the recency-weighted profile (a second estimate of the hour's shape)",
  },
  { name: 'log_ratio_last_hour_to_mean', description: 'ln((1 + x̃(O−1h)) / (1 + M(O−1h))): the last hour before the origin against the cell mean' },
  { name: 'log_ratio_second_last_hour', description: 'ln((1 + x̃(O−2h)) / (1 + P(O−2h))): the hour before the last one against its profile' },
  { name: 'log_ratio_6h', description: 'ln((1 + Σ x̃(O−k h)) / (1 + Σ P(O−k h))), k = 1..6: the last six hours against the profile' },
];

/** Real passes per checkpoint per hour over a span of hour numbers (core/time chinaHourNumber). */
export class HourlyHistory {
  readonly counts: Float64Array;
  /** Passes per hour summed over the checkpoints: an hour is observed when this is > 0. */
  readonly network: Float64Array;
  /** Bumped by every add (a NetworkMemo of an older state is stale). */
  version = 0;
  private readonly index: Map<string, number>;

  constructor(
    readonly checkpoints: readonly string[],
    /** Hour number of the first hour held. */
    readonly start: number,
    /** Hours held. */
    readonly length: number,
  ) {
    this.counts = new Float64Array(checkpoints.length * length);
    this.network = new Float64Array(length);
    this.index = new Map(checkpoints.map((c, i) => [c, i]));
  }

  /** Adds passes of a checkpoint in an hour; a checkpoint the model does not know is ignored. */
  add(kkmc: string, hour: number, n: number): boolean {
    const c = this.index.get(kkmc);
    const t = hour - this.start;
    if (c === undefined || t < 0 || t >= this.length || !(n > 0)) return false;
    this.version++;
    this.counts[c * this.length + t]! += n;
    this.network[t]! += n;
    return true;
  }

  /** Passes of checkpoint index c in hour n (0 outside the span). */
  y(c: number, n: number): number {
    const t = n - this.start;
    return t < 0 || t >= this.length ? 0 : this.counts[c * this.length + t]!;
  }

  observed(n: number): boolean {
    const t = n - this.start;
    return t >= 0 && t < this.length && this.network[t]! > 0;
  }

  /** The same history with every hour at or after `end` removed (a cut at an origin). */
  cut(end: number): HourlyHistory {
    const len = Math.max(0, Math.min(this.length, end - this.start));
    const h = new HourlyHistory(this.checkpoints, this.start, this.length);
    for (let c = 0; c < this.checkpoints.length; c++) {
      h.counts.set(this.counts.subarray(c * this.length, c * this.length + len), c * this.length);
    }
    h.network.set(this.network.subarray(0, len));
    return h;
  }
}

/** Profile value of checkpoint c in hour number n from a cell table (features.ts cellIndex). */
export function profileAt(profile: Float64Array, c: number, n: number): number {
  const day = Math.floor(n / HOURS);
  return profile[cellIndex(c, n - day * HOURS, isWeekendDayNumber(day) ? 1 : 0)]!;
}

/** Offset of hour number n in a checkpoint's 48 cells (features.ts cellIndex: (hour·2 + weekend)). */
function cellOffset(n: number): number {
  const day = Math.floor(n / HOURS);
  return (n - day * HOURS) * 2 + (isWeekendDayNumber(day) ? 1 : 0);
}

/**
 * The network sums of the three hours before an origin (they do not depend on the checkpoint):
 * forecasts of every checkpoint at one origin share them. Keyed by history, profile and origin.
 */
export class NetworkMemo {
  history: HourlyHistory | null = null;
  profile: Float64Array | null = null;
  version = -1;
  origin = Number.NaN;
  value = 0;
}

/**
 * The features of the forecast of checkpoint c for the hour starting at hour number `target`,
 * horizon H, into `out` (length FORECAST_FEATURES.length). Reads only hours < target − (H−1).
 * `mean` is the cell-mean table (forecast.cell_mean), `profile` the profile part's.
 */
export function forecastFeatures(
  h: HourlyHistory,
  profile: Float64Array,
  mean: Float64Array,
  c: number,
  target: number,
  horizon: number,
  out: Float64Array,
  memo?: NetworkMemo,
): void {
  const origin = target - (horizon - 1);
  const base = c * HOURS * 2;
  const L = h.length;
  const row = c * L;
  // x̃(n) for n < origin: the passes when the hour is observed, else the profile.
  const seen = (n: number, p: number): number => {
    const t = n - h.start;
    return t >= 0 && t < L && h.network[t]! > 0 ? h.counts[row + t]! : p;
  };
  const ratio = (a: number, b: number): number => Math.log((1 + a) / (1 + b));
  const pT = profile[base + cellOffset(target)]!;
  out[0] = Math.log1p(pT);
  let a3 = 0;
  let p3 = 0;
  let a6 = 0;
  let p6 = 0;
  let a24 = 0;
  let p24 = 0;
  let x1 = 0;
  let p1 = 0;
  for (let k = 1; k <= 24; k++) {
    const n = origin - k;
    const p = profile[base + cellOffset(n)]!;
    const x = seen(n, p);
    if (k === 1) {
      x1 = x;
      p1 = p;
    } else if (k === 2) out[9] = ratio(x, p);
    if (k <= 3) {
      a3 += x;
      p3 += p;
    }
    if (k <= 6) {
      a6 += x;
      p6 += p;
    }
    a24 += x;
    p24 += p;
  }
  out[1] = ratio(x1, p1);
  out[2] = ratio(a3, p3);
  out[3] = ratio(a24, p24);
  // T−24h and T−168h are before the origin for every horizon ≤ 3.
  const pY = profile[base + cellOffset(target - 24)]!;
  out[4] = ratio(seen(target - 24, pY), pY);
  const pW = profile[base + cellOffset(target - 168)]!;
  out[5] = ratio(seen(target - 168, pW), pW);
  if (memo && memo.history === h && memo.version === h.version && memo.profile === profile && memo.origin === origin) out[6] = memo.value;
  else {
    let na = 0;
    let np = 0;
    for (let k = 1; k <= 3; k++) {
      const n = origin - k;
      const off = cellOffset(n);
      const t = n - h.start;
      const obs = t >= 0 && t < L && h.network[t]! > 0;
      for (let cc = 0; cc < h.checkpoints.length; cc++) {
        const p = profile[cc * HOURS * 2 + off]!;
        na += obs ? h.counts[cc * L + t]! : p;
        np += p;
      }
    }
    out[6] = ratio(na, np);
    if (memo) {
      memo.history = h;
      memo.version = h.version;
      memo.profile = profile;
      memo.origin = origin;
      memo.value = out[6]!;
    }
  }
  out[7] = ratio(mean[base + cellOffset(target)]!, pT);
  out[8] = ratio(x1, mean[base + cellOffset(origin - 1)]!);
  out[10] = ratio(a6, p6);
}

export interface LambdaCvTrial {
  lambda: number;
  cv_mae: number;
}

export interface HorizonFit {
  horizon: number;
  intercept: number;
  coefficients: number[];
  /** Checkpoint-hours the fit saw. */
  rows: number;
  /** Ridge penalty used, and the cross-validation behind it (empty when too few blocks). */
  lambda?: number;
  lambda_trials?: LambdaCvTrial[];
}

export function applyFit(fit: HorizonFit, x: ArrayLike<number>): number {
  let v = fit.intercept;
  for (let j = 0; j < fit.coefficients.length; j++) v += fit.coefficients[j]! * x[j]!;
  return Math.max(0, Math.expm1(v));
}

/** One forecast: checkpoint index c, the hour starting at hour number `target`, horizon H. */
export function forecastOne(
  h: HourlyHistory,
  profile: Float64Array,
  mean: Float64Array,
  fit: HorizonFit,
  c: number,
  target: number,
  memo?: NetworkMemo,
): number {
  const x = new Float64Array(FORECAST_FEATURES.length);
  forecastFeatures(h, profile, mean, c, target, fit.horizon, x, memo);
  return applyFit(fit, x);
}

/**
 * A target day of the fit: its day number, the profile and cell-mean tables the features read for
 * it (fitted without the day's block), and that block (null: no blocks, in-sample tables).
 */
export interface FitDay {
  day: number;
  profile: Float64Array;
  mean: Float64Array;
  fold: number | null;
}

/**
 * Ridge fit per horizon on every checkpoint-hour of the given (complete, real) days. The penalty
 * of each horizon is chosen by blocked cross-validation over the days' blocks: each block's rows
 * are predicted by the fit on the other blocks, lowest MAE in passes wins (the forecast's own
 * measure). Fewer than two blocks: FORECAST_DEFAULT_LAMBDA.
 */
export function fitForecast(h: HourlyHistory, days: readonly FitDay[], lambdas: readonly number[] = FORECAST_LAMBDAS): HorizonFit[] {
  const K = h.checkpoints.length;
  const p = FORECAST_FEATURES.length;
  if (days.length === 0) throw new TrafficError('INPUT_EMPTY', 'no complete days to fit the forecast part on');
  const n = days.length * HOURS * K;
  const X = new Float64Array(n * p);
  const y = new Float64Array(n);
  const fold = new Int32Array(n);
  const folds = [...new Set(days.flatMap((d) => (d.fold === null ? [] : [d.fold])))].sort((a, b) => a - b);
  const memo = new NetworkMemo();
  const cv = folds.length >= 2 && days.every((d) => d.fold !== null);
  const x = new Float64Array(p);
  return HORIZONS.map((horizon) => {
    // Rows are written into X through one scratch row (a subarray per row would be an allocation).
    const total = new NormalEquations(p);
    const byFold = new Map(folds.map((f) => [f, new NormalEquations(p)]));
    let r = 0;
    for (const { day, profile, mean, fold: f } of days) {
      for (let hour = 0; hour < HOURS; hour++) {
        const target = day * HOURS + hour;
        for (let c = 0; c < K; c++, r++) {
          forecastFeatures(h, profile, mean, c, target, horizon, x, memo);
          X.set(x, r * p);
          y[r] = Math.log1p(h.y(c, target));
          fold[r] = f ?? -1;
          // One set of equations per block; "all but block f" is the total minus block f.
          (byFold.get(fold[r]!) ?? total).addDense(x, y[r]!);
        }
      }
    }
    for (const ne of byFold.values()) total.addEquations(ne);
    let lambda = FORECAST_DEFAULT_LAMBDA;
    const trials: LambdaCvTrial[] = [];
    if (cv) {
      const abs = new Float64Array(lambdas.length);
      for (const f of folds) {
        const ne = new NormalEquations(p);
        ne.addEquations(total);
        ne.addEquations(byFold.get(f)!, -1);
        lambdas.forEach((l, j) => {
          const fit = ne.solve(l);
          const b = fit.coefficients;
          for (let i = 0; i < n; i++) {
            if (fold[i] !== f) continue;
            let v = fit.intercept;
            for (let k = 0; k < p; k++) v += b[k]! * X[i * p + k]!;
            abs[j]! += Math.abs(Math.expm1(y[i]!) - Math.max(0, Math.expm1(v)));
          }
        });
      }
      let best = 0;
      lambdas.forEach((l, j) => {
        trials.push({ lambda: l, cv_mae: round(abs[j]! / n) });
        if (abs[j]! < abs[best]! - 1e-9) best = j;
      });
      lambda = lambdas[best]!;
    }
    const fit = total.solve(lambda);
    return { horizon, intercept: fit.intercept, coefficients: fit.coefficients, rows: total.n, lambda, lambda_trials: trials };
  });
}

export const BASELINES = ['cell_mean', 'persistence', 'same_hour_yesterday'] as const;
export type BaselineName = (typeof BASELINES)[number];
export const BASELINE_DESCRIPTIONS: Record<BaselineName, string> = {
  cell_mean: 'training mean of the same checkpoint, hour and day type (no recent history)',
  persistence: 'passes in the last hour before the origin, O−1h (cell_mean when that hour is not observed)',
  same_hour_yesterday: 'passes in the hour T−24h (cell_mean when that hour is not observed)',
};

/** A naive baseline's forecast, under the same history rule as the model. */
export function baselineValue(
  name: BaselineName,
  h: HourlyHistory,
  cellMean: Float64Array,
  c: number,
  target: number,
  horizon: number,
): { value: number; fallback: boolean } {
  const mean = profileAt(cellMean, c, target);
  const origin = target - (horizon - 1);
  const lag = name === 'persistence' ? origin - 1 : name === 'same_hour_yesterday' ? target - 24 : null;
  if (lag === null) return { value: mean, fallback: false };
  return h.observed(lag) && lag < origin ? { value: h.y(c, lag), fallback: false } : { value: mean, fallback: true };
}

export interface ErrorMetrics {
  mae: number;
  rmse: number;
}

export interface HorizonEvaluation {
  horizon: number;
  n: number;
  model: ErrorMetrics;
  baselines: Record<BaselineName, ErrorMetrics & { fallbacks: number }>;
  best_baseline: BaselineName;
  mae_ratio_to_best: number;
  rmse_ratio_to_best: number;
  beats_best_baseline: boolean;
}

class ErrAcc {
  n = 0;
  abs = 0;
  sq = 0;
  fallbacks = 0;
  add(y: number, f: number): void {
    this.n++;
    this.abs += Math.abs(y - f);
    this.sq += (y - f) * (y - f);
  }
  get(): ErrorMetrics {
    return { mae: round(this.abs / this.n), rmse: round(Math.sqrt(this.sq / this.n)) };
  }
}

const round = (x: number, d = 6): number => (Number.isFinite(x) ? Number(x.toFixed(d)) : x);

/**
 * Rolling-origin evaluation: every checkpoint-hour of the given days is forecast at every horizon
 * from the history before its origin (earlier hours of the evaluated days included), by the model
 * and by the three naive baselines. `onForecast` sees each model forecast (for charts).
 */
export function evaluateForecast(
  h: HourlyHistory,
  fits: readonly HorizonFit[],
  profile: Float64Array,
  cellMean: Float64Array,
  days: readonly number[],
  onForecast?: (c: number, target: number, horizon: number, predicted: number, actual: number) => void,
): HorizonEvaluation[] {
  const K = h.checkpoints.length;
  const x = new Float64Array(FORECAST_FEATURES.length);
  const memo = new NetworkMemo();
  return fits.map((fit) => {
    const model = new ErrAcc();
    const base = Object.fromEntries(BASELINES.map((b) => [b, new ErrAcc()])) as Record<BaselineName, ErrAcc>;
    for (const day of days) {
      for (let hour = 0; hour < HOURS; hour++) {
        const target = day * HOURS + hour;
        for (let c = 0; c < K; c++) {
          const y = h.y(c, target);
          forecastFeatures(h, profile, cellMean, c, target, fit.horizon, x, memo);
          const f = applyFit(fit, x);
          model.add(y, f);
          onForecast?.(c, target, fit.horizon, f, y);
          for (const b of BASELINES) {
            const v = baselineValue(b, h, cellMean, c, target, fit.horizon);
            base[b].add(y, v.value);
            if (v.fallback) base[b].fallbacks++;
          }
        }
      }
    }
    const baselines = Object.fromEntries(BASELINES.map((b) => [b, { ...base[b].get(), fallbacks: base[b].fallbacks }])) as HorizonEvaluation['baselines'];
    const best = BASELINES.reduce((a, b) => (baselines[b].mae < baselines[a].mae ? b : a));
    const m = model.get();
    return {
      horizon: fit.horizon,
      n: model.n,
      model: m,
      baselines,
      best_baseline: best,
      mae_ratio_to_best: round(m.mae / baselines[best].mae, 4),
      rmse_ratio_to_best: round(m.rmse / baselines[best].rmse, 4),
      beats_best_baseline: m.mae < baselines[best].mae,
    };
  });
}

/** The evaluation as printed by `train` and the report, with a plain verdict per horizon. */
export function forecastTable(evals: readonly HorizonEvaluation[]): string {
  const head =
    `${'horizon'.padEnd(8)}${'model MAE'.padStart(11)}${'RMSE'.padStart(9)}` +
    BASELINES.map((b) => `${b.padStart(21)}`).join('') +
    `${'ratio to best'.padStart(15)}`;
  const lines = [head, `${''.padEnd(28)}${BASELINES.map(() => '  MAE / RMSE'.padStart(21)).join('')}${'MAE / RMSE'.padStart(15)}`];
  for (const e of evals) {
    lines.push(
      `${(e.horizon + ' h').padEnd(8)}${e.model.mae.toFixed(3).padStart(11)}${e.model.rmse.toFixed(3).padStart(9)}` +
        BASELINES.map((b) => `${e.baselines[b].mae.toFixed(3)} / ${e.baselines[b].rmse.toFixed(3)}`.padStart(21)).join('') +
        `${e.mae_ratio_to_best.toFixed(3)} / ${e.rmse_ratio_to_best.toFixed(3)}`.padStart(15),
    );
  }
  for (const e of evals) {
    lines.push(
      e.beats_best_baseline
        ? `${e.horizon} h ahead: the forecast beats the best baseline (${e.best_baseline}) on MAE, ratio ${e.mae_ratio_to_best.toFixed(3)}`
        : `WARNING: ${e.horizon} h ahead the forecast does NOT beat the best baseline (${e.best_baseline}): MAE ratio ${e.mae_ratio_to_best.toFixed(3)}`,
    );
  }
  return lines.join('\n');
}

/** Hour numbers' text for output rows. */
export { hourNumberText };

/** Day number (days since 1970-01-01, China time) of a `YYYY-MM-DD` date. */
export function dayNumber(date: string): number {
  return Math.floor(chinaHourNumber(`${date} 00:00:00`) / HOURS);
}

/**
 * The real passes of a grid as an hourly history over the model's checkpoints (in that order).
 * SYN passes are not history (they are another week's copy).
 */
export function historyFromGrid(grid: HourlyGrid, checkpoints: readonly string[] = grid.checkpoints): HourlyHistory {
  const first = grid.days[0];
  const h = new HourlyHistory(checkpoints, first ? dayNumber(first.date) * HOURS : 0, grid.days.length * HOURS);
  grid.days.forEach((d) => {
    const base = dayNumber(d.date) * HOURS;
    grid.checkpoints.forEach((code, c) => {
      for (let hour = 0; hour < HOURS; hour++) {
        const n = d.real[c * HOURS + hour]!;
        if (n > 0) h.add(code, base + hour, n);
      }
    });
  });
  return h;
}
