/**
 * Stage 05 features: the 8 cleaned columns + PROVINCE, IS_WEEKEND, IS_PEAK_HOUR, VEHICLE_TYPE_NAME
 * (the 12-column master). Pure per-row derivation; times are China local, read from the GCSJ text.
 */
import { TrafficError } from '../../core/errors.ts';
import { F, MASTER_COLUMNS, RAW_COLUMNS } from '../../core/schema.ts';
import type { RowStage, StageIO } from '../../core/stage.ts';
import { isCanonicalGcsj, isWeekend } from '../../core/time.ts';
import { provinceOfPlate, vehicleTypeName } from '../../core/reference.ts';

export const FEATURES_STAGE = '05-features';

export interface FeaturesOptions {
  /** Inclusive minute ranges `['07:00','08:59']`: 08:59:59 is peak, 09:00:00 is not. */
  peakHours: Array<[string, string]>;
}

export const DEFAULT_FEATURES_OPTIONS: FeaturesOptions = {
  peakHours: [
    ['07:00', '08:59'],
    ['17:00', '18:59'],
  ],
};

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

function minuteOf(hhmm: string, option: string): number {
  const m = HHMM.exec(hhmm);
  if (!m) throw new TrafficError('INVALID_OPTION', `peak hour bound must be HH:MM (00:00–23:59), got "${hhmm}"`, { option });
  return Number(m[1]) * 60 + Number(m[2]);
}

/** Minute-of-day ranges, validated: each start ≤ end (a range over midnight is two ranges). */
export function peakMinuteRanges(peakHours: ReadonlyArray<readonly [string, string]>): Array<[number, number]> {
  return peakHours.map(([a, b]) => {
    const lo = minuteOf(a, 'peakHours');
    const hi = minuteOf(b, 'peakHours');
    if (lo > hi) throw new TrafficError('INVALID_OPTION', `peak hour range ${a}-${b} ends before it starts`, { option: 'peakHours' });
    return [lo, hi];
  });
}

/** `07:00-08:59,17:00-18:59` → [['07:00','08:59'],['17:00','18:59']] (for a CLI flag). */
export function parsePeakHours(text: string): Array<[string, string]> {
  const ranges = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s): [string, string] => {
      const m = /^(\d{2}:\d{2})-(\d{2}:\d{2})$/.exec(s);
      if (!m) throw new TrafficError('INVALID_OPTION', `peak hours must look like 07:00-08:59,17:00-18:59, got "${s}"`, { option: '--peak-hours' });
      return [m[1]!, m[2]!];
    });
  peakMinuteRanges(ranges);
  return ranges;
}

/** Peak flag by minute of the day (one table lookup per row of canonical time). */
function peakTable(ranges: ReadonlyArray<readonly [number, number]>): Uint8Array {
  const t = new Uint8Array(24 * 60);
  for (let m = 0; m < t.length; m++) t[m] = ranges.some(([lo, hi]) => m >= lo && m <= hi) ? 1 : 0;
  return t;
}

const digit = (s: string, at: number): number => s.charCodeAt(at) - 48;

export function createFeaturesStage(opts: FeaturesOptions, io: StageIO): RowStage {
  const ranges = peakMinuteRanges(opts.peakHours);
  const peak = peakTable(ranges);
  // Rows come sorted by time: the weekend flag changes once a day.
  let lastDate = '';
  let lastWeekend = '0';
  return {
    name: FEATURES_STAGE,
    inputColumns: RAW_COLUMNS,
    outputColumns: MASTER_COLUMNS,
    transform(row, emit, where) {
      if (row.length !== RAW_COLUMNS.length) {
        io.reject(row, `expected ${RAW_COLUMNS.length} fields, got ${row.length}`, where);
        return;
      }
      const gcsj = row[F.GCSJ]!;
      if (!isCanonicalGcsj(gcsj)) {
        io.reject(row, `GCSJ not YYYY-MM-DD HH:mm:ss: ${gcsj}`, where);
        return;
      }
      const province = provinceOfPlate(row[F.HPHM]!);
      const typeName = vehicleTypeName(row[F.HPZL]!);
      if (province === '未知') io.count('PROVINCE.unknown');
      if (typeName === '未知') io.count('VEHICLE_TYPE_NAME.unknown');
      const date = gcsj.slice(0, 10);
      if (date !== lastDate) {
        lastDate = date;
        lastWeekend = isWeekend(date) ? '1' : '0';
      }
      // Canonical GCSJ (checked above): HH at 11, mm at 14, as the peak table is indexed.
      const minute = (digit(gcsj, 11) * 10 + digit(gcsj, 12)) * 60 + digit(gcsj, 14) * 10 + digit(gcsj, 15);
      row.push(province, lastWeekend, peak[minute] ? '1' : '0', typeName);
      emit(row);
    },
  };
}
