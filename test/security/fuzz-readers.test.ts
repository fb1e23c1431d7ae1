/**
 * Seeded fuzzing of our own raw readers: ≥ 10,000 mutated inputs per reader in the normal suite
 * (TRAFFIC_FUZZ_ITERATIONS=N for a longer run, TRAFFIC_FUZZ_SEED=S for another sequence). Every
 * input must end in records or a coded TrafficError naming the file — never a crash (any other
 * exception), a hang (each input has a time budget), or silent loss: for CSV, every non-empty
 * line after the header is part of the header or of some record (valid or flagged with an
 * error). Mutations: byte flips, inserted structural bytes (quotes, commas, CR/LF, NUL, bytes
 * ≥ 0x80), deletions, duplications, truncation, long runs, and — for CSV — random cuts between
 * the chunks the decoder and parser receive; for XLSX, the same on the zip bytes and on the XML
 * of one part (sheet, shared strings, workbook, relationships, styles) re-zipped.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import ExcelJS from 'exceljs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES, TrafficError } from '../../core/errors.ts';
import { mulberry32 } from '../../core/random.ts';
import { openCsvChunks } from '../../etl/read/csv-raw.ts';
import { readXlsxBytes } from '../../etl/read/xlsx.ts';
import { buildXlsx } from '../../etl/sample/xlsx-writer.ts';
import type { RawFileInfo, RawRecord } from '../../etl/read/types.ts';
import { insertMarkup, int, mutateBytes, pick } from './fuzz-helpers.ts';

const ITERATIONS = Number(process.env.TRAFFIC_FUZZ_ITERATIONS ?? 10_000);
const SEED = Number(process.env.TRAFFIC_FUZZ_SEED ?? 20261207);
/** Longest any one small input may take (a hang shows as far more). */
const PER_INPUT_MS = 1000;
const FIX = path.join(import.meta.dirname, '../fixtures/raw');
const HEADER = ['GCXH', 'XZQHMC', 'KKMC', 'FXLX', 'GCSJ', 'HPZL', 'HPHM', 'CLPPXH'];

/** The outcome every input must have: an error with a code and the file, or records. */
function checkError(err: unknown, name: string): void {
  if (!(err instanceof TrafficError)) throw new Error(`${name}: not a coded error: ${(err as Error)?.stack ?? String(err)}`);
  expect(Object.keys(ERROR_CODES)).toContain(err.code);
  expect(err.context.file).toBe(name);
  expect(err.message).toContain(`file ${name}`);
}

/** Records well formed; CSV lines strictly increase (an XLSX may repeat or reorder row numbers). */
function checkRecords(recs: RawRecord[], name: string, increasing: boolean): void {
  let last = 0;
  for (const r of recs) {
    if (!(Number.isInteger(r.line) && r.line >= 1 && (!increasing || r.line > last))) throw new Error(`${name}: record line ${r.line} after ${last}`);
    last = r.line;
    if (!Array.isArray(r.fields) || r.fields.some((f) => typeof f !== 'string')) throw new Error(`${name}: fields not strings at line ${r.line}`);
    if (r.error !== undefined && (typeof r.error !== 'string' || r.error === '')) throw new Error(`${name}: empty error at line ${r.line}`);
  }
}

/** CSV: every non-empty physical line after the header belongs to the header or a record. */
function checkNothingLost(bytes: Uint8Array, info: RawFileInfo, recs: RawRecord[], name: string): void {
  const text = new TextDecoder(info.encoding ?? 'utf-8').decode(bytes);
  const lines = text.split('\n');
  const covered = new Uint8Array(lines.length + 2);
  const mark = (from: number, count: number): void => {
    for (let l = from; l <= from + count && l <= lines.length; l++) covered[l] = 1;
  };
  mark(info.headerLine, (info.header.join('').match(/\n/g) ?? []).length);
  for (const r of recs) mark(r.line, r.raw.endsWith('…') ? 0 : (r.raw.match(/\n/g) ?? []).length);
  for (let l = info.headerLine + 1; l <= lines.length; l++) {
    const t = lines[l - 1]!.replace(/\r$/, '');
    if (t !== '' && !covered[l]) throw new Error(`${name}: line ${l} ${JSON.stringify(t.slice(0, 80))} is in no record`);
  }
}

