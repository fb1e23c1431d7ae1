/**
 * What the generated sample looks like, measured from the real exports (profile.json holds only
 * aggregates: shares, per-mille hourly profiles, plate-prefix and brand-string counts) plus the
 * rates and volume settings below. docs/sample-data.md lists every figure and where it came from.
 */
import { readFileSync } from 'node:fs';
import { Weighted } from './rng.ts';
import { packageFile } from '../../core/paths.ts';

export interface CheckpointProfile {
  /** KKMC as spelled in the December exports. */
  name: string;
  /** A second spelling used from January on (`江苏省` + name), or null. */
  altName: string | null;
  xzqhmc: string;
  fxlx: string;
  /** Share of all passes (sums to ~1 over the 19 checkpoints). */
  share: number;
  /** Passes per hour 0–23, per mille of the checkpoint's day. */
  hourly: number[];
}

interface ProfileJson {
  source: string;
  checkpoints: CheckpointProfile[];
  hpzl: [string, number][];
  prefixes: Record<string, [string, number][]>;
  char3: [string, number][];
  char3NewEnergy: [string, number][];
  char4: [string, number][];
  clppxh: Record<string, [string, number][]>;
  brandRank: Record<string, number>;
}

export const PROFILE: ProfileJson = JSON.parse(readFileSync(packageFile('etl', 'sample', 'profile.json'), 'utf8')) as ProfileJson;

/** Volume: passes on an ordinary weekday, before noise (the week averages ~25k a day). */
export const WEEKDAY_PASSES = 26_500;
/** Day factors: Saturday, Sunday, public holidays (the real Saturdays/Sundays run lower). */
export const SATURDAY_FACTOR = 0.82;
export const SUNDAY_FACTOR = 0.75;
export const HOLIDAY_FACTOR = 0.6;
/** Public holidays on weekdays in the period the sample usually covers. */
export const HOLIDAYS = new Set(['2024-01-01', '2024-02-12', '2024-02-13', '2024-02-14', '2024-02-15', '2024-02-16']);
/** Day-to-day noise of the total and of each checkpoint (lognormal sigma). */
export const DAY_SIGMA = 0.06;
export const CHECKPOINT_DAY_SIGMA = 0.12;
/** A checkpoint now and then records nothing for a day, or only part of it (seen in the real files). */
export const CHECKPOINT_OUTAGE_P = 0.012;
export const CHECKPOINT_PARTIAL_P = 0.02;
/** G237 荣庄 is nearly silent: 3 passes in 120k real rows. Passes per day (Poisson). */
export const SILENT_CHECKPOINT_PER_DAY = 0.5;

/**
 * Damage rates per export regime, measured per month: the December CSV exports carry HPZL `-`
 * (4.2% of rows) and malformed plates (2.9%); the January XLSX exports have no HPZL `-` at all and
 * malformed plates in 0.66% of rows. CLPPXH `-` is ~16% in December, ~20% in January, and much
 * more frequent on rows whose plate or type was not read.
 */
export interface Regime {
  malformedPlate: number;
  /** HPZL `-` on a malformed-plate row / on a readable-plate row. */
  hpzlBlankMalformed: number;
  hpzlBlank: number;
  /** CLPPXH `-` on a malformed row / on a row with HPZL `-` / otherwise. */
  clpBlankMalformed: number;
  clpBlankHpzlBlank: number;
  clpBlank: number;
}

export const CSV_REGIME: Regime = {
  malformedPlate: 0.029,
  hpzlBlankMalformed: 0.69,
  hpzlBlank: 0.0185,
  clpBlankMalformed: 0.42,
  clpBlankHpzlBlank: 0.39,
  clpBlank: 0.148,
};

export const XLSX_REGIME: Regime = {
  malformedPlate: 0.0066,
  hpzlBlankMalformed: 0,
  hpzlBlank: 0,
  clpBlankMalformed: 0.42,
  clpBlankHpzlBlank: 0.39,
  clpBlank: 0.2,
};

/** Kinds of malformed plate and their shares among malformed plates (measured shapes). */
export const MALFORMED_KINDS = [
  ['no_province', 0.42], // C379***, J678***: the province character was not read
  ['truncated', 0.16], // 7***, C9***: only 1–3 characters read, no province
  ['junk_prefix', 0.13], // 4皖LG***, 苏宁C8***: a stray character before the plate
  ['misread', 0.13], // 鲁027***: the city letter read as a digit
  ['unreadable', 0.07], // -***
  ['province_only', 0.06], // 京***, 京5***
] as const satisfies readonly (readonly [string, number])[];
export type MalformedKind = (typeof MALFORMED_KINDS)[number][0];

/**
 * Recurring vehicles: the real 5-day file has ~80% of passes by vehicles seen once; the rest come
 * back (mostly to the same checkpoint), which is what the repair stage can exploit.
 */
export const REGULAR_POOL_SIZE = 14_000;
export const REGULAR_PASS_P = 0.2;
export const REGULAR_AWAY_P = 0.12;

// ---- samplers built once ------------------------------------------------------------------

export const HPZL_SAMPLER = new Weighted(PROFILE.hpzl);

const prefixClass = (hpzl: string): string => (hpzl === '01' || hpzl === '52' || hpzl === '51' ? hpzl : 'other');
const PREFIX_SAMPLERS = new Map(Object.entries(PROFILE.prefixes).map(([k, v]) => [k, new Weighted(v)]));
export function prefixSampler(hpzl: string): Weighted<string> {
  return PREFIX_SAMPLERS.get(prefixClass(hpzl)) ?? (PREFIX_SAMPLERS.get('other') as Weighted<string>);
}

export const CHAR3 = new Weighted(PROFILE.char3);
export const CHAR3_NEW_ENERGY = new Weighted(PROFILE.char3NewEnergy);
export const CHAR4 = new Weighted(PROFILE.char4);

const vocabClass = (hpzl: string): string => (['01', '02', '52', '51', '13'].includes(hpzl) ? hpzl : '02');
const CLP_SAMPLERS = new Map(Object.entries(PROFILE.clppxh).map(([k, v]) => [k, new Weighted(v)]));
export function clppxhSampler(hpzl: string): Weighted<string> {
  return CLP_SAMPLERS.get(vocabClass(hpzl)) ?? (CLP_SAMPLERS.get('02') as Weighted<string>);
}

/** Brand group of a CLPPXH: the real exports list rows grouped by brand code, then by time. */
export function brandRank(clppxh: string): number {
  if (clppxh === '-') return 0;
  const dash = clppxh.indexOf('-');
  return PROFILE.brandRank[dash === -1 ? clppxh : clppxh.slice(0, dash)] ?? 0;
}
