/** `traffic data:sample --out DIR [--seed S] [--days N] [--start YYYY-MM-DD] [--passes-per-day N] [--force]` */
import path from 'node:path';
import { int, parseFlags, str, optStr } from '../../core/args.ts';
import type { Command } from '../../core/command.ts';
import { Progress, fmtInt, fmtRate } from '../../core/progress.ts';
import { DEFAULT_SAMPLE_DAYS, MAX_SAMPLE_DAYS, generateSample } from './generate.ts';
import { WEEKDAY_PASSES } from './profile.ts';

const usage = `usage: traffic data:sample --out DIR [--seed S] [--days N] [--start YYYY-MM-DD] [--passes-per-day N] [--force]

Writes raw files shaped like the real exports (GBK CSV months, XLSX from 2024-01) into DIR/YYYYMM/,
and the truth about every blanked or misread value into DIR/truth/ (truth.csv, truth_missing_days.csv,
truth_summary.json; not a month folder, so the ETL does not read it).

  --out DIR             output root (default data/raw)
  --seed S              random seed; same seed and options → byte-identical files (default 1)
  --days N              days to cover, 1–${MAX_SAMPLE_DAYS} (default ${DEFAULT_SAMPLE_DAYS})
  --start YYYY-MM-DD    first day (default: a range crossing Dec→Jan, e.g. 2023-12-23 for 12 days)
  --passes-per-day N    mean passes on a weekday (default ${WEEKDAY_PASSES}; ~25k a day over a week)
  --force               replace raw files already in DIR's month folders
`;

export const command: Command = {
  name: 'data:sample',
  summary: 'write realistic raw sample files (+ truth)',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, {
      out: { type: 'string' },
      seed: { type: 'string' },
      days: { type: 'string' },
      start: { type: 'string' },
      'passes-per-day': { type: 'string' },
      force: { type: 'boolean' },
    });
    const out = path.resolve(str(values.out, 'out', 'data/raw'));
    const seed = int(values.seed, 'seed', 1);
    const days = int(values.days, 'days', DEFAULT_SAMPLE_DAYS, { min: 1, max: MAX_SAMPLE_DAYS });
    const startDate = optStr(values.start, 'start');
    const passesPerDay = int(values['passes-per-day'], 'passes-per-day', WEEKDAY_PASSES, { min: 1, max: 1_000_000 });
    const progress = new Progress({ label: 'data:sample', unit: 'rows' });
    let last = 0;
    const s = await generateSample({
      out,
      seed,
      days,
      passesPerDay,
      overwrite: values.force === true,
      ...(startDate === undefined ? {} : { startDate }),
      onRows: (n) => {
        progress.add(n - last);
        last = n;
      },
    });
    progress.done(
      `data:sample: ${fmtInt(s.rows)} rows in ${s.files.length} files, ${s.days[0]} … ${s.days[s.days.length - 1]} ` +
        `(${s.days.length} days, missing ${s.missingDays.join(', ') || 'none'}), seed ${seed}, ` +
        `${progress.seconds.toFixed(2)} s (${fmtRate(s.rows, progress.seconds)}) → ${out}; truth: ${path.relative(out, s.truthFile)}`,
    );
    return 0;
  },
};
