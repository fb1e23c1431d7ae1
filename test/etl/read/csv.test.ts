import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRawFile, type RawRecord } from '../../../etl/read/raw.ts';
import { TrafficError } from '../../../core/errors.ts';

const FIX = path.join(import.meta.dirname, '../../fixtures/raw');
const GBK_BARE = path.join(FIX, '202312/12-01.head30.csv');
const GBK_QUOTED = path.join(FIX, '202312/to_yqy_1209.head30.csv');
const UTF8_BOM = path.join(FIX, 'utf8/12-01.head30.bom.csv');
const UTF8_NOBOM = path.join(FIX, 'utf8/to_yqy_1209.head30.nobom.csv');
const REAL = '/work/shared/realdata/202312';

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

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'raw-csv-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('raw CSV: encodings', () => {
  it('detects a GBK export as gb18030 and decodes it exactly', async () => {
    const { info, recs } = await readAll(GBK_BARE);
    expect(info.encoding).toBe('gb18030');
    expect(info.format).toBe('csv');
    expect(info.headerLine).toBe(1);
    expect(info.header[6]).toBe("SUBSTR(HPHM,1,4)||'***'");
    expect(recs).toHaveLength(29);
    expect(recs[0]).toEqual({
      fields: ['320300108805919450', '邳州市', '徐州市邳州市S250宿邳线K1江苏徐州-S250-苏鲁界省际卡口', '1', '2023/12/1 0:02', '01', '鲁Q02***', '-'],
      line: 2,
      raw: '320300108805919450,邳州市,徐州市邳州市S250宿邳线K1江苏徐州-S250-苏鲁界省际卡口,1,2023/12/1 0:02,01,鲁Q02***,-',
    });
    expect(recs[4]?.fields[7]).toBe('神狐牌-未知系列0-未知年款0');
    expect(recs[4]?.line).toBe(6);
    expect(recs[17]?.fields).toEqual([
      '320300108805928764',
      '丰县',
      '徐州市丰县G518518国道K358马楼公路站省际卡口',
      '1',
      '2023/12/1 0:14',
      '51',
      '苏K78***',
      '未知厂商0牌-未知系列0-未知年款2',
    ]);
    expect(recs[28]?.line).toBe(30);
    expect(recs[28]?.fields[6]).toBe('苏CSZ***');
    expect(recs.every((r) => r.error === undefined)).toBe(true);
  });

  it('reads the all-quoted GBK export (header column HP) to the same values as iconv', async () => {
    const { info, recs } = await readAll(GBK_QUOTED);
    expect(info.encoding).toBe('gb18030');
    expect(info.header).toEqual(['GCXH', 'XZQHMC', 'KKMC', 'FXLX', 'GCSJ', 'HPZL', 'HP', 'CLPPXH']);
    expect(recs[0]?.fields).toEqual([
      '320300108854424764',
      '邳州市',
      '徐州市邳州市S251枣睢线K5江苏徐州-S251-苏鲁界省际卡口',
      '1',
      '2023/12/9 0:00:09',
      '-',
      'C379***',
      '-',
    ]);
    expect(recs[5]?.fields[7]).toBe('奥赛牌-未知系列0-未知年款0');
    const lines = iconv
      .decode(await readFile(GBK_QUOTED), 'gb18030')
      .trimEnd()
      .split('\n');
    expect(recs.map((r) => r.raw)).toEqual(lines.slice(1));
  });

  it('reads UTF-8 with a BOM to exactly the values of the GBK original', async () => {
    const utf8 = await readAll(UTF8_BOM);
    const gbk = await readAll(GBK_BARE);
    expect(utf8.info.encoding).toBe('utf-8');
    expect(utf8.info.header[0]).toBe('GCXH'); // BOM gone
    expect(utf8.recs).toEqual(gbk.recs);
  });

  it('reads UTF-8 without a BOM to exactly the values of the GBK original', async () => {
    const utf8 = await readAll(UTF8_NOBOM);
    const gbk = await readAll(GBK_QUOTED);
    expect(utf8.info.encoding).toBe('utf-8');
    expect(utf8.recs).toEqual(gbk.recs);
  });

  it('flags only the record with undecodable bytes in a GBK file, keeping line numbers', async () => {
    const bytes = await readFile(GBK_BARE);
    const lines = splitLines(bytes);
    // A byte no GB18030 sequence starts with, in physical line 6 (record 5), before its last field.
    const bad = lines[5]!;
    lines[5] = Buffer.concat([bad.subarray(0, bad.lastIndexOf(0x2c) + 1), Buffer.from([0xff]), bad.subarray(bad.lastIndexOf(0x2c) + 1)]);
    const file = path.join(tmp, 'gbk-bad.csv');
    await writeFile(file, joinLines(lines));
    const { info, recs } = await readAll(file);
    const clean = (await readAll(GBK_BARE)).recs;
    expect(info.encoding).toBe('gb18030');
    expect(recs).toHaveLength(29);
    expect(recs[4]?.line).toBe(6);
    expect(recs[4]?.error).toBe('undecodable bytes (gb18030)');
    expect(recs[4]?.fields[7]).toBe('\uFFFD神狐牌-未知系列0-未知年款0');
    expect(recs.filter((r) => r.error !== undefined)).toHaveLength(1);
    expect(recs.filter((_, i) => i !== 4)).toEqual(clean.filter((_, i) => i !== 4));
  });

  it('keeps a UTF-8 file with one damaged byte as UTF-8 and flags only that record', async () => {
    const lines = splitLines(await readFile(UTF8_NOBOM));
    lines[9] = Buffer.concat([lines[9]!.subarray(0, 25), Buffer.from([0xff]), lines[9]!.subarray(25)]);
    const file = path.join(tmp, 'utf8-bad.csv');
    await writeFile(file, joinLines(lines));
    const { info, recs } = await readAll(file);
    const clean = (await readAll(UTF8_NOBOM)).recs;
    expect(info.encoding).toBe('utf-8');
    expect(recs[8]?.line).toBe(10);
    expect(recs[8]?.error).toBe('undecodable bytes (utf-8)');
    expect(recs.filter((r) => r.error !== undefined)).toHaveLength(1);
    expect(recs.filter((_, i) => i !== 8)).toEqual(clean.filter((_, i) => i !== 8));
  });

  it('decides GBK correctly when the Chinese text starts past the first 1 MiB, split across chunks', async () => {
    // ASCII records fill the first chunk up to one byte before the boundary, so the first
    // non-ASCII character (2 GBK bytes) is cut in half by the 1 MiB chunk edge.
    const header = 'GCXH,XZQHMC,KKMC,FXLX,GCSJ,HPZL,HPHM,CLPPXH\n';
    const ascii = 'X1,a,b,1,2023/12/1 0:02,01,AB1***,-\n';
    const n = Math.floor((1024 * 1024 - header.length - 200) / ascii.length);
    let text = header + ascii.repeat(n);
    const pad = 1024 * 1024 - 1 - Buffer.byteLength(text) - 'Y2,b,c,1,2023/12/1 0:03,01,'.length;
    text += 'Y2,b,c,1,2023/12/1 0:03,01,' + 'Z'.repeat(pad); // ends 1 byte before the chunk edge
    const tail = iconv.encode('苏CD7***,福田牌\n' + 'Y3,徐州市,卡口,2,2023/12/1 0:04,02,鲁Q02***,-\n', 'gb18030');
    const bytes = Buffer.concat([Buffer.from(text, 'latin1'), tail]);
    expect(bytes[1024 * 1024 - 1]).toBeGreaterThanOrEqual(0x80); // the cut really is inside a character
    const file = path.join(tmp, 'late-gbk.csv');
    await writeFile(file, bytes);
    const { info, recs } = await readAll(file);
    expect(info.encoding).toBe('gb18030');
    expect(recs).toHaveLength(n + 2);
    expect(recs[n]?.fields).toEqual(['Y2', 'b', 'c', '1', '2023/12/1 0:03', '01', 'Z'.repeat(pad) + '苏CD7***', '福田牌']);
    expect(recs[n + 1]).toEqual({
      fields: ['Y3', '徐州市', '卡口', '2', '2023/12/1 0:04', '02', '鲁Q02***', '-'],
      line: n + 3,
      raw: 'Y3,徐州市,卡口,2,2023/12/1 0:04,02,鲁Q02***,-',
    });
    expect(info.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(info.bytes).toBe(bytes.length);
  });

  it('treats a pure-ASCII file as utf-8', async () => {
    const file = path.join(tmp, 'ascii.csv');
    await writeFile(file, 'GCXH,XZQHMC,KKMC,FXLX,GCSJ,HPZL,HPHM,CLPPXH\n1,a,b,1,2023/12/1 0:02,01,A***,-\n');
    const { info, recs } = await readAll(file);
    expect(info.encoding).toBe('utf-8');
    expect(recs).toHaveLength(1);
  });

  it('rejects a UTF-16 file with a clear message', async () => {
    const file = path.join(tmp, 'utf16.csv');
    await writeFile(file, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('GCXH,XZQHMC\n', 'utf16le')]));
    const err = await rejection(openRawFile(file));
    expect(err.code).toBe('HEADER_UNRECOGNISED');
    expect(err.message).toContain('UTF-16');
    expect(err.message).toContain(file);
  });
});

