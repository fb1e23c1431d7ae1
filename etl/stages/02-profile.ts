/**
 * Stage 02 profile: what the merged data covers, per checkpoint spelling (KKMC string as written)
 * and per day. A pass-through RowStage, so in `etl:all` it rides along the rows going to stage 03
 * at almost no cost; its outputs are the two statistics files (artifacts).
 *
 * Day flags (documented in docs/etl.md):
 * - empty: a calendar day between the first and the last day with data that has no pass at all.
 * - partial: a day with passes that is
 *   `low_volume` — fewer than `partialShare` (default 0.5) × the median passes of non-empty days, or
 *   `gap`      — a run of ≥ `gapHours` (default 3) consecutive clock hours without a pass (the data
 *                starts late, stops early or breaks off), judged only when the median day carries
 *                ≥ `minHourly` (default 10) passes an hour, so that quiet nights are not a gap.
 * The median uses non-empty days only, so empty days do not drag the bar down.
 */
import { F, FILES, RAW_COLUMNS } from '../../core/schema.ts';
import type { RowStage, StageIO } from '../../core/stage.ts';
import { addDays, daysBetween, weekday } from '../../core/time.ts';

export const PROFILE_STAGE = '02-profile';

export interface ProfileOptions {
  /** A day is low-volume below this share of the median daily passes. */
  partialShare: number;
  /** A run of this many hours with no pass makes a day partial (`gap`). */
  gapHours: number;
  /** The gap rule applies only when the median day has at least this many passes per hour. */
  minHourly: number;
}

export const DEFAULT_PROFILE_OPTIONS: ProfileOptions = { partialShare: 0.5, gapHours: 3, minHourly: 10 };

export interface KkmcProfile {
  name: string;
  passes: number;
  share: number;
  first: string;
  last: string;
  daysSeen: number;
  /** Passes per day (`YYYY-MM-DD` → passes), days with passes only. */
  byDay: Record<string, number>;
}

export interface DayProfile {
  date: string;
  /** 0 = Sunday … 6 = Saturday. */
  weekday: number;
  passes: number;
  /** Passes per clock hour 0–23. */
  hours: number[];
  empty: boolean;
  partial: boolean;
  /** `low_volume`, `gap`; empty for a complete or empty day. */
  flags: string[];
}

export interface Profile {
  format: 'kkmc-statistics/1';
  total: number;
  from: string | null;
  to: string | null;
  days: number;
  medianDailyPasses: number;
  rules: { partialShare: number; gapHours: number; minHourly: number };
  kkmc: KkmcProfile[];
  byDay: DayProfile[];
  emptyDays: string[];
  partialDays: string[];
}

interface KkmcAcc {
  passes: number;
  first: string;
  last: string;
  byDay: Map<string, number>;
}

/** Accumulates the profile row by row; `result()` computes the flags. Pure, no IO. */
export class Profiler {
  private total = 0;
  private readonly kkmc = new Map<string, KkmcAcc>();
  private readonly days = new Map<string, number[]>();
  private lastDay = '';
  private lastHours: number[] = [];
  private lastKkmc = '';
  private lastAcc: KkmcAcc | undefined;

  constructor(private readonly opts: ProfileOptions = DEFAULT_PROFILE_OPTIONS) {}

  add(row: readonly string[]): void {
    const t = row[F.GCSJ] as string;
    const name = row[F.KKMC] as string;
    const day = t.slice(0, 10);
    this.total++;
    // Rows arrive sorted by time, so the day and often the checkpoint repeat: cache the last.
    if (day !== this.lastDay) {
      let h = this.days.get(day);
      if (!h) {
        h = new Array<number>(24).fill(0);
        this.days.set(day, h);
      }
      this.lastDay = day;
      this.lastHours = h;
    }
    const hour = (t.charCodeAt(11) - 48) * 10 + (t.charCodeAt(12) - 48);
    if (hour >= 0 && hour < 24) this.lastHours[hour] = (this.lastHours[hour] as number) + 1;
    let acc = name === this.lastKkmc ? this.lastAcc : this.kkmc.get(name);
    if (!acc) {
      acc = { passes: 0, first: t, last: t, byDay: new Map() };
      this.kkmc.set(name, acc);
    }
    this.lastKkmc = name;
    this.lastAcc = acc;
    acc.passes++;
    if (t < acc.first) acc.first = t;
    if (t > acc.last) acc.last = t;
    acc.byDay.set(day, (acc.byDay.get(day) ?? 0) + 1);
  }

