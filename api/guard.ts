/**
 * The protections every request passes before any route runs, so a route added to the table gets
 * them without asking: request-target parsing (400 for what cannot be parsed, linear time on any
 * path), the Host check against DNS rebinding (421), the Origin check and CORS (403 for an origin
 * not listed; no CORS header unless one is), security headers on every reply, the API key
 * (constant-time, from the header; a `?key=` only where a browser cannot send a header), and a
 * redacted form of the URL for logs (the key never reaches a log line).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TrafficError } from '../core/errors.ts';
import { badRequest } from './http.ts';

export interface GuardOptions {
  /** Origins allowed to read replies cross-origin (exact `scheme://host[:port]`), or `*` for any. */
  corsOrigins: '*' | readonly string[];
  /** Host names (lower case, optional `:port`) accepted besides loopback. */
  allowedHosts: readonly string[];
  /** When set, /api/* needs it. */
  apiKey?: string | undefined;
}

export interface RequestTarget {
  /** Normalized path: runs of `/` collapsed, no trailing `/` (except the root). Not percent-decoded. */
  pathname: string;
  /** The query string without `?` ('' when none). */
  search: string;
}

/**
 * Paths where a browser cannot send a header (EventSource, a download link): the key may come as
 * `?key=`. Everything else takes it from `X-API-Key` only, so the key does not end up in browser
 * history, proxy logs or Referer headers for ordinary calls.
 */
export function acceptsQueryKey(pathname: string): boolean {
  return pathname === '/api/stream' || pathname.startsWith('/api/export.');
}

/**
 * The request-target as sent (`/path?query`, or the absolute form `http://host/path?query`) →
 * normalized path and query, in one linear pass; 400 for anything else. Not `new URL(target, base)`:
 * it reads `//host/x` as another host, and is not linear on long runs of slashes.
 */
export function parseTarget(raw: string | undefined): RequestTarget {
  let target = raw ?? '';
  if (target === '*') return { pathname: '*', search: '' };
  if (!target.startsWith('/')) {
    if (!/^https?:\/\//i.test(target)) throw badRequest('invalid request target: expected a path starting with "/"');
    let u: URL;
    try {
      u = new URL(target);
    } catch {
      throw badRequest('invalid absolute URL in the request line');
    }
    target = u.pathname + u.search;
  }
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  const hash = rawPath.indexOf('#');
  const path = hash === -1 ? rawPath : rawPath.slice(0, hash);
  let out = '';
  let prevSlash = false;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 47) {
      if (prevSlash) continue;
      prevSlash = true;
    } else prevSlash = false;
    out += path[i];
  }
  if (out.length > 1 && out.endsWith('/')) out = out.slice(0, -1);
  return { pathname: out || '/', search: q === -1 ? '' : target.slice(q + 1) };
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The host name of a Host header value, lower case, without the port (`[::1]` keeps its brackets). */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end === -1 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

/**
 * A Host that is loopback (`localhost`, `127.0.0.1`, `[::1]`, any port) or listed. A listed entry
 * with a port must match host and port; without one, the name matches on any port. Everything else
 * (including a missing Host) is refused: a DNS-rebinding page reaches us under its own name.
 */
export function hostAllowed(host: string | undefined, allowed: readonly string[]): boolean {
  if (!host) return false;
  const full = host.trim().toLowerCase();
  const name = hostName(full);
  if (LOOPBACK_HOSTS.has(name) || name.endsWith('.localhost')) return true;
  for (const a of allowed) if (a === full || a === name) return true;
  return false;
}

/** Scripts, styles, data and frames from this server only; nothing may frame the pages. */
const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // ECharts writes inline style attributes into its tooltips; style cannot run code.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');
/** JSON, CSV and event streams are never rendered as documents. */
const DATA_CSP = "default-src 'none'; frame-ancestors 'none'";

/** Headers every reply carries; `page` for HTML and the files it loads. */
export function setSecurityHeaders(res: ServerResponse, page: boolean): void {
  res.setHeader('Content-Security-Policy', page ? PAGE_CSP : DATA_CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  // The pages may be opened as /?key=KEY: never send that URL to another site.
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
}

/** Same origin as the request (the Host has been checked already). */
function sameOrigin(origin: string, host: string | undefined): boolean {
  if (!host) return false;
  const o = origin.toLowerCase();
  const h = host.toLowerCase();
  return o === `http://${h}` || o === `https://${h}`;
}

function originAllowed(origin: string, opts: GuardOptions): boolean {
  return opts.corsOrigins === '*' || opts.corsOrigins.includes(origin);
}

/**
 * Host, Origin and CORS for one request. Returns true when the request has been answered here
 * (a preflight); throws TrafficError 421/403 for a refused Host or Origin.
 */
export function admit(req: IncomingMessage, res: ServerResponse, opts: GuardOptions): boolean {
  const host = req.headers.host;
  if (!hostAllowed(host, opts.allowedHosts)) {
    throw new TrafficError(
      'MISDIRECTED_REQUEST',
      `host ${JSON.stringify(hostName(host ?? '') || '(none)')} is not served here (list it in TRAFFIC_ALLOWED_HOSTS)`,
    );
  }
  const origin = req.headers.origin;
  const crossOrigin = origin !== undefined && !sameOrigin(origin, host);
  if (crossOrigin) {
    if (!originAllowed(origin, opts)) throw new TrafficError('FORBIDDEN', `origin ${JSON.stringify(origin)} is not allowed (TRAFFIC_CORS_ORIGINS)`);
    res.setHeader('Access-Control-Allow-Origin', opts.corsOrigins === '*' ? '*' : origin);
    res.setHeader('Vary', 'Origin');
  }
  if (req.method === 'OPTIONS') {
    const headers: Record<string, string> = { Allow: 'GET, POST, OPTIONS' };
    if (crossOrigin) {
      headers['Access-Control-Allow-Methods'] = 'GET, POST, OPTIONS';
      headers['Access-Control-Allow-Headers'] = 'Content-Type, X-API-Key';
      headers['Access-Control-Max-Age'] = '600';
    }
    res.writeHead(204, headers);
    res.end();
    return true;
  }
  return false;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Compares two keys in time independent of where they differ (hashes first: equal lengths). */
export function keyMatches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** 401 unless the request carries the API key (header; `?key=` on the paths that allow it). */
export function checkApiKey(req: IncomingMessage, pathname: string, params: URLSearchParams, apiKey: string): void {
  const header = req.headers['x-api-key'];
  let given: string | undefined = Array.isArray(header) ? header[0] : header;
  if (given === undefined && acceptsQueryKey(pathname)) given = params.get('key') ?? undefined;
  if (given === undefined || !keyMatches(given, apiKey)) {
    throw new TrafficError(
      'UNAUTHORIZED',
      acceptsQueryKey(pathname) ? 'missing or wrong API key (X-API-Key header or ?key=)' : 'missing or wrong X-API-Key header',
    );
  }
}

/** The request line for a log: the value of any `key` parameter replaced by `***`. */
export function redactedTarget(raw: string | undefined): string {
  const t = (raw ?? '').slice(0, 512);
  return t.replace(/([?&]key=)[^&#]*/gi, '$1***');
}
