/**
 * Plate numbers (HPHM). The source masks plates to their first 4 characters + `***` (`苏CD7***`);
 * about 2% are malformed (`-***`, `C379***`, `京***`, `4皖LG***`, `J678***`). These functions are
 * pure and shared: stage 04 repairs with them, the cloned-plate detector and the routes classify
 * plates with them.
 */
import { PROVINCE_CHARS } from './reference.ts';
import { MISSING } from './schema.ts';

export type PlateClass = 'FULL' | 'MASKED' | 'INVALID';

const PROV = [...PROVINCE_CHARS].join('');
/** Last character of special full plates: trailer, learner, police, HK/Macau, consulate, test, oversize. */
const SPECIAL_LAST = '挂学警港澳领试超';

/**
 * The classes as whole-value patterns, written in the subset JavaScript, RE2 (DuckDB) and PCRE
 * (MariaDB) share — anchors, character classes, non-capturing groups, counted repeats — so a
 * store can class plates in SQL with the very same expressions (store/routes.ts).
 */
export const PLATE_PATTERNS: { readonly full: readonly string[]; readonly masked: readonly string[] } = {
  // Province + issuing-office letter + 5 characters (the last may be a special marker), or + 6
  // (new energy); embassy plates: 使 + 6 digits.
  full: [`^(?:WJ)?[${PROV}][A-Z](?:[A-Z0-9]{4}[A-Z0-9${SPECIAL_LAST}]|[A-Z0-9]{6})$`, '^使[0-9]{6}$'],
  // Province + letter + at least one visible character + the mask.
  masked: [`^[${PROV}][A-Z][A-Z0-9]{1,5}[*]+$`, '^使[0-9]{1,5}[*]+$'],
};
// Two each, tested directly: classifyNormalized runs once per row in the ETL.
const [FULL_RE, FULL_EMBASSY_RE] = PLATE_PATTERNS.full.map((p) => new RegExp(p)) as [RegExp, RegExp];
const [MASKED_RE, MASKED_EMBASSY_RE] = PLATE_PATTERNS.masked.map((p) => new RegExp(p)) as [RegExp, RegExp];
/** A plate whose province character is missing: letter + ≥2 visible characters (masked or full). */
const NO_PROVINCE_RE = /^[A-Z][A-Z0-9]{2,5}\*+$|^[A-Z][A-Z0-9]{5,6}$/;

const IS_PROV_OR_EMBASSY = (c: string): boolean => PROVINCE_CHARS.has(c) || c === '使';

function toHalfWidth(s: string): string {
  // Full-width ASCII (Ａ-Ｚ, ０-９, ＊) appears in hand-typed exports.
  return s.replace(/[\uFF01-\uFF5E]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0));
}

/** Upper case, half width, no `·`/spaces/inner separators; nothing removed beyond that. */
export function cleanPlateText(hphm: string): string {
  const s = toHalfWidth(hphm)
    .replace(/[\s\u00B7\u30FB\u2022]/g, '')
    .toUpperCase();
  if (s === '' || s.startsWith('-')) return s;
  // Separators typed inside a plate (`苏C-12345`, `苏C.12345`).
  return s.replace(/[-.]/g, '');
}

/**
 * Upper case, no `·`/spaces, junk before the province character removed (`4皖LG***` → `皖LG***`).
 * Junk is only removed when it holds no province character itself: in `苏宁C8***` either character
 * could be the real one, so the value is left as it is (and classes INVALID). `WJ` (armed police
 * prefix) is not junk. `-`/empty stay as they are.
 */
export function normalizePlate(hphm: string): string {
  const s = cleanPlateText(hphm);
  if (s === '' || s.startsWith('-')) return s;
  if (s.startsWith('WJ')) return s;
  const first = s.charAt(0);
  if (IS_PROV_OR_EMBASSY(first)) return s;
  // The first province character must start the plate proper (followed by a letter, or a digit
  // for 使); when it is followed by another province character (`4苏宁C8***`) it is ambiguous.
  for (let i = 1; i < s.length; i++) {
    const c = s.charAt(i);
    if (!IS_PROV_OR_EMBASSY(c)) continue;
    const next = s.charAt(i + 1);
    const startsPlate = c === '使' ? /\d/.test(next) : /[A-Z]/.test(next);
    return startsPlate ? s.slice(i) : s;
  }
  return s;
}

