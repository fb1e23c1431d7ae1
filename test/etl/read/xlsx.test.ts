import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { strToU8, zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRawFile, type RawRecord } from '../../../etl/read/raw.ts';
import { TrafficError } from '../../../core/errors.ts';

const FIX = path.join(import.meta.dirname, '../../fixtures/raw');
const REAL_01 = '/work/shared/realdata/202401/01.xlsx';
const HEADER = ['GCXH', 'XZQHMC', 'KKMC', 'FXLX', 'GCSJ', 'HPZL', 'HPHM', 'CLPPXH'];

async function readAll(file: string) {
  const { info, records } = await openRawFile(file);
  const recs: RawRecord[] = [];
  for await (const r of records) recs.push(r);
  return { info, recs };
}

async function rejection(p: Promise<unknown>): Promise<TrafficError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TrafficError);
    return err as TrafficError;
  }
  throw new Error('expected a TrafficError');
}

/** Every row of the first sheet as exceljs (an independent reader) sees it, as text. */
async function exceljsRows(file: string): Promise<string[][]> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(file);
  const ws = wb.worksheets[0]!;
  const rows: string[][] = [];
  ws.eachRow((row) => {
    const cells: string[] = [];
    for (let c = 1; c <= 8; c++) cells.push(String(row.getCell(c).value ?? ''));
    rows.push(cells);
  });
  return rows;
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'raw-xlsx-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('raw XLSX: excerpts of the real January workbooks', () => {
  it('reads the 01.xlsx excerpt: export-expression header, known first record, empty Sheet2 ignored', async () => {
    const file = path.join(FIX, '202401/01.head30.xlsx');
    const { info, recs } = await readAll(file);
    expect(info.format).toBe('xlsx');
    expect(info.sheet).toBe('Sheet1');
    expect(info.headerLine).toBe(1);
    expect(info.header).toEqual(["'G'||GCXH", 'XZQHMC', 'KKMC', 'FXLX', "TO_CHAR(GCSJ,'YYYY-MM-DDHH24:M", 'HPZL', "SUBSTR(HPHM,0,4)||'***'", 'CLPPXH']);
    expect(info.encoding).toBeUndefined();
    expect(info.sha256).toBe(
      createHash('sha256')
        .update(await readFile(file))
        .digest('hex'),
    );
    expect(recs).toHaveLength(29);
    expect(recs[0]).toEqual({
      fields: [
        'G320300109027253771',
        '高速五大队',
        'G3京台高速K731江苏高速五大队江苏徐州-G3-苏鲁界省际卡口',
        '1',
        '2024-01-01 00:00:24',
        '02',
        '鲁RE6***',
        '-',
      ],
      line: 2,
      raw: 'G320300109027253771,高速五大队,G3京台高速K731江苏高速五大队江苏徐州-G3-苏鲁界省际卡口,1,2024-01-01 00:00:24,02,鲁RE6***,-',
    });
    expect(recs[28]?.line).toBe(30);
  });

  it.each(['01.head30.xlsx', '16-20.head30.xlsx'])('%s reads like exceljs, row for row', async (name) => {
    const file = path.join(FIX, '202401', name);
    const { info, recs } = await readAll(file);
    const expected = await exceljsRows(file);
    expect([info.header, ...recs.map((r) => r.fields)]).toEqual(expected);
    expect(recs.every((r) => r.error === undefined)).toBe(true);
  });
});

describe.skipIf(!existsSync(REAL_01))('raw XLSX: the real 01.xlsx (skipped: /work/shared/realdata absent)', () => {
  it('reads all 11,771 records, the first as known, the same as exceljs', async () => {
    const { info, recs } = await readAll(REAL_01);
    expect(recs).toHaveLength(11771);
    expect(recs[0]?.fields).toEqual([
      'G320300109027253771',
      '高速五大队',
      'G3京台高速K731江苏高速五大队江苏徐州-G3-苏鲁界省际卡口',
      '1',
      '2024-01-01 00:00:24',
      '02',
      '鲁RE6***',
      '-',
    ]);
    expect(recs[11770]?.line).toBe(11772);
    const expected = await exceljsRows(REAL_01);
    expect([info.header, ...recs.map((r) => r.fields)]).toEqual(expected);
  });
});

