/**
 * Raw input files (the monthly exports) → records in contract order, for stage 01.
 * CSV (UTF-8 or GB18030, detected per file) and XLSX (first sheet with data) look the same from
 * here on: a header recognised by content, then data records with their source line and text.
 * See docs/etl-readers.md for the rules.
 */
import type { Stats } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { TrafficError } from '../../core/errors.ts';
import { openCsvFile } from './csv-raw.ts';
import { openXlsxFile } from './xlsx.ts';
import { looksLikeZip } from './zip.ts';
import type { RawFileInfo, RawRecord } from './types.ts';

export type { RawFileInfo, RawRecord } from './types.ts';
export { recognizeHeader } from './header.ts';

/**
 * Opens one raw file; throws TrafficError (INPUT_NOT_FOUND, HEADER_UNRECOGNISED, XLSX_NO_DATA,
 * XLSX_INVALID) naming the file. `records` yields the data records after the header. For a CSV,
 * `info.sha256` (and the final `info.encoding`) are known once `records` has been read to the end.
 */
export async function openRawFile(file: string): Promise<{ info: RawFileInfo; records: AsyncGenerator<RawRecord> }> {
  const st = await statOrNull(file);
  if (!st) throw new TrafficError('INPUT_NOT_FOUND', `raw file not found: ${file}`, { file });
  if (!st.isFile()) throw new TrafficError('INPUT_NOT_FOUND', `not a file: ${file}`, { file });
  return (await formatOf(file)) === 'xlsx' ? openXlsxFile(file) : openCsvFile(file, st.size);
}

/** By extension; anything else by content (a zip is a workbook, the rest is read as CSV). */
async function formatOf(file: string): Promise<'csv' | 'xlsx'> {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.xlsx' || ext === '.xlsm' || ext === '.xls') return 'xlsx';
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    return looksLikeZip(head.subarray(0, bytesRead)) ? 'xlsx' : 'csv';
  } finally {
    await fh.close();
  }
}

const MONTH_RE = /^(\d{4})(0[1-9]|1[0-2])$/;
const RAW_EXT_RE = /\.(csv|xlsx)$/i;

/** A raw data file name: .csv/.xlsx, not hidden, not an Excel lock file (`~$name.xlsx`). */
export function isRawFileName(name: string): boolean {
  return RAW_EXT_RE.test(name) && !name.startsWith('.') && !name.startsWith('~$');
}

/**
 * Month folders (YYYYMM) under rawDir → their .csv/.xlsx files, in a deterministic order: files
 * lying directly in rawDir first, then month by month; by name (code-unit order) within each.
 * A path that is itself a .csv/.xlsx file is returned alone.
 */
export async function listRawFiles(rawDir: string): Promise<string[]> {
  const st = await statOrNull(rawDir);
  if (!st) throw new TrafficError('INPUT_NOT_FOUND', `raw input folder not found: ${rawDir}`, { file: rawDir });
  if (st.isFile()) {
    if (isRawFileName(path.basename(rawDir))) return [rawDir];
    throw new TrafficError('INPUT_NOT_FOUND', `raw input must be a folder of month folders (YYYYMM) or a .csv/.xlsx file: ${rawDir}`, {
      file: rawDir,
    });
  }
  const top = await readdir(rawDir, { withFileTypes: true });
  const months: string[] = [];
  const rootFiles: string[] = [];
  for (const e of top) {
    const full = path.join(rawDir, e.name);
    if (MONTH_RE.test(e.name) && (await isDir(full, e.isDirectory(), e.isSymbolicLink()))) months.push(e.name);
    else if (isRawFileName(e.name) && (await isRegularFile(full, e.isFile(), e.isSymbolicLink()))) rootFiles.push(e.name);
  }
  months.sort(byCodeUnits);
  rootFiles.sort(byCodeUnits);
  const out = rootFiles.map((n) => path.join(rawDir, n));
  for (const m of months) {
    const dir = path.join(rawDir, m);
    const names: string[] = [];
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (isRawFileName(e.name) && (await isRegularFile(path.join(dir, e.name), e.isFile(), e.isSymbolicLink()))) {
        names.push(e.name);
      }
    }
    names.sort(byCodeUnits);
    for (const n of names) out.push(path.join(dir, n));
  }
  if (out.length === 0) {
    const why = months.length
      ? `month folder(s) ${months.join(', ')} hold no .csv or .xlsx file`
      : 'no month folder (YYYYMM, e.g. 202401/) and no .csv or .xlsx file in it';
    throw new TrafficError('INPUT_EMPTY', `no raw files under ${rawDir}: ${why}`, { file: rawDir });
  }
  return out;
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function statOrNull(p: string): Promise<Stats | null> {
  try {
    return await stat(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}

async function isDir(p: string, dir: boolean, link: boolean): Promise<boolean> {
  if (!link) return dir;
  return (await statOrNull(p))?.isDirectory() ?? false;
}

async function isRegularFile(p: string, file: boolean, link: boolean): Promise<boolean> {
  if (!link) return file;
  return (await statOrNull(p))?.isFile() ?? false;
}
