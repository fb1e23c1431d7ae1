/**
 * etl:all on the real sample (../shared/realdata: December GBK CSVs, January XLSX). Two full runs
 * of the CLI, one under TZ=Asia/Shanghai and one under TZ=UTC, run side by side; every other check
 * reads the outputs of the first.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCsvRecords } from '../../core/io.ts';
import { F, FILES } from '../../core/schema.ts';
import { daysBetween } from '../../core/time.ts';
import type { Manifest } from '../../etl/manifest.ts';

const REAL = path.resolve(import.meta.dirname, '../../../shared/realdata');
const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const present = existsSync(path.join(REAL, '202312')) && existsSync(path.join(REAL, '202401'));
if (!present) console.warn(`SKIPPED real-data ETL tests: ${REAL} not found`);

let tmp: string;
let shanghai: string;
let utc: string;
let manifest: Manifest;
/** master_data_expanded.csv of the Shanghai run, read once. */
let master: string[][];

async function table(file: string): Promise<string[][]> {
  const rows: string[][] = [];
  for await (const r of readCsvRecords(file)) rows.push(r.fields);
  return rows.slice(1);
}

async function etl(out: string, tz: string): Promise<void> {
  await run(process.execPath, ['bin/traffic.mjs', 'etl:all', '--raw', REAL, '--out', out], {
    cwd: ROOT,
    env: { ...process.env, TZ: tz, CI: '1' },
    maxBuffer: 1 << 24,
  });
}

