/**
 * The cloned-plate alert (DESIGN.md "Alerts: cloned plates"): its JSON shape and its id.
 * The id depends only on the two GCXH (order-independent), so replaying records after a crash
 * derives the same id and an idempotent sink stores the alert once.
 */
import { createHash } from 'node:crypto';

export type RuleName = 'default' | 'window';

export interface AlertPass {
  gcxh: string;
  kkmc: string;
  gcsj: string;
}

export interface Alert {
  id: string;
  hphm: string;
  masked: boolean;
  /** The earlier pass in event time (ties: the smaller GCXH), whatever the arrival order. */
  prev: AlertPass;
  curr: AlertPass;
  interval_s: number;
  distance_km: number | null;
  speed_kmh: number | null;
  rule: RuleName;
  /** Wall-clock time of detection, ISO 8601 with +08:00. */
  detected_at: string;
}

/**
 * 16 hex digits of sha1("<min GCXH>|<max GCXH>"): fixed length for Redis keys whatever the GCXH
 * (`SYN…`, `INJ…` ids are long), and 64 bits make a collision among the alerts of years negligible.
 */
export function alertId(gcxhA: string, gcxhB: string): string {
  const key = gcxhA < gcxhB ? `${gcxhA}|${gcxhB}` : `${gcxhB}|${gcxhA}`;
  return createHash('sha1').update(key).digest('hex').slice(0, 16);
}

/** The unordered pair key used by quality checks: "<min>|<max>". */
export function pairKey(gcxhA: string, gcxhB: string): string {
  return gcxhA < gcxhB ? `${gcxhA}|${gcxhB}` : `${gcxhB}|${gcxhA}`;
}

/** Parses and checks one alert JSON (e.g. a JSONL line or a Redis list entry); null when not an alert. */
export function parseAlert(text: string): Alert | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  const a = v as Partial<Alert> | null;
  if (!a || typeof a !== 'object' || typeof a.id !== 'string' || typeof a.hphm !== 'string') return null;
  if (!a.prev || !a.curr || typeof a.prev.gcxh !== 'string' || typeof a.curr.gcxh !== 'string') return null;
  return a as Alert;
}
