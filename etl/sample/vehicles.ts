/**
 * Vehicles and how the cameras get them wrong. A vehicle has a true type (HPZL), a true masked
 * plate (4 characters + `***`, as the source masks it) and a true brand string (CLPPXH); a pass
 * may blank a value to `-` or misread the plate, and every such change is recorded as truth.
 */
import { CHAR3, CHAR3_NEW_ENERGY, CHAR4, HPZL_SAMPLER, MALFORMED_KINDS, clppxhSampler, prefixSampler, type MalformedKind } from './profile.ts';
import { PROVINCE_CHARS } from '../../core/reference.ts';
import { Weighted, type Rng } from './rng.ts';

export interface Vehicle {
  hpzl: string;
  /** Province character + city letter, e.g. `苏C`. */
  prefix: string;
  /** The next five plate characters (only the first two survive masking; the rest feed misreads). */
  tail: string;
  clppxh: string;
}

export const MASK = '***';

export function maskedPlate(v: Vehicle): string {
  return v.prefix + v.tail.slice(0, 2) + MASK;
}

export function newVehicle(rng: Rng): Vehicle {
  const hpzl = HPZL_SAMPLER.draw(rng);
  const prefix = prefixSampler(hpzl).draw(rng);
  // Small new-energy plates (52) carry D or F as 3rd character (~97% in the real files).
  let tail = (hpzl === '52' ? CHAR3_NEW_ENERGY : CHAR3).draw(rng);
  for (let i = 0; i < 4; i++) tail += CHAR4.draw(rng);
  return { hpzl, prefix, tail, clppxh: clppxhSampler(hpzl).draw(rng) };
}

const KIND_SAMPLER = new Weighted<MalformedKind>(MALFORMED_KINDS);
const PLATE_LETTERS = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
const DIGITS = '0123456789';
/** Letters a plate reader confuses with digits (the real `鲁027***` kind). */
const LOOKS_LIKE_DIGIT: Record<string, string> = { B: '8', D: '0', Q: '0', S: '5', Z: '2', G: '6', T: '7', L: '1', J: '1' };

export function drawMalformedKind(rng: Rng): MalformedKind {
  return KIND_SAMPLER.draw(rng);
}

/** The plate text a misreading of `kind` writes for vehicle `v` (always ends in `***`). */
export function malformPlate(v: Vehicle, kind: MalformedKind, rng: Rng): string {
  const city = v.prefix.slice(1);
  switch (kind) {
    case 'no_province':
      // The export keeps 4 characters of what was read: without the province, one more shows.
      return (rng.chance(0.8) ? city + v.tail.slice(0, 3) : v.tail.slice(0, 4)) + MASK;
    case 'truncated': {
      const read = rng.chance(0.5) ? city + v.tail : v.tail;
      const len = 1 + rng.int(3);
      return read.slice(0, len) + MASK;
    }
    case 'junk_prefix': {
      const r = rng.next();
      const junk = r < 0.45 ? (rng.chance(0.6) ? '苏' : rng.pick([...PROVINCE_CHARS])) : r < 0.8 ? rng.pick([...DIGITS]) : rng.pick([...PLATE_LETTERS]);
      return junk + v.prefix + v.tail.slice(0, 1) + MASK;
    }
    case 'misread':
      return v.prefix.slice(0, 1) + (LOOKS_LIKE_DIGIT[city] ?? rng.pick([...DIGITS])) + v.tail.slice(0, 2) + MASK;
    case 'unreadable':
      return '-' + MASK;
    case 'province_only':
      return (rng.chance(0.6) ? '京' : v.prefix.slice(0, 1)) + (rng.chance(0.5) ? '' : v.tail.slice(0, 1)) + MASK;
  }
}
