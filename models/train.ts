/**
 * Fitting and honest evaluation of the hourly flow model, pure (no I/O): grid in, model JSON and
 * evaluation out.
 *
 *   complete days ── last `holdoutDays` ──▶ hold-out (never seen by the fit or by λ selection)
 *        │
 *        └─ the rest = training ── blocked cross-validation (contiguous folds) ──▶ λ, weekend-hour ratio
 *   training (all) + chosen λ ──▶ model evaluated on the hold-out, with two baselines:
 *        plain_linear  the original plan: OLS on [checkpoint index, hour, is_weekend]
 *        cell_mean     training mean of the same checkpoint, hour and day type
 *   all complete days + chosen λ ──▶ the exported coefficients
 *
 * Every model here is a function of the cell (checkpoint, hour, weekend), so each is turned into
 * a table of K × 24 × 2 values before evaluation; predictions are clipped at 0 (the predictor's
 * contract) for the model and both baselines alike.
 */
import { TrafficError } from '../core/errors.ts';
import { chinaIso } from '../core/time.ts';
import { activeByCell, buildTerms, cellIndex, DEFAULT_BLOCKS, HOURS, termName, type Block, type CellRow, type FeatureTerm } from './features.ts';
import {
  BASELINE_DESCRIPTIONS,
  evaluateForecast,
  FORECAST_FEATURES,
  FORECAST_DEFAULT_LAMBDA,
  FORECAST_LAMBDAS,
  fitForecast,
  historyFromGrid,
  dayNumber,
  LOOKBACK_HOURS,
  type FitDay,
  type HorizonEvaluation,
  type HorizonFit,
} from './forecast.ts';
import type { HourlyGrid } from './grid.ts';
import { NormalEquations, type LinearFit } from './ridge.ts';

export const MODEL_FORMAT = 'traffic-flow-linear/2';
/**
 * Candidate half-lives (days) of the profile's recency weights; null = every day weighs the same.
 * Chosen by forward validation on the last training blocks (each predicted from the days before it).
 */
export const DEFAULT_HALF_LIVES: readonly (number | null)[] = [null, 56, 28, 14, 7];
export const DEFAULT_LAMBDAS = [0.01, 0.1, 0.3, 1, 3, 10, 30, 100, 1000];
/**
 * Penalty of the checkpoint × hour × weekend block relative to λ. A large ratio makes a weekend
 * hour follow its checkpoint's weekday shape × weekend factor (the profile block) unless the data
 * insist; chosen together with λ.
 */
export const DEFAULT_WEEKEND_HOUR_RATIOS = [1, 10, 100];

export interface TrainOptions {
  holdoutDays?: number;
  /** Candidate ridge penalties; the one with the lowest validation RMSE is used. */
  lambdas?: readonly number[];
  /** A fixed λ instead of the validation search. */
  lambda?: number;
  /** A fixed penalty ratio of the checkpoint × hour × weekend block (else searched with λ). */
  weekendHourRatio?: number;
  blocks?: readonly Block[];
  /** A fixed half-life (days) of the profile's recency weights; null = unweighted (else chosen). */
  halfLife?: number | null;
  /** Evaluation hook: every model forecast over the hold-out (checkpoint index, hour number, …). */
  onHoldoutForecast?: (c: number, target: number, horizon: number, predicted: number, actual: number) => void;
}

export interface Metrics {
  mae: number;
  rmse: number;
  r2: number;
  /** Grid rows (checkpoint-hours) evaluated. */
  n: number;
}

export interface DaySplit {
  complete: number[];
  holdout: number[];
  train: number[];
  /** Contiguous blocks of `train` for choosing λ by blocked cross-validation. */
  folds: number[][];
}

/**
 * The last `holdoutDays` complete days are the hold-out; the training days before them are cut
 * into `folds` contiguous blocks of days for choosing λ (contiguous rather than shuffled days, so
 * that slow drifts count against a λ as they will on the hold-out).
 */