async function readCsv(bytes: Uint8Array, cuts: number[], name: string): Promise<void> {
  const chunks: Buffer[] = [];
  let from = 0;
  for (const c of [...cuts, bytes.length]) {
    chunks.push(Buffer.from(bytes.subarray(from, c)));
    from = c;
  }
  async function* source(): AsyncGenerator<Buffer> {
    for (const c of chunks) yield c;
  }
  let opened;
  try {
    opened = await openCsvChunks(source(), name, bytes.length);
  } catch (err) {
    checkError(err, name);
    return;
  }
  const recs: RawRecord[] = [];
  try {
    for await (const r of opened.records) recs.push(r);
  } catch (err) {
    checkError(err, name);
    return;
  }
  checkRecords(recs, name, true);
  checkNothingLost(bytes, opened.info, recs, name);
}

async function readXlsx(bytes: Uint8Array, name: string): Promise<void> {
  let opened;
  try {
    opened = await readXlsxBytes(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), name);
  } catch (err) {
    checkError(err, name);
    return;
  }
  const recs: RawRecord[] = [];
  try {
    for await (const r of opened.records) recs.push(r);
  } catch (err) {
    checkError(err, name);
    return;
  }
  checkRecords(recs, name, false);
}

/** Runs `n` inputs, each timed; returns the slowest input's ms. */
async function fuzz(n: number, one: (i: number) => Promise<void>): Promise<{ slowest: number; total: number }> {
  let slowest = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await one(i);
    const ms = performance.now() - t;
    if (ms > slowest) slowest = ms;
    if (ms > PER_INPUT_MS) throw new Error(`input ${i} took ${ms.toFixed(0)} ms: a hang`);
  }
  return { slowest, total: performance.now() - t0 };
}

describe('fuzzed CSV reader', () => {
  const seeds: Uint8Array[] = [
    readFileSync(path.join(FIX, '202312/12-01.head30.csv')),
    readFileSync(path.join(FIX, '202312/to_yqy_1209.head30.csv')),
    readFileSync(path.join(FIX, 'utf8/12-01.head30.bom.csv')),
    strToU8(
      HEADER.join(',') +
        '\r\n1,"丰,县","A ""K1""",1,2023-12-09 00:00:01,02,"苏C\n12345",-\r\n\r\n2,沛县,B_K2,2,2023-12-09 00:00:02,01,鲁Q1***,"品牌""型号"\r\n',
    ),
  ].map((b) => b.subarray(0, 2500));

  it(`ends ${ITERATIONS} mutated inputs in records or a coded error, never a crash, a hang or a lost line`, async () => {
    const r = mulberry32(SEED);
    const res = await fuzz(ITERATIONS, async (i) => {
      let b = pick(r, seeds);
      for (let k = 0, m = 1 + int(r, 4); k < m; k++) b = mutateBytes(r, b);
      const cuts = Array.from({ length: int(r, 4) }, () => int(r, b.length + 1)).sort((x, y) => x - y);
      await readCsv(b, cuts, `fuzz-${SEED}-${i}.csv`);
    });
    expect(res.slowest).toBeLessThan(PER_INPUT_MS);
  }, 120_000);

  it('an endless line and a quote never closed become one error record each; the record after them is read', async () => {
    const tailRow = ['9', '丰县', 'A_K1', '1', '2023-12-09 00:00:09', '02', '苏C9', '-'];
    const cases = [
      { body: 'x'.repeat(1_500_000), error: /^line longer than 1048576 characters$/ },
      { body: '"' + 'y,\n'.repeat(400_000), error: /^quoted field not closed within 1048576 characters$/ },
    ];
    for (const c of cases) {
      const bytes = strToU8(HEADER.join(',') + '\n' + c.body + '\n' + tailRow.join(',') + '\n');
      // 64 KiB chunks: the parser holds at most ~1 MiB of a record, whatever the file.
      const cuts = Array.from({ length: Math.floor(bytes.length / 65536) }, (_, k) => (k + 1) * 65536);
      await readCsv(bytes, cuts, 'long.csv'); // records or coded errors, nothing lost
      async function* chunks(): AsyncGenerator<Buffer> {
        for (let at = 0; at < bytes.length; at += 65536) yield Buffer.from(bytes.subarray(at, at + 65536));
      }
      const { records } = await openCsvChunks(chunks(), 'long.csv', bytes.length);
      const recs: RawRecord[] = [];
      for await (const r of records) recs.push(r);
      expect(recs[0]!.line).toBe(2);
      expect(recs[0]!.error).toMatch(c.error);
      expect(recs[0]!.raw.length).toBeLessThanOrEqual(1_048_576);
      expect(recs.at(-1)!.fields).toEqual(tailRow);
    }
  });
});

