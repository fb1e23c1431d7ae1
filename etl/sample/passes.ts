/**
 * The passes of one day: how many per checkpoint (volume), when (hourly profile), which vehicle
 * (recurring or one-off), what the export wrote (blanks and misread plates, each with its truth)
 * and the pass id (GCXH). Pure and seeded by (seed, day): no file IO here.
 */
import { daysBetween, weekday } from '../../core/time.ts';
import {
  CHECKPOINT_DAY_SIGMA,
  CHECKPOINT_OUTAGE_P,
  CHECKPOINT_PARTIAL_P,
  DAY_SIGMA,
  HOLIDAYS,
  HOLIDAY_FACTOR,
  PROFILE,
  REGULAR_AWAY_P,
  REGULAR_PASS_P,
  REGULAR_POOL_SIZE,
  SATURDAY_FACTOR,
  SILENT_CHECKPOINT_PER_DAY,
  SUNDAY_FACTOR,
  WEEKDAY_PASSES,
  type CheckpointProfile,
  type Regime,
} from './profile.ts';
import { Weighted, stream, type Rng } from './rng.ts';
import { drawMalformedKind, malformPlate, maskedPlate, newVehicle, type Vehicle } from './vehicles.ts';

export type TruthField = 'HPZL' | 'HPHM' | 'CLPPXH';

export interface TruthEntry {
  field: TruthField;
  trueValue: string;
  written: string;
  /** `blank` for a `-`; for plates the misreading kind (no_province, junk_prefix, …). */
  kind: string;
  /** HPHM only: the whole (unmasked, generated) plate, so a repair that recovers more than 4 characters can be scored. */
  plate?: string;
}

export interface Pass {
  /** Checkpoint index into PROFILE.checkpoints. */
  cp: number;
  day: string;
  /** Seconds since midnight, China time. */
  t: number;
  /** 18 digits. */
  gcxh: string;
  hpzl: string;
  hphm: string;
  clppxh: string;
  truth?: TruthEntry[];
  /** The vehicle behind the pass (never written to a file): lets benchmarks score who is who. */
  vehicle?: Vehicle;
}

export interface CheckpointGap {
  day: string;
  kkmc: string;
  kind: 'outage' | 'partial';
  /** Partial days: the hours [from, to) that were recorded. */
  hours?: [number, number];
}

export interface DayVolume {
  perCheckpoint: number[];
  /** Hours [from, to) recorded per checkpoint (full day = [0, 24)). */
  windows: [number, number][];
  gaps: CheckpointGap[];
  total: number;
}

export const CHECKPOINTS: readonly CheckpointProfile[] = PROFILE.checkpoints;
const SILENT_SHARE = 0.001;
const HOUR_SAMPLERS = CHECKPOINTS.map((c) => new Weighted(c.hourly.map((w, h) => [h, w] as const)));

/** GCXH: a province-wide sequence, ~7.1M ids a day, increasing with time (2023-12-01 ≈ 320300108805919450). */
const GCXH_HEAD = '3203001';
const GCXH_BASE = 8_805_919_450;
const GCXH_PER_DAY = 7_100_000;
/** Mean gap = half a day's block / passes, gaps ≤ twice that: a day never spills into the next block. */
const GCXH_HALF_BLOCK = 3_500_000;

export function dayFactor(day: string): number {
  if (HOLIDAYS.has(day)) return HOLIDAY_FACTOR;
  const w = weekday(day);
  return w === 6 ? SATURDAY_FACTOR : w === 0 ? SUNDAY_FACTOR : 1;
}

function poisson(rng: Rng, lambda: number): number {
  const l = Math.exp(-lambda);
  let k = 0;
  let p = 1;
  for (;;) {
    p *= rng.next();
    if (p <= l) return k;
    k++;
  }
}

/** Passes per checkpoint for a day; drawn from its own stream so a day left without a file still has a known volume. */
export function dayVolume(seed: number, day: string, passesPerDay: number): DayVolume {
  const rng = stream(seed, 'volume', day);
  const dayTotal = passesPerDay * dayFactor(day) * rng.lognormal(DAY_SIGMA);
  const perCheckpoint: number[] = [];
  const windows: [number, number][] = [];
  const gaps: CheckpointGap[] = [];
  CHECKPOINTS.forEach((c) => {
    const noise = rng.lognormal(CHECKPOINT_DAY_SIGMA);
    const r = rng.next();
    const cut = 6 + rng.int(14);
    const late = rng.chance(0.5);
    let n = c.share < SILENT_SHARE ? poisson(rng, SILENT_CHECKPOINT_PER_DAY * (passesPerDay / WEEKDAY_PASSES)) : Math.round(dayTotal * c.share * noise);
    let window: [number, number] = [0, 24];
    if (c.share >= SILENT_SHARE && r < CHECKPOINT_OUTAGE_P) {
      n = 0;
      gaps.push({ day, kkmc: c.name, kind: 'outage' });
    } else if (c.share >= SILENT_SHARE && r < CHECKPOINT_OUTAGE_P + CHECKPOINT_PARTIAL_P) {
      window = late ? [cut, 24] : [0, cut];
      const kept = c.hourly.slice(window[0], window[1]).reduce((a, b) => a + b, 0) / c.hourly.reduce((a, b) => a + b, 0);
      n = Math.round(n * kept);
      gaps.push({ day, kkmc: c.name, kind: 'partial', hours: window });
    }
    perCheckpoint.push(n);
    windows.push(window);
  });
  return { perCheckpoint, windows, gaps, total: perCheckpoint.reduce((a, b) => a + b, 0) };
}