describe('raw XLSX: written by exceljs', () => {
  it('turns date cells into canonical China time, reads rich text and skipped cells (shared strings)', async () => {
    const wb = new ExcelJS.Workbook();
    const ws = wb.addWorksheet('过车');
    ws.addRow(['过车序号', '行政区划名称', '卡口名称', '方向类型', '过车时间', '号牌种类', '号牌号码', '车辆品牌型号']);
    // exceljs stores a Date's UTC fields as the wall-clock time: these are China local times.
    const r2 = ws.addRow([
      'G1',
      { richText: [{ text: '邳州' }, { font: { bold: true }, text: '市' }] },
      'K&<>"\'',
      1,
      new Date(Date.UTC(2024, 0, 1, 0, 0, 24)),
      '02',
      '苏CD7***',
    ]);
    r2.getCell(5).numFmt = 'yyyy-mm-dd hh:mm:ss';
    ws.addRow(['G2', '丰县', '卡口2', 2, new Date(Date.UTC(2023, 11, 31, 23, 59, 59)), '01', '鲁Q02***', '福田牌']).getCell(5).numFmt = 'yyyy/m/d h:mm:ss';
    // Default date format (date only) and a whole day: a date with no time.
    ws.addRow(['G3', '丰县', '卡口2', 2, new Date(Date.UTC(2024, 0, 2)), '01', '鲁Q03***', '-']);
    // Midnight in a format that shows the time is a real time.
    ws.addRow(['G4', '丰县', '卡口2', 2, new Date(Date.UTC(2024, 0, 3)), '01', '鲁Q04***', '-']).getCell(5).numFmt = 'yyyy-mm-dd hh:mm:ss';
    // Cells skipped in the middle (HPZL) and at the end (CLPPXH).
    const r6 = ws.getRow(6);
    r6.getCell(1).value = 'G5';
    r6.getCell(5).value = new Date(Date.UTC(2024, 0, 4, 12, 30, 0));
    r6.getCell(5).numFmt = 'yyyy-mm-dd hh:mm:ss';
    r6.getCell(7).value = '皖L5Y***';
    const file = path.join(tmp, 'exceljs-shared.xlsx');
    await wb.xlsx.writeFile(file);

    const { info, recs } = await readAll(file);
    expect(info.sheet).toBe('过车');
    expect(recs.map((r) => [r.line, ...r.fields])).toEqual([
      [2, 'G1', '邳州市', 'K&<>"\'', '1', '2024-01-01 00:00:24', '02', '苏CD7***', ''],
      [3, 'G2', '丰县', '卡口2', '2', '2023-12-31 23:59:59', '01', '鲁Q02***', '福田牌'],
      [4, 'G3', '丰县', '卡口2', '2', '2024-01-02', '01', '鲁Q03***', '-'],
      [5, 'G4', '丰县', '卡口2', '2', '2024-01-03 00:00:00', '01', '鲁Q04***', '-'],
      [6, 'G5', '', '', '', '2024-01-04 12:30:00', '', '皖L5Y***', ''],
    ]);
    expect(recs[0]?.raw).toBe('G1,邳州市,"K&<>""\'",1,2024-01-01 00:00:24,02,苏CD7***,');
  });

  it('reads inline strings and formula-less str cells from the streaming writer', async () => {
    const file = path.join(tmp, 'exceljs-inline.xlsx');
    const wb = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: file, useSharedStrings: false, useStyles: true });
    const ws = wb.addWorksheet('Passes');
    ws.addRow(HEADER).commit();
    const r = ws.addRow([
      'G1',
      { richText: [{ text: '新沂' }, { font: { italic: true }, text: '市' }] },
      'a & b',
      1,
      new Date(Date.UTC(2024, 0, 16, 0, 0, 42)),
      '52',
      '苏CF2***',
      '-',
    ]);
    r.getCell(5).numFmt = 'yyyy-mm-dd hh:mm:ss';
    r.commit();
    await wb.commit();
    const { recs } = await readAll(file);
    expect(recs.map((x) => x.fields)).toEqual([['G1', '新沂市', 'a & b', '1', '2024-01-16 00:00:42', '52', '苏CF2***', '-']]);
  });
});

