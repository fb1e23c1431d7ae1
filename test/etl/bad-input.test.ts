/**
 * Bad raw input: each case either stops the run with a clear error naming the file (and line), or
 * sends the record to rejects.csv with file, line and reason — and the run's numbers still balance.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import ExcelJS from 'exceljs';
import iconv from 'iconv-lite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCsv } from '../../core/csv.ts';
import { FILES } from '../../core/schema.ts';
import type { Manifest } from '../../etl/manifest.ts';
import { runEtl, type EtlOptions } from '../../etl/runner.ts';

const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
const HEADER = 'GCXH,XZQHMC,KKMC,FXLX,GCSJ,HPZL,HPHM,CLPPXH';
const ROW = (id: string, t = '2023/12/1 0:02') => `${id},邳州市,徐州市邳州市S250宿邳线K1江苏徐州-S250-苏鲁界省际卡口,1,${t},01,鲁Q02***,-`;

let dir: string;
let raw: string;
let out: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'etl-bad-'));
  raw = path.join(dir, 'raw');
  out = path.join(dir, 'out');
  await mkdir(path.join(raw, '202312'), { recursive: true });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const merge = (extra: Partial<EtlOptions> = {}) =>
  runEtl({ raw, rawExplicit: true, out, from: 1, to: 1, fill: true, seed: 1, tty: false, stream: quiet, ...extra });

async function rejects(): Promise<string[][]> {
  return parseCsv(await readFile(path.join(out, FILES.rejects), 'utf8')).map((r) => r.fields);
}

describe('bad raw input', () => {
  it('rejects a record with undecodable bytes with file and line, and keeps the rest of the file', async () => {
    const good = iconv.encode(`${HEADER}\n${ROW('1')}\n`, 'gb18030');
    const bad = Buffer.concat([iconv.encode('2,邳州市,', 'gb18030'), Buffer.from([0xff, 0xfe]), iconv.encode(',1,2023/12/1 0:03,01,鲁Q02***,-\n', 'gb18030')]);
    const tail = iconv.encode(`${ROW('3', '2023/12/1 0:04')}\n`, 'gb18030');
    await writeFile(path.join(raw, '202312', '12-01.csv'), Buffer.concat([good, bad, tail]));
    const r = await merge();
    expect(r.manifest.stages['01-merge']).toMatchObject({ in: 3, out: 2, rejected: 1 });
    const rej = await rejects();
    expect(rej[1]?.slice(0, 3)).toEqual(['202312/12-01.csv', '3', '01-merge']);
    expect(rej[1]?.[3]).toMatch(/undecodable bytes/);
    expect(rej[1]?.[4]).toContain('2,邳州市,');
  });

  it('rejects a row with the wrong number of columns naming file, line and the count', async () => {
    await writeFile(path.join(raw, '202312', 'a.csv'), `${HEADER}\n${ROW('1')}\n${ROW('2')},extra\n7,only,three\n`);
    const r = await merge();
    const rej = await rejects();
    expect(rej.slice(1).map((x) => x.slice(0, 4))).toEqual([
      ['202312/a.csv', '3', '01-merge', 'expected 8 fields, got 9'],
      ['202312/a.csv', '4', '01-merge', 'expected 8 fields, got 3'],
    ]);
    expect(r.manifest.stages['01-merge']?.rejectsByReason).toEqual({ 'expected 8 fields, got 9': 1, 'expected 8 fields, got 3': 1 });
  });

  it('rejects a date without a time and a non-numeric GCXH, each with its reason', async () => {
    await writeFile(path.join(raw, '202312', 'a.csv'), `${HEADER}\n${ROW('1', '2023/12/1')}\n${ROW('X9')}\n${ROW('3')}\n`);
    const r = await merge();
    expect((await rejects()).slice(1).map((x) => [x[1], x[3]])).toEqual([
      ['2', 'GCSJ has a date but no time: 2023/12/1'],
      ['3', 'GCXH not digits: X9'],
    ]);
    expect(r.manifest.stages['01-merge']).toMatchObject({ in: 3, out: 1, rejected: 2 });
  });

  it('stops on a header that matches nothing, naming the file, and writes no partial output', async () => {
    await writeFile(path.join(raw, '202312', 'a.csv'), `${HEADER}\n${ROW('1')}\n`);
    await writeFile(path.join(raw, '202312', 'b.csv'), `id,name,when,what,a,b,c,d\n${ROW('2')}\n`);
    await expect(merge()).rejects.toMatchObject({ code: 'HEADER_UNRECOGNISED', message: expect.stringContaining('b.csv') });
    await expect(readFile(path.join(out, FILES.merged))).rejects.toThrow();
    // The same error, code and file, whether the files are read in this thread or by readers.
    await expect(merge({ readers: 0 })).rejects.toMatchObject({ code: 'HEADER_UNRECOGNISED', message: expect.stringContaining('b.csv') });
    await expect(merge({ readers: 2 })).rejects.toMatchObject({
      code: 'HEADER_UNRECOGNISED',
      message: expect.stringContaining('b.csv'),
      context: { file: expect.stringContaining('b.csv') },
    });
    expect((await readdir(out)).filter((n) => !n.startsWith('.'))).toEqual([]);
  });

  it('stops on an XLSX without data, naming the file', async () => {
    const wb = new ExcelJS.Workbook();
    wb.addWorksheet('Sheet1');
    wb.addWorksheet('Sheet2');
    await mkdir(path.join(raw, '202401'));
    await wb.xlsx.writeFile(path.join(raw, '202401', 'empty.xlsx'));
    await expect(merge()).rejects.toMatchObject({ code: 'XLSX_NO_DATA', message: expect.stringContaining('empty.xlsx') });
  });

  it('stops on an empty raw folder, saying what it looked for', async () => {
    await expect(merge()).rejects.toMatchObject({ code: 'INPUT_EMPTY', message: expect.stringContaining(raw) });
  });

  it('exits 2 with the path when --raw does not exist (no sample is generated for an explicit --raw)', async () => {
    const missing = path.join(dir, 'nope');
    const r = await promisify(execFile)(process.execPath, ['bin/traffic.mjs', 'etl:all', '--raw', missing, '--out', out], {
      cwd: path.resolve(import.meta.dirname, '../..'),
    }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('INPUT_NOT_FOUND');
    expect(r.stderr).toContain(missing);
  });

  it('keeps the first of two rows sharing a GCXH with different content and names it in the reject', async () => {
    await writeFile(path.join(raw, '202312', 'a.csv'), `${HEADER}\n${ROW('1')}\n`);
    await writeFile(path.join(raw, '202312', 'b.csv'), `${HEADER}\n${ROW('5')}\n${ROW('1', '2023/12/1 0:09')}\n${ROW('1')}\n`);
    const r = await merge();
    const m: Manifest = r.manifest;
    expect(m.stages['01-merge']).toMatchObject({ in: 4, out: 2, rejected: 1, removedCopies: 1 });
    const rej = await rejects();
    expect(rej[1]?.slice(0, 2)).toEqual(['202312/b.csv', '3']);
    expect(rej[1]?.[3]).toBe('GCXH duplicate with different content: first at 202312/a.csv line 2 (differs in GCSJ)');
  });
});
