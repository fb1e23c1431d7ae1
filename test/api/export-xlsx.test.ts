/**
 * GET /api/export.xlsx on the embedded store: a workbook that exceljs and LibreOffice open, with
 * the 12 master columns, GCSJ as a real date-time cell, codes as text with their leading zeros,
 * formula-like text neutralized, and LibreOffice's CSV of it equal to GET /api/export.csv.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'csv-parse/sync';
import ExcelJS from 'exceljs';
import { strFromU8, unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAlertFeed } from '../../api/alerts.ts';
import { createApiApp, type ApiApp } from '../../api/app.ts';
import { csvText } from '../../core/io.ts';
import { SHARED_MAX, XlsxStreamWriter } from '../../core/xlsx-stream.ts';
import { MASTER_COLUMNS } from '../../core/schema.ts';
import { EmbeddedStore } from '../../store/duckdb-store.ts';
import type { PassRecord, QueryFilter, TrafficStore } from '../../store/store-api.ts';

const run = promisify(execFile);

/** Rows chosen for what can go wrong: leading zeros, formulas, XML characters, midnight, spaces. */
const ROWS: string[][] = [
  ['000123', '丰县', 'K_01', '01', '2024-01-01 00:00:00', '02', '苏C12345', '大众牌', '江苏', '0', '0', '小型汽车'],
  ['000124', '丰县', 'K_01', '02', '2023-12-31 23:59:59', '01', '鲁Q0B***', '=HYPERLINK("http://x.test","点我")', '山东', '1', '0', '大型汽车'],
  ['000125', '沛县', 'K_02', '1', '2024-01-01 08:30:15', '02', '+1+2', '@SUM(A1:A2)', '未知', '0', '1', '小型汽车'],
  ['000126', '沛县', 'K_02', '2', '2024-01-01 17:05:09', '-', '苏A<&>"1', '-', '江苏', '0', '1', '未知'],
  ['000127', '沛县', 'K_02', '2', '2024-01-01 12:00:00', '07', '-12', ' 福田牌 ', '+86', '0', '0', '普通摩托车'],
];

let dir: string;
let store: EmbeddedStore;
let app: ApiApp;
let base: string;

async function listen(s: TrafficStore): Promise<{ app: ApiApp; base: string }> {
  const a = createApiApp({ store: s, alerts: new MemoryAlertFeed(), predictor: null, cors: { origins: [] } });
  await new Promise<void>((r) => a.server.listen(0, '127.0.0.1', () => r()));
  return { app: a, base: `http://127.0.0.1:${(a.server.address() as AddressInfo).port}` };
}

async function download(url: string): Promise<{ status: number; type: string | null; bytes: Buffer }> {
  const r = await fetch(url);
  return { status: r.status, type: r.headers.get('content-type'), bytes: Buffer.from(await r.arrayBuffer()) };
}

async function readWorkbook(bytes: Buffer): Promise<ExcelJS.Worksheet> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(bytes as unknown as ArrayBuffer);
  expect(wb.worksheets).toHaveLength(1);
  return wb.worksheets[0]!;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'traffic-xlsx-'));
  const master = path.join(dir, 'master.csv');
  writeFileSync(master, csvText(MASTER_COLUMNS, ROWS));
  store = await EmbeddedStore.open(':memory:');
  expect(await store.loadMasterCsv(master)).toBe(ROWS.length);
  ({ app, base } = await listen(store));
});