describe('raw XLSX: hand-written OOXML', () => {
  it('handles prefixes, missing r attributes, entities, rich text with phonetics, t="d", formulas, errors and 1904 dates', async () => {
    const file = path.join(tmp, 'hand.xlsx');
    await writeFile(file, handWorkbook());
    const { info, recs } = await readAll(file);
    expect(info.sheet).toBe('Data & more');
    expect(info.headerLine).toBe(2);
    expect(recs.map((r) => [r.line, ...r.fields, r.error ?? ''])).toEqual([
      // Serial 1904-system 43830.0002777778 + 1462 days = 2024-01-01 00:00:24.
      [4, '320300109027252990', '邳州市', 'S250 & 苏', '1', '2024-01-01 00:00:24', '02', '苏CD7***', '', ''],
      [5, 'G7', 'a\rb', '卡口', '2', '2024-01-01 08:30:00', 'computed', 'TRUE', '_x000D_', ''],
      [6, 'G8', 'x', 'y', '1', '2024-01-01', '', '鲁Q***', '#N/A', 'cell H6 holds the Excel error #N/A'],
      [8, 'G9', '', 'y', '1', '2024-01-01 00:00:00', '01', 'P', '-', 'cell B8 refers to missing shared string 99'],
    ]);
    expect(recs[0]?.raw).toBe('320300109027252990,邳州市,S250 & 苏,1,2024-01-01 00:00:24,02,苏CD7***,');
  });
});

describe('raw XLSX: bad workbooks', () => {
  it('says XLSX_NO_DATA for a workbook whose sheets are all empty', async () => {
    const wb = new ExcelJS.Workbook();
    wb.addWorksheet('Sheet1');
    wb.addWorksheet('Sheet2');
    const file = path.join(tmp, 'empty.xlsx');
    await wb.xlsx.writeFile(file);
    const err = await rejection(openRawFile(file));
    expect(err.code).toBe('XLSX_NO_DATA');
    expect(err.message).toContain(file);
  });

  it('says XLSX_INVALID for an .xlsx that is not a zip, naming the file', async () => {
    const file = path.join(tmp, 'fake.xlsx');
    await writeFile(file, 'GCXH,XZQHMC\n1,2\n');
    const err = await rejection(openRawFile(file));
    expect(err.code).toBe('XLSX_INVALID');
    expect(err.message).toMatch(/not a zip archive/);
    expect(err.context.file).toBe(file);
  });

  it('says XLSX_INVALID for a legacy or encrypted workbook (an OLE file), saying which', async () => {
    const file = path.join(tmp, 'legacy.xlsx');
    await writeFile(file, Buffer.concat([Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]), Buffer.alloc(504)]));
    const err = await rejection(openRawFile(file));
    expect(err.code).toBe('XLSX_INVALID');
    expect(err.message).toMatch(/encrypted workbook or a legacy \.xls/);
  });

  it('reads a workbook saved under a .csv name as a workbook', async () => {
    const file = path.join(tmp, 'misnamed.csv');
    await writeFile(file, await readFile(path.join(FIX, '202401/01.head30.xlsx')));
    const { info, recs } = await readAll(file);
    expect(info.format).toBe('xlsx');
    expect(recs[0]?.fields[0]).toBe('G320300109027253771');
  });

  it('says XLSX_INVALID for a zip that holds no workbook', async () => {
    const file = path.join(tmp, 'nobook.xlsx');
    await writeFile(file, zipSync({ 'readme.txt': strToU8('hello') }));
    const err = await rejection(openRawFile(file));
    expect(err.code).toBe('XLSX_INVALID');
    expect(err.message).toMatch(/no workbook/);
  });

  it('says XLSX_INVALID for a truncated workbook', async () => {
    const bytes = await readFile(path.join(FIX, '202401/01.head30.xlsx'));
    const file = path.join(tmp, 'truncated.xlsx');
    await writeFile(file, bytes.subarray(0, bytes.length - 200));
    const err = await rejection(openRawFile(file));
    expect(err.code).toBe('XLSX_INVALID');
  });

  it('says XLSX_INVALID for a sheet whose compressed data is damaged', async () => {
    const bytes = Buffer.from(await readFile(path.join(FIX, '202401/01.head30.xlsx')));
    const name = Buffer.from('xl/worksheets/sheet1.xml');
    const LOCAL = Buffer.from([0x50, 0x4b, 0x03, 0x04]); // local file header signature
    let local = bytes.indexOf(LOCAL);
    while (local !== -1 && !bytes.subarray(local + 30, local + 30 + name.length).equals(name)) local = bytes.indexOf(LOCAL, local + 4);
    expect(local).toBeGreaterThanOrEqual(0);
    const start = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
    bytes.fill(0xff, start, start + 64); // not a valid deflate stream
    const file = path.join(tmp, 'damaged.xlsx');
    await writeFile(file, bytes);
    const err = await rejection(openRawFile(file));
    expect(err.code).toBe('XLSX_INVALID');
    expect(err.message).toContain('xl/worksheets/sheet1.xml');
  });

  it('says HEADER_UNRECOGNISED naming file and sheet when the first sheet with data has no known header', async () => {
    const wb = new ExcelJS.Workbook();
    wb.addWorksheet('Notes').addRow(['exported by someone', 'on Monday']);
    wb.addWorksheet('Data').addRow(HEADER);
    const file = path.join(tmp, 'notes-first.xlsx');
    await wb.xlsx.writeFile(file);
    const err = await rejection(openRawFile(file));
    expect(err.code).toBe('HEADER_UNRECOGNISED');
    expect(err.message).toContain('sheet "Notes"');
    expect(err.message).toContain(file);
  });
});

