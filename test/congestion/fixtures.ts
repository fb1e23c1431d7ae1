/** Literal pass records and thresholds for the congestion tests. */
import { ThresholdTable, type ThresholdRow } from '../../streaming/congestion/thresholds.ts';
import { isWeekend } from '../../core/time.ts';

let seq = 0;

/** A 12-field master row; only GCXH, KKMC, FXLX, GCSJ and HPHM matter to windows and levels. */
export function pass(kkmc: string, fxlx: string, gcsj: string, gcxh = `T${++seq}`, hphm = `苏C${String(seq % 1000).padStart(3, '0')}**`): string[] {
  return [gcxh, '铜山区', kkmc, fxlx, gcsj, '02', hphm, '-', '江苏', isWeekend(gcsj) ? '1' : '0', '0', '小型汽车'];
}

/** n passes at `kkmc`, spread over the 5-minute window starting at `start` (`YYYY-MM-DD HH:mm`). */
export function burst(kkmc: string, start: string, n: number, fxlx = '1'): string[][] {
  const rows: string[][] = [];
  const [h, m] = start.slice(11, 16).split(':').map(Number) as [number, number];
  for (let i = 0; i < n; i++) {
    const s = Math.floor((i * 300) / Math.max(1, n));
    const mm = m + Math.floor(s / 60);
    const ss = s % 60;
    rows.push(
      pass(
        kkmc,
        i % 2 === 0 ? fxlx : fxlx === '1' ? '2' : '1',
        `${start.slice(0, 10)} ${String(h).padStart(2, '0')}:${String(mm).padStart(2, '0')}:${String(ss).padStart(2, '0')}`,
      ),
    );
  }
  return rows;
}

/** The same WARNING/ALERT for every hour and day type of each checkpoint. */
export function flatThresholds(levels: Record<string, [number, number]>): ThresholdTable {
  const rows: ThresholdRow[] = [];
  for (const [kkmc, [warning, alert]] of Object.entries(levels)) {
    for (const dayType of ['weekday', 'weekend'] as const) {
      for (let hour = 0; hour < 24; hour++) rows.push({ kkmc, dayType, hour, warning, alert });
    }
  }
  return new ThresholdTable(rows);
}
