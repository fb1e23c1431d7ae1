/**
 * A synthetic master with known structure, for tests and the benchmark while (or where) no real
 * master exists. Each checkpoint has its own daily shape (morning and evening peaks at its own
 * hours, its own night floor), its own weekend level and a weekend shape shifted later in the
 * morning; each day has a common random level (weather, events), each checkpoint-day and
 * checkpoint-hour its own level, and outages of a few hours happen: the counts are overdispersed
 * as in the real exports (three consecutive real weekdays show a variance/mean ratio of ~35 per
 * checkpoint-hour; the defaults give the same order). Days can be
 * left empty, cut short (partial) or filled with SYN copies of the same weekday a week earlier, as
 * stage 04 does.
 */
import { MASTER_COLUMNS, SYN_PREFIX } from '../core/schema.ts';
import { TextFileWriter } from '../core/io.ts';
import { addDays, isWeekend } from '../core/time.ts';
import { HOURS } from './features.ts';
import { mulberry32 } from '../core/random.ts';

export interface SyntheticOptions {
  checkpoints?: number;
  start?: string;
  days?: number;
  /** Mean passes per checkpoint per day on a weekday. */
  dailyPerCheckpoint?: number;
  seed?: number;
  /** Day-level multiplicative noise common to all checkpoints (sd of the log level). */
  daySd?: number;
  /** Checkpoint-day level noise (sd of the log level). */
  checkpointDaySd?: number;
  /** Checkpoint-hour noise (sd of the log level): makes counts overdispersed like the real data. */
  hourSd?: number;
  /** Probability that a checkpoint-hour starts an outage of 1–6 hours with no passes. */
  outageRate?: number;
  emptyDays?: string[];
  /** Days filled with SYN copies of the same weekday one week earlier. */
  synDays?: string[];
  /** Days whose data stops before the given hour. */
  partialDays?: Record<string, number>;
}

export { mulberry32 };

function gaussian(rng: () => number): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

export function poisson(mean: number, rng: () => number): number {
  if (mean <= 0) return 0;
  if (mean > 60) return Math.max(0, Math.round(mean + Math.sqrt(mean) * gaussian(rng)));
  const L = Math.exp(-mean);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= rng();
  } while (p > L);
  return k - 1;
}

export const SYNTHETIC_CODES = [
  'G104_Tongshan_K745',
  'G206_Pizhou_K330',
  'G310_Tongshan_K203',
  'G311_Suining_K12',
  'G237_Fengxian_K8',
  'S250_Peixian_K31',
  'S252_Xinyi_K70',
  'S253_Suining_K22',
  'S270_Pizhou_K5',
  'S301_Fengxian_K12',
  'S323_Xinyi_K90',
  'S324_Suining_K44',
  'S325_Suining_K63',
  'S344_Tongshan_K2',
  'S345_Pizhou_K17',
  'X201_Peixian_K4',
  'X302_Xinyi_K9',
  'G3_Tongshan_K510',
  'G30_Jiawang_K212',
  'S49_Suining_K33',
];

export interface SyntheticTruth {
  checkpoints: string[];
  /** Expected passes, index (c * 24 + hour) * 2 + weekend, before the day-level noise. */
  mean: Float64Array;
}

/** The generating process: expected passes per cell, per checkpoint shape. */
export function syntheticTruth(opts: SyntheticOptions = {}): SyntheticTruth {
  const K = opts.checkpoints ?? 19;
  const rng = mulberry32((opts.seed ?? 1) * 7919);
  const codes = Array.from({ length: K }, (_, i) => SYNTHETIC_CODES[i] ?? `X9${i}_Synth_K${i}`).sort();
  const perDay = opts.dailyPerCheckpoint ?? 1300;
  const mean = new Float64Array(K * HOURS * 2);
  codes.forEach((_, c) => {
    const scale = perDay * (c === 0 ? 0.02 : 0.3 + 1.7 * rng()); // one nearly silent checkpoint, like G237 荣庄
    const am = 6 + 3 * rng();
    const pm = 16 + 3 * rng();
    const amW = 0.6 + 1.2 * rng();
    const pmW = 0.6 + 1.2 * rng();
    const floor = 0.05 + 0.25 * rng();
    const weekendLevel = 0.75 + 0.45 * rng();
    for (const w of [0, 1] as const) {
      const amH = am + (w ? 1 : 0); // weekend mornings start later
      const raw: number[] = [];
      for (let h = 0; h < HOURS; h++) {
        const x = h + 0.5;
        const day = x > 5 && x < 23 ? 0.4 : 0;
        raw.push(floor + day + amW * Math.exp(-((x - amH) ** 2) / 3) + pmW * Math.exp(-((x - pm) ** 2) / 4));
      }
      const total = raw.reduce((a, b) => a + b, 0);
      raw.forEach((v, h) => {
        mean[(c * HOURS + h) * 2 + w] = (scale * (w ? weekendLevel : 1) * v) / total;
      });
    }
  });
  return { checkpoints: codes, mean };
}