export function splitDays(grid: HourlyGrid, holdoutDays = 7, folds = 4): DaySplit {
  const complete = grid.days.flatMap((d, i) => (d.status === 'complete' ? [i] : []));
  if (complete.length < holdoutDays + 2) {
    throw new TrafficError(
      'INPUT_EMPTY',
      `need at least ${holdoutDays + 2} complete real days (${holdoutDays} for the hold-out, 2 to train), found ${complete.length}` +
        (complete.length >= 3 ? `; a smaller hold-out works: --holdout-days ${complete.length - 2} or less` : ''),
    );
  }
  const holdout = complete.slice(-holdoutDays);
  const train = complete.slice(0, -holdoutDays);
  const k = Math.min(folds, Math.floor(train.length / 2));
  const blocks: number[][] = [];
  for (let f = 0; f < k; f++) {
    blocks.push(train.slice(Math.round((f * train.length) / k), Math.round(((f + 1) * train.length) / k)));
  }
  return { complete, holdout, train, folds: k >= 2 ? blocks : [] };
}

/** Per-cell day counts and pass sums over some days: the sufficient statistics of every model here. */
export interface CellSums {
  days: Float64Array;
  sum: Float64Array;
}

export function cellSums(grid: HourlyGrid, dayIdx: readonly number[], weight?: (dayIndex: number) => number): CellSums {
  const K = grid.checkpoints.length;
  const days = new Float64Array(K * HOURS * 2);
  const sum = new Float64Array(K * HOURS * 2);
  for (const i of dayIdx) {
    const d = grid.days[i]!;
    const w = weight ? weight(i) : 1;
    for (let c = 0; c < K; c++) {
      for (let h = 0; h < HOURS; h++) {
        const cell = cellIndex(c, h, d.weekend);
        days[cell]! += w;
        sum[cell]! += w * d.real[c * HOURS + h]!;
      }
    }
  }
  return { days, sum };
}

/**
 * Recency weights of the profile: a day `age` days before the last fitting day weighs
 * 0.5^(age / halfLife) (grid days are consecutive dates, so age = index difference).
 */
export function recencyWeight(lastDayIndex: number, halfLife: number | null): ((i: number) => number) | undefined {
  if (halfLife === null) return undefined;
  return (i) => 0.5 ** ((lastDayIndex - i) / halfLife);
}

/** Mean absolute error of a cell table on the checkpoint-hours of some days. */
function maeOf(grid: HourlyGrid, dayIdx: readonly number[], table: Float64Array): { abs: number; n: number } {
  const K = grid.checkpoints.length;
  let abs = 0;
  let n = 0;
  for (const i of dayIdx) {
    const d = grid.days[i]!;
    for (let c = 0; c < K; c++) {
      for (let h = 0; h < HOURS; h++) abs += Math.abs(d.real[c * HOURS + h]! - table[cellIndex(c, h, d.weekend)]!);
      n += HOURS;
    }
  }
  return { abs, n };
}

/** The profile's cell table fitted on some days with recency weights relative to the last of them. */
function profileTable(
  grid: HourlyGrid,
  blocks: readonly Block[],
  dayIdx: readonly number[],
  lambda: number,
  ratio: number,
  halfLife: number | null,
): Float64Array {
  const sums = cellSums(grid, dayIdx, recencyWeight(dayIdx[dayIdx.length - 1] ?? 0, halfLife));
  const d = design(grid.checkpoints, blocks, sums);
  return cellTable(solveCells(ridgeEquations(sums, d.active, d.terms.length), d.terms, lambda, ratio), d.active);
}

/**
 * Half-life by forward validation: each of the last (up to) two training blocks is predicted by
 * the profile fitted on the days before it; lowest MAE wins, ties go to no weighting.
 */
