/**
 * Stage 04 repair: plates normalized and classed, HPZL / CLPPXH / the plate's province character
 * imputed only on confident evidence, missing days filled from the same weekday of an earlier week.
 *
 * scan   learns the evidence (etl/logic/impute.ts), the near-duplicate votes (neardup.ts) and the
 *        passes per day; a deterministic fraction of known values is hidden from the evidence.
 * prepare predicts the hidden values with the same inference (hold-out quality), then adds them back,
 *        and plans the missing days (fill.ts).
 * transform repairs each row, logs every changed value (repair_log), and emits a filled day's rows
 *        just before the first row after that day, so the output stays sorted by GCSJ, GCXH.
 *
 * Memory: evidence tables (~1 entry per distinct plate/brand key), the near-dup window (60 s of
 * passes), the held-out rows (holdoutRate × rows), and the rows of the days that are fill sources
 * until their last target day is emitted (at most ~a week of rows when a long gap is filled).
 */
import { TrafficError } from '../../core/errors.ts';
import { F, MISSING, RAW_COLUMNS } from '../../core/schema.ts';
import type { RowStage, StageIO } from '../../core/stage.ts';
import { EpochSeconds, isCanonicalGcsj } from '../../core/time.ts';
import { planFill, synId, type FillPlan } from '../logic/fill.ts';
import { heldOutTest } from '../logic/holdout.ts';
import { IntPairIndex } from '../logic/idtable.ts';
import { isKnownHpzl, normalizeHpzl, type HpzlResult } from '../logic/hpzl.ts';
import {
  brandOf,
  Evidence,
  IMPUTE_FIELDS,
  knownClppxh,
  passInfo,
  targetOf,
  type ImputeField,
  type PassInfo,
  type PlateMemo,
  type Prediction,
} from '../logic/impute.ts';
import { NearDupIndex } from '../logic/neardup.ts';
import {
  classifyNormalized,
  cleanPlateText,
  lacksProvince,
  newEnergyMarker,
  normalizePlate,
  provinceChar,
  provinceFreeStem,
  type PlateClass,
} from '../../core/plates.ts';

export const REPAIR_STAGE = '04-repair';
export const REPAIR_LOG = 'repair_log';
export const REPAIR_QUALITY_FILE = 'repair_quality.json';
/** Same plate, same checkpoint, within this many seconds: treated as the same vehicle. */
export const NEAR_DUP_WINDOW_S = 60;
/** A method's hold-out accuracy becomes its CONFIDENCE once it filled at least this many. */
const CALIBRATION_MIN = 20;
/**
 * Accuracy a method must show on the hold-out (once it filled CALIBRATION_MIN values) to be used
 * for real fills; below it the method is disabled for this run and reported.
 */
export const MIN_METHOD_ACCURACY: Readonly<Record<ImputeField, number>> = { HPZL: 0.95, CLPPXH: 0.85, PROVINCE: 0.95 };

export interface RepairOptions {
  fill: boolean;
  /** Fraction of known values per field hidden to measure the imputation (0 = no measurement). */
  holdoutRate: number;
  seed: number;
}

export const DEFAULT_REPAIR_OPTIONS: RepairOptions = { fill: true, holdoutRate: 0.02, seed: 20240101 };

export function validateRepairOptions(o: RepairOptions): RepairOptions {
  if (typeof o.fill !== 'boolean') throw new TrafficError('INVALID_OPTION', `fill must be true or false, got ${String(o.fill)}`, { option: 'fill' });
  if (typeof o.holdoutRate !== 'number' || !(o.holdoutRate >= 0 && o.holdoutRate <= 0.5)) {
    throw new TrafficError('INVALID_OPTION', `holdoutRate must be a number in 0..0.5, got ${String(o.holdoutRate)}`, { option: 'holdoutRate' });
  }
  if (!Number.isSafeInteger(o.seed)) throw new TrafficError('INVALID_OPTION', `seed must be an integer, got ${String(o.seed)}`, { option: 'seed' });
  return o;
}

/**
 * A held-out pass, compact: what its PassInfo is made of (field, GCXH, KKMC id, plate, HPZL code,
 * CLPPXH), joined by U+001F, or those parts as an array when one holds U+001F. ~2 % of the passes
 * per field are held until prepare(); holding each as three PassInfo objects whose strings were
 * slices of the row (keeping the whole row alive) took ~185 MB on a generated year, this ~30 MB.
 * The PassInfo is rebuilt from the parts with the same pure functions (see heldInfo).
 */