describe('raw CSV: structure', () => {
  it('reports the SHA-256 and size of the file once the records are read', async () => {
    const { info, records } = await openRawFile(GBK_BARE);
    expect(info.sha256).toBe('');
    for await (const _ of records);
    const bytes = await readFile(GBK_BARE);
    expect(info.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(info.bytes).toBe(bytes.length);
  });

  it('skips blank lines before the header and counts them in line numbers', async () => {
    const file = path.join(tmp, 'blank-lead.csv');
    const body = await readFile(GBK_BARE);
    await writeFile(file, Buffer.concat([Buffer.from('\n\r\n,,,,,,,\n'), body]));
    const { info, recs } = await readAll(file);
    expect(info.headerLine).toBe(4);
    expect(recs[0]?.line).toBe(5);
    expect(recs[0]?.fields[0]).toBe('320300108805919450');
  });

  it('maps columns by name when the header orders them differently', async () => {
    const file = path.join(tmp, 'reordered.csv');
    const text =
      '过车时间,过车序号,号牌号码,卡口名称,行政区划名称,方向类型,车辆品牌型号,号牌种类\r\n' +
      '2023/12/1 0:02,320300108805919450,鲁Q02***,徐州市卡口,邳州市,1,-,01\r\n' +
      '2023/12/1 0:03,320300108805919451,苏C***\r\n';
    await writeFile(file, iconv.encode(text, 'gb18030'));
    const { info, recs } = await readAll(file);
    expect(info.encoding).toBe('gb18030');
    expect(recs[0]?.fields).toEqual(['320300108805919450', '邳州市', '徐州市卡口', '1', '2023/12/1 0:02', '01', '鲁Q02***', '-']);
    expect(recs[0]?.error).toBeUndefined();
    // A short record cannot be mapped by name: its source fields are kept, with the reason.
    expect(recs[1]?.fields).toEqual(['2023/12/1 0:03', '320300108805919451', '苏C***']);
    expect(recs[1]?.error).toMatch(/3 fields where the header has 8/);
    expect(recs[1]?.line).toBe(3);
  });

  it('passes wrong-width records through unchanged when the header is in contract order', async () => {
    const file = path.join(tmp, 'width.csv');
    await writeFile(file, 'GCXH,XZQHMC,KKMC,FXLX,GCSJ,HPZL,HPHM,CLPPXH\n1,a,b\n2,a,b,1,t,01,P,-,extra\n');
    const { recs } = await readAll(file);
    expect(recs.map((r) => r.fields.length)).toEqual([3, 9]);
    expect(recs.every((r) => r.error === undefined)).toBe(true);
  });

  it('reports an unterminated quoted field on the record where it starts', async () => {
    const file = path.join(tmp, 'unterminated.csv');
    await writeFile(file, 'GCXH,XZQHMC,KKMC,FXLX,GCSJ,HPZL,HPHM,CLPPXH\n1,a,b,1,t,01,P,-\n2,"a,b,1,t,01,P,-\n3,a,b,1,t,01,P,-\n');
    const { recs } = await readAll(file);
    expect(recs).toHaveLength(2);
    expect(recs[1]?.line).toBe(3);
    expect(recs[1]?.error).toBe('unterminated quoted field');
  });

  it('rejects a file whose header matches nothing, naming the file', async () => {
    const file = path.join(tmp, 'noheader.csv');
    await writeFile(file, '320300108805919450,邳州市,卡口,1,2023/12/1 0:02,01,鲁Q02***,-\n');
    const err = await rejection(openRawFile(file));
    expect(err.code).toBe('HEADER_UNRECOGNISED');
    expect(err.message).toContain(file);
    expect(err.message).toContain('line 1');
    expect(err.context.file).toBe(file);
  });

  it('rejects an empty file as having no header', async () => {
    const file = path.join(tmp, 'empty.csv');
    await writeFile(file, '\n\n');
    const err = await rejection(openRawFile(file));
    expect(err.code).toBe('HEADER_UNRECOGNISED');
    expect(err.message).toMatch(/no header row/);
  });

  it('says INPUT_NOT_FOUND for a missing file', async () => {
    const err = await rejection(openRawFile(path.join(tmp, 'nope.csv')));
    expect(err.code).toBe('INPUT_NOT_FOUND');
    expect(err.message).toContain('nope.csv');
  });
});

describe.skipIf(!existsSync(REAL))('raw CSV: the real December files (skipped: /work/shared/realdata absent)', () => {
  it.each(['12-01.csv', 'to_yqy_1209.csv', 'to_yqy_12017.csv'])('%s decodes like iconv-lite, record for record', async (name) => {
    const file = path.join(REAL, name);
    const bytes = await readFile(file);
    const { info, recs } = await readAll(file);
    const lines = iconv.decode(bytes, 'gb18030').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    expect(info.encoding).toBe('gb18030');
    expect(recs).toHaveLength(lines.length - 1);
    expect(recs.map((r) => r.raw)).toEqual(lines.slice(1));
    expect(recs.filter((r) => r.error !== undefined)).toEqual([]);
    expect(recs.every((r) => r.fields.length === 8)).toBe(true);
    expect(info.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
  });
});

function splitLines(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x0a) {
      out.push(b.subarray(s, i));
      s = i + 1;
    }
  }
  if (s < b.length) out.push(b.subarray(s));
  return out;
}

function joinLines(lines: Buffer[]): Buffer {
  return Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));
}
