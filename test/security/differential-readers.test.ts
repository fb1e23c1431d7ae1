/**
 * Differential tests of our own readers against the reference parsers on generated files: the
 * CSV reader against csv-parse (after iconv-lite decoding), the XLSX reader against exceljs. The
 * files mix what the exports and their edge cases hold: quotes, embedded newlines, CRLF and LF,
 * a BOM or none, UTF-8 and GBK (characters whose second byte is ASCII-range, four-byte GB18030),
 * empty cells, very long cells; for XLSX shared and inline strings, dates, numbers, booleans.
 * Seeded: the same files every run.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import ExcelJS from 'exceljs';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../core/random.ts';
import { openRawFile, type RawRecord } from '../../etl/read/raw.ts';
import { buildXlsx } from '../../etl/sample/xlsx-writer.ts';
import { int, pick, type Rand } from './fuzz-helpers.ts';

const HEADER = ['GCXH', 'XZQHMC', 'KKMC', 'FXLX', 'GCSJ', 'HPZL', 'HPHM', 'CLPPXH'];
const tmp = mkdtempSync(path.join(os.tmpdir(), 'traffic-diff-'));

async function ours(file: string): Promise<RawRecord[]> {
  const { records } = await openRawFile(file);
  const out: RawRecord[] = [];
  for await (const r of records) out.push(r);
  return out;
}

/** A random GBK double-byte character (trail bytes include the ASCII range 0x40–0x7E). */
function gbkChar(r: Rand): string {
  for (;;) {
    const lead = 0x81 + int(r, 0x7e);
    const trail = pick(r, [0x40 + int(r, 0x3f), 0x80 + int(r, 0x7f)]);
    if (trail === 0x7f) continue;
    const s = iconv.decode(Buffer.from([lead, trail]), 'gbk');
    if (s.length === 1 && s !== '\ufffd' && iconv.encode(s, 'gbk').length === 2) return s;
  }
}

function cell(r: Rand, gbk: boolean): string {
  switch (int(r, 10)) {
    case 0:
      return '';
    case 1:
      return 'a,b';
    case 2:
      return 'say "hi"';
    case 3:
      return 'line1\nline2';
    case 4:
      return pick(r, ['line1\r\nline2', ' lead and trail ', '-', '=1+1']);
    case 5:
      return Array.from({ length: 1 + int(r, 12) }, () => gbkChar(r)).join('');
    case 6:
      return gbk ? '𠀀丰县' : '🚗苏C·12345';
    case 7:
      return r() < 0.1 ? 'L'.repeat(50_000 + int(r, 50_000)) : String(int(r, 1e9));
    default:
      return `苏C${int(r, 99999)}`;
  }
}