const pad = (n: number, w: number): string => String(n).padStart(w, '0');

/**
 * Streams synthetic master rows (12 fields, GCSJ order within each day). Counts are drawn per
 * (day, checkpoint, hour); SYN days repeat the counts of the day a week earlier.
 */
export function* syntheticMasterRows(opts: SyntheticOptions = {}): Generator<string[]> {
  const truth = syntheticTruth(opts);
  const K = truth.checkpoints.length;
  const start = opts.start ?? '2023-12-01';
  const nDays = opts.days ?? 42;
  const rng = mulberry32(opts.seed ?? 1);
  const empty = new Set(opts.emptyDays ?? []);
  const syn = new Set(opts.synDays ?? []);
  const partial = opts.partialDays ?? {};
  const daySd = opts.daySd ?? 0.15;
  const cpDaySd = opts.checkpointDaySd ?? 0.25;
  const hourSd = opts.hourSd ?? 0.45;
  const outageRate = opts.outageRate ?? 0.01;
  const counts = new Map<string, Int32Array>();
  let id = 1_000_000;
  for (let i = 0; i < nDays; i++) {
    const date = addDays(start, i);
    const w = isWeekend(date) ? 1 : 0;
    const level = Math.exp(daySd * gaussian(rng));
    const cnt = new Int32Array(K * HOURS);
    for (let c = 0; c < K; c++) {
      const cpLevel = level * Math.exp(cpDaySd * gaussian(rng) - (cpDaySd * cpDaySd) / 2);
      let down = 0;
      for (let h = 0; h < HOURS; h++) {
        if (down === 0 && rng() < outageRate) down = 1 + Math.floor(rng() * 6);
        const noise = Math.exp(hourSd * gaussian(rng) - (hourSd * hourSd) / 2);
        cnt[c * HOURS + h] = down > 0 ? 0 : poisson(truth.mean[(c * HOURS + h) * 2 + w]! * cpLevel * noise, rng);
        if (down > 0) down--;
      }
    }
    counts.set(date, cnt);
    if (empty.has(date)) continue;
    const source = syn.has(date) ? counts.get(addDays(date, -7)) : cnt;
    if (!source) continue;
    const stop = partial[date] ?? HOURS;
    const ymd = date.replaceAll('-', '');
    for (let h = 0; h < stop; h++) {
      const rows: string[][] = [];
      for (let c = 0; c < K; c++) {
        const n = source[c * HOURS + h]!;
        for (let k = 0; k < n; k++) {
          const s = Math.floor(rng() * 3600);
          const gcsj = `${date} ${pad(h, 2)}:${pad(Math.floor(s / 60), 2)}:${pad(s % 60, 2)}`;
          const gcxh = String(id++);
          const big = rng() < 0.18;
          rows.push([
            syn.has(date) ? `${SYN_PREFIX}${ymd}${gcxh}` : gcxh,
            '睢宁县',
            truth.checkpoints[c]!,
            rng() < 0.5 ? '1' : '2',
            gcsj,
            big ? '01' : '02',
            `苏C${String.fromCharCode(65 + Math.floor(rng() * 20))}${Math.floor(rng() * 10)}***`,
            '-',
            '江苏',
            String(w),
            (h >= 7 && h <= 8) || (h >= 17 && h <= 18) ? '1' : '0',
            big ? '大型汽车' : '小型汽车',
          ]);
        }
      }
      rows.sort((a, b) => (a[4]! < b[4]! ? -1 : a[4]! > b[4]! ? 1 : 0));
      yield* rows;
    }
  }
}

/** Writes a synthetic master CSV; returns the number of data rows. */
export async function writeSyntheticMaster(file: string, opts: SyntheticOptions = {}): Promise<number> {
  const out = await TextFileWriter.open(file);
  let n = 0;
  const w0 = out.writeCsv(MASTER_COLUMNS);
  if (w0) await w0;
  for (const row of syntheticMasterRows(opts)) {
    const w = out.writeCsv(row);
    if (w) await w;
    n++;
  }
  await out.close();
  return n;
}
