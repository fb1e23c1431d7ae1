/**
 * Imputation of HPZL, CLPPXH and the plate's province character from evidence learnt over the
 * whole input (stage 04 scan). Each field has a decision list of evidence levels, most specific
 * first; the first level with enough support decides: it fills when its leading value has a large
 * enough share, and otherwise stops (conflicting evidence leaves the value missing rather than
 * falling back to a vaguer level). Thresholds were tuned with the hold-out measurement on the real
 * data (docs/etl-logic.md); masked plates are shared by many vehicles, so plate evidence on them
 * needs more support than on full plates.
 */
import { F, MISSING } from '../../core/schema.ts';
import { isKnownHpzl } from './hpzl.ts';
import { classifyNormalized, newEnergyMarker, provinceChar, provinceFreeStem, type PlateClass } from '../../core/plates.ts';
import { IdVoteTable, IntPairIndex } from './idtable.ts';
import type { Tally } from './votes.ts';

export type ImputeField = 'HPZL' | 'CLPPXH' | 'PROVINCE';
export const IMPUTE_FIELDS: readonly ImputeField[] = ['HPZL', 'CLPPXH', 'PROVINCE'];

/**
 * What the evidence needs to know about one pass. `plate` is already normalized, and `cls`,
 * `prov`, `stem` and `marker` are what passInfo derives from it (Evidence caches them per plate).
 */
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
  /**
   * A memo kept with the caller's own per-plate facts (stage 04 caches them per distinct plate):
   * Evidence keeps the plate's ids there, so a pass costs no lookup by plate text. Must belong to
   * exactly this `plate`.
   */
  memo?: PlateMemo;
}

/** Where Evidence memoizes a plate's ids (owner: the Evidence's id space they belong to). */
export interface PlateMemo {
  owner?: object;
  ids?: PlateIds;
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

/**
 * Dense ids for the strings (and pairs of ids) an evidence key is made of: a key is then two small
 * integers (see idtable.ts) instead of a `${a}|${b}` string built and hashed per pass.
 */
/** Ids of the parts of a plate's keys (-1: the part is missing). */
export interface PlateIds {
  plate: number;
  stem: number;
  marker: number;
  prov: number;
  letter: number;
  /** Pair id of (province, first stem letter), used with a new-energy marker. */
  provLetter: number;
}

interface ModelIds {
  id: number;
  brand: number;
  /** Brand-model-year (holds `-`), not a brand alone. */
  model: boolean;
}

class Ids {
  /**
   * One id space (`names`), looked up in a map per kind of part: the small sets (checkpoints,
   * codes, markers, characters) stay in a small, cache-friendly map; plates and stems, and models
   * and brands, in their own. A part is always looked up in the map of its kind, so equal parts
   * get equal ids wherever a key compares them.
   */
  private readonly small = new Map<string, number>();
  private readonly plates = new Map<string, number>();
  private readonly models = new Map<string, number>();
  readonly names: string[] = [];
  private readonly pairs = new IntPairIndex();
  private readonly brands: number[] = [];

  private lookup(m: Map<string, number>, s: string): number {
    let id = m.get(s);
    if (id === undefined) {
      id = this.names.length;
      m.set(s, id);
      this.names.push(s);
    }
    return id;
  }

  /** Checkpoints, HPZL codes, markers, province characters, letters. */
  of(s: string): number {
    return this.lookup(this.small, s);
  }

  /** Plates and stems. */
  plate(s: string): number {
    return this.lookup(this.plates, s);
  }

  /** CLPPXH values and brands. */
  model(s: string): number {
    return this.lookup(this.models, s);
  }

  /** One id for the pair (a, b), so that a key of three parts is still two integers. */
  pair(a: number, b: number): number {
    return this.pairs.intern(a, b);
  }

  private readonly byPlate = new Map<string, PlateIds>();
  private readonly byModel = new Map<string, ModelIds>();

