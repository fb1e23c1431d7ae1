/**
 * Checkpoint codenames (DESIGN.md "Codenames (stage 03)"): `<ROAD>_<County>_K<km>` in ASCII, e.g.
 * `徐州市睢宁县S325淮宿线K63(325省道)…卡口` → `S325_Suining_K63`. Spellings of the same physical
 * checkpoint (same road, county, stake) share one code; two different checkpoints never do.
 * Choices where the contract is silent are listed in docs/etl-logic.md.
 */
import { createHash } from 'node:crypto';
import { pinyin } from 'pinyin-pro';
import { isValidCheckpointCode, MAX_CODE_LENGTH } from '../../core/checkpoint-code.ts';
import { PROVINCE_BY_CHAR } from '../../core/reference.ts';

export { MAX_CODE_LENGTH };

export interface CheckpointParts {
  /** Road code (`S325`, `G3`) or, for a named road without a number, its pinyin (`Luliang`). */
  road: string;
  /** County in pinyin, TitleCase, no tones (`Suining`, `Fengxian`). */
  county: string;
  /** The county as written, suffix dropped (`睢宁`, `丰县` keeps its suffix: one-character name). */
  countyZh: string;
  /** Stake kilometre, digits (`63`). */
  km: string;
  /** 省际 / 市际 / other, from the name. */
  border: string;
}

export type Border = '省际' | '市际' | 'other';

const HAN = '\\u4e00-\\u9fff';
const ADMIN_PREFIX_RE = new RegExp(`^(?:[${HAN}]{2,7}?(?:省|自治区))?([${HAN}]{2,4}?市)?([${HAN}]{1,4}?(?:县|区|市|旗))?`);
const ADMIN_UNIT_RE = new RegExp(`^[${HAN}]{1,6}(?:县|区|市|旗)$`);
const PROVINCE_NAMES = Object.values(PROVINCE_BY_CHAR).filter((n) => n !== '使馆');
/** `江苏徐州-G3-…`: a province followed by a two-character city, as checkpoint names write it. */
const PROVINCE_CITY_RE = new RegExp(`(?:${PROVINCE_NAMES.join('|')})省?([${HAN}]{2})(?=市|-|_|\\(|（|$)`);
const ROAD_CODE_RE = /(?<![A-Z])([GSX])(\d+)/;
const NAMED_ROAD_RE = new RegExp(`^([${HAN}]{1,8}?)(?:公路|大道|路|线|道|街)K\\d+`);
const STAKE_RE = /(?<![A-Z])K(\d+)/;

/** Half-width, no whitespace, ASCII upper case: the form names are compared in. */
export function cleanName(name: string): string {
  return name
    .replace(/[\uFF01-\uFF5E]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0))
    .replace(/\s+/g, '')
    .replace(/[a-z]+/g, (m) => m.toUpperCase());
}

