/**
 * The API: one routing table over a store, an alert feed and the flow model. Every JSON reply is
 * `{code: 0, msg: "ok", data}`; errors carry the HTTP status as `code` and a message saying what
 * was wrong. Static pages (dashboard, query page) and ECharts are served from disk, no CDN.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { isValidCheckpointCode } from '../core/checkpoint-code.ts';
import { TrafficError } from '../core/errors.ts';
import { PROVINCE_BY_CHAR, UNKNOWN, VEHICLE_TYPE_BY_HPZL } from '../core/reference.ts';
import type { TrafficStore } from '../store/store-api.ts';
import { chinaIso, formatChinaTime, isWeekend, toEpochSeconds } from '../core/time.ts';
import { parseHourStart, type Forecaster } from '../models/forecaster.ts';
import type { AlertFeed } from './alerts.ts';
import { ForecastService } from './forecast.ts';
import type { CongestionFeed } from './congestion.ts';
import { exportCsv, exportXlsx } from './export.ts';
import { admit, checkApiKey, parseTarget, redactedTarget, setSecurityHeaders } from './guard.ts';
import { badRequest, fail, failWith, ok, readJsonBody, requireJson, type CorsPolicy, type RequestContext, type Route } from './http.ts';
import { API_SERVER_DEFAULTS, type ApiServerOptions } from './options.ts';
import { SseHub } from './sse.ts';
import { PAGES, serveFile, staticFile } from './static.ts';
import { labelRoutes, parseRoutesParams, parseTrajectoryParams, ROUTES_CLOSED_DAY_REUSE_MS, trajectory } from './trips.ts';
import {
  checkpointCodeParam,
  intParam,
  parseCongestionLogParams,
  parseFilterParams,
  parseQueryRequest,
  parseSeriesParams,
  parseWeekendFlag,
  validDate,
} from './validate.ts';
import { createLogger } from '../core/log.ts';
import { enableProcessMetrics, httpDuration, httpRequests, metricsText } from '../core/metrics.ts';

/** What the series endpoint needs of the congestion thresholds (streaming ThresholdTable has it). */
export interface ThresholdSource {
  get(kkmc: string, dayType: 'weekday' | 'weekend', hour: number): { warning: number; alert: number } | undefined;
}

/** What the API needs from the flow model (models/predictor.ts satisfies it). */
export interface FlowPredictor {
  readonly checkpoints: readonly string[];
  predict(kkmc: string, hour: number, isWeekend: 0 | 1): number;
  /** The short-term forecast part (model format /2), if the model has one. */
  readonly forecaster?: Forecaster | null;
}

export interface AppDeps {
  store: TrafficStore;
  alerts: AlertFeed;
  predictor: FlowPredictor | null;
  /** Live congestion levels; without it the /api/congestion/current and /log endpoints answer 503. */
  congestion?: CongestionFeed;
  /** kkmc_thresholds.csv as loaded now (null: no file); for the series endpoint's threshold lines. */
  thresholds?: () => Promise<ThresholdSource | null>;
  /** Extra health lines (bus, model file …) from whoever composes the app. */
  health?: () => Promise<Record<string, { ok: boolean; detail: string }>>;
  /** Origins allowed to read replies cross-origin (TRAFFIC_CORS_ORIGINS; none by default). */
  cors: CorsPolicy;
  /** Host names accepted besides loopback (TRAFFIC_ALLOWED_HOSTS). */
  allowedHosts?: readonly string[];
  apiKey?: string;
  bodyLimit?: number;
  /** Stream cap and socket timeouts (api/options.ts; defaults there). */
  limits?: Partial<Pick<ApiServerOptions, 'sseMax' | 'headersTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs' | 'maxConnections'>>;
  /** Wall-clock ms between SSE flow updates. */
  flowIntervalMs?: number;
  /**
   * How long a whole-table aggregate (stats endpoints) may be reused, ms; concurrent requests
   * for the same aggregate share one query either way. 0 = no reuse. Default 2000
   * (TRAFFIC_STATS_CACHE_MS): dashboards poll every few seconds, and on a busy table each
   * aggregate is a scan.
   */
  statsCacheMs?: number;
}

export interface ApiApp {
  server: Server;
  /** Stops accepting, ends SSE streams, waits for in-flight requests (force after `graceMs`). */
  shutdown(graceMs?: number): Promise<void>;
}

