/**
 * Plate type (HPZL) to the two-digit GA 24.7 code: `2` → `02`, `2.0` (a spreadsheet number) → `02`,
 * `小型汽车` → `02`; `-`/empty stay `-`; a code outside GA 24.7 becomes `-` and is reported as unknown.
 */
import { MISSING } from '../../core/schema.ts';
import { HPZL_BY_NAME, HPZL_CODES } from '../../core/reference.ts';

export type HpzlResult = { kind: 'ok'; code: string } | { kind: 'missing'; code: typeof MISSING } | { kind: 'unknown'; code: typeof MISSING; raw: string };

export function normalizeHpzl(raw: string): HpzlResult {
  const s = raw.trim();
  if (s === '' || s === MISSING) return { kind: 'missing', code: MISSING };
  const num = /^(\d{1,2})(?:\.0+)?$/.exec(s);
  if (num) {
    const code = num[1]!.padStart(2, '0');
    return HPZL_CODES.has(code) ? { kind: 'ok', code } : { kind: 'unknown', code: MISSING, raw: s };
  }
  const byName = HPZL_BY_NAME[s];
  if (byName) return { kind: 'ok', code: byName };
  return { kind: 'unknown', code: MISSING, raw: s };
}

/** True for a value that is a GA 24.7 code already (what stage 03 writes). */
export function isKnownHpzl(code: string): boolean {
  return HPZL_CODES.has(code);
}