/** Vehicles that come back: a fixed pool per seed, each with a home checkpoint and an activity weight. */
export interface RegularPool {
  vehicles: Vehicle[];
  home: Weighted<number>[];
  anywhere: Weighted<number>;
}

export function buildRegularPool(seed: number, passesPerDay: number): RegularPool {
  const rng = stream(seed, 'regular-pool');
  const size = Math.max(200, Math.round((REGULAR_POOL_SIZE * passesPerDay) / WEEKDAY_PASSES));
  const cpSampler = new Weighted(CHECKPOINTS.map((c, i) => [i, c.share >= SILENT_SHARE ? c.share : 0] as const));
  const vehicles: Vehicle[] = [];
  const byHome: [number, number][][] = CHECKPOINTS.map(() => []);
  const all: [number, number][] = [];
  for (let i = 0; i < size; i++) {
    const home = cpSampler.draw(rng);
    vehicles.push(newVehicle(rng));
    const w = rng.lognormal(1);
    (byHome[home] as [number, number][]).push([i, w]);
    all.push([i, w]);
  }
  const anywhere = new Weighted(all);
  return { vehicles, home: byHome.map((list) => (list.length ? new Weighted(list) : anywhere)), anywhere };
}

function applyRegime(pass: Pass, v: Vehicle, regime: Regime, rng: Rng): void {
  const truth: TruthEntry[] = [];
  const trueHphm = maskedPlate(v);
  let hpzlBlank: boolean;
  let clpBlank: boolean;
  if (rng.chance(regime.malformedPlate)) {
    const kind = drawMalformedKind(rng);
    pass.hphm = malformPlate(v, kind, rng);
    truth.push({ field: 'HPHM', trueValue: trueHphm, written: pass.hphm, kind, plate: v.prefix + v.tail });
    hpzlBlank = rng.chance(regime.hpzlBlankMalformed);
    clpBlank = rng.chance(regime.clpBlankMalformed);
  } else {
    pass.hphm = trueHphm;
    hpzlBlank = rng.chance(regime.hpzlBlank);
    clpBlank = rng.chance(hpzlBlank ? regime.clpBlankHpzlBlank : regime.clpBlank);
  }
  pass.hpzl = hpzlBlank ? '-' : v.hpzl;
  if (hpzlBlank) truth.push({ field: 'HPZL', trueValue: v.hpzl, written: '-', kind: 'blank' });
  pass.clppxh = clpBlank ? '-' : v.clppxh;
  if (clpBlank) truth.push({ field: 'CLPPXH', trueValue: v.clppxh, written: '-', kind: 'blank' });
  if (truth.length) pass.truth = truth;
}

/** All passes of one day, in pass-id order. */
export function generateDay(seed: number, day: string, passesPerDay: number, regime: Regime, pool: RegularPool): { passes: Pass[]; volume: DayVolume } {
  const volume = dayVolume(seed, day, passesPerDay);
  const rng = stream(seed, 'passes', day);
  const passes: Pass[] = [];
  CHECKPOINTS.forEach((_, cp) => {
    const n = volume.perCheckpoint[cp] as number;
    const [from, to] = volume.windows[cp] as [number, number];
    const hours = HOUR_SAMPLERS[cp] as Weighted<number>;
    for (let i = 0; i < n; i++) {
      let h = hours.draw(rng);
      // A partial day keeps the same profile inside its window.
      for (let tries = 0; (h < from || h >= to) && tries < 50; tries++) h = hours.draw(rng);
      if (h < from || h >= to) h = from;
      const t = h * 3600 + rng.int(3600);
      let v: Vehicle;
      if (rng.chance(REGULAR_PASS_P)) {
        const sampler = rng.chance(REGULAR_AWAY_P) ? pool.anywhere : (pool.home[cp] as Weighted<number>);
        v = pool.vehicles[sampler.draw(rng)] as Vehicle;
      } else {
        v = newVehicle(rng);
      }
      const pass: Pass = { cp, day, t, gcxh: '', hpzl: '', hphm: '', clppxh: '', vehicle: v };
      applyRegime(pass, v, regime, rng);
      passes.push(pass);
    }
  });
  assignIds(passes, day, rng);
  return { passes, volume };
}

/**
 * Ids follow the time a pass reached the central system: its time plus an upload delay (seconds,
 * now and then minutes), so sorting by id is almost, not exactly, sorting by time — as in the real
 * files. Ids of a day stay inside that day's block, so days generated apart never collide.
 */
const INDEX_SPAN = 2 ** 20;

function assignIds(passes: Pass[], day: string, rng: Rng): void {
  const n = passes.length;
  if (n === 0) return;
  if (n >= INDEX_SPAN) throw new Error(`too many passes in a day for the id sort: ${n}`);
  // Sort keys = arrival in ms · 2^20 + index: exact in a double, and a plain numeric sort is fast.
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const delay = rng.chance(0.01) ? rng.next() * 1200 : rng.exponential(6);
    keys[i] = Math.round(((passes[i] as Pass).t + delay) * 1000) * INDEX_SPAN + i;
  }
  keys.sort();
  const order = Array.from(keys, (k) => k % INDEX_SPAN);
  const mean = Math.max(1, Math.floor(GCXH_HALF_BLOCK / n));
  let id = GCXH_BASE + daysBetween('2023-12-01', day) * GCXH_PER_DAY;
  for (const i of order) {
    id += 1 + rng.int(2 * mean - 1);
    (passes[i] as Pass).gcxh = GCXH_HEAD + String(id).padStart(11, '0');
  }
}
