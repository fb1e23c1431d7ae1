/** Reading a generated sample back: every raw file → rows (8 fields), and the truth rows. */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import ExcelJS from 'exceljs';
import iconv from 'iconv-lite';
import { parseCsv } from '../../core/csv.ts';

export interface FileRows {
  rel: string;
  header: string[];
  rows: string[][];
}

export async function listDataFiles(out: string): Promise<string[]> {
  const rel: string[] = [];
  for (const d of (await readdir(out)).sort()) {
    if (!/^\d{6}$/.test(d)) continue;
    for (const f of (await readdir(path.join(out, d))).sort()) rel.push(`${d}/${f}`);
  }
  return rel;
}

export async function readCsvGbk(file: string): Promise<{ header: string[]; rows: string[][] }> {
  const recs = parseCsv(iconv.decode(await readFile(file), 'gb18030'));
  return { header: recs[0]!.fields, rows: recs.slice(1).map((r) => r.fields) };
}

/** All values as the sheet holds them (text cells come back as strings). */
export async function readXlsx(file: string): Promise<{ sheets: string[]; header: string[]; rows: unknown[][] }> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(file);
  const ws = wb.worksheets[0]!;
  const all: unknown[][] = [];
  ws.eachRow({ includeEmpty: false }, (row) => {
    const vals = row.values as unknown[];
    all.push(vals.slice(1, 9));
  });
  return { sheets: wb.worksheets.map((w) => w.name), header: all[0] as string[], rows: all.slice(1) };
}

export async function readAll(out: string): Promise<FileRows[]> {
  const result: FileRows[] = [];
  for (const rel of await listDataFiles(out)) {
    const file = path.join(out, rel);
    if (rel.endsWith('.csv')) result.push({ rel, ...(await readCsvGbk(file)) });
    else {
      const x = await readXlsx(file);
      result.push({ rel, header: x.header, rows: x.rows.map((r) => r.map((v) => String(v))) });
    }
  }
  return result;
}

export async function readTruth(file: string): Promise<Record<string, string>[]> {
  const recs = parseCsv(await readFile(file, 'utf8'));
  const head = recs[0]!.fields;
  return recs.slice(1).map((r) => Object.fromEntries(head.map((h, i) => [h, r.fields[i] ?? ''])));
}

/** A readable masked plate: province + city letter + 2 visible characters + `***`. */
export const GOOD_PLATE = /^[京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新][A-Z][A-Z0-9]{2}\*\*\*$/;
