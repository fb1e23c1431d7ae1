/**
 * Where vehicles go: the popular routes between checkpoints (GET /api/stats/routes) and one
 * vehicle's passes of a day (GET /api/trajectory). Parameters are normalized here once; the
 * store does the counting (store/routes.ts), this module only adds names, coordinates, speeds
 * and the alerts that concern the plate.
 */
import { classifyNormalized, type PlateClass } from '../core/plates.ts';
import { addDays, toEpochSeconds } from '../core/time.ts';
import type { CheckpointInfo, PassRecord, RouteStat, TrafficStore } from '../store/store-api.ts';
import { haversineKm } from '../streaming/detect/geo.ts';
import type { AlertFeed } from './alerts.ts';
import { badRequest } from './http.ts';
import { intParam, validDate } from './validate.ts';

/** How long the routes of a day before the stream clock's day may be reused (ms). */
export const ROUTES_CLOSED_DAY_REUSE_MS = 60_000;

/** At most this many passes in one trajectory (a busy masked plate can have thousands a day). */
export const TRAJECTORY_MAX_PASSES = 2000;

export interface RoutesRequest {
  limit: number;
  /** Undefined: the latest date in the store. */
  date: string | undefined;
}

/** GET /api/stats/routes: `limit` 1–100 (default 10), `date` YYYY-MM-DD (optional). */
export function parseRoutesParams(params: URLSearchParams): RoutesRequest {
  const limit = intParam(params.get('limit'), 'limit', 10, 1, 100);
  const raw = (params.get('date') ?? '').trim();
  return { limit, date: raw === '' ? undefined : validDate(raw, 'date') };
}

export interface TrajectoryRequest {
  hphm: string;
  date: string;
  clppxh: string | undefined;
}

/** GET /api/trajectory: `hphm` (exact plate, upper-cased) and `date` required, `clppxh` optional. */
export function parseTrajectoryParams(params: URLSearchParams): TrajectoryRequest {
  const hphm = (params.get('hphm') ?? '').trim().toUpperCase();
  if (!hphm) throw badRequest('hphm is required (the exact plate, e.g. 苏C12345 or 苏CD7***)');
  if (hphm.length > 32) throw badRequest('hphm is too long (max 32 characters)');
  const rawDate = (params.get('date') ?? '').trim();
  if (!rawDate) throw badRequest('date is required (YYYY-MM-DD)');
  const date = validDate(rawDate, 'date');
  const c = (params.get('clppxh') ?? '').trim();
  if (c.length > 64) throw badRequest('clppxh is too long (max 64 characters)');
  return { hphm, date, clppxh: c === '' ? undefined : c };
}

export interface RouteView extends RouteStat {
  from_label: string;
  to_label: string;
}

export function labelRoutes(routes: readonly RouteStat[], names: ReadonlyMap<string, string>): RouteView[] {
  return routes.map((r) => ({ ...r, from_label: names.get(r.from) ?? r.from, to_label: names.get(r.to) ?? r.to }));
}

export interface TrajectoryPass {
  gcxh: string;
  kkmc: string;
  label: string;
  fxlx: string;
  gcsj: string;
  hpzl: string;
  clppxh: string;
  lon: number | null;
  lat: number | null;
  /** From the previous pass of the trajectory (null on the first). */
  interval_s: number | null;
  distance_km: number | null;
  speed_kmh: number | null;
  /** Ids of the cloned-plate alerts this pass is part of. */
  alert_ids: string[];
}

export interface Trajectory {
  hphm: string;
  date: string;
  clppxh: string | null;
  plate_class: PlateClass;
  /** True when the passes carry more than one (HPZL, CLPPXH): a masked plate shared by several vehicles. */
  mixed: boolean;
  truncated: boolean;
  passes: TrajectoryPass[];
  alerts: unknown[];
}

interface AlertLike {
  id?: unknown;
  hphm?: unknown;
  prev?: { gcxh?: unknown; gcsj?: unknown };
  curr?: { gcxh?: unknown; gcsj?: unknown };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

/** Builds a trajectory from the store's passes, the checkpoints' coordinates and the recent alerts. */
export async function trajectory(store: TrafficStore, alerts: AlertFeed, checkpoints: readonly CheckpointInfo[], req: TrajectoryRequest): Promise<Trajectory> {
  const from = `${req.date} 00:00:00`;
  const to = `${addDays(req.date, 1)} 00:00:00`;
  const [rows, recent] = await Promise.all([
    store.platePasses(req.hphm, from, to, req.clppxh, TRAJECTORY_MAX_PASSES + 1),
    // The feed keeps the newest 1000 alerts: older alerts of the plate are no longer marked.
    alerts.recent(1000).catch(() => [] as unknown[]),
  ]);
  const truncated = rows.length > TRAJECTORY_MAX_PASSES;
  const passes: PassRecord[] = truncated ? rows.slice(0, TRAJECTORY_MAX_PASSES) : rows;
  const byCode = new Map(checkpoints.map((c) => [c.kkmc, c]));
  const gcxhs = new Set(passes.map((p) => p.gcxh));
  const plateAlerts = (recent as AlertLike[]).filter((a) => a && a.hphm === req.hphm && (gcxhs.has(String(a.prev?.gcxh)) || gcxhs.has(String(a.curr?.gcxh))));
  const alertsOf = new Map<string, string[]>();
  for (const a of plateAlerts) {
    for (const g of [a.prev?.gcxh, a.curr?.gcxh]) {
      const k = String(g);
      alertsOf.set(k, [...(alertsOf.get(k) ?? []), String(a.id)]);
    }
  }
  const out: TrajectoryPass[] = [];
  let prev: { t: number; c: CheckpointInfo | undefined } | null = null;
  const identities = new Set<string>();
  for (const p of passes) {
    const c = byCode.get(p.kkmc);
    const t = toEpochSeconds(p.gcsj);
    identities.add(p.hpzl + '\u0000' + p.clppxh);
    let interval: number | null = null;
    let distance: number | null = null;
    let speed: number | null = null;
    if (prev) {
      interval = t - prev.t;
      const a = prev.c;
      if (a && c && a.lon !== null && a.lat !== null && c.lon !== null && c.lat !== null) {
        const km = haversineKm({ lon: a.lon, lat: a.lat }, { lon: c.lon, lat: c.lat });
        distance = round1(km);
        // Straight-line speed; none for passes in the same second (no finite speed).
        speed = interval > 0 ? round1((km / interval) * 3600) : null;
      }
    }
    out.push({
      gcxh: p.gcxh,
      kkmc: p.kkmc,
      label: c?.kkmc_name ?? p.kkmc,
      fxlx: p.fxlx,
      gcsj: p.gcsj,
      hpzl: p.hpzl,
      clppxh: p.clppxh,
      lon: c?.lon ?? null,
      lat: c?.lat ?? null,
      interval_s: interval,
      distance_km: distance,
      speed_kmh: speed,
      alert_ids: alertsOf.get(p.gcxh) ?? [],
    });
    prev = { t, c };
  }
  return {
    hphm: req.hphm,
    date: req.date,
    clppxh: req.clppxh ?? null,
    plate_class: classifyNormalized(req.hphm),
    mixed: identities.size > 1,
    truncated,
    passes: out,
    alerts: plateAlerts,
  };
}
