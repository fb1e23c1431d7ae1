/**
 * The pair rules (DESIGN.md "Alerts: cloned plates"). Pure: given two sightings of the same plate,
 * say whether they alert and with what distance and speed.
 *
 * - `default`: different checkpoints, |Δt| ≤ window, and the distance is unknown or implies a
 *   speed above the limit. For MASKED plates (4 visible characters shared by many vehicles) the
 *   two passes must also agree on HPZL and carry the same known CLPPXH.
 * - `window`: the plain seed rule, different checkpoints within the window.
 * INVALID plates never reach the rules (the detector skips them).
 */
import { sameMaskedVehicle } from '../../core/plates.ts';
import type { RuleName } from './alert.ts';
import type { DistanceFn } from './geo.ts';

export const RULES: readonly RuleName[] = ['default', 'window'];

export interface Sighting {
  gcxh: string;
  kkmc: string;
  /** Event time, epoch seconds. */
  t: number;
  gcsj: string;
  hpzl: string;
  clppxh: string;
}

export interface RuleParams {
  rule: RuleName;
  windowS: number;
  speedKmh: number;
}

export interface Verdict {
  distanceKm: number | null;
  /** null when the distance is unknown or both passes share the same second (no finite speed). */
  speedKmh: number | null;
}

/** Same-vehicle evidence for a masked plate: same plate type and the same known brand/model. */
export function maskedEvidence(a: Sighting, b: Sighting): boolean {
  return sameMaskedVehicle(a, b);
}

/** Returns the verdict when the pair alerts, else null. */
export function evaluatePair(a: Sighting, b: Sighting, masked: boolean, p: RuleParams, distance: DistanceFn): Verdict | null {
  if (a.kkmc === b.kkmc) return null;
  const dt = Math.abs(a.t - b.t);
  if (dt > p.windowS) return null;
  const d = distance(a.kkmc, b.kkmc);
  const speed = d === null || dt === 0 ? null : (d / dt) * 3600;
  if (p.rule === 'window') return { distanceKm: d, speedKmh: speed };
  if (masked && !maskedEvidence(a, b)) return null;
  // Unknown distance: cannot rule a clone out. Same second at two places with d > 0: impossible.
  if (d === null || (dt === 0 && d > 0) || (speed !== null && speed > p.speedKmh)) {
    return { distanceKm: d, speedKmh: speed };
  }
  return null;
}