function chooseHalfLife(
  grid: HourlyGrid,
  blocks: readonly Block[],
  split: DaySplit,
  lambda: number,
  ratio: number,
  candidates: readonly (number | null)[],
): { halfLife: number | null; trials: { half_life_days: number | null; forward_mae: number }[]; how: string } {
  const tests = split.folds.slice(-2).filter((f) => split.train.indexOf(f[0]!) >= 2);
  if (tests.length === 0) return { halfLife: null, trials: [], how: 'unweighted: too few training days to validate a half-life' };
  const trials = candidates.map((hl) => {
    let abs = 0;
    let n = 0;
    for (const fold of tests) {
      const before = split.train.slice(0, split.train.indexOf(fold[0]!));
      const m = maeOf(grid, fold, profileTable(grid, blocks, before, lambda, ratio, hl));
      abs += m.abs;
      n += m.n;
    }
    return { half_life_days: hl, forward_mae: round(abs / n) };
  });
  let best = trials[0]!;
  for (const t of trials) if (t.forward_mae < best.forward_mae - 1e-9) best = t;
  return {
    halfLife: best.half_life_days,
    trials,
    how: `lowest MAE when each of the last ${tests.length} training block(s) is predicted from the days before it (forward validation; the hold-out is not used)`,
  };
}

/**
 * Out-of-fold profile tables for the forecast part's fitting days: each contiguous block of days
 * gets the profile fitted without it, so the fit does not learn to trust a profile that has seen
 * its own targets. Too few days for blocks: the in-sample profile (stated in the JSON).
 */
function outOfFoldProfiles(
  grid: HourlyGrid,
  blocks: readonly Block[],
  dayIdx: readonly number[],
  lambda: number,
  ratio: number,
  halfLife: number | null,
  inSample: Float64Array,
  inSampleMean: Float64Array,
): { days: FitDay[]; how: string } {
  const k = Math.min(4, Math.floor(dayIdx.length / 2));
  if (k < 2) {
    return {
      days: dayIdx.map((i) => ({ day: dayNumber(grid.days[i]!.date), profile: inSample, mean: inSampleMean, fold: null })),
      how: 'in-sample profile and cell mean (fewer than 4 fitting days)',
    };
  }
  const out: FitDay[] = [];
  for (let f = 0; f < k; f++) {
    const fold = dayIdx.slice(Math.round((f * dayIdx.length) / k), Math.round(((f + 1) * dayIdx.length) / k));
    const rest = dayIdx.filter((i) => !fold.includes(i));
    const table = profileTable(grid, blocks, rest, lambda, ratio, halfLife);
    const mean = cellMeanTable(grid, cellSums(grid, rest));
    for (const i of fold) out.push({ day: dayNumber(grid.days[i]!.date), profile: table, mean, fold: f });
  }
  return {
    days: out,
    how: `out-of-fold profile and cell mean: ${k} contiguous blocks of the fitting days, each with the tables fitted without it`,
  };
}

/**
 * Solves with every checkpoint-specific column eliminated per checkpoint (ridge.ts): exact, and
 * linear rather than cubic in the number of checkpoints.
 */
export function solveCells(ne: NormalEquations, terms: readonly FeatureTerm[], lambda: number, weekendHourRatio = 1): LinearFit {
  const eliminate = terms.flatMap((t, i) => (t.kkmc !== undefined ? [i] : []));
  const penalty = terms.map((t) => (isWeekendHourTerm(t) ? weekendHourRatio : 1));
  return ne.solve(lambda, { eliminate, penalty });
}

/** A term of the finest block (checkpoint × hour × weekend), whose penalty can be scaled apart. */
function isWeekendHourTerm(t: FeatureTerm): boolean {
  return t.kkmc !== undefined && t.hour !== undefined && t.weekend !== undefined && t.scale === undefined;
}

export function subtractSums(a: CellSums, b: CellSums): CellSums {
  return { days: a.days.map((v, i) => v - b.days[i]!), sum: a.sum.map((v, i) => v - b.sum[i]!) };
}

export function ridgeEquations(sums: CellSums, active: readonly CellRow[], p: number): NormalEquations {
  const ne = new NormalEquations(p);
  for (let cell = 0; cell < active.length; cell++) {
    const n = sums.days[cell]!;
    if (n > 0) ne.addSparse(active[cell]!.idx, active[cell]!.val, sums.sum[cell]! / n, n);
  }
  return ne;
}

