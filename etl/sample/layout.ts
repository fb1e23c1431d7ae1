/**
 * Which files a sample consists of, mirroring the real exports: months before 2024 are GBK CSV
 * files, one a day (`12-01.csv` unquoted with minute times; `to_yqy_1209.csv` / `to_yqy_12017.csv`
 * all quoted with seconds); from 2024 on, XLSX files (`01.xlsx`, and one file covering several
 * days like `16-20.xlsx`, right after the first). In the last CSV month the last day has no file at all and the day
 * before it is a byte copy of the day before that (like `to_yqy_12018.csv` = `to_yqy_12017.csv`).
 */
import { addDays } from '../../core/time.ts';

export type FileFormat = 'csv-minutes' | 'csv-quoted' | 'xlsx';

export interface PlannedFile {
  /** Relative to the output root, with `/` separators: `202312/12-27.csv`. */
  path: string;
  format: FileFormat;
  /** The days whose passes the file holds (for a copy: the source's day). */
  days: string[];
  /** Set on a byte copy: the path of the file it copies. */
  copyOf?: string;
  /** XLSX: add an empty Sheet2 after the data sheet (as in the real January files). */
  emptySheet2?: boolean;
}

export type MissingReason = 'no_file' | 'copy_of_other_day';

export interface MissingDay {
  day: string;
  reason: MissingReason;
  /** The file named for the day (copy), if any. */
  file?: string;
  /** The day whose passes the copy holds. */
  copyOfDay?: string;
}

export interface SamplePlan {
  days: string[];
  files: PlannedFile[];
  missing: MissingDay[];
}

/** First month written as XLSX; earlier months are CSV. */
export const FIRST_XLSX_MONTH = '2024-01';

export function isXlsxMonth(day: string): boolean {
  return day.slice(0, 7) >= FIRST_XLSX_MONTH;
}

const monthDir = (day: string): string => day.slice(0, 4) + day.slice(5, 7);

function csvName(day: string, format: FileFormat): string {
  const mm = day.slice(5, 7);
  const dd = day.slice(8, 10);
  if (format === 'csv-minutes') return `${mm}-${dd}.csv`;
  // The real names: to_yqy_1209.csv for the 9th, to_yqy_12017.csv for the 17th.
  return Number(dd) < 10 ? `to_yqy_${Number(mm)}${dd}.csv` : `to_yqy_${Number(mm)}0${dd}.csv`;
}

function xlsxName(days: string[]): string {
  const first = (days[0] as string).slice(8, 10);
  const last = (days[days.length - 1] as string).slice(8, 10);
  return days.length === 1 ? `${first}.xlsx` : `${first}-${last}.xlsx`;
}

/** Consecutive days from `start`, grouped by month in order. */
function byMonth(days: string[]): string[][] {
  const groups: string[][] = [];
  for (const d of days) {
    const g = groups[groups.length - 1];
    if (g && (g[0] as string).slice(0, 7) === d.slice(0, 7)) g.push(d);
    else groups.push([d]);
  }
  return groups;
}

export function planSample(start: string, count: number): SamplePlan {
  const days = Array.from({ length: count }, (_, i) => addDays(start, i));
  const months = byMonth(days);
  const csvMonths = months.filter((m) => !isXlsxMonth(m[0] as string));
  const xlsxMonths = months.filter((m) => isXlsxMonth(m[0] as string));
  const files: PlannedFile[] = [];
  const missing: MissingDay[] = [];

  const lastCsv = csvMonths[csvMonths.length - 1];
  for (const month of csvMonths) {
    // Minute-precision unquoted files for the first day and days 1–8 (as 12-01.csv), quoted after.
    const formatOf = (d: string): FileFormat => (d === month[0] || Number(d.slice(8, 10)) <= 8 ? 'csv-minutes' : 'csv-quoted');
    let copySource: string | undefined;
    let copyTarget: string | undefined;
    let noFile: string | undefined;
    if (month === lastCsv && month.length >= 3) {
      [copySource, copyTarget, noFile] = month.slice(-3);
    } else if (month === lastCsv && month.length === 2) {
      [copySource, copyTarget] = month;
    }
    for (const d of month) {
      if (d === noFile) {
        missing.push({ day: d, reason: 'no_file' });
        continue;
      }
      if (d === copyTarget && copySource) {
        const src = files.find((f) => f.days[0] === copySource) as PlannedFile;
        const p = `${monthDir(d)}/${csvName(d, src.format)}`;
        files.push({ path: p, format: src.format, days: [copySource], copyOf: src.path });
        missing.push({ day: d, reason: 'copy_of_other_day', file: p, copyOfDay: copySource });
        continue;
      }
      const format = formatOf(d);
      files.push({ path: `${monthDir(d)}/${csvName(d, format)}`, format, days: [d] });
    }
  }

  xlsxMonths.forEach((month, mi) => {
    // In the first XLSX month: a single-day file, then one file of up to five days, then singles.
    const groups: string[][] = [];
    if (mi === 0 && month.length >= 3) {
      groups.push([month[0] as string]);
      groups.push(month.slice(1, 6));
      groups.push(...month.slice(6).map((d) => [d]));
    } else {
      groups.push(...month.map((d) => [d]));
    }
    groups.forEach((g, gi) => {
      const f: PlannedFile = { path: `${monthDir(g[0] as string)}/${xlsxName(g)}`, format: 'xlsx', days: g };
      if (mi === 0 && gi === 0) f.emptySheet2 = true;
      files.push(f);
    });
  });

  return { days, files, missing };
}

/**
 * Default first day: the range crosses the December→January change, with at least nine December
 * days when the range allows, so that both missing December days have a same-weekday complete
 * day a week earlier inside the sample (what the ETL's missing-day fill needs).
 */
export function defaultStart(days: number): string {
  const december = Math.max(Math.ceil(days / 2), Math.min(9, days - 3));
  return addDays('2024-01-01', -Math.max(1, Math.min(days, december)));
}