const quote = (v: string): string => (/[",\r\n]/.test(v) || v.startsWith(' ') ? '"' + v.replace(/"/g, '""') + '"' : v);

describe('our CSV reader reads generated files exactly as csv-parse does', () => {
  const r = mulberry32(7);
  const files = Array.from({ length: 24 }, (_, k) => {
    const gbk = k % 3 === 0;
    const eol = k % 2 ? '\r\n' : '\n';
    const bom = !gbk && k % 4 === 1;
    const allQuoted = k % 5 === 0;
    const rows = Array.from({ length: 5 + int(r, 60) }, () => HEADER.map(() => cell(r, gbk)));
    const line = (cells: string[]): string => cells.map((c) => (allQuoted ? '"' + c.replace(/"/g, '""') + '"' : quote(c))).join(',');
    let text = [HEADER.join(','), ...rows.map(line)].join(eol) + (r() < 0.7 ? eol : '');
    if (r() < 0.3) text = text.replace(eol + rows.map(line)[0], eol + eol + rows.map(line)[0]); // a blank line
    const bytes = gbk ? iconv.encode(text, 'gb18030') : Buffer.concat([Buffer.from(bom ? [0xef, 0xbb, 0xbf] : []), Buffer.from(text, 'utf8')]);
    const file = path.join(tmp, `gen-${k}${gbk ? '-gbk' : bom ? '-bom' : ''}${eol === '\r\n' ? '-crlf' : ''}.csv`);
    writeFileSync(file, bytes);
    return { file, gbk, bytes, rows };
  });

  it.each(files.map((f) => [path.basename(f.file), f] as const))('%s', async (_n, f) => {
    const text = f.gbk ? iconv.decode(f.bytes, 'gb18030') : f.bytes.toString('utf8');
    const expected = (parse(text, { bom: true, relax_column_count: true, skip_empty_lines: true }) as string[][]).slice(1);
    const got = await ours(f.file);
    expect(got.map((x) => x.fields)).toEqual(expected);
    expect(got.map((x) => x.fields)).toEqual(f.rows);
    expect(got.every((x) => x.error === undefined)).toBe(true);
  });
});

/** exceljs's view of a cell as text, the way our reader prints values. */
function exceljsText(v: ExcelJS.CellValue): string {
  if (v === null || v === undefined) return '';
  if (v instanceof Date) return v.toISOString().slice(0, 19).replace('T', ' ');
  if (typeof v === 'object' && 'richText' in v) return v.richText.map((t) => t.text).join('');
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  return String(v);
}

async function exceljsRows(file: string): Promise<string[][]> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(file);
  const ws = wb.worksheets[0]!;
  const rows: string[][] = [];
  ws.eachRow({ includeEmpty: false }, (row, n) => {
    if (n === 1) return;
    const cells: string[] = [];
    for (let c = 1; c <= 8; c++) cells.push(exceljsText(row.getCell(c).value));
    rows.push(cells);
  });
  return rows;
}

function xlsxValue(r: Rand, col: number): ExcelJS.CellValue {
  if (col === 4 && r() < 0.7) return new Date(Date.UTC(2023, 11, 1 + int(r, 30), int(r, 24), int(r, 60), int(r, 60)));
  switch (int(r, 9)) {
    case 0:
      return null;
    case 1:
      return int(r, 1e6);
    case 2:
      return Math.round(r() * 1e6) / 100;
    case 3:
      return r() < 0.5;
    case 4:
      return { richText: [{ text: '苏' }, { text: `C${int(r, 999)}` }] };
    case 5:
      return 'a&b<c>"d"\'e\'';
    case 6:
      return 'line1\nline2';
    case 7:
      return r() < 0.2 ? 'W'.repeat(30_000) : Array.from({ length: 1 + int(r, 8) }, () => gbkChar(r)).join('');
    default:
      return ` 丰县 ${int(r, 100)}`;
  }
}

describe('our XLSX reader reads generated workbooks exactly as exceljs does', () => {
  const r = mulberry32(11);
  const cases = Array.from({ length: 12 }, (_, k) => ({ k, shared: k % 2 === 0 }));

  it.each(cases.map((c) => [`workbook ${c.k} (${c.shared ? 'shared' : 'inline'} strings)`, c] as const))('%s', async (_n, c) => {
    const file = path.join(tmp, `gen-${c.k}.xlsx`);
    const rows = Array.from({ length: 3 + int(r, 40) }, () => HEADER.map((_h, col) => xlsxValue(r, col)));
    const wb = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: file, useSharedStrings: c.shared, useStyles: true });
    const ws = wb.addWorksheet('data');
    ws.addRow(HEADER).commit();
    for (const row of rows) {
      const added = ws.addRow(row);
      const d = added.getCell(5);
      if (d.value instanceof Date) d.numFmt = 'yyyy-mm-dd hh:mm:ss';
      added.commit();
    }
    ws.commit();
    await wb.commit();
    const expected = await exceljsRows(file);
    const got = (await ours(file)).map((x) => x.fields);
    expect(got).toEqual(expected);
  });

  it('the FlexCel-shaped sample workbooks (every cell a shared string) too', async () => {
    const rows = Array.from({ length: 50 }, () => HEADER.map(() => cell(r, false).slice(0, 3000)));
    const file = path.join(tmp, 'flexcel.xlsx');
    writeFileSync(file, buildXlsx({ header: HEADER, rows, emptySheet2: true }));
    const expected = await exceljsRows(file);
    const got = (await ours(file)).filter((x) => x.fields.some((f) => f !== '')).map((x) => x.fields);
    expect(got).toEqual(expected);
    // The sample writer puts a CR into the XML as is; XML parsers hand it on as LF (XML 1.0 §2.11).
    expect(got).toEqual(rows.filter((row) => row.some((f) => f !== '')).map((row) => row.map((f) => f.replace(/\r\n?/g, '\n'))));
  });
});