  /**
   * The ids of everything a key takes from a pass's plate, looked up once per distinct plate
   * (a plate recurs on many passes): one map lookup per pass instead of six.
   */
  plateIds(i: PassInfo): PlateIds {
    const memo = i.memo;
    if (memo !== undefined && memo.owner === this) return memo.ids!;
    let p = this.byPlate.get(i.plate);
    if (p === undefined) {
      const letter = i.stem ? this.of(i.stem.charAt(0)) : -1;
      const prov = this.of(i.prov);
      p = {
        plate: i.cls === 'FULL' || i.cls === 'MASKED' ? this.plate(i.plate) : -1,
        stem: i.stem ? this.plate(i.stem) : -1,
        marker: this.of(i.marker),
        prov,
        letter,
        provLetter: i.marker ? this.pair(prov, this.of(i.stem.charAt(0))) : 0,
      };
      this.byPlate.set(i.plate, p);
    }
    if (memo !== undefined) {
      memo.owner = this;
      memo.ids = p;
    }
    return p;
  }

  /** Id, brand id and whether it names a model (`-`), once per distinct known CLPPXH. */
  modelIds(clppxh: string): ModelIds {
    let m = this.byModel.get(clppxh);
    if (m === undefined) {
      const id = this.model(clppxh);
      m = { id, brand: this.brandOf(id), model: clppxh.includes('-') };
      this.byModel.set(clppxh, m);
    }
    return m;
  }

  /** Id of the brand part of the CLPPXH of id `clppxh`. */
  brandOf(clppxh: number): number {
    let b = this.brands[clppxh];
    if (b === undefined) {
      // Fill the gap first so the array stays dense (ids are handed out in order).
      while (this.brands.length < clppxh) this.brands.push(-1);
      b = this.model(brandOf(this.names[clppxh]!));
      this.brands[clppxh] = b;
    } else if (b === -1) {
      b = this.model(brandOf(this.names[clppxh]!));
      this.brands[clppxh] = b;
    }
    return b;
  }
}

export class Evidence {
  private readonly ids = new Ids();
  private readonly tables: Record<ImputeField, IdVoteTable[]> = {
    HPZL: HPZL_LEVELS.map(() => new IdVoteTable(this.ids.names)),
    CLPPXH: CLPPXH_LEVELS.map(() => new IdVoteTable(this.ids.names)),
    PROVINCE: PROVINCE_LEVELS.map(() => new IdVoteTable(this.ids.names)),
  };
  /** Known values per field: value id → passes. */
  private readonly totals: Record<ImputeField, Map<number, number>> = {
    HPZL: new Map(),
    CLPPXH: new Map(),
    PROVINCE: new Map(),
  };
  /** Keys (a, b) of the last pass seen per field and level (a = -1: the level does not apply). */
  private readonly keyA: Record<ImputeField, number[]> = { HPZL: [], CLPPXH: [], PROVINCE: [] };
  private readonly keyB: Record<ImputeField, number[]> = { HPZL: [], CLPPXH: [], PROVINCE: [] };
  /** Ids of the pass's HPZL, CLPPXH and province character, set by keysOf. */
  private readonly value: Record<ImputeField, number> = { HPZL: -1, CLPPXH: -1, PROVINCE: -1 };
  private last: PassInfo | undefined;
  private lastPlate = '';
  private lastKkmc = '';
  private lastHpzl = '';
  private lastClppxh = '';
  private lastStem = '';
  private lastMarker = '';
  private lastProv = '';
  private lastCls: PlateClass = 'INVALID';

