/**
 * Cloned-plate (套牌车) injection for the simulator: with probability P per master record, a pair
 * of passes of one plate at two checkpoints far apart within minutes, at an impossible speed, so a
 * detector can legitimately flag it and the truth file tells what it should find.
 *
 * The pair's plate is a FULL plate made up for the pair (the real data's plates are masked, so it
 * cannot coincide with a real vehicle and create a second, unplanned alert). Both passes carry the
 * same HPZL and CLPPXH (copied from the triggering record), so they also satisfy the masked-plate
 * rule's extra conditions. Pass A is at the triggering record's checkpoint and time; pass B at a
 * checkpoint ≥ interval·300 km/h away (LON/LAT of the dimension table), `interval_s` later.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { openCsvTable } from '../core/io.ts';
import { F, FILES, INJ_PREFIX, MISSING } from '../core/schema.ts';
import { formatChinaTime, isWeekend, toEpochSeconds, hourOf } from '../core/time.ts';
import { mulberry32 } from '../core/random.ts';

export interface Checkpoint {
  kkmc: string;
  xzqhmc: string;
  lon: number | null;
  lat: number | null;
}

/** Checkpoints by KKMC code, from kkmc_dimension.csv. */
export type DimensionIndex = Map<string, Checkpoint>;

/** kkmc_dimension.csv → index; columns found by header name so extra columns do not matter. */
export async function loadDimension(file: string): Promise<DimensionIndex> {
  const t = await openCsvTable(file);
  const col = (name: string): number => t.header.indexOf(name);
  const [ik, ix, ilon, ilat] = [col('KKMC'), col('XZQHMC'), col('LON'), col('LAT')];
  if (ik < 0) throw new Error(`${file}: no KKMC column`);
  const idx: DimensionIndex = new Map();
  const num = (s: string | undefined): number | null => (s === undefined || s.trim() === '' || !Number.isFinite(Number(s)) ? null : Number(s));
  for await (const r of t.rows) {
    const kkmc = r.fields[ik];
    if (!kkmc) continue;
    idx.set(kkmc, {
      kkmc,
      xzqhmc: ix >= 0 ? (r.fields[ix] ?? '') : '',
      lon: ilon >= 0 ? num(r.fields[ilon]) : null,
      lat: ilat >= 0 ? num(r.fields[ilat]) : null,
    });
  }
  return idx;
}

/** `--dim`, else kkmc_dimension.csv beside the input, else in the data dir; undefined if none. */
export function findDimension(input: string, dataDir: string, explicit?: string): string | undefined {
  if (explicit) return explicit;
  for (const p of [path.join(path.dirname(input), FILES.dimension), path.join(dataDir, FILES.dimension)]) {
    if (existsSync(p)) return p;
  }
  return undefined;
}

export function haversineKm(a: { lon: number; lat: number }, b: { lon: number; lat: number }): number {
  const R = 6371.0088;
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
}

export const rng = mulberry32;

export function isPeakHour(gcsj: string): boolean {
  const h = hourOf(gcsj);
  return h === 7 || h === 8 || h === 17 || h === 18;
}

/** Sets GCSJ and the two fields derived from it. */
export function withTime(row: string[], gcsj: string): string[] {
  row[F.GCSJ] = gcsj;
  row[F.IS_WEEKEND] = isWeekend(gcsj) ? '1' : '0';
  row[F.IS_PEAK_HOUR] = isPeakHour(gcsj) ? '1' : '0';
  return row;
}

export interface InjectedPair {
  a: string[];
  b: string[];
  /** Epoch ms of B's pass time (when it is due in the stream). */
  bEpochMs: number;
  distanceKm: number | null;
  intervalS: number;
  speedKmh: number | null;
}

export const TRUTH_COLUMNS = [
  'GCXH_A',
  'GCXH_B',
  'HPHM',
  'HPZL',
  'CLPPXH',
  'KKMC_A',
  'KKMC_B',
  'GCSJ_A',
  'GCSJ_B',
  'INTERVAL_S',
  'DISTANCE_KM',
  'SPEED_KMH',
] as const;

const LETTERS = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
const ALNUM = '0123456789ABCDEFGHJKLMNPQRSTUVWXYZ';
/** Pairs are this much faster than the detector's 150 km/h, so approximate coordinates cannot save them. */
export const MIN_INJECTED_SPEED_KMH = 300;

export class CloneInjector {
  private readonly rand: () => number;
  private n = 0;
  private readonly seen = new Set<string>();
  private readonly located: Checkpoint[];

  constructor(
    private readonly probability: number,
    seed: number,
    private readonly dim: DimensionIndex | null,
    /** Makes GCXH unique across runs (e.g. the run's start time in base 36). */
    private readonly runTag: string,
  ) {
    this.rand = rng(seed);
    this.located = dim ? [...dim.values()].filter((c) => c.lon !== null && c.lat !== null) : [];
  }

