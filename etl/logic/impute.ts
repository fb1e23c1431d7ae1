/**
 * Imputation of HPZL, CLPPXH and the plate's province character from evidence learnt over the
 * whole input (stage 04 scan). Each field has a decision list of evidence levels, most specific
 * first; the first level with enough support decides: it fills when its leading value has a large
 * enough share, and otherwise stops (conflicting evidence leaves the value missing rather than
 * falling back to a vaguer level). Thresholds were tuned with the hold-out measurement on the real
 * data (docs/etl-logic.md); masked plates are shared by many vehicles, so plate evidence on them
 * needs more support than on full plates.
 */
import { F, MISSING } from '../../pipeline/schema.ts';
import { isKnownHpzl } from './hpzl.ts';
import { classifyNormalized, newEnergyMarker, provinceChar, provinceFreeStem, type PlateClass } from './plate.ts';
import { VoteTable, type Tally } from './votes.ts';

export type ImputeField = 'HPZL' | 'CLPPXH' | 'PROVINCE';
export const IMPUTE_FIELDS: readonly ImputeField[] = ['HPZL', 'CLPPXH', 'PROVINCE'];

/** What the evidence needs to know about one pass. `plate` is already normalized. */
export interface PassInfo {
  gcxh: string;
  kkmc: string;
  plate: string;
  cls: PlateClass;
  /** Province character ('' when missing). */
  prov: string;
  /** Office letter + next two characters (`CD7`), with or without the province; '' if none. */
  stem: string;
  marker: string;
  hpzl: string;
  clppxh: string;
}

export function knownClppxh(v: string): boolean {
  return v !== '' && v !== MISSING;
}

/** Brand part of CLPPXH (`五菱牌-五菱宏光-2013` → `五菱牌`). */
export function brandOf(clppxh: string): string {
  const i = clppxh.indexOf('-');
  return i === -1 ? clppxh : clppxh.slice(0, i);
}

export function passInfo(row: readonly string[], plate: string): PassInfo {
  return {
    gcxh: row[F.GCXH]!,
    kkmc: row[F.KKMC]!,
    plate,
    cls: classifyNormalized(plate),
    prov: provinceChar(plate),
    stem: provinceFreeStem(plate),
    marker: newEnergyMarker(plate),
    hpzl: row[F.HPZL]!,
    clppxh: row[F.CLPPXH]!,
  };
}

export interface Level {
  method: string;
  /** Evidence key of a pass, '' when the level does not apply to it. Never reads the target field. */
  key(i: PassInfo): string;
  minN: number;
  minShare: number;
}

const hpzlKnown = (i: PassInfo): boolean => isKnownHpzl(i.hpzl);

/** HPZL: the plate's other passes, then the vehicle model/brand with the new-energy marker. */
export const HPZL_LEVELS: readonly Level[] = [
  { method: 'same_plate', key: (i) => (i.cls === 'FULL' ? i.plate : ''), minN: 1, minShare: 0.9 },
  {
    method: 'plate_model',
    key: (i) => (i.cls === 'MASKED' && knownClppxh(i.clppxh) ? `${i.plate}|${i.clppxh}` : ''),
    minN: 3,
    minShare: 0.9,
  },
  { method: 'model', key: (i) => (knownClppxh(i.clppxh) && i.clppxh.includes('-') ? `${i.marker}|${i.clppxh}` : ''), minN: 10, minShare: 0.95 },
  { method: 'brand', key: (i) => (knownClppxh(i.clppxh) ? `${i.marker}|${brandOf(i.clppxh)}` : ''), minN: 30, minShare: 0.97 },
  { method: 'masked_plate', key: (i) => (i.cls === 'MASKED' ? i.plate : ''), minN: 10, minShare: 0.97 },
  { method: 'marker', key: (i) => (i.marker ? `${i.marker}|${i.prov}${i.stem.charAt(0)}` : ''), minN: 100, minShare: 0.98 },
];

/** CLPPXH: the same vehicle elsewhere. A full plate is one vehicle; a masked plate is many. */
export const CLPPXH_LEVELS: readonly Level[] = [
  { method: 'same_plate', key: (i) => (i.cls === 'FULL' && hpzlKnown(i) ? `${i.plate}|${i.hpzl}` : ''), minN: 1, minShare: 0.9 },
  {
    method: 'plate_kkmc',
    key: (i) => (i.cls === 'MASKED' && hpzlKnown(i) ? `${i.plate}|${i.hpzl}|${i.kkmc}` : ''),
    minN: 10,
    minShare: 0.95,
  },
];