type Held = string | string[];

const HELD_FIELD: Readonly<Record<ImputeField, string>> = { HPZL: 'H', CLPPXH: 'C', PROVINCE: 'P' };
const FIELD_OF_HELD: Readonly<Record<string, ImputeField>> = { H: 'HPZL', C: 'CLPPXH', P: 'PROVINCE' };
const HELD_FS = '\x1f';

interface MethodScore {
  filled: number;
  correct: number;
}

export interface FieldQuality {
  hidden: number;
  filled: number;
  coverage: number | null;
  accuracy: number | null;
  baseline: { value: string; accuracy: number | null };
  beats_baseline: boolean | null;
  by_method: Record<string, MethodScore & { accuracy: number }>;
  /** Methods whose hold-out accuracy was below MIN_METHOD_ACCURACY: not used for real fills. */
  disabled_methods: string[];
  /** Coverage and accuracy of the methods left enabled (what the real fills do). */
  effective: { coverage: number | null; accuracy: number | null };
  /** CLPPXH only: the brand part right (`五菱牌`), a looser score. */
  brand_accuracy?: number | null;
}

const ratio = (a: number, b: number): number | null => (b > 0 ? Math.round((a / b) * 10000) / 10000 : null);

/**
 * A masked plate that got its province back shows one character more than the source's mask
 * (`C379***` → `苏C379***`); cut it to the data's mask width (`苏C37***`) so it reads like the other
 * passes of the same vehicle. Full plates and widths not learnt (0) are left alone.
 */
export function remask(plate: string, width: number): string {
  const star = plate.indexOf('*');
  if (star === -1 || width <= 0 || star <= width) return plate;
  return plate.slice(0, width) + plate.slice(star);
}

function effective(hidden: number, filled: number, correct: number, off: MethodScore[]): FieldQuality['effective'] {
  const f = filled - off.reduce((a, m) => a + m.filled, 0);
  const c = correct - off.reduce((a, m) => a + m.correct, 0);
  return { coverage: ratio(f, hidden), accuracy: ratio(c, f) };
}

function fieldInfo(row: readonly string[], plate: string, hpzl: string): PassInfo {
  const info = passInfo(row, plate);
  info.hpzl = hpzl;
  return info;
}

/** What passInfo derives from a normalized plate, plus a dense id of the plate (and Evidence's memo). */
interface NormFacts extends PlateMemo {
  id: number;
  cls: PlateClass;
  prov: string;
  stem: string;
  marker: string;
}

/** A plate value as written: its normalized form and what the repair needs to know about it. */
interface RawFacts {
  plate: string;
  clean: string;
  lacks: boolean;
  norm: NormFacts;
}

/** Plate caches stop growing here (cleared and rebuilt): bounded memory on any input. */
const PLATE_CACHE_MAX = 1 << 19;

/**
 * The plate functions are pure, and a plate value recurs on many passes (masked plates are shared
 * by many vehicles): classify each distinct value once instead of running the regexes per row.
 */
class PlateFactsCache {
  private readonly raw = new Map<string, RawFacts>();
  private readonly norm = new Map<string, NormFacts>();
  private readonly ids = new Map<string, number>();

  normFacts(plate: string): NormFacts {
    let f = this.norm.get(plate);
    if (f === undefined) {
      if (this.norm.size >= PLATE_CACHE_MAX) this.norm.clear();
      let id = this.ids.get(plate);
      if (id === undefined) this.ids.set(plate, (id = this.ids.size));
      f = { id, cls: classifyNormalized(plate), prov: provinceChar(plate), stem: provinceFreeStem(plate), marker: newEnergyMarker(plate) };
      this.norm.set(plate, f);
    }
    return f;
  }

  rawFacts(hphm: string): RawFacts {
    let f = this.raw.get(hphm);
    if (f === undefined) {
      if (this.raw.size >= PLATE_CACHE_MAX) this.raw.clear();
      const plate = normalizePlate(hphm);
      f = { plate, clean: cleanPlateText(hphm), lacks: lacksProvince(plate), norm: this.normFacts(plate) };
      this.raw.set(hphm, f);
    }
    return f;
  }

  /** passInfo(row, plate) with `hpzl` as its HPZL. */
  info(row: readonly string[], plate: string, hpzl: string): PassInfo {
    return this.infoOf(row, plate, this.normFacts(plate), hpzl);
  }