  /** A pair triggered by `row` (already in its emitted form), or null (no draw, or no distant checkpoint known). */
  maybeInject(row: readonly string[]): InjectedPair | null {
    const kkmc = row[F.KKMC] ?? '';
    this.seen.add(kkmc);
    if (this.probability <= 0 || this.rand() >= this.probability) return null;
    const intervalS = 30 + Math.floor(this.rand() * 211); // 30–240 s: "within minutes"
    const pick = this.pickCheckpoints(kkmc, intervalS);
    if (!pick) return null;
    this.n++;
    const id = `${INJ_PREFIX}${this.runTag}${String(this.n).padStart(6, '0')}`;
    const plate = this.plate(row);
    const hpzl = row[F.HPZL] && row[F.HPZL] !== MISSING ? row[F.HPZL]! : '02';
    const vtn = hpzl === row[F.HPZL] ? (row[F.VEHICLE_TYPE_NAME] ?? '小型汽车') : '小型汽车';
    const base = (cp: Checkpoint, gcxh: string): string[] => {
      const r = [...row];
      r[F.GCXH] = gcxh;
      r[F.KKMC] = cp.kkmc;
      if (cp.xzqhmc) r[F.XZQHMC] = cp.xzqhmc;
      r[F.HPHM] = plate.hphm;
      r[F.PROVINCE] = plate.province;
      r[F.HPZL] = hpzl;
      r[F.VEHICLE_TYPE_NAME] = vtn;
      return r;
    };
    const gcsjA = row[F.GCSJ]!;
    const bEpochMs = (toEpochSeconds(gcsjA) + pick.intervalS) * 1000;
    const a = withTime(base(pick.a, `${id}A`), gcsjA);
    const b = withTime(base(pick.b, `${id}B`), formatChinaTime(bEpochMs));
    const speedKmh = pick.distanceKm === null ? null : pick.distanceKm / (pick.intervalS / 3600);
    return { a, b, bEpochMs, distanceKm: pick.distanceKm, intervalS: pick.intervalS, speedKmh };
  }

  get injected(): number {
    return this.n;
  }

  private pickCheckpoints(kkmc: string, intervalS: number): { a: Checkpoint; b: Checkpoint; distanceKm: number | null; intervalS: number } | null {
    if (this.located.length >= 2) {
      const here = this.dim?.get(kkmc);
      const a = here && here.lon !== null && here.lat !== null ? here : this.located[Math.floor(this.rand() * this.located.length)]!;
      const dists = this.located
        .filter((c) => c.kkmc !== a.kkmc)
        .map((c) => ({ c, d: haversineKm(a as { lon: number; lat: number }, c as { lon: number; lat: number }) }));
      const need = (MIN_INJECTED_SPEED_KMH * intervalS) / 3600;
      const far = dists.filter((x) => x.d >= need);
      if (far.length) {
        const x = far[Math.floor(this.rand() * far.length)]!;
        return { a, b: x.c, distanceKm: round3(x.d), intervalS };
      }
      // Every other checkpoint is close: shorten the interval so the speed stays impossible.
      const best = dists.reduce((m, x) => (x.d > m.d ? x : m));
      const s = Math.floor((best.d * 3600) / MIN_INJECTED_SPEED_KMH);
      return s >= 1 ? { a, b: best.c, distanceKm: round3(best.d), intervalS: s } : null;
    }
    // No coordinates: another checkpoint seen in the stream; unknown distance alerts by the rule.
    const others = [...this.seen].filter((k) => k !== kkmc);
    if (!others.length) return null;
    const bk = others[Math.floor(this.rand() * others.length)]!;
    const a = this.dim?.get(kkmc) ?? { kkmc, xzqhmc: '', lon: null, lat: null };
    const b = this.dim?.get(bk) ?? { kkmc: bk, xzqhmc: '', lon: null, lat: null };
    return { a, b, distanceKm: null, intervalS };
  }

  private plate(row: readonly string[]): { hphm: string; province: string } {
    const first = (row[F.HPHM] ?? '').charAt(0);
    const known = /[\u4e00-\u9fff]/.test(first) && row[F.PROVINCE] && row[F.PROVINCE] !== '未知';
    const prov = known ? first : '苏';
    let s = prov + LETTERS[Math.floor(this.rand() * LETTERS.length)]!;
    for (let i = 0; i < 5; i++) s += ALNUM[Math.floor(this.rand() * ALNUM.length)]!;
    return { hphm: s, province: known ? row[F.PROVINCE]! : '江苏' };
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export function truthRow(p: InjectedPair): string[] {
  return [
    p.a[F.GCXH]!,
    p.b[F.GCXH]!,
    p.a[F.HPHM]!,
    p.a[F.HPZL]!,
    p.a[F.CLPPXH]!,
    p.a[F.KKMC]!,
    p.b[F.KKMC]!,
    p.a[F.GCSJ]!,
    p.b[F.GCSJ]!,
    String(p.intervalS),
    p.distanceKm === null ? '' : String(p.distanceKm),
    p.speedKmh === null ? '' : String(Math.round(p.speedKmh)),
  ];
}