  /**
   * Computes the keys of a pass for every level unless they are those of the last pass (the same
   * object with the same fields: scan learns three fields from one pass). Each (a, b) stands for
   * exactly one string key of the levels' `key()` (HPZL_LEVELS etc.): the parts are ids of the
   * same strings, and the string keys are never ambiguous (plates, stems, codes hold no `|`).
   */
  private keysOf(i: PassInfo): void {
    if (
      this.last === i &&
      i.plate === this.lastPlate &&
      i.kkmc === this.lastKkmc &&
      i.hpzl === this.lastHpzl &&
      i.clppxh === this.lastClppxh &&
      i.stem === this.lastStem &&
      i.marker === this.lastMarker &&
      i.prov === this.lastProv &&
      i.cls === this.lastCls
    ) {
      return;
    }
    const ids = this.ids;
    this.last = i;
    this.lastPlate = i.plate;
    this.lastKkmc = i.kkmc;
    this.lastHpzl = i.hpzl;
    this.lastClppxh = i.clppxh;
    this.lastStem = i.stem;
    this.lastMarker = i.marker;
    this.lastProv = i.prov;
    this.lastCls = i.cls;
    const full = i.cls === 'FULL';
    const masked = i.cls === 'MASKED';
    const p = ids.plateIds(i);
    const plate = p.plate;
    const cl = knownClppxh(i.clppxh);
    const m = cl ? ids.modelIds(i.clppxh) : undefined;
    const clppxh = m ? m.id : -1;
    const marker = p.marker;
    const kkmc = ids.of(i.kkmc);
    const hz = hpzlKnown(i);
    const hpzl = hz ? ids.of(i.hpzl) : -1;
    const stem = p.stem;
    this.value.HPZL = hpzl;
    this.value.CLPPXH = clppxh;
    this.value.PROVINCE = p.prov;
    const ha = this.keyA.HPZL;
    const hb = this.keyB.HPZL;
    // same_plate: plate
    ha[0] = full ? plate : -1;
    hb[0] = 0;
    // plate_model: plate|clppxh
    ha[1] = masked && cl ? plate : -1;
    hb[1] = clppxh;
    // model: marker|clppxh
    ha[2] = m?.model ? marker : -1;
    hb[2] = clppxh;
    // brand: marker|brand
    ha[3] = cl ? marker : -1;
    hb[3] = m ? m.brand : 0;
    // masked_plate: plate
    ha[4] = masked ? plate : -1;
    hb[4] = 0;
    // marker: marker|prov+letter (prov is '' or one character, the letter '' or one A-Z)
    ha[5] = i.marker ? marker : -1;
    hb[5] = p.provLetter;
    const ca = this.keyA.CLPPXH;
    const cb = this.keyB.CLPPXH;
    // same_plate: plate|hpzl
    ca[0] = full && hz ? plate : -1;
    cb[0] = hpzl;
    // plate_kkmc: plate|hpzl|kkmc
    ca[1] = masked && hz ? plate : -1;
    cb[1] = masked && hz ? ids.pair(hpzl, kkmc) : 0;
    const pa = this.keyA.PROVINCE;
    const pb = this.keyB.PROVINCE;
    // stem_model: stem|clppxh
    pa[0] = stem !== -1 && cl ? stem : -1;
    pb[0] = clppxh;
    // stem_kkmc: kkmc|stem
    pa[1] = stem !== -1 ? kkmc : -1;
    pb[1] = stem;
    // stem: stem
    pa[2] = stem;
    pb[2] = 0;
    // letter_kkmc: kkmc|letter
    pa[3] = stem !== -1 ? kkmc : -1;
    pb[3] = stem !== -1 ? p.letter : 0;
  }

  /** Adds a pass's known value of `field` to every level it applies to. */
  learn(field: ImputeField, i: PassInfo): void {
    const value = targetOf(field, i);
    if (!value) return;
    this.keysOf(i);
    const ka = this.keyA[field];
    const kb = this.keyB[field];
    const tables = this.tables[field];
    // The id of `value` (the field's known value in this pass), found by keysOf.
    const v = this.value[field];
    for (let k = 0; k < ka.length; k++) {
      const a = ka[k]!;
      if (a !== -1) tables[k]!.add(a, kb[k]!, v);
    }
    const t = this.totals[field];
    t.set(v, (t.get(v) ?? 0) + 1);
  }

  /** The most common known value and its count (the baseline a filler must beat). */
  mostCommon(field: ImputeField): { value: string; count: number; total: number } {
    let value = '';
    let count = 0;
    let total = 0;
    const names = this.ids.names;
    for (const [id, c] of this.totals[field]) {
      const v = names[id]!;
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
    this.keysOf(i);
    const ka = this.keyA[field];
    const kb = this.keyB[field];
    for (let k = 0; k < levels.length; k++) {
      const level = levels[k]!;
      const a = ka[k]!;
      if (a === -1) continue;
      const t = tables[k]!.tally(a, kb[k]!);
      if (!t || t.n < level.minN) continue;
      const share = t.topCount / t.n;
      // A level the hold-out showed to be unreliable on this data decides "not confident".
      if (share >= level.minShare && !disabled?.has(level.method)) return { value: t.top, method: level.method, n: t.n, share };
      return null;
    }
    return null;
  }
}
