/**
 * Missing-day fill plan (DESIGN.md "Repair (stage 04)"). From the passes per day over the covered
 * range (first..last date seen): a day with no passes is filled from the nearest earlier complete
 * day of the same weekday (whole weeks back); complete = at least half the median daily passes of
 * the days that have passes. Filled days are never sources. Partial days are reported, not filled.
 */
import { addDays, daysBetween } from '../../core/time.ts';

export interface FilledDay {
  date: string;
  source: string;
  weeksBack: number;
}

export interface FillPlan {
  first: string;
  last: string;
  medianPasses: number;
  completeThreshold: number;
  filled: FilledDay[];
  /** Empty days with no complete source before them. */
  unfilled: string[];
  partial: Array<{ date: string; passes: number }>;
  /** Source date → the dates it fills, ascending. */
  targetsBySource: Map<string, string[]>;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function planFill(passesByDay: ReadonlyMap<string, number>): FillPlan {
  const days = [...passesByDay.entries()]
    .filter(([, n]) => n > 0)
    .map(([d]) => d)
    .sort();
  const empty: FillPlan = {
    first: '',
    last: '',
    medianPasses: 0,
    completeThreshold: 0,
    filled: [],
    unfilled: [],
    partial: [],
    targetsBySource: new Map(),
  };
  if (days.length === 0) return empty;
  const first = days[0]!;
  const last = days[days.length - 1]!;
  const med = median(days.map((d) => passesByDay.get(d)!));
  const threshold = med / 2;
  const complete = (d: string): boolean => (passesByDay.get(d) ?? 0) >= threshold;
  const plan: FillPlan = { ...empty, first, last, medianPasses: med, completeThreshold: threshold, targetsBySource: new Map() };
  const span = daysBetween(first, last);
  for (let k = 0; k <= span; k++) {
    const date = addDays(first, k);
    const n = passesByDay.get(date) ?? 0;
    if (n > 0) {
      if (!complete(date)) plan.partial.push({ date, passes: n });
      continue;
    }
    let source = '';
    let weeks = 0;
    for (let w = 1; ; w++) {
      const cand = addDays(date, -7 * w);
      if (cand < first) break;
      if (complete(cand)) {
        source = cand;
        weeks = w;
        break;
      }
    }
    if (!source) {
      plan.unfilled.push(date);
      continue;
    }
    plan.filled.push({ date, source, weeksBack: weeks });
    const list = plan.targetsBySource.get(source);
    if (list) list.push(date);
    else plan.targetsBySource.set(source, [date]);
  }
  return plan;
}

/** `SYN<yyyymmdd><original GCXH>` of a pass copied into `date`. */
export function synId(date: string, gcxh: string): string {
  return `SYN${date.replace(/-/g, '')}${gcxh}`;
}