afterAll(async () => {
  await app?.shutdown();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('GET /api/export.xlsx', () => {
  it('opens in exceljs with the master header, dates as date cells and codes as text', async () => {
    const r = await download(base + '/api/export.xlsx');
    expect(r.status).toBe(200);
    expect(r.type).toBe('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
    const ws = await readWorkbook(r.bytes);
    expect(ws.getRow(1).values).toEqual([undefined, ...MASTER_COLUMNS]);
    expect(ws.rowCount).toBe(ROWS.length + 1);

    // Newest first, as the CSV export: 17:05:09, 12:00:00, 08:30:15, 00:00:00, then 2023-12-31.
    const ids = [2, 3, 4, 5, 6].map((n) => ws.getRow(n).getCell(1).value);
    expect(ids).toEqual(['000126', '000127', '000125', '000123', '000124']);

    const midnight = ws.getRow(5);
    const gcsj = midnight.getCell(5);
    expect(gcsj.type).toBe(ExcelJS.ValueType.Date);
    // exceljs returns the wall clock in the UTC fields: the China local time as stored.
    expect((gcsj.value as Date).toISOString()).toBe('2024-01-01T00:00:00.000Z');
    expect(gcsj.numFmt).toBe('yyyy-mm-dd hh:mm:ss');
    expect(midnight.getCell(4).value).toBe('01'); // FXLX keeps its leading zero
    expect(midnight.getCell(6).value).toBe('02'); // HPZL too
    expect(midnight.getCell(10).value).toBe(0); // IS_WEEKEND a number
    expect((ws.getRow(6).getCell(5).value as Date).toISOString()).toBe('2023-12-31T23:59:59.000Z');
  });

  it('neutralizes formula-like text and keeps plain numbers, XML characters and spaces as they are', async () => {
    const ws = await readWorkbook((await download(base + '/api/export.xlsx')).bytes);
    const byId = new Map<string, ExcelJS.Row>();
    ws.eachRow((row, n) => {
      if (n > 1) byId.set(String(row.getCell(1).value), row);
    });
    const formula = byId.get('000124')!.getCell(8);
    expect(formula.type).toBe(ExcelJS.ValueType.String);
    expect(formula.value).toBe(`'=HYPERLINK("http://x.test","点我")`);
    expect(byId.get('000125')!.getCell(7).value).toBe("'+1+2");
    expect(byId.get('000125')!.getCell(8).value).toBe("'@SUM(A1:A2)");
    expect(byId.get('000126')!.getCell(7).value).toBe('苏A<&>"1');
    expect(byId.get('000126')!.getCell(8).value).toBe('-');
    expect(byId.get('000127')!.getCell(7).value).toBe('-12');
    expect(byId.get('000127')!.getCell(8).value).toBe(' 福田牌 ');
    expect(byId.get('000127')!.getCell(9).value).toBe('+86'); // a plain number is a value, not a formula
  });

  it('applies the query filters like the CSV export', async () => {
    const ws = await readWorkbook((await download(base + '/api/export.xlsx?kkmc=K_01')).bytes);
    expect(ws.rowCount).toBe(3);
    const csv = (await download(base + '/api/export.csv?kkmc=K_01')).bytes.toString('utf8');
    expect(parse(csv, { bom: true })).toHaveLength(3);
  });

  it('refuses a bad filter with a 400 before sending a workbook', async () => {
    const r = await fetch(base + '/api/export.xlsx?start=2024-02-30');
    expect(r.status).toBe(400);
    expect((await r.json()).msg).toMatch(/start must be/);
  });

  it.skipIf(!existsSync('/usr/bin/libreoffice'))(
    'converts in LibreOffice to a CSV equal to the CSV export',
    async () => {
      const xlsx = (await download(base + '/api/export.xlsx')).bytes;
      const csv = (await download(base + '/api/export.csv')).bytes.toString('utf8');
      const work = mkdtempSync(path.join(dir, 'lo-'));
      writeFileSync(path.join(work, 'export.xlsx'), xlsx);
      // Its own profile, so that a LibreOffice run by anyone else on the machine does not block it.
      await run(
        'libreoffice',
        [
          `-env:UserInstallation=file://${path.join(work, 'profile')}`,
          '--headless',
          '--convert-to',
          'csv:Text - txt - csv (StarCalc):44,34,76,1',
          '--outdir',
          work,
          path.join(work, 'export.xlsx'),
        ],
        { timeout: 110_000 },
      );
      expect(readdirSync(work)).toContain('export.csv');
      const fromLibreOffice = parse(readFileSync(path.join(work, 'export.csv'), 'utf8'), { bom: true });
      expect(fromLibreOffice).toEqual(parse(csv, { bom: true }));
      expect(fromLibreOffice).toHaveLength(ROWS.length + 1);
    },
    120_000,
  );
});

/**
 * A generated store for what needs many rows (pure logic: the SQL side is covered above and in
 * api-stores-equal): `total` as told, rows made up chunk by chunk as the export asks for them.
 */
function syntheticStore(total: number, reportedTotal = total): TrafficStore & { produced: number } {
  const row = (i: number): PassRecord => ({
    gcxh: `G${String(i).padStart(12, '0')}`,
    xzqhmc: '丰县',
    kkmc: `K_${i % 40}`,
    fxlx: String(1 + (i % 2)),
    gcsj: `2024-01-${String(1 + (i % 28)).padStart(2, '0')} ${String(i % 24).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:00`,
    hpzl: '02',
    hphm: `苏C${String(i % 100000).padStart(5, '0')}`,
    clppxh: '大众牌',
    province: '江苏',
    is_weekend: i % 7 < 2 ? 1 : 0,
    is_peak_hour: 0,
    vehicle_type_name: '小型汽车',
  });
  const unused = (): never => {
    throw new Error('not used by the export');
  };
  const store = {
    produced: 0,
    kind: 'embedded' as const,
    async query(_f: QueryFilter) {
      return { total: reportedTotal, rows: [] };
    },
    async exportRows(_f: QueryFilter, onChunk: (rows: PassRecord[]) => Promise<void> | void) {
      for (let i = 0; i < total; i += 5000) {
        const rows: PassRecord[] = [];
        for (let j = i; j < Math.min(total, i + 5000); j++) rows.push(row(j));
        store.produced += rows.length;
        await onChunk(rows);
      }
      return total;
    },
    async checkpoints() {
      return [];
    },
    async hasCheckpoint() {
      return false;
    },
    async kkmcCount() {
      return [];
    },
    hourly: unused,
    hourlyByCheckpoint: unused,
    routes: unused,
    platePasses: unused,
    latestGcsj: unused,
    fiveMinuteCounts: unused,
    minuteCounts: unused,
    provinceCount: unused,
    vehicleTypeCount: unused,
    total: unused,
    checkpointCount: unused,
    insert: unused,
    health: unused,
    close: async () => undefined,
  };
  return store;
}

describe('GET /api/export.xlsx at scale', () => {
  it('refuses more rows than a sheet holds with a 422 pointing at the CSV export, before streaming', async () => {
    const s = syntheticStore(0, 1_048_576);
    const { app: a, base: b } = await listen(s);
    try {
      const r = await fetch(b + '/api/export.xlsx?hpzl=02');
      expect(r.status).toBe(422);
      expect(r.headers.get('content-type')).toMatch(/application\/json/);
      const body = await r.json();
      expect(body.code).toBe(422);
      expect(body.error).toBe('EXPORT_TOO_LARGE');
      expect(body.msg).toMatch(/1048576 rows, more than one Excel sheet holds \(1048575 rows/);
      expect(body.msg).toContain('/api/export.csv?hpzl=02');
    } finally {
      await a.shutdown();
    }
  });

  it('streams 200k rows as they are read, with the heap staying below the size of the sheet', async () => {
    const n = 200_000;
    const s = syntheticStore(n);
    const { app: a, base: b } = await listen(s);
    try {
      const before = process.memoryUsage().heapUsed;
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 5);
      const r = await fetch(b + '/api/export.xlsx');
      let bytes = 0;
      let producedAtFirstMegabyte = -1;
      const chunks: Buffer[] = [];
      for await (const c of r.body as unknown as AsyncIterable<Uint8Array>) {
        bytes += c.length;
        if (producedAtFirstMegabyte < 0 && bytes > 2 ** 20) producedAtFirstMegabyte = s.produced;
        chunks.push(Buffer.from(c));
      }
      clearInterval(sampler);
      // The first compressed megabyte reached the client while most rows were still unread.
      expect(producedAtFirstMegabyte).toBeGreaterThan(0);
      expect(producedAtFirstMegabyte).toBeLessThan(n / 2);
      // ~120 MB of sheet XML (200k records as objects: ~60 MB more) went through; the heap, garbage
      // included, grew by less than that.
      expect((peak - before) / 2 ** 20).toBeLessThan(100);
      const sheet = strFromU8(unzipSync(Buffer.concat(chunks, bytes))['xl/worksheets/sheet1.xml']!);
      expect(sheet.split('<row ').length - 1).toBe(n + 1);
      expect(sheet).toContain(`<row r="${n + 1}"><c r="A${n + 1}" t="inlineStr"><is><t>G${String(n - 1).padStart(12, '0')}</t>`);
      expect(sheet.endsWith('</worksheet>')).toBe(true);
    } finally {
      await a.shutdown();
    }
  }, 120_000);
});

describe('XlsxStreamWriter shared strings', () => {
  it('stores a shared column once per value up to its cap, then inline, every cell reading back as written', async () => {
    // Two rows in three hold a new value: 3,000 distinct values past the cap.
    const n = (SHARED_MAX + 3000) * 1.5 + 2;
    const chunks: Uint8Array[] = [];
    const w = new XlsxStreamWriter({
      columns: [
        { name: 'ID', kind: 'text' },
        { name: 'NAME', kind: 'text', shared: true },
      ],
      onData: (c) => chunks.push(c),
    });
    const rows: string[][] = [];
    // Distinct values past the cap, plus one repeated value (shared even after the cap) and spaces.
    for (let i = 0; i < n; i++) rows.push([String(i), i % 3 === 0 ? ' 丰县 ' : `名${i}&<`]);
    for (let i = 0; i < n; i += 5000) await w.writeRows(rows.slice(i, i + 5000));
    await w.finish();
    const bytes = Buffer.concat(chunks);
    const files = unzipSync(bytes);
    const sst = strFromU8(files['xl/sharedStrings.xml']!);
    expect(sst.split('<si>').length - 1).toBe(SHARED_MAX);
    expect(sst).toContain('<si><t xml:space="preserve"> 丰县 </t></si>');
    const sheet = strFromU8(files['xl/worksheets/sheet1.xml']!);
    expect(n % 3).toBe(2); // the last row holds a new value, past the cap
    expect(sheet).toContain(`<c r="B${n + 1}" t="inlineStr"><is><t>名${n - 1}&amp;&lt;</t></is></c>`);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(bytes as unknown as ArrayBuffer);
    const ws = wb.worksheets[0]!;
    expect(ws.rowCount).toBe(n + 1);
    for (const i of [0, 1, 2, SHARED_MAX, n - 3, n - 2, n - 1]) {
      expect(ws.getRow(i + 2).getCell(2).value).toBe(rows[i]![1]);
    }
  }, 60_000);
});

describe('XlsxStreamWriter cell text', () => {
  it('writes every kind of character as the reader gets it back, in shared and inline cells alike', async () => {
    // XML characters, tab/LF, astral and CJK text, non-ASCII white space at the ends, a lone
    // surrogate (read back as U+FFFD), each in a shared and an inline column.
    const texts = ['a&b<c>"d\'', 'tab\tin\nline', '😀苏A·é', '\u3000全角 ', '\u00a0nb', 'x\ud800y', '-'];
    const shown = (t: string): string => t.replace('\ud800', '\ufffd');
    const chunks: Uint8Array[] = [];
    const w = new XlsxStreamWriter({
      columns: [
        { name: 'SHARED', kind: 'text', shared: true },
        { name: 'INLINE', kind: 'text' },
        { name: 'GCSJ', kind: 'date' },
      ],
      onData: (c) => chunks.push(c),
    });
    // Each text three times, so a shared value is looked up again after it was added.
    const rows = [...texts, ...texts, ...texts].map((t, i) => [t, t, `2024-02-29 ${String(i % 24).padStart(2, '0')}:59:59`]);
    await w.writeRows(rows);
    await w.finish();
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(Buffer.concat(chunks) as unknown as ArrayBuffer);
    const ws = wb.worksheets[0]!;
    rows.forEach((r, i) => {
      const row = ws.getRow(i + 2);
      expect(row.getCell(1).value).toBe(shown(r[0]!));
      expect(row.getCell(2).value).toBe(shown(r[1]!));
      // exceljs reads a date cell as the wall clock in UTC.
      expect((row.getCell(3).value as Date).toISOString()).toBe(`2024-02-29T${String(i % 24).padStart(2, '0')}:59:59.000Z`);
    });
  });
});