describe('fuzzed XLSX reader', () => {
  const seeds: Uint8Array[] = [];
  beforeAll(async () => {
    seeds.push(
      buildXlsx({
        header: HEADER,
        rows: [
          ['G1', '丰县', 'A&K<1>', '1', '2024-01-01 00:00:24', '02', '苏C1***', '品牌"型号"'],
          ['G2', '沛县', 'B_K2', '2', '2024-01-01 00:01:00', '-', '鲁Q2***', '-'],
        ],
        emptySheet2: true,
      }),
    );
    const wb = new ExcelJS.Workbook();
    const ws = wb.addWorksheet('S');
    ws.addRow(HEADER);
    ws.addRow([320300108805919400, '丰县', 'A_K1', 1, new Date(Date.UTC(2024, 0, 1, 0, 0, 24)), '02', '苏C\n1', null]);
    ws.getCell('E2').numFmt = 'yyyy-mm-dd hh:mm:ss';
    ws.addRow(['2', '沛县', 'B_K2', 2, 45292.5, true, { richText: [{ text: '鲁' }, { text: 'Q2' }] }, 'x,y']);
    seeds.push(new Uint8Array(await wb.xlsx.writeBuffer()));
  });

  it(`ends ${ITERATIONS} mutated workbooks in records or a coded error, never a crash or a hang`, async () => {
    const r = mulberry32(SEED + 1);
    const parts = seeds.map((s) => unzipSync(s));
    const res = await fuzz(ITERATIONS, async (i) => {
      const s = int(r, seeds.length);
      let bytes: Uint8Array;
      if (r() < 0.4) {
        // The zip itself.
        bytes = seeds[s]!;
        for (let k = 0, m = 1 + int(r, 3); k < m; k++) bytes = mutateBytes(r, bytes);
      } else {
        // The XML of one part, re-zipped.
        const files = { ...parts[s]! };
        const names = Object.keys(files).filter((n) => /sheet1|sharedStrings|workbook|rels|styles/.test(n));
        const name = pick(r, names);
        let xml: Uint8Array = strToU8(strFromU8(files[name]!));
        for (let k = 0, m = 1 + int(r, 3); k < m; k++) xml = r() < 0.5 ? mutateBytes(r, xml) : insertMarkup(r, xml);
        files[name] = xml as Uint8Array<ArrayBuffer>;
        bytes = zipSync(files, { level: 0 });
      }
      await readXlsx(bytes, `fuzz-${SEED}-${i}.xlsx`);
    });
    expect(res.slowest).toBeLessThan(PER_INPUT_MS);
  }, 180_000);
});
