/**
 * A deterministic synthetic pass stream for the detector's tests and benchmarks: checkpoints with
 * real coordinates, a pool of plates (mostly masked to 4 characters, as in the real data), event
 * time advancing at a given rate with bounded out-of-order jitter, and optional injected clones
 * (same plate, HPZL and CLPPXH at a distant checkpoint within minutes; GCXH prefix INJ).
 */
import { INJ_PREFIX } from '../../core/schema.ts';
import { formatChinaTime } from '../../core/time.ts';
import type { LonLat } from './geo.ts';
import { mulberry32 } from '../../core/random.ts';

/** The 19 checkpoints of data/ref/kkmc_geo.csv under short synthetic codes. */
export const SYNTHETIC_CHECKPOINTS: ReadonlyArray<readonly [string, number, number]> = [
  ['G3_Tongshan_K731', 117.396433, 34.487818],
  ['G237_Fengxian_K148', 116.493658, 34.593566],
  ['G518_Fengxian_K358', 116.649384, 34.923857],
  ['X_Fengxian_K19', 116.789378, 34.926602],
  ['G235_Xinyi_K10', 118.338161, 34.403598],
  ['S323_Xinyi_K10', 118.616398, 34.403239],
  ['S505_Xinyi_K10', 118.275318, 34.236139],
  ['S253_Peixian_K0', 116.849843, 34.896006],
  ['G104_Suining_K873', 117.895947, 33.912474],
  ['S252_Suining_K56', 117.893307, 33.972047],
  ['S324_Suining_K201', 117.789449, 34.065145],
  ['S325_Suining_K63', 118.044163, 33.904848],
  ['S250_Pizhou_K1', 118.06454, 34.641634],
  ['S251_Pizhou_K5', 117.717927, 34.535382],
  ['G104_Tongshan_K744', 117.362832, 34.580054],
  ['G206_Tongshan_K816', 117.165938, 34.08271],
  ['G310_Tongshan_K310', 117.013287, 34.286473],
  ['G311_Tongshan_K207', 117.103463, 34.141885],
  ['S323_Xinyi_K96', 118.250688, 34.376804],
];

export function syntheticCoords(): Map<string, LonLat> {
  return new Map(SYNTHETIC_CHECKPOINTS.map(([k, lon, lat]) => [k, { lon, lat }]));
}

export interface SyntheticOptions {
  seed?: number;
  /** Records per second of event time. */
  rate?: number;
  /** Distinct vehicles in the pool. */
  plates?: number;
  /** Share of vehicles whose plate the source masks to 4 characters. */
  maskedShare?: number;
  /** Max seconds a record is emitted behind the newest one. */
  jitterS?: number;
  /** Probability per record of also emitting an injected clone pass. */
  injectClones?: number;
  /** Seconds between a pass and its injected clone, [min, max] (default [30, 240]). */
  cloneDelayS?: readonly [number, number];
  /** First event time, epoch seconds (default 2024-01-01 00:00:00 China time). */
  start?: number;
}

export interface TruthPair {
  a: string;
  b: string;
  hphm: string;
}

const BRANDS = ['大众牌-朗逸-2019', '五菱牌-五菱宏光-2016', '福田牌', '比亚迪牌-秦-2021', '东风牌', '-', '解放牌-J6P-2018', '别克牌'];
const LETTERS = 'ABCDEFGHJKLMNPQRSTUVWXYZ';

export const prng = mulberry32;

interface Vehicle {
  /** The plate as the source shows it: masked to 4 characters + `***`, or full. */
  hphm: string;
  hpzl: string;
  clppxh: string;
}

/**
 * Endless generator of 12-field master rows; `truth` receives each injected pair when its clone
 * pass is emitted. Vehicles have full plates; the source masks most of them to 4 characters, so
 * unrelated vehicles share a masked plate (as in the real data) but not their brand.
 */
