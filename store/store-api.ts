/**
 * What the API asks of a store. Two implementations answer the same requests with the same
 * results: the embedded DuckDB file (store/duckdb-store.ts) and the MySQL shards
 * (fan-out and merge). Filters arrive already validated (api/validate.ts).
 */
import type { MasterRow } from '../core/schema.ts';
import { formatChinaTime, toEpochSeconds } from '../core/time.ts';
import type { RouteStat } from './routes.ts';

export type { RouteStat };

export interface QueryFilter {
  kkmc?: string;
  /** Plate substring (matched literally: % and _ are not wildcards). */
  hphm?: string;
  /** Inclusive bounds, `YYYY-MM-DD HH:mm:ss` China time. */
  start?: string;
  end?: string;
  hpzl?: string;
  province?: string;
}

/** A row as the API returns it: lower-case master columns, numbers for the 0/1 flags. */
export interface PassRecord {
  gcxh: string;
  xzqhmc: string;
  kkmc: string;
  fxlx: string;
  gcsj: string;
  hpzl: string;
  hphm: string;
  clppxh: string;
  province: string;
  is_weekend: number;
  is_peak_hour: number;
  vehicle_type_name: string;
}

/** A NULL text column as the API shows it: ''. */
const text = (v: unknown): string => (v == null ? '' : String(v));

/** A pass from a result row whose columns are named as PASS_COLUMNS (either store's). */
export function passFromObject(o: Record<string, unknown>): PassRecord {
  return {
    gcxh: text(o.gcxh),
    xzqhmc: text(o.xzqhmc),
    kkmc: text(o.kkmc),
    fxlx: text(o.fxlx),
    gcsj: text(o.gcsj),
    hpzl: text(o.hpzl),
    hphm: text(o.hphm),
    clppxh: text(o.clppxh),
    province: text(o.province),
    is_weekend: Number(o.is_weekend),
    is_peak_hour: Number(o.is_peak_hour),
    vehicle_type_name: text(o.vehicle_type_name),
  };
}

/** A pass from its 12 fields in PASS_COLUMNS order (a master row, a split export line). */
export function passFromFields(c: readonly (string | undefined)[]): PassRecord {
  return {
    gcxh: c[0]!,
    xzqhmc: c[1]!,
    kkmc: c[2]!,
    fxlx: c[3]!,
    gcsj: c[4]!,
    hpzl: c[5]!,
    hphm: c[6]!,
    clppxh: c[7]!,
    province: c[8]!,
    is_weekend: Number(c[9]),
    is_peak_hour: Number(c[10]),
    vehicle_type_name: c[11]!,
  };
}

export interface NameValue {
  name: string;
  value: number;
}

export interface HourlyCount {
  kkmc: string;
  hour: string;
  value: number;
}

export interface CheckpointInfo {
  kkmc: string;
  kkmc_name: string;
  lon: number | null;
  lat: number | null;
}

