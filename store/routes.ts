/**
 * Popular routes (热门路线): transitions between consecutive passes of one vehicle at different
 * checkpoints at most 2 hours apart, counted per (from, to) checkpoint pair with the median
 * travel time. A vehicle is what `vehicleKey` (core/plates.ts) says: a FULL plate, or a
 * MASKED plate together with its plate type and known brand — the identity the cloned-plate rule
 * uses. A transition belongs to the day of its arrival pass, so a day's answer reads the 2 hours
 * before midnight too.
 *
 * Two implementations with one answer: the embedded store runs `duckdbRoutesSql` (LAG over the
 * vehicle, ordered by gcsj then gcxh); the MySQL shards hold a vehicle's passes on several shards
 * (rows are sharded by checkpoint), so each shard returns the day's passes and `routeStats` runs the
 * same LAG here. The stores-equal test holds them to the same result.
 */
import { PLATE_PATTERNS, vehicleKey, classifyNormalized, type PlateClass } from '../core/plates.ts';
import { MISSING } from '../core/schema.ts';
import { formatChinaTime, toEpochSeconds } from '../core/time.ts';

/** Longest gap between two passes that still counts as one trip, seconds. */
export const ROUTE_MAX_GAP_S = 2 * 3600;

export interface RouteStat {
  /** Checkpoint codes (KKMC). */
  from: string;
  to: string;
  /** Transitions on the day. */
  value: number;
  /** Median time between the two passes, minutes, one decimal. */
  median_minutes: number;
}

/** The window a day's routes read: [day − 2 h, day + 1 day), plus the day's own start. */
export function routeWindow(date: string): { from: string; dayStart: string; to: string; dayStartS: number } {
  const dayStartS = toEpochSeconds(`${date} 00:00:00`);
  return {
    from: formatChinaTime((dayStartS - ROUTE_MAX_GAP_S) * 1000),
    dayStart: `${date} 00:00:00`,
    to: formatChinaTime((dayStartS + 86_400) * 1000),
    dayStartS,
  };
}

export interface RoutePass {
  kkmc: string;
  gcxh: string;
  hphm: string;
  hpzl: string;
  clppxh: string;
  /** Event time, seconds on any fixed scale (only differences and the day start matter). */
  t: number;
}

/** Median of numbers (mean of the two middle values for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const minutes1 = (seconds: number): number => Math.round((seconds / 60) * 10) / 10;

/** Busiest first; ties by from, then to (code-unit order, as the databases' binary order for codes). */
export function routeOrder(a: RouteStat, b: RouteStat): number {
  if (a.value !== b.value) return b.value - a.value;
  if (a.from !== b.from) return a.from < b.from ? -1 : 1;
  return a.to < b.to ? -1 : a.to > b.to ? 1 : 0;
}

/** `vehicleKey` of a pass, classing each distinct plate once. */
export function vehicleKeyCached(): (p: RoutePass) => string | null {
  const classes = new Map<string, PlateClass>();
  return (p) => {
    let cls = classes.get(p.hphm);
    if (cls === undefined) {
      cls = classifyNormalized(p.hphm);
      classes.set(p.hphm, cls);
    }
    return vehicleKey(p.hphm, p.hpzl, p.clppxh, cls);
  };
}

/**
 * Every transition (from, to, seconds) whose arrival is at or after `sinceT`, from passes in any
 * order: group by vehicle (`keyOf`, default `vehicleKey`; null = no vehicle), order by (t, gcxh),
 * pair each pass with the one before it.
 */
export function routeTransitions<P extends RoutePass>(
  passes: readonly P[],
  sinceT: number,
  keyOf: (p: P) => string | null = vehicleKeyCached(),
): Array<{ from: string; to: string; seconds: number; prev: P; curr: P }> {
  const byVehicle = new Map<string, P[]>();
  for (const p of passes) {
    const key = keyOf(p);
    if (key === null) continue;
    const list = byVehicle.get(key);
    if (list) list.push(p);
    else byVehicle.set(key, [p]);
  }
  const out: Array<{ from: string; to: string; seconds: number; prev: P; curr: P }> = [];
  for (const list of byVehicle.values()) {
    list.sort((a, b) => a.t - b.t || (a.gcxh < b.gcxh ? -1 : a.gcxh > b.gcxh ? 1 : 0));
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1]!;
      const curr = list[i]!;
      const seconds = curr.t - prev.t;
      if (curr.t >= sinceT && prev.kkmc !== curr.kkmc && seconds <= ROUTE_MAX_GAP_S) {
        out.push({ from: prev.kkmc, to: curr.kkmc, seconds, prev, curr });
      }
    }
  }
  return out;
}

/** The top `limit` routes of passes read with `routeWindow` (arrivals from `dayStartT` on). */
export function routeStats(passes: readonly RoutePass[], dayStartT: number, limit: number): RouteStat[] {
  const groups = new Map<string, { from: string; to: string; seconds: number[] }>();
  for (const tr of routeTransitions(passes, dayStartT)) {
    const k = tr.from + '\u0000' + tr.to;
    const g = groups.get(k);
    if (g) g.seconds.push(tr.seconds);
    else groups.set(k, { from: tr.from, to: tr.to, seconds: [tr.seconds] });
  }
  return [...groups.values()]
    .map((g) => ({ from: g.from, to: g.to, value: g.seconds.length, median_minutes: minutes1(median(g.seconds)) }))
    .sort(routeOrder)
    .slice(0, limit);
}

function sqlString(s: string): string {
  return "'" + s.replace(/'/g, "''") + "'";
}

function anyMatch(column: string, patterns: readonly string[]): string {
  return '(' + patterns.map((p) => `regexp_matches(${column}, ${sqlString(p)})`).join(' OR ') + ')';
}

/**
 * DuckDB: the same computation in SQL. Parameters: window from, to, day start (all
 * `YYYY-MM-DD HH:mm:ss`), limit. Returns rows (from_k, to_k, value, median_s).
 */
export function duckdbRoutesSql(table = 'traffic_data'): string {
  // vehicleKey in SQL: FULL plate → plate; MASKED plate with a known brand (knownBrand: not
  // MISSING, not empty) → plate|type|brand; anything else → NULL (no vehicle).
  const vehicle = `CASE
      WHEN ${anyMatch('hphm', PLATE_PATTERNS.full)} THEN hphm
      WHEN ${anyMatch('hphm', PLATE_PATTERNS.masked)} AND clppxh <> ${sqlString(MISSING)} AND clppxh <> ''
        THEN hphm || chr(31) || hpzl || chr(31) || clppxh
    END`;
  return `WITH p AS (
      SELECT kkmc, gcsj, gcxh, ${vehicle} AS vehicle FROM ${table}
      WHERE gcsj >= CAST(? AS TIMESTAMP) AND gcsj < CAST(? AS TIMESTAMP)
    ), t AS (
      SELECT lag(kkmc) OVER w AS from_k, kkmc AS to_k, gcsj AS to_t,
        epoch(gcsj) - epoch(lag(gcsj) OVER w) AS dt
      FROM p WHERE vehicle IS NOT NULL
      WINDOW w AS (PARTITION BY vehicle ORDER BY gcsj, gcxh)
    )
    SELECT from_k, to_k, count(*) AS value, quantile_cont(dt, 0.5) AS median_s FROM t
    WHERE from_k IS NOT NULL AND from_k <> to_k AND dt <= ${ROUTE_MAX_GAP_S} AND to_t >= CAST(? AS TIMESTAMP)
    GROUP BY from_k, to_k ORDER BY value DESC, from_k, to_k LIMIT ?`;
}