export function* syntheticStream(o: SyntheticOptions = {}, truth?: (p: TruthPair) => void): Generator<string[]> {
  const rnd = prng(o.seed ?? 1);
  const rate = o.rate ?? 50;
  const nVehicles = o.plates ?? 50_000;
  const masked = o.maskedShare ?? 0.9;
  const jitter = o.jitterS ?? 0;
  const inject = o.injectClones ?? 0;
  const [dMin, dMax] = o.cloneDelayS ?? [30, 240];
  let t = o.start ?? 1_704_038_400;
  const CHARS = LETTERS + '0123456789';
  const pool: Vehicle[] = [];
  for (let i = 0; i < nVehicles; i++) {
    let plate = '苏' + LETTERS[Math.floor(rnd() * 13)]!;
    for (let k = 0; k < 5; k++) plate += CHARS[Math.floor(rnd() * CHARS.length)]!;
    pool.push({
      hphm: rnd() < masked ? plate.slice(0, 4) + '***' : plate,
      hpzl: rnd() < 0.2 ? '01' : '02',
      clppxh: BRANDS[Math.floor(rnd() * BRANDS.length)]!,
    });
  }
  const cps = SYNTHETIC_CHECKPOINTS;
  let seq = 0;
  let frac = 0;
  // Formatting a time is the costly part of a row; consecutive rows share few distinct seconds.
  const times = new Map<number, string>();
  const timeText = (time: number): string => {
    let s = times.get(time);
    if (s === undefined) {
      if (times.size > 4096) times.clear();
      s = formatChinaTime(time * 1000);
      times.set(time, s);
    }
    return s;
  };
  const row = (gcxh: string, kkmc: string, time: number, p: Vehicle): string[] => [
    gcxh,
    '徐州市',
    kkmc,
    rnd() < 0.5 ? '1' : '2',
    timeText(time),
    p.hpzl,
    p.hphm,
    p.clppxh,
    '江苏',
    '0',
    '0',
    p.hpzl === '01' ? '大型汽车' : '小型汽车',
  ];
  // Clones wait here until event time reaches them, so the stream stays in time order.
  const pending: { time: number; row: string[]; pair: TruthPair }[] = [];
  for (;;) {
    frac += 1 / rate;
    if (frac >= 1) {
      t += Math.floor(frac);
      frac -= Math.floor(frac);
    }
    while (pending.length > 0 && pending[0]!.time <= t) {
      const c = pending.shift()!;
      // Reported when the clone is emitted, so a truncated stream has no undetectable truth.
      truth?.(c.pair);
      yield c.row;
    }
    seq++;
    let p = pool[Math.floor(rnd() ** 1.2 * nVehicles)]!;
    const ci = Math.floor(rnd() * cps.length);
    const at = jitter > 0 ? t - Math.floor(rnd() * (jitter + 1)) : t;
    const gcxh = String(100_000_000 + seq);
    const injectNow = inject > 0 && rnd() < inject;
    // A masked clone must carry a known brand to be detectable (DESIGN.md): give the pair one.
    if (injectNow && p.clppxh === '-') p = { ...p, clppxh: '福田牌' };
    yield row(gcxh, cps[ci]![0], at, p);
    if (injectNow) {
      // A distant checkpoint (≥ 30 km away) within minutes.
      let cj = ci;
      for (let k = 0; k < 50; k++) {
        cj = Math.floor(rnd() * cps.length);
        if (roughKm(cps[ci]!, cps[cj]!) >= 30) break;
      }
      const clone = `${INJ_PREFIX}${seq}`;
      const time = at + dMin + Math.floor(rnd() * (dMax - dMin + 1));
      const r = row(clone, cps[cj]![0], time, p);
      let i = pending.length;
      while (i > 0 && pending[i - 1]!.time > time) i--;
      pending.splice(i, 0, { time, row: r, pair: { a: gcxh, b: clone, hphm: p.hphm } });
    }
  }
}

function roughKm(a: readonly [string, number, number], b: readonly [string, number, number]): number {
  const dx = (a[1] - b[1]) * 92;
  const dy = (a[2] - b[2]) * 111;
  return Math.sqrt(dx * dx + dy * dy);
}
