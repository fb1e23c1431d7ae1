/**
 * The forecast part of a model JSON (`traffic-flow-linear/2`), validated once and applied: the
 * forecast of a checkpoint-hour from an hourly history, and the naive baseline beside it. Pure,
 * shared by `traffic forecast`, the API and the report.
 */
import { TrafficError } from '../core/errors.ts';
import { chinaHourNumber, hourNumberText } from '../core/time.ts';
import type { TrafficStore } from '../store/store-api.ts';
import { HOURS, cellIndex } from './features.ts';
import {
  BASELINES,
  baselineValue,
  FORECAST_FEATURES,
  forecastOne,
  NetworkMemo,
  HORIZONS,
  HourlyHistory,
  LOOKBACK_HOURS,
  type BaselineName,
  type HorizonFit,
} from './forecast.ts';

export interface ForecastValue {
  predicted: number;
  /** The best naive baseline of this horizon on the model's hold-out, and its value. */
  baseline: number;
  baseline_name: BaselineName;
}

export interface Forecaster {
  readonly checkpoints: readonly string[];
  readonly horizons: readonly number[];
  /** Hour numbers [start, end) of history that forecasts of target hours [from, to) read. */
  span(fromHour: number, toHour: number): { start: number; end: number };
  /** An empty history over a span, in the model's checkpoint order. */
  emptyHistory(start: number, end: number): HourlyHistory;
  /** Forecast of checkpoint `kkmc` for the hour starting at hour number `target`. */
  forecast(history: HourlyHistory, kkmc: string, target: number, horizon: number): ForecastValue;
}

function invalid(message: string, field: string): TrafficError {
  return new TrafficError('MODEL_INVALID', `model JSON invalid: ${message}`, { field });
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * The forecast part of a parsed model JSON, or null when it has none (format /1). `profile` is
 * the profile part's cell table in `checkpoints` order (the predictor computes it).
 */
export function parseForecastPart(json: Record<string, unknown>, checkpoints: readonly string[], profile: Float64Array): Forecaster | null {
  const f = json.forecast;
  if (f === undefined) {
    if (json.format === 'traffic-flow-linear/2') throw invalid('format /2 needs a forecast object', 'forecast');
    return null;
  }
  if (!isObj(f)) throw invalid('forecast must be an object', 'forecast');
  const feats = f.features;
  const names = FORECAST_FEATURES.map((x) => x.name);
  if (!Array.isArray(feats) || feats.length !== names.length || !feats.every((x, i) => isObj(x) && x.name === names[i])) {
    throw invalid(`forecast.features must name ${names.join(', ')} in this order (the features this program computes)`, 'forecast.features');
  }
  if (!Array.isArray(f.horizons) || f.horizons.length === 0) throw invalid('forecast.horizons must be a non-empty array', 'forecast.horizons');
  const fits = new Map<number, HorizonFit>();
  f.horizons.forEach((h: unknown, i: number) => {
    const field = `forecast.horizons[${i}]`;
    if (!isObj(h) || !(HORIZONS as readonly unknown[]).includes(h.horizon)) throw invalid('horizon must be 1, 2 or 3', field);
    if (!finite(h.intercept)) throw invalid('intercept must be a finite number', field);
    if (!Array.isArray(h.coefficients) || h.coefficients.length !== names.length || !h.coefficients.every(finite)) {
      throw invalid(`coefficients must be ${names.length} finite numbers`, field);
    }
    fits.set(h.horizon as number, { horizon: h.horizon as number, intercept: h.intercept, coefficients: h.coefficients as number[], rows: 0 });
  });
  const K = checkpoints.length;
  const cm = isObj(f.cell_mean) && isObj(f.cell_mean.values) ? f.cell_mean.values : null;
  if (!cm) throw invalid('forecast.cell_mean.values must be an object of checkpoint → 48 numbers', 'forecast.cell_mean');
  const cellMean = new Float64Array(K * HOURS * 2);
  checkpoints.forEach((k, c) => {
    const v = cm[k];
    if (!Array.isArray(v) || v.length !== 2 * HOURS || !v.every(finite)) throw invalid(`48 finite numbers needed for ${k}`, 'forecast.cell_mean');
    for (let h = 0; h < HOURS; h++) {
      cellMean[cellIndex(c, h, 0)] = v[h] as number;
      cellMean[cellIndex(c, h, 1)] = v[HOURS + h] as number;
    }
  });
  // Which baseline to show beside a forecast: the best one on the model's own hold-out.
  const best = new Map<number, BaselineName>();
  const m = isObj(json.metrics) && isObj(json.metrics.forecast) && Array.isArray(json.metrics.forecast.horizons) ? json.metrics.forecast.horizons : [];
  for (const e of m) {
    if (isObj(e) && typeof e.horizon === 'number' && (BASELINES as readonly unknown[]).includes(e.best_baseline))
      best.set(e.horizon, e.best_baseline as BaselineName);
  }
  const index = new Map(checkpoints.map((c, i) => [c, i]));
  const horizons = [...fits.keys()].sort();
  // Forecasts of every checkpoint at one origin share the network sums (forecast.ts NetworkMemo).
  const memo = new NetworkMemo();
  return {
    checkpoints,
    horizons,
    span: (fromHour, toHour) => ({ start: fromHour - LOOKBACK_HOURS, end: toHour }),
    emptyHistory: (start, end) => new HourlyHistory(checkpoints, start, Math.max(0, end - start)),
    forecast(history, kkmc, target, horizon) {
      const fit = fits.get(horizon);
      if (!fit) throw new TrafficError('INVALID_OPTION', `horizon must be one of ${horizons.join(', ')}, got ${horizon}`, { field: 'horizon' });
      const c = index.get(kkmc);
      if (c === undefined) {
        throw new TrafficError('UNKNOWN_CHECKPOINT', `unknown checkpoint "${kkmc}"; valid codes: ${checkpoints.join(', ')}`, { field: 'kkmc', value: kkmc });
      }
      if (history.checkpoints !== checkpoints && history.checkpoints.join() !== checkpoints.join()) {
        throw new TrafficError('INTERNAL', "history checkpoints differ from the model's");
      }
      const name = best.get(horizon) ?? 'persistence';
      return {
        predicted: forecastOne(history, profile, cellMean, fit, c, target, memo),
        baseline: baselineValue(name, history, cellMean, c, target, horizon).value,
        baseline_name: name,
      };
    },
  };
}

/** Hour number of an `at` / `--from` value that must be the start of an hour. */
export function parseHourStart(text: string, field: string): number {
  if (!/^\d{4}-\d{2}-\d{2} \d{2}:00:00$/.test(text) || +text.slice(11, 13) > 23) {
    throw new TrafficError('INVALID_OPTION', `${field} must be the start of an hour, YYYY-MM-DD HH:00:00 (China time), got "${text}"`, {
      field,
      value: text,
    });
  }
  const n = chinaHourNumber(text);
  if (hourNumberText(n) !== text) {
    throw new TrafficError('INVALID_OPTION', `${field} is not a real date: "${text}"`, { field, value: text });
  }
  return n;
}

/** Real passes per checkpoint-hour in the hours [start, end) from a store (embedded or MySQL shards). */
export async function readHistoryStore(store: Pick<TrafficStore, 'hourlyByCheckpoint'>, f: Forecaster, start: number, end: number): Promise<HourlyHistory> {
  const history = f.emptyHistory(start, end);
  for (const r of await store.hourlyByCheckpoint(hourNumberText(start), hourNumberText(end))) {
    history.add(r.kkmc, chinaHourNumber(r.hour), r.value);
  }
  return history;
}