export interface TrafficStore {
  readonly kind: 'embedded' | 'mysql';
  query(filter: QueryFilter, page: number, size: number): Promise<{ total: number; rows: PassRecord[] }>;
  /** Streams every row of the filter (gcsj desc, gcxh), in chunks, for CSV export. */
  exportRows(filter: QueryFilter, onChunk: (rows: PassRecord[]) => Promise<void> | void): Promise<number>;
  kkmcCount(limit: number): Promise<NameValue[]>;
  /** Passes per hour (24 numbers) on a date `YYYY-MM-DD`. */
  hourly(date: string, kkmc?: string): Promise<number[]>;
  latestGcsj(): Promise<string | null>;
  /**
   * Passes of one checkpoint (both directions) per 5-minute window of a date `YYYY-MM-DD`:
   * 288 numbers, window k = [00:00 + 5k min, +5 min), China local time; windows without passes 0.
   */
  fiveMinuteCounts(kkmc: string, date: string): Promise<number[]>;
  /** Passes per event-time minute in [from, to] (inclusive, `YYYY-MM-DD HH:mm:ss`), oldest first. */
  minuteCounts(from: string, to: string): Promise<{ minute: string; value: number }[]>;
  /**
   * Real passes (GCXH not SYN…) per checkpoint per hour with GCSJ in [from, to) (`YYYY-MM-DD
   * HH:mm:ss`); `hour` = `YYYY-MM-DD HH:00:00`; only non-zero counts. The forecast's history.
   */
  hourlyByCheckpoint(from: string, to: string): Promise<HourlyCount[]>;
  /**
   * The `limit` busiest checkpoint-to-checkpoint transitions arriving on a date `YYYY-MM-DD`
   * (store/routes.ts says what a transition is).
   */
  routes(date: string, limit: number): Promise<RouteStat[]>;
  /**
   * Passes of one plate (exact HPHM, and exact CLPPXH when given) with from ≤ gcsj < to
   * (`YYYY-MM-DD HH:mm:ss`), oldest first (gcsj, then gcxh), at most `max`.
   */
  platePasses(hphm: string, from: string, to: string, clppxh: string | undefined, max: number): Promise<PassRecord[]>;
  provinceCount(): Promise<NameValue[]>;
  vehicleTypeCount(): Promise<NameValue[]>;
  total(): Promise<number>;
  checkpointCount(): Promise<number>;
  checkpoints(): Promise<CheckpointInfo[]>;
  /**
   * Whether a checkpoint code is in the dimension table or has any pass: a point lookup (index on
   * MySQL, zone maps on DuckDB), never a scan of every row, so an unknown code is cheap to answer.
   */
  hasCheckpoint(kkmc: string): Promise<boolean>;
  /** Idempotent on gcxh. */
  insert(rows: readonly MasterRow[]): Promise<number>;
  health(): Promise<{ ok: boolean; detail: string }>;
  close(): Promise<void>;
}

export const PASS_COLUMNS = [
  'gcxh',
  'xzqhmc',
  'kkmc',
  'fxlx',
  'gcsj',
  'hpzl',
  'hphm',
  'clppxh',
  'province',
  'is_weekend',
  'is_peak_hour',
  'vehicle_type_name',
] as const;

/** 5-minute windows in a day (the congestion window length). */
export const FIVE_MINUTE_WINDOWS = 288;

/** How one SQL dialect spells the two non-portable parts of a filter. */
export interface FilterDialect {
  /** A time parameter compared with gcsj, e.g. `CAST(? AS TIMESTAMP)` or `?`. */
  time: string;
  /** The plate-substring condition with one `?`: a LIKE pattern (escape character '\') unless hphmParam says otherwise. */
  hphmLike: string;
  /** The condition's parameter made from the substring; default likeContains (a LIKE pattern). */
  hphmParam?: (s: string) => string;
}

/**
 * The WHERE clause of a query filter, parameterized. Both stores build it here so that they
 * filter identically; `extra` conditions (keyset cursors) are ANDed after the filter's.
 */
export function filterWhere(
  f: QueryFilter,
  dialect: FilterDialect,
  extra: string[] = [],
  extraParams: (string | number)[] = [],
): { sql: string; params: (string | number)[] } {
  const c: string[] = [];
  const p: (string | number)[] = [];
  const eq = (column: string, value: string | undefined): void => {
    if (value === undefined) return;
    c.push(`${column} = ?`);
    p.push(value);
  };
  eq('kkmc', f.kkmc);
  if (f.hphm !== undefined) {
    c.push(dialect.hphmLike);
    p.push((dialect.hphmParam ?? likeContains)(f.hphm));
  }
  if (f.start !== undefined) {
    c.push(`gcsj >= ${dialect.time}`);
    p.push(f.start);
  }
  if (f.end !== undefined) {
    c.push(`gcsj <= ${dialect.time}`);
    p.push(f.end);
  }
  eq('hpzl', f.hpzl);
  eq('province', f.province);
  c.push(...extra);
  p.push(...extraParams);
  return { sql: c.length ? 'WHERE ' + c.join(' AND ') : '', params: p };
}

/**
 * The retention cutoff: rows with gcsj before it are past `days` days of retention, counted back
 * from the newest gcsj in the store (`YYYY-MM-DD HH:mm:ss`, China time).
 */
export function retentionCutoff(newest: string, days: number): string {
  return formatChinaTime((toEpochSeconds(newest) - Math.round(days * 86400)) * 1000);
}

/** LIKE pattern for a literal substring ('\' is the escape character). */
export function likeContains(s: string): string {
  return '%' + s.replace(/[\\%_]/g, (c) => '\\' + c) + '%';
}