/** TitleCase pinyin without tones, ASCII only (ü → v): `睢宁` → `Suining`. */
export function titlePinyin(han: string): string {
  const syllables = pinyin(han, { toneType: 'none', type: 'array', v: true, nonZh: 'removed' });
  const s = syllables
    .join('')
    .replace(/[^a-zA-Z0-9]/g, '')
    .toLowerCase();
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Upper-case pinyin initials of Chinese characters; ASCII letters and digits kept as they are. */
export function pinyinInitials(text: string): string {
  let out = '';
  for (const ch of text) {
    if (/[A-Za-z0-9]/.test(ch)) out += ch.toUpperCase();
    else if (/[\u4e00-\u9fff]/.test(ch)) out += pinyin(ch, { pattern: 'first', toneType: 'none' }).toUpperCase();
  }
  return out.replace(/[^A-Z0-9]/g, '');
}

function sha1Hex(text: string): string {
  return createHash('sha1').update(text, 'utf8').digest('hex');
}

/**
 * County/district name without its generic suffix (县/区/市/旗), except for one-character names
 * (丰县, 沛县), which keep it as their standard romanization does (Fengxian, Peixian).
 */
export function countyBase(unit: string): string {
  const base = unit.replace(/(?:县|区|市|旗)$/, '');
  return base.length >= 2 ? base : unit;
}

export function borderOf(name: string): Border {
  if (name.includes('省际')) return '省际';
  if (name.includes('市际')) return '市际';
  return 'other';
}

function roadNumber(digits: string): string {
  // `S505505省道`, `G518518国道`: the number written twice in a row.
  if (digits.length % 2 === 0 && digits.length >= 4 && digits.slice(0, digits.length / 2) === digits.slice(digits.length / 2)) {
    return digits.slice(0, digits.length / 2);
  }
  // No road code has more than 4 digits (G1511); a longer run is a number glued to the code.
  return digits.length > 4 ? digits.slice(0, 3) : digits;
}

/** The county named in a checkpoint name (else in XZQHMC, else the city the name mentions), as written. */
function findCounty(clean: string, xzqhmc: string): string {
  const m = ADMIN_PREFIX_RE.exec(clean);
  const unit = m?.[2] ?? m?.[1];
  if (unit) return countyBase(unit);
  const x = cleanName(xzqhmc);
  // XZQHMC may be a police unit (高速五大队): only a real district name counts.
  if (ADMIN_UNIT_RE.test(x)) return countyBase(x);
  const city = PROVINCE_CITY_RE.exec(clean);
  return city ? city[1]! : '';
}

/**
 * Parses road, county, stake and border out of a checkpoint name. Missing parts are ''.
 */
export function parseCheckpointName(name: string, xzqhmc = ''): CheckpointParts {
  const clean = cleanName(name);
  const countyZh = findCounty(clean, xzqhmc);
  const county = countyZh ? titlePinyin(countyZh) : '';
  let road = '';
  let afterRoad = clean;
  const rc = ROAD_CODE_RE.exec(clean);
  if (rc) {
    road = rc[1]! + roadNumber(rc[2]!);
    afterRoad = clean.slice(rc.index + rc[0].length);
  } else {
    const prefix = ADMIN_PREFIX_RE.exec(clean)?.[0] ?? '';
    const named = NAMED_ROAD_RE.exec(clean.slice(prefix.length));
    if (named) road = titlePinyin(named[1]!).slice(0, 16);
  }
  const stake = STAKE_RE.exec(afterRoad) ?? (rc ? null : STAKE_RE.exec(clean));
  const km = stake ? String(Number(stake[1])) : '';
  return { road, county, countyZh, km, border: borderOf(clean) };
}

/** `<ROAD>_<County>_K<km>`, or null when a part is missing. The county is shortened to fit 40 chars. */
export function ruleCode(p: CheckpointParts): string | null {
  if (!p.road || !p.county || !p.km) return null;
  const fixed = p.road.length + p.km.length + 3; // `_`, `_K`
  const county = p.county.slice(0, Math.max(1, MAX_CODE_LENGTH - fixed));
  return `${p.road}_${county}_K${p.km}`.slice(0, MAX_CODE_LENGTH);
}

/** `KK_<pinyin initials>_<4 hex of sha1(name)>` for names the rule cannot read. */
export function fallbackCode(name: string): string {
  const initials = pinyinInitials(cleanName(name)).slice(0, MAX_CODE_LENGTH - 8) || 'X';
  return `KK_${initials}_${sha1Hex(name).slice(0, 4)}`;
}

/** Identity of a physical checkpoint: road + county as written + stake; else the name itself. */
export function physicalKey(name: string, p: CheckpointParts): string {
  return ruleCode(p) ? `R|${p.road}|${p.countyZh}|${p.km}` : `N|${cleanName(name)}`;
}

/** The checkpoint code rule lives in core/checkpoint-code.ts (stream and load check it too). */
export function isValidCode(code: string): boolean {
  return isValidCheckpointCode(code);
}

export interface CodeAssignment {
  code: string;
  parts: CheckpointParts;
  /** How the code was made: rule, fallback, override, or rule/fallback + disambiguated. */
  method: 'rule' | 'fallback' | 'override' | 'disambiguated';
}

/**
 * Assigns codes to checkpoint names, keeping them unique per physical checkpoint. Names added
 * together through `assignAll` get codes that depend only on the set of names (sorted first), so
 * a run is deterministic; `assign` adds one more name later (first come keeps a contested code).
 *
 * Overrides (KKMC_NAME → KKMC) win. An override also applies to the other spellings of the same
 * physical checkpoint that have none of their own. Two names overridden to the same code are an
 * explicit merge and allowed; a rule code that collides with any other checkpoint's code gets a
 * `_<4 hex of sha1(physical key)>` suffix.
 */
export class CodenameRegistry {
  private readonly byName = new Map<string, CodeAssignment>();
  private readonly byPhysical = new Map<string, string>();
  /** code → physical key that owns it (overrides: '' = shared on purpose). */
  private readonly owner = new Map<string, string>();
  private readonly overrides: Map<string, string>;

  constructor(overrides: Map<string, string> = new Map()) {
    this.overrides = new Map([...overrides].map(([k, v]) => [cleanName(k), v.trim()]));
    for (const code of this.overrides.values()) this.owner.set(code, '');
  }

  get(name: string): CodeAssignment | undefined {
    return this.byName.get(name);
  }

  entries(): IterableIterator<[string, CodeAssignment]> {
    return this.byName.entries();
  }

  assignAll(names: Iterable<{ name: string; xzqhmc: string }>): void {
    const prepared = [...names].map(({ name, xzqhmc }) => {
      const parts = parseCheckpointName(name, xzqhmc);
      return { name, xzqhmc, key: physicalKey(name, parts) };
    });
    // Overridden names first (they settle their group's code), then by physical key and name.
    prepared.sort((a, b) => {
      const oa = this.overrides.has(cleanName(a.name)) ? 0 : 1;
      const ob = this.overrides.has(cleanName(b.name)) ? 0 : 1;
      return oa - ob || (a.key < b.key ? -1 : a.key > b.key ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    });
    for (const p of prepared) this.assign(p.name, p.xzqhmc);
  }

  assign(name: string, xzqhmc = ''): CodeAssignment {
    const known = this.byName.get(name);
    if (known) return known;
    const parts = parseCheckpointName(name, xzqhmc);
    const key = physicalKey(name, parts);
    const override = this.overrides.get(cleanName(name));
    let result: CodeAssignment;
    if (override !== undefined) {
      result = { code: override, parts, method: 'override' };
      if (!this.byPhysical.has(key)) this.byPhysical.set(key, override);
    } else if (this.byPhysical.has(key)) {
      const code = this.byPhysical.get(key)!;
      const first = [...this.byName.values()].find((a) => a.code === code);
      result = { code, parts, method: first?.method ?? 'rule' };
    } else {
      const rule = ruleCode(parts);
      let code = rule ?? fallbackCode(name);
      let method: CodeAssignment['method'] = rule ? 'rule' : 'fallback';
      if (this.owner.has(code) && this.owner.get(code) !== key) {
        code = this.disambiguate(code, key);
        method = 'disambiguated';
      }
      this.owner.set(code, key);
      this.byPhysical.set(key, code);
      result = { code, parts, method };
    }
    this.byName.set(name, result);
    return result;
  }

  private disambiguate(code: string, key: string): string {
    const hex = sha1Hex(key);
    for (let n = 4; n <= 40; n += 2) {
      const suffix = '_' + hex.slice(0, n);
      const candidate = code.slice(0, MAX_CODE_LENGTH - suffix.length) + suffix;
      if (!this.owner.has(candidate)) return candidate;
    }
    throw new Error(`cannot make a unique code for ${key}`);
  }
}