export function createApiApp(deps: AppDeps): ApiApp {
  const bodyLimit = deps.bodyLimit ?? 64 * 1024;
  const limits = { ...API_SERVER_DEFAULTS, ...deps.limits };
  const guard = { corsOrigins: deps.cors.origins, allowedHosts: deps.allowedHosts ?? [], apiKey: deps.apiKey };

  // Checkpoints known to the store: the dimension table plus codes seen in the data, refreshed at
  // most every 30 s by one query whoever asks. A code not in it is looked up once by an indexed
  // point query (store.hasCheckpoint) and remembered as unknown for 10 s, so a stream of made-up
  // codes costs neither a scan nor a refresh per request.
  let known: Set<string> | null = null;
  let knownAt = 0;
  let knownLoading: Promise<Set<string>> | null = null;
  const unknown = new Map<string, number>();

  function checkpointSet(): Promise<Set<string>> {
    if (known && Date.now() - knownAt <= 30_000) return Promise.resolve(known);
    knownLoading ??= (async () => {
      try {
        const [dims, fromData] = await Promise.all([deps.store.checkpoints(), deps.store.kkmcCount(10_000)]);
        known = new Set([...dims.map((d) => d.kkmc), ...fromData.map((d) => d.name)]);
        knownAt = Date.now();
        unknown.clear();
        return known;
      } finally {
        knownLoading = null;
      }
    })();
    return knownLoading;
  }
  async function isKnownCheckpoint(code: string): Promise<boolean> {
    if (!isValidCheckpointCode(code)) return false;
    const set = await checkpointSet();
    if (set.has(code)) return true;
    const missAt = unknown.get(code);
    if (missAt !== undefined && Date.now() - missAt < 10_000) return false;
    if (await deps.store.hasCheckpoint(code)) {
      set.add(code);
      return true;
    }
    if (unknown.size >= 10_000) unknown.clear();
    unknown.set(code, Date.now());
    return false;
  }
  async function ensureKnown(code: string): Promise<void> {
    checkpointCodeParam(code);
    if (!(await isKnownCheckpoint(code))) throw new TrafficError('UNKNOWN_CHECKPOINT', `unknown checkpoint ${JSON.stringify(code)}`);
  }

  async function labels(): Promise<Map<string, string>> {
    return new Map((await deps.store.checkpoints()).map((c) => [c.kkmc, c.kkmc_name]));
  }

  const forecasts = deps.predictor?.forecaster ? new ForecastService(deps.store, deps.predictor.forecaster) : null;
  /** Forecasts of the current stream-clock hour and the two after it that fall on `date`, by hour. */
  async function next3On(date: string, kkmc?: string): Promise<Map<number, number>> {
    const latest = await stat('latest', () => deps.store.latestGcsj());
    if (!forecasts || !latest || latest.slice(0, 10) !== date) return new Map();
    if (kkmc !== undefined && !forecasts.forecaster.checkpoints.includes(kkmc)) return new Map();
    const rows = await forecasts.next3(latest, kkmc);
    return new Map(rows.filter((r) => r.hour.slice(0, 10) === date).map((r) => [+r.hour.slice(11, 13), r.predicted]));
  }

  const statsCacheMs = deps.statsCacheMs ?? 2000;
  const statsCache = new Map<string, { at: number; value: Promise<unknown> }>();
  /** Single-flight + short reuse of one store aggregate; a failed query is never reused. */
  function stat<T>(key: string, query: () => Promise<T>, reuseMs = statsCacheMs): Promise<T> {
    const hit = statsCache.get(key);
    const now = Date.now();
    if (hit && (now - hit.at < reuseMs || hit.at === -1)) return hit.value as Promise<T>;
    const value = query();
    const entry = { at: -1, value: value as Promise<unknown> };
    statsCache.set(key, entry);
    value.then(
      () => {
        entry.at = Date.now();
        if (statsCacheMs <= 0) statsCache.delete(key);
      },
      () => statsCache.delete(key),
    );
    if (statsCache.size > 1000) statsCache.clear();
    return value;
  }

  const routes: Route[] = [
    {
      method: 'POST',
      path: '/api/query',
      handler: async ({ body }) => {
        const req = parseQueryRequest(body);
        if (req.filter.kkmc !== undefined) await ensureKnown(req.filter.kkmc);
        const { total, rows } = await deps.store.query(req.filter, req.page, req.size);
        return { total, page: req.page, size: req.size, rows };
      },
    },
    {
      method: 'GET',
      path: '/api/stats/kkmc_count',
      handler: async ({ url }) => {
        const limit = intParam(url.searchParams.get('limit'), 'limit', 10, 1, 1000);
        const [counts, names] = await Promise.all([stat(`kkmc:${limit}`, () => deps.store.kkmcCount(limit)), labels()]);
        return counts.map((c) => ({ name: c.name, label: names.get(c.name) ?? c.name, value: c.value }));
      },
    },
    {
      method: 'GET',
      path: '/api/stats/flow_24h',
      handler: async ({ url }) => {
        const raw = url.searchParams.get('date');
        let date: string;
        if (raw) date = validDate(raw, 'date');
        else {
          const latest = await stat('latest', () => deps.store.latestGcsj());
          date = (latest ?? formatChinaTime(Date.now())).slice(0, 10);
        }
        const kkmc = url.searchParams.get('kkmc')?.trim() || undefined;
        if (kkmc) await ensureKnown(kkmc);
        const [counts, ahead] = await Promise.all([stat(`hourly:${date}:${kkmc ?? ''}`, () => deps.store.hourly(date, kkmc)), next3On(date, kkmc)]);
        const weekend: 0 | 1 = isWeekend(date) ? 1 : 0;
        const p = deps.predictor;
        return counts.map((value, hour) => ({
          hour,
          value,
          predicted: p ? round1(predictTotal(p, hour, weekend, kkmc)) : null,
          // Short-term forecast of the stream clock's hour and the two after it (else null).
          forecast: ahead.has(hour) ? round1(ahead.get(hour)!) : null,
        }));
      },
    },
    {
      method: 'GET',
      path: '/api/stats/routes',
      handler: async ({ url }) => {
        const req = parseRoutesParams(url.searchParams);
        // Like flow_24h: without a date, the stream clock's day.
        const today = ((await stat('latest', () => deps.store.latestGcsj())) ?? formatChinaTime(Date.now())).slice(0, 10);
        const date = req.date ?? today;
        // A day before the stream clock's gets no more stream rows (only a bulk load adds to it):
        // its routes are reused for a minute instead of being recounted every few seconds.
        const reuse = date < today && statsCacheMs > 0 ? Math.max(statsCacheMs, ROUTES_CLOSED_DAY_REUSE_MS) : statsCacheMs;
        const [routes, names] = await Promise.all([stat(`routes:${date}:${req.limit}`, () => deps.store.routes(date, req.limit), reuse), labels()]);
        return labelRoutes(routes, names);
      },
    },
    {
      method: 'GET',
      path: '/api/trajectory',
      handler: async ({ url }) => {
        const req = parseTrajectoryParams(url.searchParams);
        return trajectory(deps.store, deps.alerts, await deps.store.checkpoints(), req);
      },
    },
    {
      method: 'GET',
      path: '/api/stats/map_data',
      handler: async () => stat('provinces', () => deps.store.provinceCount()),
    },
    {
      method: 'GET',
      path: '/api/stats/vehicle_type',
      handler: async () => stat('types', () => deps.store.vehicleTypeCount()),
    },
    {
      method: 'GET',
      path: '/api/stats/overview',
      handler: async () => {
        const [total, latest, checkpoints, warnings] = await Promise.all([
          stat('total', () => deps.store.total()),
          stat('latest', () => deps.store.latestGcsj()),
          stat('checkpoints', () => deps.store.checkpointCount()),
          // Alerts are live: the counter must move the moment an alert arrives.
          deps.alerts.count().catch(() => null),
        ]);
        return { total, latest_gcsj: latest, checkpoints, warnings };
      },
    },
    {
      method: 'GET',
      path: '/api/stats/minute_flow',
      handler: async ({ url }) => {
        const minutes = intParam(url.searchParams.get('minutes'), 'minutes', 30, 1, 1440);
        return minuteFlow(minutes);
      },
    },
    {
      method: 'GET',
      path: '/api/reference',
      // The query page's province and plate-type choices come from the ETL's own tables (one home).
      handler: async () => referenceTables(),
    },
    {
      method: 'GET',
      path: '/api/checkpoints',
      handler: async () => {
        const [dims, counts] = await Promise.all([deps.store.checkpoints(), deps.store.kkmcCount(10_000)]);
        const byCode = new Map(dims.map((d) => [d.kkmc, d]));
        for (const c of counts) if (!byCode.has(c.name)) byCode.set(c.name, { kkmc: c.name, kkmc_name: c.name, lon: null, lat: null });
        return [...byCode.values()].sort((a, b) => a.kkmc.localeCompare(b.kkmc));
      },
    },
    {
      method: 'GET',
      path: '/api/warnings/realtime',
      handler: async ({ url }) => {
        const limit = intParam(url.searchParams.get('limit'), 'limit', 10, 1, 1000);
        return deps.alerts.recent(limit);
      },
    },
    {
      method: 'GET',
      path: '/api/congestion/current',
      handler: async () => {
        const [levels, names] = await Promise.all([congestionFeed().current(), labels()]);
        return levels.map((l) => ({
          kkmc: l.kkmc,
          label: names.get(l.kkmc) ?? l.kkmc,
          level: l.level,
          passes: l.passes,
          warning: l.warning,
          alert: l.alert,
          window_start: l.window_start,
        }));
      },
    },
    {
      method: 'GET',
      path: '/api/congestion/log',
      handler: async ({ url }) => {
        const { limit } = parseCongestionLogParams(url.searchParams);
        return congestionFeed().recent(limit);
      },
    },
    {
      method: 'GET',
      path: '/api/congestion/series',
      handler: async ({ url }) => {
        const req = parseSeriesParams(url.searchParams);
        await ensureKnown(req.kkmc);
        const date = req.date ?? ((await deps.store.latestGcsj()) ?? formatChinaTime(Date.now())).slice(0, 10);
        const [counts, names, table, ahead] = await Promise.all([
          deps.store.fiveMinuteCounts(req.kkmc, date),
          labels(),
          deps.thresholds ? deps.thresholds() : Promise.resolve(null),
          next3On(date, req.kkmc),
        ]);
        const dayType = isWeekend(date) ? 'weekend' : 'weekday';
        const base = toEpochSeconds(`${date} 00:00:00`);
        let thresholds: { hour: number; warning: number; alert: number }[] | null = null;
        if (table) {
          thresholds = [];
          for (let hour = 0; hour < 24; hour++) {
            const th = table.get(req.kkmc, dayType, hour);
            if (th) thresholds.push({ hour, warning: th.warning, alert: th.alert });
          }
        }
        return {
          kkmc: req.kkmc,
          label: names.get(req.kkmc) ?? req.kkmc,
          date,
          day_type: dayType,
          window_s: 300,
          windows: counts.map((passes, k) => ({ window_start: formatChinaTime((base + k * 300) * 1000), passes })),
          thresholds,
          // Short-term forecast (passes per hour) of the stream clock's hour and the two after it.
          forecast: [...ahead].map(([hour, predicted]) => ({ hour, predicted: round1(predicted) })),
        };
      },
    },
    {
      method: 'GET',
      path: '/api/predict/flow',
      handler: async ({ url }) => {
        const p = deps.predictor;
        if (!p) throw new TrafficError('SERVICE_UNAVAILABLE', 'no flow model loaded (run `npm run train`)');
        const kkmc = url.searchParams.get('kkmc');
        if (!kkmc) throw badRequest('kkmc is required');
        if (!p.checkpoints.includes(kkmc)) throw new TrafficError('UNKNOWN_CHECKPOINT', `unknown checkpoint ${JSON.stringify(kkmc)}`);
        const at = url.searchParams.get('at');
        if (at !== null) {
          if (!forecasts) throw new TrafficError('SERVICE_UNAVAILABLE', 'the loaded model has no forecast part (retrain with `npm run train`)');
          if (url.searchParams.has('hour') || url.searchParams.has('is_weekend')) throw badRequest('give at (forecast) or hour/is_weekend (profile), not both');
          const horizon = intParam(url.searchParams.get('horizon'), 'horizon', 1, 1, 3);
          let target: number;
          try {
            target = parseHourStart(at, 'at');
          } catch (err) {
            if (err instanceof TrafficError) throw badRequest(err.message);
            throw err;
          }
          const latest = await stat('latest', () => deps.store.latestGcsj());
          const f = await forecasts.at(kkmc, target, horizon, latest);
          return { kkmc, at, horizon, predicted_flow: round1(f.predicted), baseline: round1(f.baseline), baseline_name: f.baseline_name };
        }
        const hourRaw = url.searchParams.get('hour');
        if (hourRaw === null || hourRaw === '') throw badRequest('hour is required (0–23)');
        const hour = intParam(hourRaw, 'hour', 0, 0, 23);
        const w = parseWeekendFlag(url.searchParams.get('is_weekend'));
        return { kkmc, hour, is_weekend: w, predicted_flow: round1(p.predict(kkmc, hour, w)) };
      },
    },
    {
      method: 'GET',
      path: '/api/health',
      handler: async () => {
        const [store, alerts, congestion, extra] = await Promise.all([
          deps.store.health(),
          deps.alerts.health(),
          deps.congestion ? deps.congestion.health() : Promise.resolve(null),
          deps.health ? deps.health() : Promise.resolve({}),
        ]);
        const model = deps.predictor ? { ok: true, detail: `${deps.predictor.checkpoints.length} checkpoints` } : { ok: false, detail: 'no model loaded' };
        return {
          status: store.ok && alerts.ok ? 'ok' : 'degraded',
          time: chinaIso(),
          store,
          alerts,
          model,
          ...(congestion ? { congestion } : {}),
          ...extra,
        };
      },
    },
    {
      method: 'GET',
      path: '/api/export.csv',
      kind: 'raw',
      handler: async ({ url, res }) => {
        const filter = parseFilterParams(url.searchParams);
        if (filter.kkmc !== undefined) await ensureKnown(filter.kkmc);
        await exportCsv(deps.store, filter, res);
      },
    },
    {
      method: 'GET',
      path: '/api/export.xlsx',
      kind: 'raw',
      handler: async ({ url, res }) => {
        const filter = parseFilterParams(url.searchParams);
        if (filter.kkmc !== undefined) await ensureKnown(filter.kkmc);
        await exportXlsx(deps.store, filter, res, `/api/export.csv${url.search}`);
      },
    },
    {
      method: 'GET',
      path: '/api/stream',
      kind: 'raw',
      handler: ({ req, res }) => hub.serve(req, res),
    },
  ];

  function congestionFeed(): CongestionFeed {
    if (!deps.congestion)
      throw new TrafficError(
        'SERVICE_UNAVAILABLE',
        'congestion monitoring not running (start it with `traffic start`, or set TRAFFIC_REDIS to read `traffic congestion` output)',
      );
    return deps.congestion;
  }

  /** Passes per event-time minute over the last `minutes` minutes up to the stream clock. */
  async function minuteFlow(minutes: number): Promise<{ latest_gcsj: string | null; minutes: { minute: string; value: number }[] }> {
    const latest = await deps.store.latestGcsj();
    if (!latest) return { latest_gcsj: null, minutes: [] };
    const toS = toEpochSeconds(latest);
    const fromS = Math.floor(toS / 60) * 60 - (minutes - 1) * 60;
    const counts = await deps.store.minuteCounts(formatChinaTime(fromS * 1000), latest);
    const byMinute = new Map(counts.map((c) => [c.minute, c.value]));
    const out: { minute: string; value: number }[] = [];
    for (let t = fromS; t <= toS; t += 60) {
      const m = formatChinaTime(t * 1000).slice(0, 16);
      out.push({ minute: m, value: byMinute.get(m) ?? 0 });
    }
    return { latest_gcsj: latest, minutes: out };
  }

  const hub = new SseHub({
    max: limits.sseMax,
    flowIntervalMs: deps.flowIntervalMs ?? 5000,
    flow: () => minuteFlow(30),
    sources: [
      (emit) => deps.alerts.subscribe((a) => emit('alert', a)),
      ...(deps.congestion ? [(emit: (event: string, data: unknown) => void) => deps.congestion!.subscribe((c) => emit('congestion', c))] : []),
    ],
  });

  const table = new Map(routes.map((r) => [`${r.method} ${r.path}`, r]));
  const paths = new Set(routes.map((r) => r.path));

  /** The route a response answered, as a metrics label: known paths only (bounded cardinality). */
  const routeOf = new WeakMap<ServerResponse, string>();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = parseTarget(req.url);
    const pathname = target.pathname;
    const page = !pathname.startsWith('/api/');
    setSecurityHeaders(res, page);
    if (admit(req, res, guard)) return;
    const method = req.method ?? 'GET';
    if (pathname === '/metrics' && (method === 'GET' || method === 'HEAD')) {
      // Counts and timings only, no record data: scraped without the API key (docs/operations.md).
      routeOf.set(res, '/metrics');
      const m = await metricsText();
      res.writeHead(200, { 'Content-Type': m.contentType, 'Cache-Control': 'no-store' });
      res.end(method === 'HEAD' ? undefined : m.body);
      return;
    }
    if (table.has(`${method} ${pathname}`) || paths.has(pathname)) routeOf.set(res, pathname);
    else if (PAGES[pathname] || pathname.startsWith('/vendor/') || pathname.startsWith('/static/')) routeOf.set(res, 'static');

    if (pathname === '/favicon.ico') {
      res.writeHead(204);
      res.end();
      return;
    }
    if (method === 'GET' || method === 'HEAD') {
      const asset = staticFile(pathname);
      if (asset) return serveFile(req, res, asset);
    }

    const url = new URL('http://localhost' + pathname + (target.search ? '?' + target.search : ''));
    if (!page && deps.apiKey) checkApiKey(req, pathname, url.searchParams, deps.apiKey);
    const route = table.get(`${method} ${pathname}`);
    if (!route) {
      if (paths.has(pathname)) throw new TrafficError('METHOD_NOT_ALLOWED', `method ${method} not allowed on ${pathname}`);
      throw new TrafficError('NOT_FOUND', `no such endpoint: ${method} ${pathname.length > 200 ? pathname.slice(0, 200) + '…' : pathname}`);
    }
    let body: unknown;
    if (method === 'POST') {
      requireJson(req);
      body = await readJsonBody(req, bodyLimit);
    }
    const ctx: RequestContext = { req, res, url, body };
    const result = await route.handler(ctx);
    if (route.kind !== 'raw') ok(res, result);
  }

  enableProcessMetrics();
  const log = createLogger('api');
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // Node checks both timeouts on this interval: it bounds how late a slow client is cut.
      connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(limits.headersTimeoutMs / 4))),
    },
    (req, res) => {
      const t0 = performance.now();
      res.once('finish', () => {
        const ms = performance.now() - t0;
        const route = routeOf.get(res) ?? 'other';
        const method = req.method ?? 'GET';
        httpRequests.inc({ method, route, status: res.statusCode });
        httpDuration.observe({ method, route }, ms / 1000);
        // The path only: query strings may carry a key (SSE, export links) or personal filters.
        const pathOnly = (req.url ?? '/').split('?')[0]!.slice(0, 200);
        log.info({ method, path: pathOnly, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
      });
      handle(req, res).catch((err: unknown) => {
        // Client errors are told as they are, and not logged.
        if (err instanceof TrafficError && err.httpStatus < 500) return failWith(res, err);
        // The client left (aborted body, closed socket): nobody to answer, nothing to log.
        // (req.destroyed alone is no sign: a request stream destroys itself once its body is read.)
        if (res.destroyed || req.socket.destroyed) return void res.destroy();
        if (err instanceof TrafficError && err.retriable) {
          // A store that timed out or cannot be reached: say so, briefly, without a stack.
          log.warn({ method: req.method, path: redactedTarget(req.url).split('?')[0], msg: err.message }, 'store unavailable');
          if (!res.headersSent && !res.hasHeader('Retry-After')) res.setHeader('Retry-After', '5');
          return fail(res, 503, err.message, err.code);
        }
        // Not the client's fault: log the detail here, tell the client only that it failed.
        log.error({ method: req.method, path: redactedTarget(req.url).split('?')[0], err }, 'request failed');
        fail(res, 500, 'internal error while handling the request');
      });
    },
  );
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
  // Requests the parser refuses (bad request line, smuggling headers, oversized headers, timeouts)
  // get a short JSON answer and a closed socket; none is logged.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') return void socket.destroy();
    const [status, msg] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'request headers too large']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'request not received in time']
          : [400, 'malformed HTTP request'];
    const body = JSON.stringify({ code: status, msg, error: 'BAD_REQUEST', data: null });
    socket.end(
      `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });

  return {
    server,
    async shutdown(graceMs = 3000) {
      hub.closeAll();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

function predictTotal(p: FlowPredictor, hour: number, weekend: 0 | 1, kkmc?: string): number {
  if (kkmc !== undefined) return p.checkpoints.includes(kkmc) ? p.predict(kkmc, hour, weekend) : 0;
  let sum = 0;
  for (const c of p.checkpoints) sum += p.predict(c, hour, weekend);
  return sum;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/**
 * GET /api/reference: the reference tables the filters offer — every PROVINCE value stage 05 can
 * write (plate provinces, 使馆, 未知) and every HPZL code with its GA 24.7 name (plus `-`, unknown).
 */
function referenceTables(): { provinces: string[]; plate_types: Array<{ code: string; name: string }> } {
  return {
    provinces: [...new Set([...Object.values(PROVINCE_BY_CHAR), UNKNOWN])],
    plate_types: [...Object.entries(VEHICLE_TYPE_BY_HPZL).map(([code, name]) => ({ code, name })), { code: '-', name: UNKNOWN }],
  };
}
