/**
 * Request validation, normalized once per endpoint: each function takes the raw query string or
 * JSON body and returns typed, trusted values or throws a 400 saying what is wrong.
 */
import { TrafficError } from '../core/errors.ts';
import { badRequest } from './http.ts';
import { isValidCheckpointCode, MAX_CODE_LENGTH } from '../core/checkpoint-code.ts';
import { parseGcsjText } from '../core/time.ts';
import type { QueryFilter } from '../store/store-api.ts';

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

export function validDate(value: string, field: string): string {
  if (!DATE_RE.test(value) || !parseGcsjText(value + ' 00:00:00').ok) {
    throw badRequest(`${field} must be a date YYYY-MM-DD, got "${value}"`);
  }
  return value;
}

/** `YYYY-MM-DD` or `YYYY-MM-DD HH:mm:ss` (also `T`); a bare date is the start or end of that day. */
export function validTime(value: unknown, field: string, edge: 'start' | 'end'): string {
  if (typeof value !== 'string') throw badRequest(`${field} must be a string date/time, got ${typeName(value)}`);
  const v = value.trim();
  if (DATE_RE.test(v)) return validDate(v, field) + (edge === 'start' ? ' 00:00:00' : ' 23:59:59');
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2})?)$/.exec(v);
  const parsed = m ? parseGcsjText(`${m[1]} ${m[2]}`) : null;
  if (!parsed || !parsed.ok) throw badRequest(`${field} must be YYYY-MM-DD or YYYY-MM-DD HH:mm:ss, got "${v}"`);
  return parsed.value;
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

export function intParam(raw: string | null | unknown, field: string, fallback: number, min: number, max: number): number {
  if (raw === null || raw === undefined || raw === '') return fallback;
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isInteger(n)) throw badRequest(`${field} must be an integer, got ${JSON.stringify(raw)}`);
  if (n < min || n > max) throw badRequest(`${field} must be between ${min} and ${max}, got ${n}`);
  return n;
}

export interface QueryRequest {
  filter: QueryFilter;
  page: number;
  size: number;
}

export const MAX_PAGE_DEPTH = 100_000;

const QUERY_FIELDS = new Set(['kkmc', 'hphm', 'start', 'end', 'hpzl', 'province', 'page', 'size']);

function optString(body: Record<string, unknown>, field: string, maxLen: number): string | undefined {
  const v = body[field];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw badRequest(`${field} must be a string, got ${typeName(v)}`);
  const s = v.trim();
  if (s.length > maxLen) throw badRequest(`${field} is too long (max ${maxLen} characters)`);
  return s === '' ? undefined : s;
}

/** 400 unless `code` has the shape of a checkpoint code (core/checkpoint-code.ts). */
export function checkpointCodeParam(code: string, field = 'kkmc'): string {
  if (!isValidCheckpointCode(code)) {
    const shown = code.length > 48 ? code.slice(0, 48) + '…' : code;
    throw badRequest(`${field} is not a checkpoint code (1–${MAX_CODE_LENGTH} of A-Z a-z 0-9 _ -): ${JSON.stringify(shown)}`);
  }
  return code;
}

/**
 * POST /api/query body. The checkpoint code is checked for its shape here; whether the store knows
 * it is the caller's question (the app asks the store, so a typo is a 400, not "no passes").
 * `isKnownCheckpoint`, when given, is asked too.
 */
export function parseQueryRequest(body: unknown, isKnownCheckpoint?: (code: string) => boolean): QueryRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest(`body must be a JSON object, got ${typeName(body)}`);
  }
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) {
    if (!QUERY_FIELDS.has(k)) throw badRequest(`unknown field "${k}" (allowed: ${[...QUERY_FIELDS].join(', ')})`);
  }
  const filter: QueryFilter = {};
  const kkmc = optString(b, 'kkmc', 64);
  if (kkmc !== undefined) {
    checkpointCodeParam(kkmc);
    if (isKnownCheckpoint && !isKnownCheckpoint(kkmc)) throw new TrafficError('UNKNOWN_CHECKPOINT', `unknown checkpoint ${JSON.stringify(kkmc)}`);
    filter.kkmc = kkmc;
  }
  const hphm = optString(b, 'hphm', 32);
  // Plates are stored upper case; match `苏c` as `苏C` on every store.
  if (hphm !== undefined) filter.hphm = hphm.toUpperCase();
  const hpzl = optString(b, 'hpzl', 2);
  if (hpzl !== undefined) {
    if (!/^(\d{2}|-)$/.test(hpzl)) throw badRequest(`hpzl must be a two-digit plate type code or "-", got "${hpzl}"`);
    filter.hpzl = hpzl;
  }
  const province = optString(b, 'province', 8);
  if (province !== undefined) filter.province = province;
  if (b.start !== undefined && b.start !== null && b.start !== '') filter.start = validTime(b.start, 'start', 'start');
  if (b.end !== undefined && b.end !== null && b.end !== '') filter.end = validTime(b.end, 'end', 'end');
  if (filter.start && filter.end && filter.start > filter.end) {
    throw badRequest(`start (${filter.start}) is after end (${filter.end})`);
  }
  const page = intParam(b.page, 'page', 1, 1, 1_000_000);
  const size = intParam(b.size, 'size', 20, 1, 200);
  // Paging over shards merges each shard's first page×size rows: keep that bounded.
  if (page * size > MAX_PAGE_DEPTH) {
    throw badRequest(`page ${page} × size ${size} is deeper than ${MAX_PAGE_DEPTH} rows: narrow the filter or use the CSV export`);
  }
  return { filter, page, size };
}

/** The same filter from a query string (CSV export link of the query page). */
export function parseFilterParams(params: URLSearchParams, isKnownCheckpoint?: (code: string) => boolean): QueryFilter {
  const body: Record<string, unknown> = {};
  for (const [k, v] of params) if (k !== 'key') body[k] = v;
  delete body.page;
  delete body.size;
  return parseQueryRequest(body, isKnownCheckpoint).filter;
}

export function parseWeekendFlag(raw: string | null): 0 | 1 {
  if (raw !== '0' && raw !== '1') throw badRequest(`is_weekend must be 0 or 1, got ${JSON.stringify(raw)}`);
  return raw === '1' ? 1 : 0;
}

/** GET /api/congestion/log: `limit` 1–1000, default 20. */
export function parseCongestionLogParams(params: URLSearchParams): { limit: number } {
  return { limit: intParam(params.get('limit'), 'limit', 20, 1, 1000) };
}

export interface SeriesRequest {
  kkmc: string;
  /** Undefined: the caller picks the latest date in the store. */
  date: string | undefined;
}

/**
 * GET /api/congestion/series: `kkmc` required (the route then checks it is a known checkpoint:
 * a typo should not look like a quiet day), `date` YYYY-MM-DD (optional).
 */
export function parseSeriesParams(params: URLSearchParams): SeriesRequest {
  const kkmc = (params.get('kkmc') ?? '').trim();
  if (!kkmc) throw badRequest('kkmc is required');
  if (kkmc.length > 64) throw badRequest('kkmc is too long (max 64 characters)');
  checkpointCodeParam(kkmc);
  const raw = params.get('date');
  return { kkmc, date: raw === null || raw === '' ? undefined : validDate(raw.trim(), 'date') };
}
