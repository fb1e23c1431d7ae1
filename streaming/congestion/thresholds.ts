/**
 * Congestion thresholds per checkpoint, day type and hour (kkmc_thresholds.csv:
 * KKMC, DAY_TYPE, HOUR, WARNING, ALERT), derived from history and editable by users.
 *
 * Derivation (`traffic thresholds`): passes per checkpoint in every 5-minute window of every
 * usable day, windows without passes included as 0; per (KKMC, DAY_TYPE, HOUR) WARNING = the
 * 90th and ALERT = the 99th percentile (nearest rank) of those counts, raised to floors so a
 * quiet checkpoint does not alert on a couple of cars: WARNING ≥ minWarning, ALERT ≥ minAlert
 * and ALERT ≥ WARNING + minGap. Usable days: days with real (non-SYN) passes totalling at least
 * half the median day; synthetic rows (missing-day fill) are copies of other days and add no
 * evidence, partial days would read as quiet traffic.
 */
import { writeFile } from 'node:fs/promises';
import { csvText, openCsvTable, readCsvRecords } from '../../core/io.ts';
import { TrafficError } from '../../core/errors.ts';
import { F, MASTER_COLUMNS, SYN_PREFIX } from '../../core/schema.ts';
import { isStoreTime } from '../../store/ddl.ts';
import { isWeekend, toEpochSeconds } from '../../core/time.ts';

export type DayType = 'weekday' | 'weekend';
export const DAY_TYPES: readonly DayType[] = ['weekday', 'weekend'];
export const THRESHOLD_COLUMNS = ['KKMC', 'DAY_TYPE', 'HOUR', 'WARNING', 'ALERT'] as const;
export const THRESHOLDS_FILE = 'kkmc_thresholds.csv';

export interface Threshold {
  warning: number;
  alert: number;
}

export interface ThresholdRow extends Threshold {
  kkmc: string;
  dayType: DayType;
  hour: number;
}

export class ThresholdTable {
  private readonly map = new Map<string, Threshold>();
  constructor(readonly rows: readonly ThresholdRow[]) {
    for (const r of rows) this.map.set(`${r.kkmc}|${r.dayType}|${r.hour}`, { warning: r.warning, alert: r.alert });
  }
  get(kkmc: string, dayType: DayType, hour: number): Threshold | undefined {
    return this.map.get(`${kkmc}|${dayType}|${hour}`);
  }
  get checkpoints(): number {
    return new Set(this.rows.map((r) => r.kkmc)).size;
  }
}

export interface DeriveOptions {
  windowS?: number;
  warningPct?: number;
  alertPct?: number;
  minWarning?: number;
  minAlert?: number;
  minGap?: number;
}

export const DEFAULT_DERIVE = { windowS: 300, warningPct: 90, alertPct: 99, minWarning: 5, minAlert: 8, minGap: 2 } as const;

export interface DeriveSummary {
  rows: number;
  records: number;
  synthetic: number;
  bad: number;
  days: { used: string[]; skipped: { day: string; passes: number; why: string }[] };
  checkpoints: number;
}

/** Counts passes per checkpoint and window; feed every master row, then call derive(). */
export class ThresholdBuilder {
  readonly o: Required<DeriveOptions>;
  private readonly counts = new Map<string, Map<number, number>>();
  private readonly dayTotals = new Map<string, number>();
  records = 0;
  synthetic = 0;
  bad = 0;

  constructor(opts: DeriveOptions = {}) {
    this.o = { ...DEFAULT_DERIVE, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) };
  }

  add(row: readonly string[]): void {
    this.records++;
    const gcxh = row[F.GCXH] ?? '';
    const kkmc = row[F.KKMC];
    const gcsj = row[F.GCSJ] ?? '';
    if (!kkmc || !isStoreTime(gcsj)) {
      this.bad++;
      return;
    }
    if (gcxh.startsWith(SYN_PREFIX)) {
      this.synthetic++;
      return;
    }
    const t = toEpochSeconds(gcsj);
    const start = t - (((t % this.o.windowS) + this.o.windowS) % this.o.windowS);
    let m = this.counts.get(kkmc);
    if (m === undefined) this.counts.set(kkmc, (m = new Map()));
    m.set(start, (m.get(start) ?? 0) + 1);
    const day = gcsj.slice(0, 10);
    this.dayTotals.set(day, (this.dayTotals.get(day) ?? 0) + 1);
  }

  derive(): { rows: ThresholdRow[]; summary: DeriveSummary } {
    const o = this.o;
    const totals = [...this.dayTotals].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const median = percentileOf(
      totals.map(([, n]) => n).sort((a, b) => a - b),
      50,
    );
    const used: string[] = [];
    const skipped: DeriveSummary['days']['skipped'] = [];
    for (const [day, n] of totals) {
      if (n >= median / 2) used.push(day);
      else skipped.push({ day, passes: n, why: `partial: < half the median day (${Math.round(median)})` });
    }
    const perHour = 3600 / o.windowS;
    const rows: ThresholdRow[] = [];
    for (const kkmc of [...this.counts.keys()].sort()) {
      const m = this.counts.get(kkmc)!;
      // samples[dayType][hour] = window counts (0 for windows without passes).
      const samples: Record<DayType, number[][]> = {
        weekday: Array.from({ length: 24 }, () => []),
        weekend: Array.from({ length: 24 }, () => []),
      };
      for (const day of used) {
        const base = toEpochSeconds(`${day} 00:00:00`);
        const dt: DayType = isWeekend(day) ? 'weekend' : 'weekday';
        for (let h = 0; h < 24; h++) {
          for (let k = 0; k < perHour; k++) samples[dt][h]!.push(m.get(base + h * 3600 + k * o.windowS) ?? 0);
        }
      }
      for (const dt of DAY_TYPES) {
        for (let h = 0; h < 24; h++) {
          // No day of this type in the history: the other type's windows are the best evidence.
          let s = samples[dt][h]!;
          if (s.length === 0) s = samples[dt === 'weekday' ? 'weekend' : 'weekday'][h]!;
          if (s.length === 0) continue;
          s.sort((a, b) => a - b);
          const warning = Math.max(percentileOf(s, o.warningPct), o.minWarning);
          const alert = Math.max(percentileOf(s, o.alertPct), o.minAlert, warning + o.minGap);
          rows.push({ kkmc, dayType: dt, hour: h, warning, alert });
        }
      }
    }
    return {
      rows,
      summary: {
        rows: rows.length,
        records: this.records,
        synthetic: this.synthetic,
        bad: this.bad,
        days: { used, skipped },
        checkpoints: this.counts.size,
      },
    };
  }
}