describe.skipIf(!present)('etl:all on the real files', () => {
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'etl-real-'));
    shanghai = path.join(tmp, 'shanghai');
    utc = path.join(tmp, 'utc');
    await Promise.all([etl(shanghai, 'Asia/Shanghai'), etl(utc, 'UTC')]);
    manifest = JSON.parse(await readFile(path.join(shanghai, FILES.manifest), 'utf8')) as Manifest;
    master = await table(path.join(shanghai, FILES.master));
  }, 240_000);

  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('reads both months: every file contributes rows and none is rejected', () => {
    const byPath = Object.fromEntries(manifest.inputs.map((i) => [i.path, i]));
    expect(Object.keys(byPath).sort()).toEqual([
      '202312/12-01.csv',
      '202312/to_yqy_12017.csv',
      '202312/to_yqy_12018.csv',
      '202312/to_yqy_1209.csv',
      '202401/01.xlsx',
      '202401/16-20.xlsx',
    ]);
    expect(byPath['202312/12-01.csv']).toMatchObject({ format: 'csv', encoding: 'gb18030', rows: 32300 });
    expect(byPath['202401/01.xlsx']).toMatchObject({ format: 'xlsx', sheet: 'Sheet1', rows: 11771 });
    expect(byPath['202401/16-20.xlsx']?.rows).toBe(45119);
    expect(manifest.stages['01-merge']?.rejected).toBe(0);
  });

  it('adds the passes of the two byte-identical December files once', async () => {
    const copy = manifest.inputs.find((i) => i.path === '202312/to_yqy_12018.csv');
    expect(copy?.identicalTo).toBe('202312/to_yqy_12017.csv');
    const merge = manifest.stages['01-merge']!;
    expect(merge.removedCopies).toBe(copy?.rows);
    expect(merge.counts['copies.202312/to_yqy_12018.csv']).toBe(12367);
    const merged = await table(path.join(shanghai, FILES.merged));
    expect(merged).toHaveLength(133182 - 12367);
    expect(new Set(merged.map((r) => r[F.GCXH])).size).toBe(merged.length);
    const days = new Set(merged.map((r) => (r[F.GCSJ] as string).slice(0, 7)));
    expect([...days].sort()).toEqual(['2023-12', '2024-01']);
  });

  it('turns the 20 KKMC spellings into 19 codes, S325_Suining_K63 for the S325 checkpoint', async () => {
    const stats = JSON.parse(await readFile(path.join(shanghai, FILES.kkmcStatsJson), 'utf8')) as { kkmc: { name: string }[] };
    expect(stats.kkmc).toHaveLength(20);
    const dim = await table(path.join(shanghai, FILES.dimension));
    expect(dim).toHaveLength(19);
    const s325 = dim.find((r) => r[0] === 'S325_Suining_K63');
    expect(s325?.[2]).toContain('江苏省徐州市睢宁县S325淮宿线K63');
  });

  it('keeps the exact time of real passes from every file format', async () => {
    const want: Record<string, string> = {
      '320300108805919450': '2023-12-01 00:02:00', // 12-01.csv `2023/12/1 0:02`
      '320300108811144388': '2023-12-01 18:59:00', // `2023/12/1 18:59`
      '320300108907609226': '2023-12-17 07:36:08', // to_yqy_12017.csv `2023/12/17 7:36:08`
      '320300108854424764': '2023-12-09 00:00:09', // to_yqy_1209.csv `2023/12/9 0:00:09`
      '320300109027253771': '2024-01-01 00:00:24', // 01.xlsx `G320300109027253771`, `2024-01-01 00:00:24`
      '320300109183935838': '2024-01-18 03:48:55', // 16-20.xlsx
    };
    const got: Record<string, string> = {};
    for (const r of master) {
      const id = r[F.GCXH] as string;
      if (id in want) got[id] = r[F.GCSJ] as string;
    }
    expect(got).toEqual(want);
  });

  it('never changes known HPZL, CLPPXH, standard masked plates, XZQHMC or FXLX', async () => {
    const merged = new Map((await table(path.join(shanghai, FILES.merged))).map((r) => [r[F.GCXH] as string, r]));
    const logged = new Set((await table(path.join(shanghai, FILES.repairLog))).map((r) => `${r[0]}|${r[1]}`));
    const STANDARD = /^[京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新][A-Z][A-Z0-9]{2}\*\*\*$/;
    let checked = 0;
    const changed: string[] = [];
    for (const m of master) {
      const src = merged.get(m[F.GCXH] as string);
      if (!src) continue; // SYN rows
      checked++;
      const keep = (f: 'HPZL' | 'CLPPXH' | 'HPHM' | 'XZQHMC' | 'FXLX', known: boolean) => {
        if (known && m[F[f]] !== src[F[f]]) changed.push(`${m[F.GCXH]} ${f} ${src[F[f]]} → ${m[F[f]]}${logged.has(`${m[F.GCXH]}|${f}`) ? ' (logged)' : ''}`);
      };
      keep('HPZL', src[F.HPZL] !== '-');
      keep('CLPPXH', src[F.CLPPXH] !== '-');
      keep('HPHM', STANDARD.test(src[F.HPHM] as string));
      keep('XZQHMC', true);
      keep('FXLX', true);
    }
    expect(checked).toBe(merged.size);
    expect(changed.slice(0, 10)).toEqual([]);
  });

  it('fills only days inside the range that have no pass, copying whole weeks', async () => {
    const stats = JSON.parse(await readFile(path.join(shanghai, FILES.kkmcStatsJson), 'utf8')) as { emptyDays: string[]; from: string; to: string };
    const real = new Map<string, string>();
    const synDays = new Set<string>();
    const syn: string[][] = [];
    for (const r of master) {
      const id = r[F.GCXH] as string;
      if (id.startsWith('SYN')) {
        syn.push(r);
        synDays.add((r[F.GCSJ] as string).slice(0, 10));
      } else real.set(id, r[F.GCSJ] as string);
    }
    expect(syn.length).toBe(manifest.stages['04-repair']?.added);
    expect(syn.length).toBeGreaterThan(0);
    for (const d of synDays) {
      expect(stats.emptyDays).toContain(d);
      expect(d >= stats.from && d <= stats.to).toBe(true);
    }
    for (const r of syn.slice(0, 2000)) {
      const id = r[F.GCXH] as string;
      const t = r[F.GCSJ] as string;
      expect(id.slice(3, 11)).toBe(t.slice(0, 10).replace(/-/g, ''));
      const orig = real.get(id.slice(11));
      expect(orig, id).toBeDefined();
      expect(orig!.slice(11)).toBe(t.slice(11));
      expect(daysBetween(orig!.slice(0, 10), t.slice(0, 10)) % 7).toBe(0);
    }
  });

  it('writes byte-identical data files under TZ=UTC and TZ=Asia/Shanghai', async () => {
    const names = (await readdir(shanghai)).sort();
    expect((await readdir(utc)).sort()).toEqual(names);
    for (const n of names.filter((x) => x !== FILES.manifest)) {
      const a = await readFile(path.join(shanghai, n));
      const b = await readFile(path.join(utc, n));
      expect(a.equals(b), n).toBe(true);
    }
    const strip = (m: Manifest) => {
      const stages = Object.fromEntries(Object.entries(m.stages).map(([k, v]) => [k, { ...v, seconds: 0, rowsPerSecond: 0 }]));
      return { ...m, run: { stages: m.run.stages }, options: { ...m.options, out: '' }, stages };
    };
    const other = JSON.parse(await readFile(path.join(utc, FILES.manifest), 'utf8')) as Manifest;
    expect(strip(other)).toEqual(strip(manifest));
    expect(manifest.run.started).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$/);
  });

  it('balances rows in every stage and hands each stage exactly what the previous one emitted', () => {
    const s = manifest.stages;
    const order = ['01-merge', '02-profile', '03-standardize', '04-repair', '05-features'];
    for (const name of order) {
      const e = s[name]!;
      expect(e.in + e.added, name).toBe(e.out + e.rejected + e.removedCopies);
    }
    for (let i = 1; i < order.length; i++) expect(s[order[i]!]!.in).toBe(s[order[i - 1]!]!.out);
    expect(manifest.totals.rawRecords).toBe(manifest.inputs.reduce((a, i) => a + i.rows, 0));
  });
});