/** Province character of a plate that lost it: what plates with the same visible stem carry. */
export const PROVINCE_LEVELS: readonly Level[] = [
  { method: 'stem_model', key: (i) => (i.stem && knownClppxh(i.clppxh) ? `${i.stem}|${i.clppxh}` : ''), minN: 5, minShare: 0.95 },
  { method: 'stem_kkmc', key: (i) => (i.stem ? `${i.kkmc}|${i.stem}` : ''), minN: 10, minShare: 0.95 },
  { method: 'stem', key: (i) => i.stem, minN: 20, minShare: 0.95 },
  { method: 'letter_kkmc', key: (i) => (i.stem ? `${i.kkmc}|${i.stem.charAt(0)}` : ''), minN: 30, minShare: 0.97 },
];

export const LEVELS: Readonly<Record<ImputeField, readonly Level[]>> = {
  HPZL: HPZL_LEVELS,
  CLPPXH: CLPPXH_LEVELS,
  PROVINCE: PROVINCE_LEVELS,
};

/** Neighbouring passes of the same plate at the same checkpoint (near_dup) need this much agreement. */
export const NEAR_DUP_RULES: Readonly<Record<'HPZL' | 'CLPPXH', { full: number; masked: number }>> = {
  HPZL: { full: 1, masked: 1 },
  CLPPXH: { full: 1, masked: 3 },
};

export interface Prediction {
  value: string;
  method: string;
  n: number;
  share: number;
}

/** The known value of a field in a pass, or '' when missing (the thing to predict). */
export function targetOf(field: ImputeField, i: PassInfo): string {
  if (field === 'HPZL') return isKnownHpzl(i.hpzl) ? i.hpzl : '';
  if (field === 'CLPPXH') return knownClppxh(i.clppxh) ? i.clppxh : '';
  return i.stem ? i.prov : '';
}

export class Evidence {
  private readonly tables: Record<ImputeField, VoteTable[]> = {
    HPZL: HPZL_LEVELS.map(() => new VoteTable()),
    CLPPXH: CLPPXH_LEVELS.map(() => new VoteTable()),
    PROVINCE: PROVINCE_LEVELS.map(() => new VoteTable()),
  };
  private readonly totals: Record<ImputeField, Map<string, number>> = {
    HPZL: new Map(),
    CLPPXH: new Map(),
    PROVINCE: new Map(),
  };

  /** Adds a pass's known value of `field` to every level it applies to. */
  learn(field: ImputeField, i: PassInfo): void {
    const value = targetOf(field, i);
    if (!value) return;
    const levels = LEVELS[field];
    const tables = this.tables[field];
    for (let k = 0; k < levels.length; k++) {
      const key = levels[k]!.key(i);
      if (key) tables[k]!.add(key, value);
    }
    const t = this.totals[field];
    t.set(value, (t.get(value) ?? 0) + 1);
  }

  /** The most common known value and its count (the baseline a filler must beat). */
  mostCommon(field: ImputeField): { value: string; count: number; total: number } {
    let value = '';
    let count = 0;
    let total = 0;
    for (const [v, c] of this.totals[field]) {
      total += c;
      if (c > count || (c === count && v < value)) [value, count] = [v, c];
    }
    return { value, count, total };
  }

  /**
   * Predicts `field` for a pass, or null when not confident. `nearDup` are the values of the same
   * plate's passes at the same checkpoint within the near-dup window (HPZL/CLPPXH only); `disabled`
   * methods never fill (the level still decides, so a disabled level means "leave it missing").
   */
  predict(field: ImputeField, i: PassInfo, nearDup?: Tally, disabled?: ReadonlySet<string>): Prediction | null {
    if (nearDup && nearDup.n > 0 && field !== 'PROVINCE' && (i.cls === 'FULL' || i.cls === 'MASKED')) {
      const rule = NEAR_DUP_RULES[field];
      const minN = i.cls === 'FULL' ? rule.full : rule.masked;
      if (nearDup.n >= minN) {
        if (nearDup.topCount === nearDup.n && !disabled?.has('near_dup')) {
          return { value: nearDup.top, method: 'near_dup', n: nearDup.n, share: 1 };
        }
        return null;
      }
    }
    const levels = LEVELS[field];
    const tables = this.tables[field];
    for (let k = 0; k < levels.length; k++) {
      const level = levels[k]!;
      const key = level.key(i);
      if (!key) continue;
      const t = tables[k]!.tally(key);
      if (!t || t.n < level.minN) continue;
      const share = t.topCount / t.n;
      // A level the hold-out showed to be unreliable on this data decides "not confident".
      if (share >= level.minShare && !disabled?.has(level.method)) return { value: t.top, method: level.method, n: t.n, share };
      return null;
    }
    return null;
  }
}