/** A workbook written by hand to reach the reader's less common paths. */
function handWorkbook(): Uint8Array {
  const ns =
    'xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"';
  const rel = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
  const files: Record<string, string> = {
    '[Content_Types].xml': '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
    '_rels/.rels': `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="${rel}/officeDocument" Target="book/main.xml"/></Relationships>`,
    'book/main.xml': `<?xml version="1.0"?><x:workbook ${ns}><x:workbookPr date1904="1"/><x:sheets><x:sheet name="Empty" sheetId="1" r:id="rId1"/><x:sheet name="Data &amp; more" sheetId="2" r:id="rId2"/></x:sheets></x:workbook>`,
    'book/_rels/main.xml.rels': `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="${rel}/worksheet" Target="sheets/empty.xml"/><Relationship Id="rId2" Type="${rel}/worksheet" Target="/book/sheets/data.xml"/><Relationship Id="rId3" Type="${rel}/sharedStrings" Target="strings.xml"/><Relationship Id="rId4" Type="${rel}/styles" Target="../book/styles.xml"/></Relationships>`,
    'book/sheets/empty.xml': `<?xml version="1.0"?><x:worksheet ${ns}><x:sheetData><x:row r="1"><x:c r="A1" s="1"/></x:row></x:sheetData></x:worksheet>`,
    'book/strings.xml':
      `<?xml version="1.0"?><x:sst ${ns}>` +
      ['GCXH', 'XZQHMC', 'KKMC', 'FXLX', '过车时间', 'HPZL', 'HP', 'CLPPXH'].map((h) => `<x:si><x:t>${h}</x:t></x:si>`).join('') +
      // 8: rich text with a phonetic run that must not be read
      '<x:si><x:r><x:t>邳州</x:t></x:r><x:r><x:rPr><x:b/></x:rPr><x:t xml:space="preserve">市</x:t></x:r><x:rPh sb="0" eb="1"><x:t>pi</x:t></x:rPh></x:si>' +
      // 9: entities and a numeric character reference; 10: OOXML escape of CR; 11: escaped escape
      '<x:si><x:t>&#x82CF;CD7***</x:t></x:si><x:si><x:t>a_x000D_b</x:t></x:si><x:si><x:t>_x005F_x000D_</x:t></x:si>' +
      '</x:sst>',
    'book/styles.xml':
      `<?xml version="1.0"?><x:styleSheet ${ns}><x:numFmts count="1"><x:numFmt numFmtId="164" formatCode="yyyy/M/d\\ hh:mm:ss"/></x:numFmts>` +
      '<x:cellStyleXfs count="1"><x:xf numFmtId="22"/></x:cellStyleXfs>' +
      '<x:cellXfs count="4"><x:xf numFmtId="0"/><x:xf numFmtId="164" applyNumberFormat="1"/><x:xf numFmtId="14"/><x:xf numFmtId="22"/></x:cellXfs></x:styleSheet>',
    'book/sheets/data.xml':
      `<?xml version="1.0"?><x:worksheet ${ns}><x:sheetData>` +
      '<x:row r="1"/>' + // an empty row before the header
      '<x:row r="2"><x:c r="A2" t="s"><x:v>0</x:v></x:c><x:c r="B2" t="s"><x:v>1</x:v></x:c><x:c r="C2" t="s"><x:v>2</x:v></x:c><x:c r="D2" t="s"><x:v>3</x:v></x:c><x:c r="E2" t="s"><x:v>4</x:v></x:c><x:c r="F2" t="s"><x:v>5</x:v></x:c><x:c r="G2" t="s"><x:v>6</x:v></x:c><x:c r="H2" t="s"><x:v>7</x:v></x:c></x:row>' +
      '<x:row r="3"><x:c r="A3" s="1"/><x:c r="B3" t="str"><x:v></x:v></x:c></x:row>' + // no values: skipped
      // GCXH as a number in exponent form; KKMC inline with entities; GCSJ 1904 serial; H skipped
      '<x:row r="4" spans="1:8"><x:c r="A4"><x:v>3.2030010902725299E+17</x:v></x:c><x:c r="B4" t="s"><x:v>8</x:v></x:c>' +
      '<x:c r="C4" t="inlineStr"><x:is><x:t>S250 &amp; &#x82CF;</x:t></x:is></x:c><x:c r="D4"><x:v>1</x:v></x:c>' +
      '<x:c r="E4" s="1"><x:v>43830.0002777778</x:v></x:c><x:c r="F4" t="str"><x:v>02</x:v></x:c><x:c r="G4" t="s"><x:v>9</x:v></x:c></x:row>' +
      // cells without r (sequential), an ISO date cell, a formula with a cached value, a boolean
      '<x:row><x:c t="str"><x:v>G7</x:v></x:c><x:c t="s"><x:v>10</x:v></x:c><x:c t="inlineStr"><x:is><x:r><x:t>卡口</x:t></x:r></x:is></x:c><x:c><x:v>2</x:v></x:c>' +
      '<x:c t="d"><x:v>2024-01-01T08:30:00</x:v></x:c><x:c t="str"><x:f>A1&amp;"x"</x:f><x:v>computed</x:v></x:c><x:c t="b"><x:v>1</x:v></x:c><x:c t="s"><x:v>11</x:v></x:c></x:row>' +
      // whole-day serial in a date-only format, HPZL skipped, an error cell
      '<x:row r="6"><x:c r="A6" t="str"><x:v>G8</x:v></x:c><x:c r="B6" t="str"><x:v>x</x:v></x:c><x:c r="C6" t="str"><x:v>y</x:v></x:c><x:c r="D6"><x:v>1</x:v></x:c>' +
      '<x:c r="E6" s="2"><x:v>43830</x:v></x:c><x:c r="G6" t="str"><x:v>鲁Q***</x:v></x:c><x:c r="H6" t="e"><x:v>#N/A</x:v></x:c></x:row>' +
      // whole-day serial in a date-time format: midnight; a dangling shared-string index
      '<x:row r="8"><x:c r="A8" t="str"><x:v>G9</x:v></x:c><x:c r="B8" t="s"><x:v>99</x:v></x:c><x:c r="C8" t="str"><x:v>y</x:v></x:c><x:c r="D8"><x:v>1</x:v></x:c>' +
      '<x:c r="E8" s="3"><x:v>43830</x:v></x:c><x:c r="F8" t="str"><x:v>01</x:v></x:c><x:c r="G8" t="str"><x:v>P</x:v></x:c><x:c r="H8" t="str"><x:v>-</x:v></x:c></x:row>' +
      '</x:sheetData></x:worksheet>',
  };
  return zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, strToU8(v)])));
}