/** Table of clipped predictions of a fitted model, per cell. */
export function cellTable(fit: LinearFit, active: readonly CellRow[]): Float64Array {
  const t = new Float64Array(active.length);
  for (let cell = 0; cell < active.length; cell++) {
    const { idx, val } = active[cell]!;
    let v = fit.intercept;
    for (let k = 0; k < idx.length; k++) v += fit.coefficients[idx[k]!]! * val[k]!;
    t[cell] = Math.max(0, v);
  }
  return t;
}

/** Each checkpoint's weekday mean passes per hour over some days (the weekend×profile regressor). */
export function weekdayProfiles(checkpoints: readonly string[], sums: CellSums): Map<string, number[]> {
  return new Map(
    checkpoints.map((k, c) => [
      k,
      Array.from({ length: HOURS }, (_, h) => {
        const cell = cellIndex(c, h, 0);
        return sums.days[cell]! > 0 ? Number((sums.sum[cell]! / sums.days[cell]!).toFixed(4)) : 0;
      }),
    ]),
  );
}

/** Terms and cell rows of the design for a set of training days (profiles come from those days). */
export function design(checkpoints: readonly string[], blocks: readonly Block[], sums: CellSums) {
  const profiles = blocks.includes('kkmc:weekend×profile') ? weekdayProfiles(checkpoints, sums) : undefined;
  const terms = buildTerms(checkpoints, blocks, profiles);
  return { terms, active: activeByCell(checkpoints, terms) };
}

/** Baseline b: the training mean of the same cell (falls back to the checkpoint-hour, then overall mean). */
export function cellMeanTable(grid: HourlyGrid, sums: CellSums): Float64Array {
  const K = grid.checkpoints.length;
  const t = new Float64Array(K * HOURS * 2);
  let allN = 0;
  let allS = 0;
  for (let i = 0; i < t.length; i++) {
    allN += sums.days[i]!;
    allS += sums.sum[i]!;
  }
  for (let c = 0; c < K; c++) {
    for (let h = 0; h < HOURS; h++) {
      const a = cellIndex(c, h, 0);
      const b = cellIndex(c, h, 1);
      const pooledN = sums.days[a]! + sums.days[b]!;
      const pooled = pooledN > 0 ? (sums.sum[a]! + sums.sum[b]!) / pooledN : allN > 0 ? allS / allN : 0;
      for (const cell of [a, b]) t[cell] = sums.days[cell]! > 0 ? sums.sum[cell]! / sums.days[cell]! : pooled;
    }
  }
  return t;
}

/** Baseline a: OLS on [checkpoint index (sorted codes), hour, is_weekend] plus an intercept. */
export function plainLinearFit(sums: CellSums, K: number): LinearFit {
  const ne = new NormalEquations(3);
  for (let c = 0; c < K; c++) {
    for (let h = 0; h < HOURS; h++) {
      for (const w of [0, 1] as const) {
        const cell = cellIndex(c, h, w);
        const n = sums.days[cell]!;
        if (n > 0) ne.addDense([c, h, w], sums.sum[cell]! / n, n);
      }
    }
  }
  return ne.solve(0);
}

export function plainLinearTable(fit: LinearFit, K: number): Float64Array {
  const t = new Float64Array(K * HOURS * 2);
  const [bc, bh, bw] = fit.coefficients as [number, number, number];
  for (let c = 0; c < K; c++) {
    for (let h = 0; h < HOURS; h++) {
      for (const w of [0, 1] as const) t[cellIndex(c, h, w)] = Math.max(0, fit.intercept + bc * c + bh * h + bw * w);
    }
  }
  return t;
}

/** MAE, RMSE and R² of a cell table on the grid rows (checkpoint-hours) of some days. */
export function evaluateTable(grid: HourlyGrid, dayIdx: readonly number[], table: Float64Array): Metrics {
  const K = grid.checkpoints.length;
  let n = 0;
  let sumY = 0;
  for (const i of dayIdx) {
    const d = grid.days[i]!;
    for (let j = 0; j < K * HOURS; j++) sumY += d.real[j]!;
    n += K * HOURS;
  }
  if (n === 0) return { mae: NaN, rmse: NaN, r2: NaN, n: 0 };
  const mean = sumY / n;
  let abs = 0;
  let sq = 0;
  let tot = 0;
  for (const i of dayIdx) {
    const d = grid.days[i]!;
    for (let c = 0; c < K; c++) {
      for (let h = 0; h < HOURS; h++) {
        const y = d.real[c * HOURS + h]!;
        const e = y - table[cellIndex(c, h, d.weekend)]!;
        abs += Math.abs(e);
        sq += e * e;
        tot += (y - mean) * (y - mean);
      }
    }
  }
  return { mae: abs / n, rmse: Math.sqrt(sq / n), r2: tot > 0 ? 1 - sq / tot : NaN, n };
}

