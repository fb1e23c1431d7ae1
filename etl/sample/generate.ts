/**
 * Writes a raw sample shaped like the real exports (see layout.ts for the files, passes.ts for the
 * rows) plus the truth about every value it blanked or broke, in `truth/` beside the month folders
 * (the raw lister reads YYYYMM folders and .csv/.xlsx files lying in the root, so a truth CSV in
 * the root would be taken for raw data):
 *   truth/truth.csv               GCXH, FIELD, TRUE_VALUE, WRITTEN_VALUE, KIND, FILE, TRUE_PLATE
 *   truth/truth_missing_days.csv  DAY, REASON, FILE, COPY_OF_DAY, EXPECTED_PASSES
 *   truth/truth_summary.json      options, files, missing days, checkpoint gaps, counts
 * Same (seed, days, start, passesPerDay) → byte-identical files.
 */
import { copyFile, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { csvText } from '../../core/io.ts';
import { TrafficError } from '../../core/errors.ts';
import { daysBetween } from '../../core/time.ts';
import { defaultStart, isXlsxMonth, planSample, type FileFormat, type PlannedFile } from './layout.ts';
import { CHECKPOINTS, buildRegularPool, dayVolume, generateDay, type CheckpointGap, type Pass } from './passes.ts';
import { CSV_REGIME, PROFILE, WEEKDAY_PASSES, XLSX_REGIME, brandRank } from './profile.ts';
import { ByteWriter, EncodedCache } from './bytes.ts';
import { buildXlsx } from './xlsx-writer.ts';

/**
 * 12 days (2023-12-23 … 2024-01-03): the fewest that hold every feature of the real exports with a
 * fill source for both missing December days (a complete same-weekday day a week earlier) and a
 * multi-day XLSX file; ~270k rows.
 */
export const DEFAULT_SAMPLE_DAYS = 12;
export const MAX_SAMPLE_DAYS = 400;

export interface SampleOptions {
  out: string;
  seed: number;
  days: number;
  /** YYYY-MM-DD; default: a range crossing Dec→Jan with ≥ 9 December days (2023-12-23 for 12 days). */
  startDate?: string;
  /** Mean passes on an ordinary weekday (default 26,500, i.e. ~25k a day over a week). */
  passesPerDay?: number;
  /** Replace raw files already in the month folders of `out` (otherwise that is an error). */
  overwrite?: boolean;
  /** Called with the rows written so far (progress display). */
  onRows?: (rows: number) => void;
}

export interface SampleSummary {
  /** Absolute paths of the raw files written (month folders), in date order. */
  files: string[];
  /** Data rows in those files (a byte copy counts again: it is what the ETL reads). */
  rows: number;
  truthFile: string;
  days: string[];
  /** Days left without passes of their own: no file at all, or a file copying another day. */
  missingDays: string[];
  truthMissingDaysFile: string;
  truthSummaryFile: string;
}

/** Truth files, relative to the output root (a folder that is not YYYYMM, so the ETL ignores it). */
export const TRUTH_DIR = 'truth';
export const TRUTH_FILES = {
  truth: 'truth/truth.csv',
  missingDays: 'truth/truth_missing_days.csv',
  summary: 'truth/truth_summary.json',
} as const;

const HEADERS: Record<FileFormat, string[]> = {
  'csv-minutes': ['GCXH', 'XZQHMC', 'KKMC', 'FXLX', 'GCSJ', 'HPZL', `"SUBSTR(HPHM,1,4)||'***'"`, 'CLPPXH'],
  'csv-quoted': ['GCXH', 'XZQHMC', 'KKMC', 'FXLX', 'GCSJ', 'HPZL', 'HP', 'CLPPXH'],
  xlsx: [`'G'||GCXH`, 'XZQHMC', 'KKMC', 'FXLX', `TO_CHAR(GCSJ,'YYYY-MM-DDHH24:M`, 'HPZL', `SUBSTR(HPHM,0,4)||'***'`, 'CLPPXH'],
};

const pad2 = (n: number): string => (n < 10 ? '0' + n : String(n));

/** GCSJ as each export writes it. */
function timeText(format: FileFormat, day: string, t: number): string {
  const h = Math.floor(t / 3600);
  const mi = Math.floor((t % 3600) / 60);
  const s = t % 60;
  if (format === 'xlsx') return `${day} ${pad2(h)}:${pad2(mi)}:${pad2(s)}`;
  const date = `${day.slice(0, 4)}/${Number(day.slice(5, 7))}/${Number(day.slice(8, 10))}`;
  // The unquoted export drops the seconds (truncates to the minute).
  return format === 'csv-minutes' ? `${date} ${h}:${pad2(mi)}` : `${date} ${h}:${pad2(mi)}:${pad2(s)}`;
}

function kkmcFor(cp: number, day: string): string {
  const c = CHECKPOINTS[cp]!;
  // One checkpoint is spelled with a leading 江苏省 in the January exports.
  return isXlsxMonth(day) && c.altName ? c.altName : c.name;
}

function rowFields(p: Pass, format: FileFormat): string[] {
  const c = CHECKPOINTS[p.cp]!;
  return [format === 'xlsx' ? 'G' + p.gcxh : p.gcxh, c.xzqhmc, kkmcFor(p.cp, p.day), c.fxlx, timeText(format, p.day, p.t), p.hpzl, p.hphm, p.clppxh];
}

/** The real exports list rows grouped by brand code, then by time (ids only roughly in order). */
function exportOrder(passes: Pass[]): Pass[] {
  // One numeric key per pass (brand group · time in the file · position), sorted natively:
  // 8 + 19 + 20 bits fit a double exactly. Same-second ties keep generation order.
  const n = passes.length;
  if (n >= 1 << 20) throw new Error(`too many passes in one file for the export sort: ${n}`);
  const first = passes.reduce((m, p) => (p.day < m ? p.day : m), passes[0]?.day ?? '');
  const keys = new Float64Array(n);
  const dayStart = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const p = passes[i] as Pass;
    let d = dayStart.get(p.day);
    if (d === undefined) dayStart.set(p.day, (d = daysBetween(first, p.day) * 86_400));
    const sec = d + p.t;
    keys[i] = (Math.min(brandRank(p.clppxh), 255) * 2 ** 19 + sec) * 2 ** 20 + i;
  }
  keys.sort();
  return Array.from(keys, (k) => passes[k % 2 ** 20] as Pass);
}

