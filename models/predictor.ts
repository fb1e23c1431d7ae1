/**
 * The flow predictor: model JSON in, predictions out. Pure (no I/O), shared by `traffic predict`,
 * the report and the API. The JSON is validated once at load (clear MODEL_INVALID errors naming the
 * field); then the linear form is evaluated for every cell (checkpoint, hour, weekend) and kept
 * as a table, so a prediction is one array read.
 */
import { TrafficError } from '../core/errors.ts';
import { cellIndex, HOURS, termValue, type FeatureTerm } from './features.ts';
import { parseForecastPart, type Forecaster } from './forecaster.ts';

/** /2 adds the forecast part (models/forecast.ts); its /1 fields are unchanged, so both load. */
export const SUPPORTED_FORMATS = ['traffic-flow-linear/1', 'traffic-flow-linear/2'] as const;

export interface Predictor {
  readonly checkpoints: string[];
  readonly format: string;
  readonly trainedAt: string;
  /** Passes expected at one checkpoint in one hour (≥ 0). */
  predict(kkmc: string, hour: number, isWeekend: boolean | 0 | 1): number;
  /** 24 hourly values for one checkpoint, or summed over all checkpoints when kkmc is null. */
  predictDay(kkmc: string | null, isWeekend: boolean | 0 | 1): number[];
  /** The model's own metrics block, as stored (for /api/health and reports). */
  readonly metrics: unknown;
  /** The short-term forecast part (format /2), or null for a /1 model. */
  readonly forecaster: Forecaster | null;
}

function invalid(message: string, field?: string): TrafficError {
  return new TrafficError('MODEL_INVALID', `model JSON invalid: ${message}`, field ? { field } : {});
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseTerm(v: unknown, i: number, known: ReadonlySet<string>): FeatureTerm {
  const field = `features.terms[${i}]`;
  if (!isObj(v)) throw invalid('a term must be an object', field);
  const t: FeatureTerm = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === 'kkmc') {
      if (typeof x !== 'string' || !known.has(x)) throw invalid(`kkmc ${JSON.stringify(x)} is not in features.checkpoints`, field);
      t.kkmc = x;
    } else if (k === 'hour') {
      if (!Number.isInteger(x) || (x as number) < 0 || (x as number) >= HOURS) throw invalid(`hour must be 0-23, got ${JSON.stringify(x)}`, field);
      t.hour = x as number;
    } else if (k === 'hour_from') {
      if (!Number.isInteger(x) || (x as number) < 1 || (x as number) >= HOURS) throw invalid(`hour_from must be 1-23, got ${JSON.stringify(x)}`, field);
      t.hour_from = x as number;
    } else if (k === 'scale') {
      if (!Array.isArray(x) || x.length !== HOURS || !x.every((v) => typeof v === 'number' && Number.isFinite(v))) {
        throw invalid('scale must be 24 finite numbers', field);
      }
      t.scale = x as number[];
    } else if (k === 'weekend') {
      if (x !== 1) throw invalid(`weekend term must be 1, got ${JSON.stringify(x)}`, field);
      t.weekend = 1;
    } else {
      throw invalid(`unknown term key "${k}"`, field);
    }
  }
  return t;
}

export function loadPredictor(json: unknown): Predictor {
  if (typeof json === 'string') {
    try {
      json = JSON.parse(json);
    } catch (err) {
      throw invalid(`not JSON (${(err as Error).message})`);
    }
  }
  if (!isObj(json)) throw invalid('expected an object');
  if (!(SUPPORTED_FORMATS as readonly unknown[]).includes(json.format)) {
    throw invalid(`format must be one of ${SUPPORTED_FORMATS.map((f) => `"${f}"`).join(', ')}, got ${JSON.stringify(json.format)}`, 'format');
  }
  const features = json.features;
  if (!isObj(features)) throw invalid('missing features object', 'features');
  const cps = features.checkpoints;
  if (!Array.isArray(cps) || cps.length === 0 || !cps.every((c) => typeof c === 'string' && c !== '')) {
    throw invalid('features.checkpoints must be a non-empty array of codes', 'features.checkpoints');
  }
  const checkpoints = cps as string[];
  const known = new Set(checkpoints);
  if (known.size !== checkpoints.length) throw invalid('features.checkpoints has duplicates', 'features.checkpoints');
  if (features.hours !== undefined && features.hours !== HOURS) throw invalid(`features.hours must be ${HOURS}`, 'features.hours');
  if (!Array.isArray(features.terms)) throw invalid('features.terms must be an array', 'features.terms');
  const terms = features.terms.map((t, i) => parseTerm(t, i, known));
  const coef = json.coefficients;
  if (!Array.isArray(coef) || !coef.every((c) => typeof c === 'number' && Number.isFinite(c))) {
    throw invalid('coefficients must be an array of finite numbers', 'coefficients');
  }
  if (coef.length !== terms.length) {
    throw invalid(`${coef.length} coefficients for ${terms.length} feature terms`, 'coefficients');
  }
  const intercept = json.intercept;
  if (typeof intercept !== 'number' || !Number.isFinite(intercept)) throw invalid('intercept must be a finite number', 'intercept');

  const K = checkpoints.length;
  const table = new Float64Array(K * HOURS * 2);
  for (let c = 0; c < K; c++) {
    for (let h = 0; h < HOURS; h++) {
      for (const w of [0, 1] as const) {
        let v = intercept;
        terms.forEach((t, i) => {
          const x = termValue(t, checkpoints[c]!, h, w);
          if (x !== 0) v += (coef[i] as number) * x;
        });
        table[cellIndex(c, h, w)] = Math.max(0, v);
      }
    }
  }
  const index = new Map(checkpoints.map((c, i) => [c, i]));

  const cpIndex = (kkmc: string): number => {
    const c = index.get(kkmc);
    if (c === undefined) {
      throw new TrafficError('UNKNOWN_CHECKPOINT', `unknown checkpoint "${kkmc}"; valid codes: ${checkpoints.join(', ')}`, {
        field: 'kkmc',
        value: kkmc,
      });
    }
    return c;
  };
  const weekendBit = (w: boolean | 0 | 1): 0 | 1 => {
    if (w === true || w === 1) return 1;
    if (w === false || w === 0) return 0;
    throw new TrafficError('INVALID_OPTION', `is_weekend must be 0 or 1, got ${JSON.stringify(w)}`, { field: 'is_weekend' });
  };
  const frozen = Object.freeze([...checkpoints]) as string[];
  const forecaster = parseForecastPart(json, frozen, table);

  return {
    checkpoints: frozen,
    format: json.format as string,
    trainedAt: typeof json.trained_at === 'string' ? json.trained_at : '',
    metrics: json.metrics ?? null,
    forecaster,
    predict(kkmc, hour, isWeekend) {
      if (!Number.isInteger(hour) || hour < 0 || hour >= HOURS) {
        throw new TrafficError('INVALID_OPTION', `hour must be a whole number 0-23, got ${hour}`, { field: 'hour', value: String(hour) });
      }
      return table[cellIndex(cpIndex(kkmc), hour, weekendBit(isWeekend))]!;
    },
    predictDay(kkmc, isWeekend) {
      const w = weekendBit(isWeekend);
      const out = new Array<number>(HOURS).fill(0);
      const cs = kkmc === null ? checkpoints.map((_, i) => i) : [cpIndex(kkmc)];
      for (const c of cs) for (let h = 0; h < HOURS; h++) out[h]! += table[cellIndex(c, h, w)]!;
      return out;
    },
  };
}