export interface LambdaTrial {
  lambda: number;
  weekend_hour_ratio: number;
  cv_rmse: number;
}

export interface InputMeta {
  file: string;
  sha256: string;
}

export interface TrainResult {
  model: FlowModelJson;
  split: DaySplit;
  /** Cell tables fitted on the training days (what the hold-out was judged on). */
  holdoutTables: { model: Float64Array; plain_linear: Float64Array; cell_mean: Float64Array };
  trainSeconds: number;
}

export interface FlowModelJson {
  format: typeof MODEL_FORMAT;
  trained_at: string;
  target: string;
  data: {
    file: string;
    rows: number;
    real_rows: number;
    syn_rows: number;
    skipped_rows: Record<string, number>;
    from: string | null;
    to: string | null;
    sha256: string;
    days: {
      in_range: number;
      complete: number;
      median_daily_passes: number;
      holdout: string[];
      excluded: { date: string; status: string; reason: string }[];
    };
  };
  features: {
    encoding: string;
    checkpoints: string[];
    hours: number;
    weekend: string;
    blocks: Block[];
    names: string[];
    terms: FeatureTerm[];
  };
  intercept: number;
  coefficients: number[];
  forecast: {
    description: string;
    target: string;
    prediction: string;
    history: string;
    profile: string;
    features: { name: string; description: string }[];
    lookback_hours: number;
    horizons: HorizonFit[];
    cell_mean: { description: string; values: Record<string, number[]> };
    fit: { method: string; fitted_on: string; profile_for_fit: string };
  };
  fit: {
    method: string;
    lambda: number;
    /** Penalty of the kkmc:hour:weekend block = λ × this. */
    weekend_hour_ratio: number;
    lambda_selection: string;
    lambda_trials: LambdaTrial[];
    /** Half-life (days) of the profile's recency weights; null = unweighted. */
    half_life_days: number | null;
    half_life_selection: string;
    half_life_trials: { half_life_days: number | null; forward_mae: number }[];
    fitted_on: string;
    clip: string;
  };
  metrics: {
    holdout: { days: string[]; rows: number; trained_on_days: number };
    model: Metrics;
    baselines: {
      plain_linear: Metrics & { description: string };
      cell_mean: Metrics & { description: string };
    };
    beats_baselines: boolean;
    /** Hold-out totals over all checkpoints, per day: what the model (fitted on training days) predicted. */
    holdout_daily: { date: string; weekend: 0 | 1; actual: number; predicted: number }[];
    forecast: {
      holdout: { days: string[]; origins: string; trained_on_days: number; profile_for_fit: string };
      baselines: Record<string, string>;
      horizons: HorizonEvaluation[];
      goal: string;
      goal_met: boolean;
    };
  };
}

const round = (x: number, d = 6): number => (Number.isFinite(x) ? Number(x.toFixed(d)) : x);
const roundMetrics = (m: Metrics): Metrics => ({ mae: round(m.mae), rmse: round(m.rmse), r2: round(m.r2), n: m.n });