  result(): Profile {
    const o = this.opts;
    const seen = [...this.days.keys()].sort();
    const from = seen[0] ?? null;
    const to = seen[seen.length - 1] ?? null;
    const counts = seen.map((d) => sum(this.days.get(d) as number[]));
    const median = medianOf(counts);
    const gapApplies = median / 24 >= o.minHourly;
    const byDay: DayProfile[] = [];
    if (from !== null && to !== null) {
      const n = daysBetween(from, to) + 1;
      for (let i = 0; i < n; i++) {
        const date = addDays(from, i);
        const hours = this.days.get(date) ?? new Array<number>(24).fill(0);
        const passes = sum(hours);
        const flags: string[] = [];
        if (passes > 0) {
          if (passes < o.partialShare * median) flags.push('low_volume');
          if (gapApplies && longestZeroRun(hours) >= o.gapHours) flags.push('gap');
        }
        byDay.push({ date, weekday: weekday(date), passes, hours, empty: passes === 0, partial: flags.length > 0, flags });
      }
    }
    const kkmc: KkmcProfile[] = [...this.kkmc.entries()]
      .map(([name, a]) => ({
        name,
        passes: a.passes,
        share: this.total ? round(a.passes / this.total, 6) : 0,
        first: a.first,
        last: a.last,
        daysSeen: a.byDay.size,
        byDay: Object.fromEntries([...a.byDay.entries()].sort((x, y) => (x[0] < y[0] ? -1 : 1))),
      }))
      .sort((a, b) => b.passes - a.passes || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return {
      format: 'kkmc-statistics/1',
      total: this.total,
      from,
      to,
      days: byDay.length,
      medianDailyPasses: median,
      rules: { partialShare: o.partialShare, gapHours: o.gapHours, minHourly: o.minHourly },
      kkmc,
      byDay,
      emptyDays: byDay.filter((d) => d.empty).map((d) => d.date),
      partialDays: byDay.filter((d) => d.partial).map((d) => d.date),
    };
  }
}

function sum(a: readonly number[]): number {
  let s = 0;
  for (const v of a) s += v;
  return s;
}

function medianOf(values: readonly number[]): number {
  if (!values.length) return 0;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function longestZeroRun(hours: readonly number[]): number {
  let best = 0;
  let run = 0;
  for (const h of hours) {
    run = h === 0 ? run + 1 : 0;
    if (run > best) best = run;
  }
  return best;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** Display width: CJK characters take two columns in a terminal. */
function width(s: string): number {
  let w = 0;
  for (const ch of s) w += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/.test(ch) ? 2 : 1;
  return w;
}

function padEnd(s: string, w: number): string {
  return s + ' '.repeat(Math.max(0, w - width(s)));
}

function padStart(s: string, w: number): string {
  return ' '.repeat(Math.max(0, w - width(s))) + s;
}

/** The human-readable kkmc_statistics.txt. */
export function formatProfileText(p: Profile): string {
  const fmt = (n: number): string => n.toLocaleString('en-US');
  const lines: string[] = [];
  lines.push('Checkpoint pass statistics (stage 02 profile)');
  lines.push(
    `passes: ${fmt(p.total)}    range: ${p.from ?? '-'} .. ${p.to ?? '-'} (${p.days} days)    median passes per non-empty day: ${fmt(p.medianDailyPasses)}`,
  );
  lines.push(`checkpoint spellings (KKMC as written): ${p.kkmc.length}`);
  lines.push('');
  lines.push('Per KKMC (busiest first)');
  const nameW = Math.max(4, ...p.kkmc.map((k) => width(k.name)));
  lines.push(
    `${padEnd('KKMC', nameW)}  ${padStart('PASSES', 9)}  ${padStart('SHARE', 7)}  ${padEnd('FIRST', 19)}  ${padEnd('LAST', 19)}  ${padStart('DAYS', 4)}`,
  );
  for (const k of p.kkmc) {
    lines.push(
      `${padEnd(k.name, nameW)}  ${padStart(fmt(k.passes), 9)}  ${padStart((k.share * 100).toFixed(2) + '%', 7)}  ${k.first}  ${k.last}  ${padStart(String(k.daysSeen), 4)}`,
    );
  }
  lines.push('');
  lines.push(
    `Per day (empty = no pass inside the range; partial = low_volume < ${p.rules.partialShare} × median, or gap = ≥ ${p.rules.gapHours} h without a pass when the median day has ≥ ${p.rules.minHourly} passes/h)`,
  );
  lines.push(`${padEnd('DATE', 10)}  DOW  ${padStart('PASSES', 9)}  STATUS`);
  for (const d of p.byDay) {
    const status = d.empty ? 'EMPTY' : d.partial ? `PARTIAL (${d.flags.join(', ')})` : 'ok';
    lines.push(`${d.date}  ${WEEKDAYS[d.weekday]}  ${padStart(fmt(d.passes), 9)}  ${status}`);
  }
  lines.push('');
  lines.push(`empty days (${p.emptyDays.length}): ${p.emptyDays.join(' ') || '-'}`);
  lines.push(`partial days (${p.partialDays.length}): ${p.partialDays.join(' ') || '-'}`);
  return lines.join('\n') + '\n';
}

/** The JSON file: the profile as computed (hours per day included for the report and stage 04). */
export function formatProfileJson(p: Profile): string {
  return JSON.stringify(p, null, 2) + '\n';
}

/** Stage 02 as a pass-through RowStage: every row goes on unchanged; the profile is its artifact. */
export function createProfileStage(opts: ProfileOptions = DEFAULT_PROFILE_OPTIONS, _io?: StageIO): RowStage {
  const profiler = new Profiler(opts);
  let result: Profile | undefined;
  return {
    name: PROFILE_STAGE,
    inputColumns: RAW_COLUMNS,
    outputColumns: RAW_COLUMNS,
    transform(row, emit) {
      profiler.add(row);
      emit(row);
    },
    artifacts() {
      result ??= profiler.result();
      return { [FILES.kkmcStatsTxt]: formatProfileText(result), [FILES.kkmcStatsJson]: formatProfileJson(result) };
    },
  };
}