/** Nearest-rank percentile of an ascending array (p in (0, 100]). */
export function percentileOf(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

export function thresholdsCsv(rows: readonly ThresholdRow[]): string {
  return csvText(
    THRESHOLD_COLUMNS,
    rows.map((r) => [r.kkmc, r.dayType, String(r.hour), String(r.warning), String(r.alert)]),
  );
}

/** Reads kkmc_thresholds.csv, checking every value (users edit this file by hand). */
export async function readThresholds(file: string): Promise<ThresholdTable> {
  const rows: ThresholdRow[] = [];
  const seen = new Set<string>();
  let header = true;
  for await (const rec of readCsvRecords(file)) {
    const f = rec.fields.map((x) => x.trim());
    if (header) {
      header = false;
      if (f.join(',').toUpperCase() !== THRESHOLD_COLUMNS.join(',')) {
        throw new TrafficError('HEADER_UNRECOGNISED', `expected header ${THRESHOLD_COLUMNS.join(',')}, got ${f.join(',')}`, {
          file,
          line: rec.line,
        });
      }
      continue;
    }
    const where = (field: string, value: string) => ({ file, line: rec.line, field, value });
    if (f.length !== THRESHOLD_COLUMNS.length) {
      throw new TrafficError('BAD_ROW', `expected ${THRESHOLD_COLUMNS.length} fields, got ${f.length}`, { file, line: rec.line });
    }
    const [kkmc, dayType, hour, warning, alert] = f as [string, string, string, string, string];
    if (!kkmc) throw new TrafficError('BAD_ROW', 'KKMC empty', where('KKMC', kkmc));
    const dt = dayType.toLowerCase();
    if (dt !== 'weekday' && dt !== 'weekend') {
      throw new TrafficError('BAD_ROW', `DAY_TYPE must be weekday or weekend, got "${dayType}"`, where('DAY_TYPE', dayType));
    }
    const h = wholeNumber(hour);
    if (h === null || h > 23) throw new TrafficError('BAD_ROW', `HOUR must be 0–23, got "${hour}"`, where('HOUR', hour));
    const w = wholeNumber(warning);
    if (w === null) throw new TrafficError('BAD_ROW', `WARNING must be a whole number ≥ 0, got "${warning}"`, where('WARNING', warning));
    const a = wholeNumber(alert);
    if (a === null || a < w) {
      throw new TrafficError('BAD_ROW', `ALERT must be a whole number ≥ WARNING (${w}), got "${alert}"`, where('ALERT', alert));
    }
    const key = `${kkmc}|${dt}|${h}`;
    if (seen.has(key)) throw new TrafficError('BAD_ROW', `duplicate row for ${kkmc} ${dt} hour ${h}`, { file, line: rec.line });
    seen.add(key);
    rows.push({ kkmc, dayType: dt, hour: h, warning: w, alert: a });
  }
  if (header) throw new TrafficError('INPUT_EMPTY', `thresholds file is empty: ${file}`, { file });
  return new ThresholdTable(rows);
}

function wholeNumber(s: string): number | null {
  return /^\d{1,9}$/.test(s) ? Number(s) : null;
}

/**
 * Reads a master CSV, derives the thresholds and writes them to `out` (`traffic thresholds` and
 * `traffic start` both use this). Throws INPUT_EMPTY when the master has no usable passes.
 */
export async function deriveThresholdsFile(
  master: string,
  out: string,
  opts?: DeriveOptions,
  onRow?: () => void,
): Promise<{ rows: ThresholdRow[]; summary: DeriveSummary }> {
  const table = await openCsvTable(master, MASTER_COLUMNS);
  const b = new ThresholdBuilder(opts);
  for await (const rec of table.rows) {
    b.add(rec.fields);
    onRow?.();
  }
  const derived = b.derive();
  if (derived.rows.length === 0) {
    throw new TrafficError('INPUT_EMPTY', `no usable passes in ${master} for congestion thresholds`, { file: master });
  }
  await writeFile(out, thresholdsCsv(derived.rows));
  return derived;
}
