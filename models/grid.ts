/**
 * The hourly grid the model is fitted on: passes per checkpoint per hour for every day from the
 * first to the last date in the master, zeros included. Built row by row (bounded memory: the
 * grid is days × checkpoints × 24 numbers, whatever the row count), then each day is classed:
 *
 *   complete  real passes only, ≥ `partialShare` × median daily real passes, and data covering the
 *             whole day (a pass before 01:00 and one at or after 23:00)
 *   filled    the day holds SYN rows (stage 04 copied another week's day into it)
 *   empty     no passes at all
 *   partial   too few passes, data starting late / stopping early, or flagged by stage 02
 *
 * Only complete days are used for fitting and hold-out; SYN rows are counted (the report shows
 * them) but never enter a fit or an evaluation.
 */
import { F, MASTER_COLUMNS, SYN_PREFIX } from '../core/schema.ts';
import { addDays, isCanonicalGcsj, isWeekend } from '../core/time.ts';
import { HOURS } from './features.ts';

export type DayStatus = 'complete' | 'filled' | 'empty' | 'partial';

export interface GridDay {
  date: string;
  weekend: 0 | 1;
  /** Real (non-SYN) passes, index c * 24 + hour, checkpoints in `HourlyGrid.checkpoints` order. */
  real: Float64Array;
  /** SYN passes, same layout. */
  syn: Float64Array;
  realPasses: number;
  synPasses: number;
  firstReal: string | null;
  lastReal: string | null;
  status: DayStatus;
  reason: string;
}

export interface HourlyGrid {
  checkpoints: string[];
  days: GridDay[];
  rows: number;
  realRows: number;
  synRows: number;
  /** Rows that could not be placed on the grid, by reason. */
  skipped: Record<string, number>;
  /** First and last GCSJ in the input. */
  from: string | null;
  to: string | null;
  medianDailyReal: number;
}

export interface ClassifyOptions {
  /** A day with fewer real passes than this share of the median day is partial. Default 0.5. */
  partialShare?: number;
  /** Days flagged partial/empty by stage 02 (kkmc_statistics.json), date → reason. */
  flagged?: ReadonlyMap<string, string>;
}

interface DayAcc {
  real: Map<string, Float64Array>;
  syn: Map<string, Float64Array>;
  realPasses: number;
  synPasses: number;
  firstReal: string | null;
  lastReal: string | null;
  /** Hours of firstReal / lastReal (24 / −1 while null): a row strictly between them cannot move either. */
  firstRealHour: number;
  lastRealHour: number;
  /** First and last GCSJ of any row (real or SYN), for the master's from/to. */
  first: string | null;
  last: string | null;
  firstHour: number;
  lastHour: number;
}

export class HourlyGridBuilder {
  private readonly days = new Map<string, DayAcc>();
  private readonly codes = new Set<string>();
  rows = 0;
  realRows = 0;
  synRows = 0;
  readonly skipped: Record<string, number> = {};
  /** First few skipped rows with their line, for the run summary. */
  readonly skippedExamples: string[] = [];
  private from: string | null = null;
  private to: string | null = null;
  private lastDay: DayAcc | null = null;
  private lastDate = '';

  /** Adds one master row (12 fields). Returns false when the row was skipped (and counted). */
  add(fields: readonly string[], line = 0): boolean {
    this.rows++;
    if (fields.length !== MASTER_COLUMNS.length) return this.skip(`expected ${MASTER_COLUMNS.length} fields, got ${fields.length}`, line);
    let kkmc = fields[F.KKMC]!;
    // trim() only when there is something to trim: this runs once per row of a million-row master.
    if (kkmc.length === 0 || kkmc.charCodeAt(0) <= 32 || kkmc.charCodeAt(kkmc.length - 1) <= 32) kkmc = kkmc.trim();
    const gcsj = fields[F.GCSJ]!;
    if (kkmc === '' || kkmc === '-') return this.skip('KKMC empty', line);
    if (!isCanonicalGcsj(gcsj)) return this.skip('GCSJ not YYYY-MM-DD HH:mm:ss', line);
    const hour = (gcsj.charCodeAt(11) - 48) * 10 + (gcsj.charCodeAt(12) - 48);
    if (hour > 23) return this.skip('GCSJ not YYYY-MM-DD HH:mm:ss', line);
    // Rows come grouped by day: the day of the previous row is reused without a lookup.
    let day = this.lastDay;
    if (day === null || !gcsj.startsWith(this.lastDate)) {
      const date = gcsj.slice(0, 10);
      day = this.days.get(date) ?? null;
      if (!day) {
        day = {
          real: new Map(),
          syn: new Map(),
          realPasses: 0,
          synPasses: 0,
          firstReal: null,
          lastReal: null,
          firstRealHour: HOURS,
          lastRealHour: -1,
          first: null,
          last: null,
          firstHour: HOURS,
          lastHour: -1,
        };
        this.days.set(date, day);
      }
      this.lastDay = day;
      this.lastDate = date;
    }
    const syn = fields[F.GCXH]!.startsWith(SYN_PREFIX);
    const target = syn ? day.syn : day.real;
    let hours = target.get(kkmc);
    if (!hours) {
      target.set(kkmc, (hours = new Float64Array(HOURS)));
      this.codes.add(kkmc);
    }
    hours[hour]!++;
    if (syn) {
      this.synRows++;
      day.synPasses++;
    } else {
      this.realRows++;
      day.realPasses++;
      // Text compares only in the day's first or last hour so far (most rows are in between).
      if (hour <= day.firstRealHour && (day.firstReal === null || gcsj < day.firstReal)) {
        day.firstReal = gcsj;
        day.firstRealHour = hour;
      }
      if (hour >= day.lastRealHour && (day.lastReal === null || gcsj > day.lastReal)) {
        day.lastReal = gcsj;
        day.lastRealHour = hour;
      }
    }
    if (hour <= day.firstHour && (day.first === null || gcsj < day.first)) {
      day.first = gcsj;
      day.firstHour = hour;
    }
    if (hour >= day.lastHour && (day.last === null || gcsj > day.last)) {
      day.last = gcsj;
      day.lastHour = hour;
    }
    return true;
  }

