/**
 * Detector quality on a replay with injected clones: recall on the truth pairs the simulator wrote
 * (`--inject-clones P --truth FILE`) and alerts per day on the background (pairs with no injected
 * record), for each rule run over the same records.
 */
import { TrafficError } from '../../core/errors.ts';
import { openCsvTable } from '../../core/io.ts';
import { INJ_PREFIX } from '../../core/schema.ts';
import { pairKey, type Alert, type RuleName } from './alert.ts';

/**
 * Reads the truth CSV the simulator writes (streaming/inject.ts TRUTH_COLUMNS); columns are found
 * by name and only GCXH_A and GCXH_B are needed.
 */
export async function readTruthPairs(file: string): Promise<Set<string>> {
  const table = await openCsvTable(file);
  const ia = table.header.indexOf('GCXH_A');
  const ib = table.header.indexOf('GCXH_B');
  if (ia < 0 || ib < 0) {
    throw new TrafficError('HEADER_UNRECOGNISED', `truth file needs columns GCXH_A, GCXH_B; got [${table.header.join(',')}]`, {
      file,
      line: 1,
    });
  }
  const pairs = new Set<string>();
  for await (const rec of table.rows) {
    const a = rec.fields[ia];
    const b = rec.fields[ib];
    if (!a || !b) throw new TrafficError('BAD_ROW', 'truth row without GCXH_A/GCXH_B', { file, line: rec.line, value: rec.raw });
    pairs.add(pairKey(a, b));
  }
  return pairs;
}

/** Collects what quality needs from one rule's alerts: pair keys and background alerts per day. */
export class QualityTally {
  readonly pairs = new Set<string>();
  readonly backgroundPerDay = new Map<string, number>();
  background = 0;
  injected = 0;

  constructor(readonly rule: RuleName) {}

  add(alerts: readonly Alert[]): void {
    for (const a of alerts) {
      this.pairs.add(pairKey(a.prev.gcxh, a.curr.gcxh));
      if (a.prev.gcxh.startsWith(INJ_PREFIX) || a.curr.gcxh.startsWith(INJ_PREFIX)) {
        this.injected++;
        continue;
      }
      this.background++;
      const day = a.curr.gcsj.slice(0, 10);
      this.backgroundPerDay.set(day, (this.backgroundPerDay.get(day) ?? 0) + 1);
    }
  }
}

export interface RuleQuality {
  rule: RuleName;
  alerts: number;
  injectedAlerts: number;
  backgroundAlerts: number;
  truthPairs: number;
  truthFound: number;
  recall: number | null;
  days: number;
  backgroundPerDayMean: number;
  backgroundPerDayMax: number;
  backgroundPerDayMedian: number;
}

/** `days` = the days the replay covered (days with records), so quiet days count as zero. */
export function summarize(t: QualityTally, truth: ReadonlySet<string> | null, days: ReadonlySet<string>): RuleQuality {
  let found = 0;
  if (truth) for (const p of truth) if (t.pairs.has(p)) found++;
  const perDay = [...days].map((d) => t.backgroundPerDay.get(d) ?? 0).sort((a, b) => a - b);
  const n = perDay.length;
  return {
    rule: t.rule,
    alerts: t.background + t.injected,
    injectedAlerts: t.injected,
    backgroundAlerts: t.background,
    truthPairs: truth?.size ?? 0,
    truthFound: found,
    recall: truth && truth.size > 0 ? found / truth.size : null,
    days: n,
    backgroundPerDayMean: n ? t.background / n : 0,
    backgroundPerDayMax: n ? perDay[n - 1]! : 0,
    backgroundPerDayMedian: n ? perDay[Math.floor(n / 2)]! : 0,
  };
}

export function formatQuality(rows: readonly RuleQuality[]): string {
  const pct = (x: number | null): string => (x === null ? 'n/a' : `${(100 * x).toFixed(2)}%`);
  const lines = [
    'rule     alerts  injected  background  days  bg/day mean  median  max  recall (found/truth)',
    ...rows.map(
      (r) =>
        `${r.rule.padEnd(7)} ${String(r.alerts).padStart(7)} ${String(r.injectedAlerts).padStart(9)} ` +
        `${String(r.backgroundAlerts).padStart(11)} ${String(r.days).padStart(5)} ${r.backgroundPerDayMean.toFixed(1).padStart(12)} ` +
        `${String(r.backgroundPerDayMedian).padStart(7)} ${String(r.backgroundPerDayMax).padStart(4)}  ${pct(r.recall)} (${r.truthFound}/${r.truthPairs})`,
    ),
  ];
  const def = rows.find((r) => r.rule === 'default');
  const win = rows.find((r) => r.rule === 'window');
  if (def && win) {
    const ratio = win.backgroundAlerts > 0 ? def.backgroundAlerts / win.backgroundAlerts : null;
    lines.push(`background alerts default/window: ${def.backgroundAlerts}/${win.backgroundAlerts} = ${pct(ratio)}`);
  }
  return lines.join('\n') + '\n';
}