  /** `info` when the plate's facts are at hand (`f` = normFacts(plate)). */
  infoOf(row: readonly string[], plate: string, f: NormFacts, hpzl: string): PassInfo {
    return {
      gcxh: row[F.GCXH]!,
      kkmc: row[F.KKMC]!,
      plate,
      cls: f.cls,
      prov: f.prov,
      stem: f.stem,
      marker: f.marker,
      hpzl,
      clppxh: row[F.CLPPXH]!,
      memo: f,
    };
  }
}

/** normalizeHpzl per distinct value (a handful of values; results are read only). */
class HpzlCache {
  private readonly m = new Map<string, HpzlResult>();

  get(raw: string): HpzlResult {
    let r = this.m.get(raw);
    if (r === undefined) {
      if (this.m.size >= 4096) this.m.clear();
      this.m.set(raw, (r = normalizeHpzl(raw)));
    }
    return r;
  }
}

const PLATE_COUNT_KEY: Readonly<Record<PlateClass, string>> = { FULL: 'plate.FULL', MASKED: 'plate.MASKED', INVALID: 'plate.INVALID' };

export function createRepairStage(options: RepairOptions, io: StageIO): RowStage {
  const opts = validateRepairOptions(options);
  const evidence = new Evidence();
  const platesCache = new PlateFactsCache();
  const hpzlCache = new HpzlCache();
  const epoch = new EpochSeconds();
  const heldOut = {
    HPZL: heldOutTest(opts.seed, 'HPZL', opts.holdoutRate),
    CLPPXH: heldOutTest(opts.seed, 'CLPPXH', opts.holdoutRate),
    PROVINCE: heldOutTest(opts.seed, 'PROVINCE', opts.holdoutRate),
  };
  /** Near-dup key: one id per (plate, checkpoint). */
  const nearKeys = new IntPairIndex();
  const kkmcIds = new Map<string, number>();
  const near = new NearDupIndex(NEAR_DUP_WINDOW_S);
  const passesByDay = new Map<string, number>();
  const held: Held[] = [];
  const quality: Partial<Record<ImputeField, FieldQuality>> = {};
  const calibrated: Record<ImputeField, Map<string, number>> = { HPZL: new Map(), CLPPXH: new Map(), PROVINCE: new Map() };
  const disabled: Record<ImputeField, Set<string>> = { HPZL: new Set(), CLPPXH: new Set(), PROVINCE: new Set() };
  const imputed: Record<ImputeField, Record<string, number>> = { HPZL: {}, CLPPXH: {}, PROVINCE: {} };
  const plates: Record<PlateClass, number> = { FULL: 0, MASKED: 0, INVALID: 0 };
  let plan: FillPlan | null = null;
  let fillIndex = 0;
  const sourceRows = new Map<string, string[][]>();
  const pendingTargets = new Map<string, number>();
  const filledRows = new Map<string, number>();
  let scanned = false;
  /** Visible characters of a masked plate in this data (`苏CD7***` → 4), learnt in scan. */
  const maskWidths = new Map<number, number>();
  let maskWidth = 0;

  const log = (gcxh: string, field: string, oldV: string, newV: string, method: string, conf: number): void => {
    io.side(REPAIR_LOG, [gcxh, field, oldV, newV, method, conf.toFixed(3)]);
  };

  /** Checkpoint names by id, for held passes (a handful of names, held once). */
  const kkmcNames: string[] = [];
  const kkmcOfHeld = new Map<string, number>();

  function packHeld(field: ImputeField, info: PassInfo): Held {
    let k = kkmcOfHeld.get(info.kkmc);
    if (k === undefined) {
      k = kkmcNames.length;
      kkmcNames.push(info.kkmc);
      kkmcOfHeld.set(info.kkmc, k);
    }
    const parts = [HELD_FIELD[field], info.gcxh, String(k), info.plate, info.hpzl, info.clppxh];
    for (const p of parts) if (p.indexOf(HELD_FS) !== -1) return parts;
    // join copies the characters: the held string keeps no row alive.
    return parts.join(HELD_FS);
  }

  /**
   * A held pass as scan saw it: `info` the pass with its true value, `view` the same pass as the
   * predictor sees it (the value hidden; for PROVINCE, the plate without its province character).
   */
  function unpackHeld(h: Held): { field: ImputeField; info: PassInfo; view: PassInfo; truth: string } {
    const [f, gcxh, k, plate, hpzl, clppxh] = typeof h === 'string' ? h.split(HELD_FS) : h;
    const field = FIELD_OF_HELD[f!]!;
    const row: string[] = [];
    row[F.GCXH] = gcxh!;
    row[F.KKMC] = kkmcNames[Number(k)]!;
    row[F.CLPPXH] = clppxh!;
    const info = platesCache.info(row, plate!, hpzl!);
    let view: PassInfo;
    if (field === 'HPZL') view = { ...info, hpzl: MISSING };
    else if (field === 'CLPPXH') view = { ...info, clppxh: MISSING };
    else view = fieldInfo(row, plate!.slice(1), info.hpzl);
    return { field, info, view, truth: targetOf(field, info) };
  }

  const confidence = (field: ImputeField, p: Prediction): number => {
    const c = calibrated[field].get(p.method);
    if (c !== undefined) return c;
    return (p.share * p.n + 1) / (p.n + 2);
  };

  function measure(): void {
    const scores: Record<ImputeField, { hidden: number; filled: number; correct: number; base: number; brand: number; by: Record<string, MethodScore> }> = {
      HPZL: { hidden: 0, filled: 0, correct: 0, base: 0, brand: 0, by: {} },
      CLPPXH: { hidden: 0, filled: 0, correct: 0, base: 0, brand: 0, by: {} },
      PROVINCE: { hidden: 0, filled: 0, correct: 0, base: 0, brand: 0, by: {} },
    };
    const common = {
      HPZL: evidence.mostCommon('HPZL').value,
      CLPPXH: evidence.mostCommon('CLPPXH').value,
      PROVINCE: evidence.mostCommon('PROVINCE').value,
    };
    for (const packed of held) {
      const h = unpackHeld(packed);
      const s = scores[h.field];
      s.hidden++;
      if (h.truth === common[h.field]) s.base++;
      const nd = h.field === 'PROVINCE' ? undefined : near.tally(h.field, h.view.gcxh, false);
      const p = evidence.predict(h.field, h.view, nd);
      if (!p) continue;
      s.filled++;
      const ok = p.value === h.truth;
      if (ok) s.correct++;
      if (h.field === 'CLPPXH' && brandOf(p.value) === brandOf(h.truth)) s.brand++;
      const m = (s.by[p.method] ??= { filled: 0, correct: 0 });
      m.filled++;
      if (ok) m.correct++;
    }
    for (const f of IMPUTE_FIELDS) {
      const s = scores[f];
      const acc = ratio(s.correct, s.filled);
      const base = ratio(s.base, s.hidden);
      const byMethod: FieldQuality['by_method'] = {};
      for (const [m, v] of Object.entries(s.by)) {
        byMethod[m] = { ...v, accuracy: ratio(v.correct, v.filled)! };
        if (v.filled >= CALIBRATION_MIN) {
          calibrated[f].set(m, (v.correct + 1) / (v.filled + 2));
          if (v.correct / v.filled < MIN_METHOD_ACCURACY[f]) {
            disabled[f].add(m);
            io.count(`disabled.${f}.${m}`);
          }
        }
      }
      quality[f] = {
        hidden: s.hidden,
        filled: s.filled,
        coverage: ratio(s.filled, s.hidden),
        accuracy: acc,
        baseline: { value: common[f], accuracy: base },
        beats_baseline: acc === null || base === null ? null : acc >= base,
        by_method: byMethod,
        disabled_methods: [...disabled[f]].sort(),
        effective: effective(
          s.hidden,
          s.filled,
          s.correct,
          [...disabled[f]].map((m) => s.by[m]!),
        ),
        ...(f === 'CLPPXH' ? { brand_accuracy: ratio(s.brand, s.filled) } : {}),
      };
      io.count(`holdout.${f}.hidden`, s.hidden);
      io.count(`holdout.${f}.filled`, s.filled);
      io.count(`holdout.${f}.correct`, s.correct);
      io.count(`holdout.${f}.baseline_correct`, s.base);
    }
  }

  function emitFilledBefore(date: string, emit: (row: string[]) => void): void {
    if (!plan || !opts.fill) return;
    while (fillIndex < plan.filled.length && plan.filled[fillIndex]!.date < date) {
      const f = plan.filled[fillIndex++]!;
      const rows = sourceRows.get(f.source) ?? [];
      const prefix = synId(f.date, ''); // synId(date, gcxh) is this prefix + gcxh
      for (const src of rows) {
        const syn = src.slice();
        syn[F.GCXH] = prefix + src[F.GCXH]!;
        syn[F.GCSJ] = f.date + src[F.GCSJ]!.slice(10);
        emit(syn);
      }
      filledRows.set(f.date, rows.length);
      io.count('fill.rows', rows.length);
      io.count('fill.days_filled');
      const left = (pendingTargets.get(f.source) ?? 1) - 1;
      pendingTargets.set(f.source, left);
      if (left <= 0) sourceRows.delete(f.source);
    }
  }

  function repairPlate(row: string[]): { plate: string; cls: PlateClass } {
    const gcxh = row[F.GCXH]!;
    const orig = row[F.HPHM]!;
    const facts = platesCache.rawFacts(orig);
    let plate = facts.plate;
    const methods: string[] = [];
    let conf = 1;
    if (plate !== orig) methods.push(plate !== facts.clean ? 'junk_prefix' : 'normalize');
    if (plate !== facts.clean) io.count('HPHM.junk_removed');
    if (facts.lacks) {
      const p = evidence.predict('PROVINCE', platesCache.info(row, plate, hpzlCache.get(row[F.HPZL]!).code), undefined, disabled.PROVINCE);
      if (p) {
        plate = remask(p.value + plate, maskWidth);
        methods.push(`province.${p.method}`);
        conf = confidence('PROVINCE', p);
        imputed.PROVINCE[p.method] = (imputed.PROVINCE[p.method] ?? 0) + 1;
        io.count(`imputed.PROVINCE.${p.method}`);
      } else {
        io.count('missing.PROVINCE');
      }
    }
    if (plate !== orig) {
      row[F.HPHM] = plate;
      log(gcxh, 'HPHM', orig, plate, methods.join('+'), conf);
      io.count('HPHM.changed');
    }
    // classifyPlate(plate): the class of the plate's normalized form.
    const cls = (plate === orig ? facts : platesCache.rawFacts(plate)).norm.cls;
    plates[cls]++;
    io.count(PLATE_COUNT_KEY[cls]);
    return { plate, cls };
  }

  return {
    name: REPAIR_STAGE,
    inputColumns: RAW_COLUMNS,
    outputColumns: RAW_COLUMNS,

    scan(row) {
      scanned = true;
      const gcsj = row[F.GCSJ]!;
      if (row.length !== RAW_COLUMNS.length || !isCanonicalGcsj(gcsj)) return;
      const date = gcsj.slice(0, 10);
      passesByDay.set(date, (passesByDay.get(date) ?? 0) + 1);
      const facts = platesCache.rawFacts(row[F.HPHM]!);
      const plate = facts.plate;
      const info = platesCache.infoOf(row, plate, facts.norm, hpzlCache.get(row[F.HPZL]!).code);
      if (info.cls === 'MASKED' && info.prov) {
        const w = plate.indexOf('*');
        maskWidths.set(w, (maskWidths.get(w) ?? 0) + 1);
      }
      let hideHpzl = false;
      let hideClppxh = false;
      for (const f of IMPUTE_FIELDS) {
        const truth = targetOf(f, info);
        const hide = truth !== '' && heldOut[f](info.gcxh);
        if (!hide) {
          evidence.learn(f, info);
          continue;
        }
        if (f === 'HPZL') hideHpzl = true;
        else if (f === 'CLPPXH') hideClppxh = true;
        held.push(packHeld(f, info));
      }
      const hz = isKnownHpzl(info.hpzl);
      const cl = knownClppxh(info.clppxh);
      let key: string | number = '';
      if (info.cls !== 'INVALID') {
        let k = kkmcIds.get(info.kkmc);
        if (k === undefined) kkmcIds.set(info.kkmc, (k = kkmcIds.size));
        key = nearKeys.intern(facts.norm.id, k);
      }
      near.add({
        gcxh: info.gcxh,
        key,
        t: epoch.of(gcsj),
        values: {
          HPZL: { value: hz ? info.hpzl : '', hidden: hideHpzl, missing: !hz },
          CLPPXH: { value: cl ? info.clppxh : '', hidden: hideClppxh, missing: !cl },
        },
      });
    },

    prepare() {
      near.closeWindow();
      let best = 0;
      for (const [w, n] of maskWidths) if (n > best || (n === best && w > maskWidth)) [maskWidth, best] = [w, n];
      measure();
      // Hidden values were only hidden to measure: the real fills use all the evidence.
      for (const packed of held) {
        const h = unpackHeld(packed);
        evidence.learn(h.field, h.info);
      }
      held.length = 0;
      plan = planFill(passesByDay);
      for (const [src, targets] of plan.targetsBySource) pendingTargets.set(src, targets.length);
      io.count('days.missing', plan.filled.length + plan.unfilled.length);
      io.count('days.partial', plan.partial.length);
      io.count('days.unfillable', plan.unfilled.length);
    },

    plannedAdded() {
      if (!plan || !opts.fill) return 0;
      let n = 0;
      for (const f of plan.filled) n += passesByDay.get(f.source) ?? 0;
      return n;
    },

    transform(row, emit, where) {
      if (row.length !== RAW_COLUMNS.length) {
        io.reject(row, `expected ${RAW_COLUMNS.length} fields, got ${row.length}`, where);
        return;
      }
      const gcsj = row[F.GCSJ]!;
      if (!isCanonicalGcsj(gcsj)) {
        io.reject(row, `GCSJ not YYYY-MM-DD HH:mm:ss: ${gcsj}`, where);
        return;
      }
      const date = gcsj.slice(0, 10);
      emitFilledBefore(date, emit);
      const gcxh = row[F.GCXH]!;

      const { plate } = repairPlate(row);

      const origH = row[F.HPZL]!;
      const h = hpzlCache.get(origH);
      if (h.kind === 'unknown') io.count('HPZL.unknown_code');
      let hpzl: string = h.code;
      let hpzlMethod = h.code !== origH ? 'normalize' : '';
      let hpzlConf = 1;
      if (!isKnownHpzl(hpzl)) {
        const p = evidence.predict('HPZL', platesCache.info(row, plate, MISSING), near.tally('HPZL', gcxh, true), disabled.HPZL);
        if (p) {
          hpzl = p.value;
          hpzlMethod = p.method;
          hpzlConf = confidence('HPZL', p);
          imputed.HPZL[p.method] = (imputed.HPZL[p.method] ?? 0) + 1;
          io.count(`imputed.HPZL.${p.method}`);
        } else {
          io.count('missing.HPZL');
        }
      }
      if (hpzl !== origH) {
        row[F.HPZL] = hpzl;
        log(gcxh, 'HPZL', origH, hpzl, hpzlMethod, hpzlConf);
      }

      const origC = row[F.CLPPXH]!;
      if (!knownClppxh(origC)) {
        const p = evidence.predict('CLPPXH', platesCache.info(row, plate, hpzl), near.tally('CLPPXH', gcxh, true), disabled.CLPPXH);
        if (p) {
          row[F.CLPPXH] = p.value;
          // A fill that leans on an imputed HPZL is only as sure as both.
          const conf = confidence('CLPPXH', p) * (hpzlMethod && hpzlMethod !== 'normalize' ? hpzlConf : 1);
          log(gcxh, 'CLPPXH', origC, p.value, p.method, conf);
          imputed.CLPPXH[p.method] = (imputed.CLPPXH[p.method] ?? 0) + 1;
          io.count(`imputed.CLPPXH.${p.method}`);
        } else {
          if (origC !== MISSING) {
            row[F.CLPPXH] = MISSING;
            log(gcxh, 'CLPPXH', origC, MISSING, 'normalize', 1);
          }
          io.count('missing.CLPPXH');
        }
      }

      if (pendingTargets.has(date) && opts.fill) {
        let list = sourceRows.get(date);
        if (!list) sourceRows.set(date, (list = []));
        list.push(row.slice());
      }
      emit(row);
    },

    flush(emit) {
      emitFilledBefore('\uffff', emit);
    },

    artifacts() {
      const report = {
        stage: REPAIR_STAGE,
        options: opts,
        measured: scanned && opts.holdoutRate > 0,
        holdout: quality,
        imputed,
        plates,
        near_dup_window_s: NEAR_DUP_WINDOW_S,
        days: plan
          ? {
              first: plan.first,
              last: plan.last,
              median_passes: plan.medianPasses,
              complete_threshold: plan.completeThreshold,
              fill: opts.fill,
              filled: opts.fill ? plan.filled.map((f) => ({ date: f.date, source: f.source, weeks_back: f.weeksBack, rows: filledRows.get(f.date) ?? 0 })) : [],
              missing_not_filled: opts.fill ? plan.unfilled : [...plan.filled.map((f) => f.date), ...plan.unfilled].sort(),
              unfillable: plan.unfilled,
              partial: plan.partial,
            }
          : null,
      };
      return { [REPAIR_QUALITY_FILE]: JSON.stringify(report, null, 2) + '\n' };
    },
  };
}
