/**
 * The API server's safety settings, read once from the environment and checked here (an error
 * names the variable). Defaults are safe for a service on loopback: no CORS, loopback Host names
 * only, bounded streams, timeouts that cut slow clients. SECURITY.md lists them with reasons.
 */
import { TrafficError } from '../core/errors.ts';

export interface ApiServerOptions {
  /** TRAFFIC_CORS_ORIGINS: origins allowed to read replies cross-origin; default none. */
  corsOrigins: '*' | string[];
  /** TRAFFIC_ALLOWED_HOSTS: Host names accepted besides loopback; default none. */
  allowedHosts: string[];
  /** TRAFFIC_API_KEY. */
  apiKey: string | undefined;
  /** TRAFFIC_SSE_MAX: concurrent /api/stream clients (default 100). */
  sseMax: number;
  /** TRAFFIC_QUERY_TIMEOUT_MS: one store query (default 15000); beyond it 503. */
  queryTimeoutMs: number;
  /** TRAFFIC_HEADERS_TIMEOUT_MS: time to send the request headers (default 10000). */
  headersTimeoutMs: number;
  /** TRAFFIC_REQUEST_TIMEOUT_MS: time to send the whole request (default 30000). */
  requestTimeoutMs: number;
  /** TRAFFIC_KEEPALIVE_TIMEOUT_MS: an idle keep-alive connection is closed after this (default 5000). */
  keepAliveTimeoutMs: number;
  /** TRAFFIC_MAX_CONNECTIONS: open sockets (default 1000); beyond it new ones are closed at once. */
  maxConnections: number;
}

export const API_SERVER_DEFAULTS = {
  sseMax: 100,
  queryTimeoutMs: 15_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1000,
} as const;

function intVar(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new TrafficError('INVALID_OPTION', `${name} must be an integer from ${min} to ${max}, got "${raw}"`, { option: name });
  }
  return Number(raw);
}

function listVar(env: NodeJS.ProcessEnv, name: string): string[] {
  return (env[name] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** `*`, or origins written as `scheme://host[:port]` (no path): a typo must not silently allow nothing. */
export function parseCorsOriginList(value: string | undefined, name = 'TRAFFIC_CORS_ORIGINS'): '*' | string[] {
  const v = (value ?? '').trim();
  if (v === '*') return '*';
  const out: string[] = [];
  for (const o of v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (!/^https?:\/\/[^/\s]+$/i.test(o)) {
      throw new TrafficError('INVALID_OPTION', `${name}: "${o}" is not an origin like http://host:port (no path, no trailing /)`, { option: name });
    }
    out.push(o);
  }
  return out;
}

export function readApiServerOptions(env: NodeJS.ProcessEnv = process.env): ApiServerOptions {
  const allowedHosts = listVar(env, 'TRAFFIC_ALLOWED_HOSTS').map((h) => h.toLowerCase());
  for (const h of allowedHosts) {
    if (!/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/.test(h)) {
      throw new TrafficError('INVALID_OPTION', `TRAFFIC_ALLOWED_HOSTS: "${h}" is not a host name (optionally :port)`, { option: 'TRAFFIC_ALLOWED_HOSTS' });
    }
  }
  const d = API_SERVER_DEFAULTS;
  const headersTimeoutMs = intVar(env, 'TRAFFIC_HEADERS_TIMEOUT_MS', d.headersTimeoutMs, 100, 600_000);
  const requestTimeoutMs = intVar(env, 'TRAFFIC_REQUEST_TIMEOUT_MS', d.requestTimeoutMs, 100, 3_600_000);
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new TrafficError(
      'INVALID_OPTION',
      `TRAFFIC_HEADERS_TIMEOUT_MS (${headersTimeoutMs}) must not exceed TRAFFIC_REQUEST_TIMEOUT_MS (${requestTimeoutMs})`,
      { option: 'TRAFFIC_HEADERS_TIMEOUT_MS' },
    );
  }
  const key = env.TRAFFIC_API_KEY?.trim();
  return {
    corsOrigins: parseCorsOriginList(env.TRAFFIC_CORS_ORIGINS),
    allowedHosts,
    apiKey: key ? key : undefined,
    sseMax: intVar(env, 'TRAFFIC_SSE_MAX', d.sseMax, 0, 100_000),
    queryTimeoutMs: intVar(env, 'TRAFFIC_QUERY_TIMEOUT_MS', d.queryTimeoutMs, 0, 3_600_000),
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: intVar(env, 'TRAFFIC_KEEPALIVE_TIMEOUT_MS', d.keepAliveTimeoutMs, 100, 600_000),
    maxConnections: intVar(env, 'TRAFFIC_MAX_CONNECTIONS', d.maxConnections, 1, 1_000_000),
  };
}

/** The part of createApiApp's dependencies these options decide. */
export function appSecurityDeps(o: ApiServerOptions): {
  cors: { origins: '*' | string[] };
  allowedHosts: string[];
  apiKey?: string;
  limits: Pick<ApiServerOptions, 'sseMax' | 'headersTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs' | 'maxConnections'>;
} {
  return {
    cors: { origins: o.corsOrigins },
    allowedHosts: o.allowedHosts,
    ...(o.apiKey ? { apiKey: o.apiKey } : {}),
    limits: {
      sseMax: o.sseMax,
      headersTimeoutMs: o.headersTimeoutMs,
      requestTimeoutMs: o.requestTimeoutMs,
      keepAliveTimeoutMs: o.keepAliveTimeoutMs,
      maxConnections: o.maxConnections,
    },
  };
}