export function trainFlowModel(grid: HourlyGrid, meta: InputMeta, opts: TrainOptions = {}): TrainResult {
  const t0 = performance.now();
  const holdoutDays = opts.holdoutDays ?? 7;
  const blocks = [...(opts.blocks ?? DEFAULT_BLOCKS)];
  const K = grid.checkpoints.length;
  if (K === 0) throw new TrafficError('INPUT_EMPTY', `no checkpoints in ${meta.file}`, { file: meta.file });
  const split = splitDays(grid, holdoutDays);

  // λ: fixed, or the lowest blocked cross-validation RMSE over the training days.
  const trials: LambdaTrial[] = [];
  const trainSums = cellSums(grid, split.train);
  let lambda: number;
  let ratio = opts.weekendHourRatio ?? 1;
  let selection: string;
  /** Each CV fold's unweighted profile at the chosen λ (the out-of-fold profiles of the training days). */
  let cvProfiles: Float64Array[] | null = null;
  if (opts.lambda !== undefined) {
    lambda = opts.lambda;
    selection = 'fixed by option';
  } else if (split.folds.length === 0) {
    lambda = 1;
    selection = `default λ = 1: too few training days (${split.train.length}) to cross-validate`;
  } else {
    const grid2 = (opts.lambdas ?? DEFAULT_LAMBDAS).flatMap((l) =>
      (opts.weekendHourRatio !== undefined ? [opts.weekendHourRatio] : DEFAULT_WEEKEND_HOUR_RATIOS).map((r) => ({ l, r })),
    );
    const sq = new Float64Array(grid2.length);
    let rows = 0;
    const foldTables: Float64Array[][] = [];
    for (const fold of split.folds) {
      const sums = subtractSums(trainSums, cellSums(grid, fold));
      const d = design(grid.checkpoints, blocks, sums);
      const ne = ridgeEquations(sums, d.active, d.terms.length);
      const tables: Float64Array[] = [];
      grid2.forEach(({ l, r }, j) => {
        const table = cellTable(solveCells(ne, d.terms, l, r), d.active);
        tables.push(table);
        const m = evaluateTable(grid, fold, table);
        sq[j]! += m.rmse * m.rmse * m.n;
        if (j === 0) rows += m.n;
      });
      foldTables.push(tables);
    }
    let best = 0;
    grid2.forEach(({ l, r }, j) => {
      trials.push({ lambda: l, weekend_hour_ratio: r, cv_rmse: round(Math.sqrt(sq[j]! / rows)) });
      if (sq[j]! < sq[best]!) best = j;
    });
    lambda = grid2[best]!.l;
    ratio = grid2[best]!.r;
    cvProfiles = split.folds.map((_, f) => foldTables[f]![best]!);
    selection =
      `lowest RMSE in ${split.folds.length}-fold blocked cross-validation over the ${split.train.length} training days ` +
      `(each fold a contiguous block of days, fitted on the other blocks) over λ × weekend-hour penalty ratio; the hold-out is not used`;
  }

  // Recency weights of the profile (the level drifts): half-life by forward validation.
  const hl =
    opts.halfLife !== undefined
      ? { halfLife: opts.halfLife, trials: [], how: 'fixed by option' }
      : chooseHalfLife(grid, blocks, split, lambda, ratio, DEFAULT_HALF_LIVES);

  // Hold-out evaluation: everything fitted on the training days only.
  const modelTable = profileTable(grid, blocks, split.train, lambda, ratio, hl.halfLife);
  const plainTable = plainLinearTable(plainLinearFit(trainSums, K), K);
  const meanTable = cellMeanTable(grid, trainSums);
  const model = evaluateTable(grid, split.holdout, modelTable);
  const plain = evaluateTable(grid, split.holdout, plainTable);
  const cellMean = evaluateTable(grid, split.holdout, meanTable);

  // Forecast part: fitted on the training days (out-of-fold profiles), judged by rolling origin
  // over every checkpoint-hour of the hold-out against the three naive baselines.
  const history = historyFromGrid(grid);
  // Without recency weights the CV folds already fitted exactly these out-of-fold profiles.
  const trainFitDays =
    cvProfiles && hl.halfLife === null
      ? {
          days: split.folds.flatMap((fold, f) => {
            const mean = cellMeanTable(grid, subtractSums(trainSums, cellSums(grid, fold)));
            return fold.map((i) => ({ day: dayNumber(grid.days[i]!.date), profile: cvProfiles![f]!, mean, fold: f }));
          }),
          how: `out-of-fold profile and cell mean: the ${split.folds.length} contiguous cross-validation blocks of the training days, each with the tables fitted without it`,
        }
      : outOfFoldProfiles(grid, blocks, split.train, lambda, ratio, hl.halfLife, modelTable, meanTable);
  const holdoutDayNumbers = split.holdout.map((i) => dayNumber(grid.days[i]!.date));
  const forecastEval = evaluateForecast(history, fitForecast(history, trainFitDays.days), modelTable, meanTable, holdoutDayNumbers, opts.onHoldoutForecast);

  // Exported coefficients: refit on every complete real day with the chosen λ and half-life.
  const allSums = cellSums(grid, split.complete, recencyWeight(split.complete[split.complete.length - 1]!, hl.halfLife));
  const { terms, active } = design(grid.checkpoints, blocks, allSums);
  const final = solveCells(ridgeEquations(allSums, active, terms.length), terms, lambda, ratio);
  const allMean = cellMeanTable(grid, cellSums(grid, split.complete));
  const allFitDays = outOfFoldProfiles(grid, blocks, split.complete, lambda, ratio, hl.halfLife, cellTable(final, active), allMean);
  const finalForecast = fitForecast(history, allFitDays.days);

  const holdoutDaily = split.holdout.map((i) => {
    const d = grid.days[i]!;
    let predicted = 0;
    for (let c = 0; c < K; c++) for (let h = 0; h < HOURS; h++) predicted += modelTable[cellIndex(c, h, d.weekend)]!;
    return { date: d.date, weekend: d.weekend, actual: d.realPasses, predicted: round(predicted, 1) };
  });

  const json: FlowModelJson = {
    format: MODEL_FORMAT,
    trained_at: chinaIso(),
    target: 'passes per checkpoint per hour (count); hours with no passes count as zeros',
    data: {
      file: meta.file,
      rows: grid.rows,
      real_rows: grid.realRows,
      syn_rows: grid.synRows,
      skipped_rows: grid.skipped,
      from: grid.from,
      to: grid.to,
      sha256: meta.sha256,
      days: {
        in_range: grid.days.length,
        complete: split.complete.length,
        median_daily_passes: grid.medianDailyReal,
        holdout: split.holdout.map((i) => grid.days[i]!.date),
        excluded: grid.days.filter((d) => d.status !== 'complete').map((d) => ({ date: d.date, status: d.status, reason: d.reason })),
      },
    },
    features: {
      encoding:
        'a feature is 0 unless all of its conditions hold for the input (kkmc = checkpoint code; hour = h: hour is h; hour_from = h: hour ≥ h; weekend = 1: Saturday/Sunday China time); then it is 1, or scale[hour] when the term has a 24-value scale (the checkpoint weekday profile of the fitting days); prediction = max(0, intercept + sum of coefficient × feature)',
      checkpoints: grid.checkpoints,
      hours: HOURS,
      weekend: '0 = Monday-Friday, 1 = Saturday/Sunday (date of GCSJ, China time)',
      blocks,
      names: terms.map(termName),
      terms,
    },
    intercept: final.intercept,
    coefficients: final.coefficients,
    fit: {
      method:
        'ridge: (XᵀX + λI)β = Xᵀy with an unpenalized intercept (same as centring), ml-matrix Cholesky; checkpoint-specific columns eliminated exactly per checkpoint (Schur complement)',
      lambda,
      weekend_hour_ratio: ratio,
      lambda_selection: selection,
      lambda_trials: trials,
      half_life_days: hl.halfLife,
      half_life_selection: hl.how,
      half_life_trials: hl.trials,
      fitted_on: `all ${split.complete.length} complete real days (training + hold-out); the metrics come from the fit on the ${split.train.length} training days`,
      clip: 'predictions below 0 are returned as 0',
    },
    forecast: {
      description:
        'passes of a checkpoint in the hour [T, T+1h) from the real passes before the origin O = T − (H−1) h, horizon H = 1–3; one linear form per horizon',
      target: 'ln(1 + passes in [T, T+1h))',
      prediction: 'max(0, exp(intercept + Σ coefficient × feature) − 1)',
      history:
        'real passes only (GCXH not SYN…) with GCSJ < O; an hour is observed when it holds ≥ 1 real pass at any of features.checkpoints; x̃(t) = passes of the checkpoint in hour t when t is observed and t < O, else P(t)',
      profile: "P(t) = the profile part (intercept, coefficients, features) for the checkpoint, the hour of day of t and the day type of t's date",
      features: FORECAST_FEATURES.map((f) => ({ ...f })),
      lookback_hours: LOOKBACK_HOURS,
      horizons: finalForecast.map((f) => ({ ...f, coefficients: f.coefficients.map((c) => round(c, 8)), intercept: round(f.intercept, 8) })),
      cell_mean: {
        description:
          'M of the features, baseline cell_mean and the fallback of the other baselines: mean passes per checkpoint and hour over all complete real days, 24 weekday values then 24 weekend values',
        values: Object.fromEntries(
          grid.checkpoints.map((k, c) => [k, [0, 1].flatMap((w) => Array.from({ length: HOURS }, (_, h) => round(allMean[cellIndex(c, h, w as 0 | 1)]!, 4)))]),
        ),
      },
      fit: {
        method:
          `ridge (unpenalized intercept) on every checkpoint-hour of the complete real days, one fit per horizon; λ per horizon from {${FORECAST_LAMBDAS.join(', ')}} ` +
          `by blocked cross-validation over the fitting days' blocks (each block predicted by the fit on the others, lowest MAE in passes; λ = ${FORECAST_DEFAULT_LAMBDA} without blocks); horizons[].lambda_trials lists the CV MAE`,
        fitted_on: `all ${split.complete.length} complete real days; the metrics come from the fit on the ${split.train.length} training days`,
        profile_for_fit: allFitDays.how,
      },
    },
    metrics: {
      holdout: {
        days: split.holdout.map((i) => grid.days[i]!.date),
        rows: model.n,
        trained_on_days: split.train.length,
      },
      model: roundMetrics(model),
      baselines: {
        plain_linear: {
          description: 'original plan: OLS on [checkpoint index in sorted code order, hour as a number, is_weekend]',
          ...roundMetrics(plain),
        },
        cell_mean: { description: 'training mean of the same checkpoint, hour and day type', ...roundMetrics(cellMean) },
      },
      beats_baselines: model.mae < plain.mae && model.rmse < plain.rmse && model.mae < cellMean.mae && model.rmse < cellMean.rmse,
      holdout_daily: holdoutDaily,
      forecast: {
        holdout: {
          days: split.holdout.map((i) => grid.days[i]!.date),
          origins: 'rolling: every hour of the hold-out days is forecast at each horizon from the history before its origin',
          trained_on_days: split.train.length,
          profile_for_fit: trainFitDays.how,
        },
        baselines: BASELINE_DESCRIPTIONS,
        horizons: forecastEval,
        goal: '1 h ahead MAE ≤ 0.9 × the best naive baseline',
        goal_met: (forecastEval[0]?.mae_ratio_to_best ?? Infinity) <= 0.9,
      },
    },
  };
  return {
    model: json,
    split,
    holdoutTables: { model: modelTable, plain_linear: plainTable, cell_mean: meanTable },
    trainSeconds: (performance.now() - t0) / 1000,
  };
}

/** The evaluation table as printed by `train` and the report. */
export function metricsTable(m: FlowModelJson['metrics']): string {
  const rows: [string, Metrics][] = [
    ['model (ridge)', m.model],
    ['plain_linear', m.baselines.plain_linear],
    ['cell_mean', m.baselines.cell_mean],
  ];
  const head = `${'hold-out (' + m.holdout.days.length + ' days, ' + m.holdout.rows + ' checkpoint-hours)'}`;
  const lines = [head, `${'model'.padEnd(16)}${'MAE'.padStart(10)}${'RMSE'.padStart(10)}${'R²'.padStart(10)}`];
  for (const [name, x] of rows) {
    lines.push(`${name.padEnd(16)}${x.mae.toFixed(3).padStart(10)}${x.rmse.toFixed(3).padStart(10)}${x.r2.toFixed(4).padStart(10)}`);
  }
  return lines.join('\n');
}