const gbk = new EncodedCache('gb18030');

function csvBytes(format: FileFormat, passes: Pass[]): Buffer {
  const quoted = format === 'csv-quoted';
  const w = new ByteWriter(Math.max(1 << 16, passes.length * 140));
  // Header cells as the exports wrote them (the unquoted file quotes only its SUBSTR cell).
  w.ascii((quoted ? '"' + HEADERS[format].join('","') + '"' : HEADERS[format].join(',')) + '\n');
  const sep = quoted ? '","' : ',';
  // The checkpoint columns (XZQHMC, KKMC, FXLX) are the same for every pass of a checkpoint and month.
  const middle = new Map<string, Buffer>();
  for (const p of passes) {
    const key = p.cp + (isXlsxMonth(p.day) ? 'x' : 'c');
    let mid = middle.get(key);
    if (mid === undefined) {
      const c = CHECKPOINTS[p.cp]!;
      mid = Buffer.concat([Buffer.from(sep), gbk.encode(c.xzqhmc), Buffer.from(sep), gbk.encode(kkmcFor(p.cp, p.day)), Buffer.from(sep + c.fxlx + sep)]);
      middle.set(key, mid);
    }
    w.ascii(quoted ? '"' + p.gcxh : p.gcxh);
    w.bytes(mid);
    w.ascii(timeText(format, p.day, p.t) + sep + p.hpzl + sep);
    gbk.write(w, p.hphm);
    w.ascii(sep);
    gbk.write(w, p.clppxh);
    w.ascii(quoted ? '"\n' : '\n');
  }
  return w.result();
}