/** FULL (complete plate), MASKED (province + letter + visible chars + `*`), else INVALID. */
export function classifyPlate(hphm: string): PlateClass {
  return classifyNormalized(normalizePlate(hphm));
}

/** `classifyPlate` for a value that is already the output of `normalizePlate`. */
export function classifyNormalized(p: string): PlateClass {
  if (FULL_RE.test(p) || FULL_EMBASSY_RE.test(p)) return 'FULL';
  if (MASKED_RE.test(p) || MASKED_EMBASSY_RE.test(p)) return 'MASKED';
  return 'INVALID';
}

/** A CLPPXH that identifies a brand/model (not blank, not `-`). */
export function knownBrand(clppxh: string): boolean {
  return clppxh !== MISSING && clppxh !== '';
}

/**
 * Same-vehicle evidence for two passes of one MASKED plate (4 visible characters are shared by
 * many vehicles): the same plate type and the same known brand/model. A FULL plate needs none.
 * The cloned-plate rule pairs with it; the routes group passes by the key below, which is the same test.
 */
export function sameMaskedVehicle(a: { hpzl: string; clppxh: string }, b: { hpzl: string; clppxh: string }): boolean {
  return a.hpzl === b.hpzl && a.clppxh === b.clppxh && knownBrand(a.clppxh);
}

/** Separates the parts of a vehicle key (a control character no plate, type or brand contains). */
export const VEHICLE_KEY_SEP = '\u001f';

/**
 * The vehicle a pass belongs to, as one string, or null when the plate cannot name one: a FULL
 * plate is its own key; a MASKED plate with a known brand is (plate, type, brand) — exactly the
 * passes `sameMaskedVehicle` pairs; INVALID plates and masked plates without a brand are no vehicle.
 * `hphm` is a stored (normalized) plate.
 */
export function vehicleKey(hphm: string, hpzl: string, clppxh: string, cls: PlateClass = classifyNormalized(hphm)): string | null {
  if (cls === 'FULL') return hphm;
  if (cls === 'MASKED' && knownBrand(clppxh)) return hphm + VEHICLE_KEY_SEP + hpzl + VEHICLE_KEY_SEP + clppxh;
  return null;
}

/** A normalized plate that looks like a plate missing only its province character (`C379***`). */
export function lacksProvince(normalized: string): boolean {
  return NO_PROVINCE_RE.test(normalized);
}

/** The province character of a normalized plate, or '' when it has none. */
export function provinceChar(normalized: string): string {
  const c = normalized.charAt(0);
  return PROVINCE_CHARS.has(c) ? c : '';
}

/**
 * The new-energy marker: on new-energy plates the character after the office letter is D or F
 * (`苏CD7***`). 'DF' when present, 'x' when the plate has another character there, '' when unknown.
 * Works on plates with or without the province character.
 */
export function newEnergyMarker(normalized: string): 'DF' | 'x' | '' {
  const body = provinceChar(normalized) ? normalized.slice(1) : normalized;
  if (!/^[A-Z]/.test(body)) return '';
  const c = body.charAt(1);
  if (c === '' || c === '*') return '';
  return c === 'D' || c === 'F' ? 'DF' : 'x';
}

/**
 * The part of a plate used as evidence for its missing province: office letter + the next two
 * characters (what a 4-character mask shows after the province). `苏CD7***` and `CD79***` → `CD7`.
 */
export function provinceFreeStem(normalized: string): string {
  const body = provinceChar(normalized) ? normalized.slice(1) : normalized;
  const m = /^[A-Z][A-Z0-9]{2}/.exec(body);
  return m ? m[0] : '';
}
