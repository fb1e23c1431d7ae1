/**
 * Hostile files: a zip bomb is refused before it is inflated (or as soon as it inflates past its
 * declared size), the XLSX shapes the fuzzer found are read without hanging, and `load` on both
 * stores rejects rows whose checkpoint code is not safe, with line and reason, keeping the rest.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { strToU8, zipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { TrafficError } from '../../core/errors.ts';
import { csvText } from '../../core/io.ts';
import { MASTER_COLUMNS, type Reject } from '../../core/schema.ts';
import { readXlsxBytes } from '../../etl/read/xlsx.ts';
import { ZipArchive } from '../../etl/read/zip.ts';
import { EmbeddedStore } from '../../store/duckdb-store.ts';
import { loadMaster } from '../../store/load.ts';
import { ShardedStore } from '../../store/mysql.ts';
import { counts, dropDb, shardUrls, testDbName } from '../store/db.ts';
import { F } from '../../core/schema.ts';
import { openSource } from '../../streaming/bus/index.ts';
import { encodeRecord } from '../../streaming/record.ts';
import { collect } from '../streaming/collect.ts';
import { masterRows, tmpDir } from '../streaming/fixtures.ts';

/** A one-entry zip whose central directory declares `declared` bytes for `data` deflated. */
function zipOne(name: string, data: Buffer, declared: number): Buffer {
  const body = deflateRawSync(data, { level: 9 });
  const n = Buffer.from(name);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(8, 8);
  local.writeUInt32LE(body.length, 18);
  local.writeUInt32LE(declared, 22);
  local.writeUInt16LE(n.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(body.length, 20);
  central.writeUInt32LE(declared, 24);
  central.writeUInt16LE(n.length, 28);
  central.writeUInt32LE(0, 42);
  const cdOffset = 30 + n.length + body.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(46 + n.length, 12);
  end.writeUInt32LE(cdOffset, 16);
  return Buffer.concat([local, n, body, central, n, end]);
}

describe('zip bombs', () => {
  const zeros = Buffer.alloc(50_000_000); // 50 MB of zeros deflate to ~50 KB: a 1000:1 bomb

  it('a part declared at 1000:1 is refused before anything is inflated', () => {
    const zip = ZipArchive.open(zipOne('xl/worksheets/sheet1.xml', zeros, zeros.length));
    const before = process.memoryUsage().arrayBuffers;
    expect(() => zip.read('xl/worksheets/sheet1.xml')).toThrow(/would inflate \d+-fold .* zip bomb/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(10_000_000);
  });

  it('a part declared over the part limit is refused', () => {
    const zip = ZipArchive.open(zipOne('xl/sharedStrings.xml', Buffer.from('x'), 600_000_000));
    expect(() => zip.read('xl/sharedStrings.xml')).toThrow(/over the 500 MB a part may hold/);
  });

  it('a part that lies about its size stops inflating at the declared size', () => {
    const zip = ZipArchive.open(zipOne('xl/worksheets/sheet1.xml', zeros, 1000));
    expect(() => zip.read('xl/worksheets/sheet1.xml')).toThrow(/inflates past its declared 1000 bytes/);
  });

  it('as a workbook, the bomb is an XLSX_INVALID error naming the file', async () => {
    const files = {
      '_rels/.rels': strToU8(
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="r1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
      ),
      'xl/workbook.xml': strToU8('<workbook xmlns:r="r"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>'),
      'xl/_rels/workbook.xml.rels': strToU8(
        '<Relationships><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
      ),
      'xl/worksheets/sheet1.xml': new Uint8Array(zeros.buffer, 0, 40_000_000),
    };
    const bomb = Buffer.from(zipSync(files, { level: 9 }));
    const err = await readXlsxBytes(bomb, 'bomb.xlsx').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrafficError);
    expect((err as TrafficError).code).toBe('XLSX_INVALID');
    expect((err as TrafficError).message).toMatch(/zip bomb.*file bomb\.xlsx/);
  });
});

describe('XLSX shapes found by the fuzzer', () => {
  const book = (sheetData: string): Buffer =>
    Buffer.from(
      zipSync({
        '_rels/.rels': strToU8(
          '<Relationships><Relationship Id="r1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        ),
        'xl/workbook.xml': strToU8('<workbook xmlns:r="r"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        'xl/_rels/workbook.xml.rels': strToU8(
          '<Relationships><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        ),
        'xl/worksheets/sheet1.xml': strToU8(`<worksheet><sheetData>${sheetData}`),
      }),
    );
  const header = ['GCXH', 'XZQHMC', 'KKMC', 'FXLX', 'GCSJ', 'HPZL', 'HPHM', 'CLPPXH']
    .map((h, i) => `<c r="${'ABCDEFGH'[i]}1" t="inlineStr"><is><t>${h}</t></is></c>`)
    .join('');

  it('a row tag cut off at the end of the sheet ends the sheet (it once re-read the sheet forever)', async () => {
    const { records } = await readXlsxBytes(book(`<row r="1">${header}</row><row r="2"><c r="A2"><v>7</v></c></row><row `), 'cut.xlsx');
    const recs = [];
    for await (const r of records) recs.push(r);
    expect(recs.map((r) => [r.line, r.fields[0]])).toEqual([[2, '7']]);
  });

  it('a cell past column XFD flags its row instead of padding it to billions of cells', async () => {
    const { records } = await readXlsxBytes(
      book(`<row r="1">${header}</row><row r="2"><c r="${'Z'.repeat(40)}2"><v>1</v></c><c r="A2"><v>5</v></c></row></sheetData></worksheet>`),
      'wide.xlsx',
    );
    const recs = [];
    for await (const r of records) recs.push(r);
    expect(recs).toHaveLength(1);
    expect(recs[0]!.fields[0]).toBe('5');
    expect(recs[0]!.error).toMatch(/beyond column XFD/);
  });
});

describe('load rejects unsafe checkpoint codes on both stores', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'traffic-badload-'));
  const file = path.join(dir, 'master.csv');
  const good = (id: string, kkmc: string): string[] => [id, '丰县', kkmc, '1', '2023-12-09 08:00:00', '02', '苏C1***', '-', '江苏', '1', '1', '小型汽车'];
  writeFileSync(
    file,
    csvText(MASTER_COLUMNS, [
      good('1', 'A_Feng_K1'),
      good('2', '<img src=x onerror=alert(1)>'),
      good('3', "K1' OR '1'='1"),
      good('4', 'B_Pei_K2'),
      good('5', ''),
    ]),
  );
  const expected = [
    { line: 3, reason: 'KKMC not a checkpoint code (1–40 of A-Z a-z 0-9 _ -): "<img src=x onerror=alert(1)>"' },
    { line: 4, reason: `KKMC not a checkpoint code (1–40 of A-Z a-z 0-9 _ -): "K1' OR '1'='1"` },
    { line: 6, reason: 'KKMC empty' },
  ];
  const db = testDbName('traffic_badload');
  afterAll(() => dropDb(db));

  it('embedded: the three bad rows go to rejects with line and reason, the two good ones are stored', async () => {
    const store = await EmbeddedStore.open(':memory:');
    const rejects: Reject[] = [];
    try {
      expect(await store.loadMasterCsv(file, { onReject: (r) => rejects.push(r) })).toBe(2);
      expect(rejects.map((r) => ({ line: r.line, reason: r.reason }))).toEqual(expected);
      expect(rejects.every((r) => r.stage === 'load' && r.sourceFile === file)).toBe(true);
      expect((await store.kkmcCount(10)).map((c) => c.name).sort()).toEqual(['A_Feng_K1', 'B_Pei_K2']);
    } finally {
      await store.close();
    }
  });

  it('MySQL shards: the same rejects, the same two rows stored', async () => {
    const sharded = ShardedStore.open({ urls: shardUrls(db) });
    const rejects: Reject[] = [];
    try {
      await sharded.ensureSchema();
      const res = await loadMaster(sharded, file, { method: 'infile', chunkRows: 100, onReject: (r) => rejects.push(r) });
      expect(res.rejected).toBe(3);
      expect(rejects.map((r) => ({ line: r.line, reason: r.reason }))).toEqual(expected);
      expect((await counts(db)).distinct).toBe(2);
    } finally {
      await sharded.close();
    }
  });
});

describe('stream ingestion dead-letters unsafe checkpoint codes', () => {
  it('a record whose KKMC carries markup goes to <log>.rejects with the reason; the others are delivered', async () => {
    const dir = tmpDir();
    const log = path.join(dir, 'stream.log');
    const rows = masterRows(3);
    const evil = [...rows[1]!];
    evil[F.GCXH] = 'EVIL1';
    evil[F.KKMC] = '<svg/onload=alert(1)>';
    writeFileSync(log, [rows[0]!, evil, rows[1]!, rows[2]!].map((r) => encodeRecord(r)).join('\n') + '\n');
    const source = await openSource(`file:${log}`, { groupId: 'kkmc', follow: false, log: () => undefined });
    const got = await collect(source, 3);
    expect(got.map((i) => i.row[F.GCXH])).toEqual(rows.map((r) => r[F.GCXH]));
    expect(source.stats).toMatchObject({ received: 4, delivered: 3, deadLettered: 1 });
    expect(readFileSync(`${log}.rejects`, 'utf8')).toBe(
      `KKMC not a checkpoint code (1–40 of A-Z a-z 0-9 _ -): "<svg/onload=alert(1)>"\t${encodeRecord(evil)}\n`,
    );
  });
});