function validate(opts: SampleOptions): { start: string; passesPerDay: number } {
  if (typeof opts.out !== 'string' || opts.out === '') throw new TrafficError('INVALID_OPTION', '--out is required', { option: '--out' });
  if (!Number.isSafeInteger(opts.seed)) throw new TrafficError('INVALID_OPTION', `--seed must be a whole number, got ${opts.seed}`, { option: '--seed' });
  if (!Number.isSafeInteger(opts.days) || opts.days < 1 || opts.days > MAX_SAMPLE_DAYS) {
    throw new TrafficError('INVALID_OPTION', `--days must be in [1, ${MAX_SAMPLE_DAYS}], got ${opts.days}`, { option: '--days' });
  }
  const start = opts.startDate ?? defaultStart(opts.days);
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(start);
  const valid = m && new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!)).toISOString().slice(0, 10) === start;
  if (!valid || start < '2020-01-01' || start > '2030-12-31') {
    throw new TrafficError('INVALID_OPTION', `--start must be a date YYYY-MM-DD in 2020–2030, got "${start}"`, { option: '--start' });
  }
  const passesPerDay = opts.passesPerDay ?? WEEKDAY_PASSES;
  if (!Number.isFinite(passesPerDay) || passesPerDay < 1 || passesPerDay > 1_000_000) {
    throw new TrafficError('INVALID_OPTION', `--passes-per-day must be in [1, 1000000], got ${passesPerDay}`, { option: '--passes-per-day' });
  }
  return { start, passesPerDay };
}

/** Raw files already in month folders are someone's data: refuse, or with `overwrite` remove them. */
async function prepareOut(out: string, overwrite: boolean): Promise<void> {
  await mkdir(out, { recursive: true });
  const found: string[] = [];
  for (const e of await readdir(out, { withFileTypes: true })) {
    if (!e.isDirectory() || !/^\d{6}$/.test(e.name)) continue;
    for (const f of await readdir(path.join(out, e.name))) {
      if (/\.(csv|xlsx)$/i.test(f)) found.push(`${e.name}/${f}`);
    }
  }
  if (found.length === 0) return;
  if (!overwrite) {
    throw new TrafficError(
      'INVALID_OPTION',
      `${out} already holds raw files (${found.slice(0, 3).join(', ')}${found.length > 3 ? ', …' : ''}); choose an empty --out or pass --force to replace them`,
      { option: '--out' },
    );
  }
  for (const f of found) await rm(path.join(out, f));
  for (const f of Object.values(TRUTH_FILES)) await rm(path.join(out, ...f.split('/')), { force: true });
}

