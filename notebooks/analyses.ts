/**
 * The report's analyses, pure: counters fed row by row during the one streaming pass over the
 * master (provinces, vehicle types), and summaries computed from the hourly grid (daily passes
 * per checkpoint, hourly profiles, the hold-out comparison).
 */
import { cellIndex, HOURS } from '../models/features.ts';
import type { HourlyGrid } from '../models/grid.ts';
import { F, SYN_PREFIX } from '../core/schema.ts';

/** Counts of real (non-SYN) rows by origin province and vehicle type. */
export class RowCounters {
  readonly provinces = new Map<string, number>();
  readonly vehicleTypes = new Map<string, number>();
  readonly peak = { peak: 0, offPeak: 0 };
  realRows = 0;

  add(fields: readonly string[]): void {
    if (fields.length < 12 || fields[F.GCXH]!.startsWith(SYN_PREFIX)) return;
    this.realRows++;
    inc(this.provinces, fields[F.PROVINCE] || '未知');
    inc(this.vehicleTypes, fields[F.VEHICLE_TYPE_NAME] || '未知');
    if (fields[F.IS_PEAK_HOUR] === '1') this.peak.peak++;
    else this.peak.offPeak++;
  }
}

function inc(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

export function topN(m: ReadonlyMap<string, number>, n: number): { name: string; value: number }[] {
  const all = [...m].map(([name, value]) => ({ name, value })).sort((a, b) => b.value - a.value || (a.name < b.name ? -1 : 1));
  if (all.length <= n) return all;
  const rest = all.slice(n - 1).reduce((s, x) => s + x.value, 0);
  return [...all.slice(0, n - 1), { name: '其他 other', value: rest }];
}

export interface DailySummary {
  dates: string[];
  status: string[];
  reason: string[];
  /** Real passes per day, split by whether the day counts as complete. */
  completeReal: number[];
  otherReal: number[];
  syn: number[];
  /** [checkpoint][day] passes, real and SYN. */
  perCheckpointReal: number[][];
  perCheckpointSyn: number[][];
}

export function dailySummary(grid: HourlyGrid): DailySummary {
  const K = grid.checkpoints.length;
  const perCheckpointReal = grid.checkpoints.map(() => [] as number[]);
  const perCheckpointSyn = grid.checkpoints.map(() => [] as number[]);
  for (const d of grid.days) {
    for (let c = 0; c < K; c++) {
      let r = 0;
      let s = 0;
      for (let h = 0; h < HOURS; h++) {
        r += d.real[c * HOURS + h]!;
        s += d.syn[c * HOURS + h]!;
      }
      perCheckpointReal[c]!.push(r);
      perCheckpointSyn[c]!.push(s);
    }
  }
  return {
    dates: grid.days.map((d) => d.date),
    status: grid.days.map((d) => d.status),
    reason: grid.days.map((d) => d.reason),
    completeReal: grid.days.map((d) => (d.status === 'complete' ? d.realPasses : 0)),
    otherReal: grid.days.map((d) => (d.status === 'complete' ? 0 : d.realPasses)),
    syn: grid.days.map((d) => d.synPasses),
    perCheckpointReal,
    perCheckpointSyn,
  };
}

/** Mean passes per hour (all checkpoints) over complete days, weekday and weekend apart. */
export function hourlyProfile(grid: HourlyGrid): { weekday: number[]; weekend: number[]; days: [number, number] } {
  const sums = [new Array<number>(HOURS).fill(0), new Array<number>(HOURS).fill(0)];
  const n = [0, 0];
  const K = grid.checkpoints.length;
  for (const d of grid.days) {
    if (d.status !== 'complete') continue;
    n[d.weekend]!++;
    for (let c = 0; c < K; c++) for (let h = 0; h < HOURS; h++) sums[d.weekend]![h]! += d.real[c * HOURS + h]!;
  }
  const mean = (w: 0 | 1): number[] => sums[w]!.map((s) => (n[w]! > 0 ? s / n[w]! : 0));
  return { weekday: mean(0), weekend: mean(1), days: [n[0]!, n[1]!] };
}

export interface HoldoutSeries {
  /** `MM-DD HH` per hold-out hour, in order. */
  labels: string[];
  actual: number[];
  model: number[];
  cellMean: number[];
  plainLinear: number[];
  /** One point per checkpoint-hour: [actual, model prediction]. */
  scatter: [number, number][];
  /** Per checkpoint: MAE of the model and of cell_mean on the hold-out. */
  perCheckpoint: { kkmc: string; passes: number; modelMae: number; cellMeanMae: number }[];
}

export function holdoutSeries(
  grid: HourlyGrid,
  holdout: readonly number[],
  tables: { model: Float64Array; cell_mean: Float64Array; plain_linear: Float64Array },
): HoldoutSeries {
  const K = grid.checkpoints.length;
  const out: HoldoutSeries = { labels: [], actual: [], model: [], cellMean: [], plainLinear: [], scatter: [], perCheckpoint: [] };
  const abs = grid.checkpoints.map(() => ({ passes: 0, model: 0, mean: 0 }));
  for (const i of holdout) {
    const d = grid.days[i]!;
    for (let h = 0; h < HOURS; h++) {
      let a = 0;
      let m = 0;
      let cm = 0;
      let pl = 0;
      for (let c = 0; c < K; c++) {
        const y = d.real[c * HOURS + h]!;
        const cell = cellIndex(c, h, d.weekend);
        a += y;
        m += tables.model[cell]!;
        cm += tables.cell_mean[cell]!;
        pl += tables.plain_linear[cell]!;
        out.scatter.push([y, round1(tables.model[cell]!)]);
        abs[c]!.passes += y;
        abs[c]!.model += Math.abs(y - tables.model[cell]!);
        abs[c]!.mean += Math.abs(y - tables.cell_mean[cell]!);
      }
      out.labels.push(`${d.date.slice(5)} ${String(h).padStart(2, '0')}`);
      out.actual.push(a);
      out.model.push(round1(m));
      out.cellMean.push(round1(cm));
      out.plainLinear.push(round1(pl));
    }
  }
  const rows = holdout.length * HOURS;
  out.perCheckpoint = grid.checkpoints.map((kkmc, c) => ({
    kkmc,
    passes: abs[c]!.passes,
    modelMae: rows ? abs[c]!.model / rows : NaN,
    cellMeanMae: rows ? abs[c]!.mean / rows : NaN,
  }));
  return out;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
