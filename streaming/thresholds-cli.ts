/**
 * `traffic thresholds`: derives kkmc_thresholds.csv (KKMC, DAY_TYPE, HOUR, WARNING, ALERT) for
 * congestion levels from a master CSV. See docs/congestion.md.
 */
import path from 'node:path';
import { int, num, parseFlags, str } from '../core/args.ts';
import type { Command } from '../core/command.ts';
import { readEnv } from '../core/config.ts';
import { TrafficError } from '../core/errors.ts';
import { Progress, fmtInt } from '../core/progress.ts';
import { FILES } from '../core/schema.ts';
import { DEFAULT_DERIVE, deriveThresholdsFile, THRESHOLDS_FILE, type DeriveOptions } from './congestion/thresholds.ts';

const usage = `usage: traffic thresholds [--in master.csv] [--out kkmc_thresholds.csv] [options]

Derives per checkpoint, day type (weekday/weekend) and hour the WARNING and ALERT levels of
5-minute passes (both directions) from history: the given percentiles of the 5-minute window
counts of every usable day, windows without passes counted as 0, raised to floors.

  --in FILE          master CSV (default <data dir>/${FILES.master})
  --out FILE         output CSV (default <data dir>/${THRESHOLDS_FILE})
  --warning-pct P    percentile for WARNING (default ${DEFAULT_DERIVE.warningPct})
  --alert-pct P      percentile for ALERT (default ${DEFAULT_DERIVE.alertPct})
  --min-warning N    WARNING floor, passes per 5 min (default ${DEFAULT_DERIVE.minWarning})
  --min-alert N      ALERT floor (default ${DEFAULT_DERIVE.minAlert})
  --min-gap N        ALERT ≥ WARNING + N (default ${DEFAULT_DERIVE.minGap})
`;

const FLAGS = {
  in: { type: 'string' },
  out: { type: 'string' },
  'warning-pct': { type: 'string' },
  'alert-pct': { type: 'string' },
  'min-warning': { type: 'string' },
  'min-alert': { type: 'string' },
  'min-gap': { type: 'string' },
} as const;

export interface ThresholdsCliOptions extends Required<Omit<DeriveOptions, 'windowS'>> {
  in: string;
  out: string;
}

export function normalizeThresholdsOptions(argv: string[], env = readEnv()): ThresholdsCliOptions {
  const { values: v } = parseFlags(argv, FLAGS);
  const o: ThresholdsCliOptions = {
    in: str(v.in, 'in', path.join(env.dataDir, FILES.master)),
    out: str(v.out, 'out', path.join(env.dataDir, THRESHOLDS_FILE)),
    warningPct: num(v['warning-pct'], 'warning-pct', DEFAULT_DERIVE.warningPct, { min: 1, max: 100 }),
    alertPct: num(v['alert-pct'], 'alert-pct', DEFAULT_DERIVE.alertPct, { min: 1, max: 100 }),
    minWarning: int(v['min-warning'], 'min-warning', DEFAULT_DERIVE.minWarning, { min: 0 }),
    minAlert: int(v['min-alert'], 'min-alert', DEFAULT_DERIVE.minAlert, { min: 0 }),
    minGap: int(v['min-gap'], 'min-gap', DEFAULT_DERIVE.minGap, { min: 0 }),
  };
  if (o.alertPct < o.warningPct) {
    throw new TrafficError('INVALID_OPTION', `--alert-pct (${o.alertPct}) must be ≥ --warning-pct (${o.warningPct})`, {
      option: '--alert-pct',
    });
  }
  return o;
}

export const command: Command = {
  name: 'thresholds',
  summary: 'derive per-checkpoint congestion thresholds (kkmc_thresholds.csv) from history',
  usage,
  async run(argv) {
    const o = normalizeThresholdsOptions(argv);
    const progress = new Progress({ label: 'thresholds', unit: 'rows' });
    const { rows, summary } = await deriveThresholdsFile(o.in, o.out, o, () => progress.add());
    for (const s of summary.days.skipped) process.stderr.write(`thresholds: day ${s.day} skipped (${fmtInt(s.passes)} passes, ${s.why})\n`);
    progress.done(
      `thresholds: ${fmtInt(summary.records)} rows (${fmtInt(summary.synthetic)} synthetic and ${fmtInt(summary.bad)} bad not used), ` +
        `${summary.days.used.length} days used, ${summary.checkpoints} checkpoints → ${fmtInt(rows.length)} rows ` +
        `(P${o.warningPct}/P${o.alertPct}, floors ${o.minWarning}/${o.minAlert}) in ${o.out}`,
    );
    return 0;
  },
};