  /** Counts a record that could not even be parsed as CSV (e.g. an unterminated quote). */
  reject(reason: string, line = 0): false {
    this.rows++;
    return this.skip(reason, line);
  }

  private skip(reason: string, line: number): false {
    this.skipped[reason] = (this.skipped[reason] ?? 0) + 1;
    if (this.skippedExamples.length < 5) this.skippedExamples.push(`line ${line}: ${reason}`);
    return false;
  }

  finish(opts: ClassifyOptions = {}): HourlyGrid {
    // The master's first and last GCSJ: the first of its earliest day, the last of its latest.
    const dates = [...this.days.keys()].sort();
    this.from = dates.length ? this.days.get(dates[0]!)!.first : null;
    this.to = dates.length ? this.days.get(dates[dates.length - 1]!)!.last : null;
    const checkpoints = [...this.codes].sort();
    const index = new Map(checkpoints.map((c, i) => [c, i]));
    const K = checkpoints.length;
    const days: GridDay[] = [];
    if (this.from !== null && this.to !== null) {
      for (let date = this.from.slice(0, 10); date <= this.to.slice(0, 10); date = addDays(date, 1)) {
        const acc = this.days.get(date);
        const real = new Float64Array(K * HOURS);
        const syn = new Float64Array(K * HOURS);
        if (acc) {
          for (const [code, hours] of acc.real) real.set(hours, index.get(code)! * HOURS);
          for (const [code, hours] of acc.syn) syn.set(hours, index.get(code)! * HOURS);
        }
        days.push({
          date,
          weekend: isWeekend(date) ? 1 : 0,
          real,
          syn,
          realPasses: acc?.realPasses ?? 0,
          synPasses: acc?.synPasses ?? 0,
          firstReal: acc?.firstReal ?? null,
          lastReal: acc?.lastReal ?? null,
          status: 'complete',
          reason: '',
        });
      }
    }
    const medianDailyReal = classifyDays(days, opts);
    return {
      checkpoints,
      days,
      rows: this.rows,
      realRows: this.realRows,
      synRows: this.synRows,
      skipped: { ...this.skipped },
      from: this.from,
      to: this.to,
      medianDailyReal,
    };
  }
}

/** Sets status and reason of every day (see the module comment); returns the median used. */
export function classifyDays(days: GridDay[], opts: ClassifyOptions = {}): number {
  const share = opts.partialShare ?? 0.5;
  const median = medianOf(days.filter((d) => d.realPasses > 0).map((d) => d.realPasses));
  for (const d of days) {
    const flag = opts.flagged?.get(d.date);
    if (d.synPasses > 0) {
      d.status = 'filled';
      d.reason = `${d.synPasses} SYN rows (missing day filled by stage 04)`;
    } else if (d.realPasses === 0) {
      d.status = 'empty';
      d.reason = 'no passes';
    } else if (d.realPasses < share * median) {
      d.status = 'partial';
      d.reason = `${d.realPasses} passes < ${Math.round(share * 100)}% of the median day (${median})`;
    } else if (d.firstReal !== null && d.firstReal.slice(11, 13) !== '00') {
      d.status = 'partial';
      d.reason = `data starts late (${d.firstReal.slice(11, 16)})`;
    } else if (d.lastReal !== null && d.lastReal.slice(11, 13) !== '23') {
      d.status = 'partial';
      d.reason = `data stops early (${d.lastReal.slice(11, 16)})`;
    } else if (flag !== undefined) {
      d.status = 'partial';
      d.reason = `flagged by stage 02: ${flag}`;
    } else {
      d.status = 'complete';
      d.reason = '';
    }
  }
  return median;
}

export function medianOf(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Days flagged by stage 02 in kkmc_statistics.json. The file's per-day entries are read
 * tolerantly (its exact shape belongs to the ETL): any array of objects with a `date`/`day`
 * field and `partial`/`empty` true, or a `flag`/`flags`/`status` mentioning partial or empty.
 */
export function flaggedDaysFromStats(json: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (v: unknown, depth: number): void => {
    if (depth > 6 || v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      for (const item of v) visit(item, depth + 1);
      return;
    }
    const o = v as Record<string, unknown>;
    const date = typeof o.date === 'string' ? o.date : typeof o.day === 'string' ? o.day : undefined;
    if (date && /^\d{4}-\d{2}-\d{2}$/.test(date)) {
      const words = [o.flag, o.flags, o.status]
        .flat()
        .filter((x): x is string => typeof x === 'string')
        .join(' ');
      if (o.partial === true || /partial/i.test(words)) out.set(date, 'partial');
      else if (o.empty === true || /empty/i.test(words)) out.set(date, 'empty');
      return;
    }
    for (const child of Object.values(o)) visit(child, depth + 1);
  };
  visit(json, 0);
  return out;
}