export async function generateSample(opts: SampleOptions): Promise<SampleSummary> {
  const { start, passesPerDay } = validate(opts);
  const out = path.resolve(opts.out);
  await prepareOut(out, opts.overwrite ?? false);
  const plan = planSample(start, opts.days);
  const pool = buildRegularPool(opts.seed, passesPerDay);

  const truthHead = ['GCXH', 'FIELD', 'TRUE_VALUE', 'WRITTEN_VALUE', 'KIND', 'FILE', 'TRUE_PLATE'];
  const truthRows: string[][] = [];
  const truthCounts: Record<string, Record<string, number>> = { HPZL: {}, HPHM: {}, CLPPXH: {} };
  const fileSummaries: { path: string; format: FileFormat; days: string[]; rows: number; copyOf?: string; emptySheet2?: boolean }[] = [];
  const gaps: CheckpointGap[] = [];
  const written = new Map<string, number>();
  let rows = 0;

  for (const f of plan.files) {
    const abs = path.join(out, ...f.path.split('/'));
    await mkdir(path.dirname(abs), { recursive: true });
    if (f.copyOf) {
      await copyFile(path.join(out, ...f.copyOf.split('/')), abs);
      const n = written.get(f.copyOf) ?? 0;
      rows += n;
      fileSummaries.push({ path: f.path, format: f.format, days: f.days, rows: n, copyOf: f.copyOf });
      opts.onRows?.(rows);
      continue;
    }
    const regime = f.format === 'xlsx' ? XLSX_REGIME : CSV_REGIME;
    const passes: Pass[] = [];
    for (const day of f.days) {
      const g = generateDay(opts.seed, day, passesPerDay, regime, pool);
      // Name the checkpoint as that month's files spell it.
      for (const gap of g.volume.gaps)
        gaps.push({
          ...gap,
          kkmc: kkmcFor(
            CHECKPOINTS.findIndex((c) => c.name === gap.kkmc),
            day,
          ),
        });
      for (const p of g.passes) passes.push(p);
    }
    const ordered = exportOrder(passes);
    for (const p of ordered) {
      if (!p.truth) continue;
      for (const t of p.truth) {
        truthRows.push([p.gcxh, t.field, t.trueValue, t.written, t.kind, f.path, t.plate ?? '']);
        const c = truthCounts[t.field]!;
        c[t.kind] = (c[t.kind] ?? 0) + 1;
      }
    }
    const bytes = f.format === 'xlsx' ? xlsxBytes(f, ordered) : csvBytes(f.format, ordered);
    await writeFile(abs, bytes);
    written.set(f.path, ordered.length);
    rows += ordered.length;
    fileSummaries.push({ path: f.path, format: f.format, days: f.days, rows: ordered.length, ...(f.emptySheet2 ? { emptySheet2: true } : {}) });
    opts.onRows?.(rows);
  }

  const missing = plan.missing.map((m) => ({ ...m, expectedPasses: dayVolume(opts.seed, m.day, passesPerDay).total }));
  await mkdir(path.join(out, TRUTH_DIR), { recursive: true });
  const truthFile = path.join(out, ...TRUTH_FILES.truth.split('/'));
  await writeFile(truthFile, csvText(truthHead, truthRows));
  const missingFile = path.join(out, ...TRUTH_FILES.missingDays.split('/'));
  await writeFile(
    missingFile,
    csvText(
      ['DAY', 'REASON', 'FILE', 'COPY_OF_DAY', 'EXPECTED_PASSES'],
      missing.map((m) => [m.day, m.reason, m.file ?? '', m.copyOfDay ?? '', String(m.expectedPasses)]),
    ),
  );
  const summaryFile = path.join(out, ...TRUTH_FILES.summary.split('/'));
  const summary = {
    format: 'traffic-sample-truth/1',
    options: { seed: opts.seed, days: opts.days, startDate: start, passesPerDay },
    days: plan.days,
    rows,
    files: fileSummaries,
    missingDays: missing,
    minutePrecisionFiles: fileSummaries.filter((f) => f.format === 'csv-minutes').map((f) => f.path),
    checkpointGaps: gaps,
    truthCounts,
    profileSource: PROFILE.source,
  };
  await writeFile(summaryFile, JSON.stringify(summary, null, 2) + '\n');

  return {
    files: plan.files.map((f) => path.join(out, ...f.path.split('/'))),
    rows,
    truthFile,
    days: plan.days,
    missingDays: plan.missing.map((m) => m.day),
    truthMissingDaysFile: missingFile,
    truthSummaryFile: summaryFile,
  };
}

function xlsxBytes(f: PlannedFile, passes: Pass[]): Buffer {
  return buildXlsx({
    header: HEADERS.xlsx,
    rows: passes.map((p) => rowFields(p, 'xlsx')),
    emptySheet2: f.emptySheet2 ?? false,
  });
}
