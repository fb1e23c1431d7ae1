import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrafficError } from '../../core/errors.ts';
import { addDays, weekday } from '../../core/time.ts';
import { DEFAULT_SAMPLE_DAYS, generateSample, type SampleSummary } from '../../etl/sample/generate.ts';
import { defaultStart, planSample } from '../../etl/sample/layout.ts';
import { CHECKPOINTS } from '../../etl/sample/passes.ts';
import { command } from '../../etl/sample/cli.ts';
import { openRawFile } from '../../etl/read/raw.ts';
import { deriveProfile } from '../../etl/sample/derive-profile.ts';
import { PROFILE } from '../../etl/sample/profile.ts';
import { GOOD_PLATE, listDataFiles, readAll, readCsvGbk, readTruth, readXlsx, type FileRows } from './sample-helpers.ts';

// Small volume keeps the suite quick; 8 days from 2023-12-27 give every feature of the layout.
const OPTS = { seed: 7, days: 8, passesPerDay: 2500 } as const;

let root: string;
let a: string;
let summary: SampleSummary;
let files: FileRows[];

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'sample-test-'));
  a = path.join(root, 'a');
  summary = await generateSample({ out: a, ...OPTS });
  files = await readAll(a);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function bytesOf(dir: string): Promise<Map<string, Buffer>> {
  const m = new Map<string, Buffer>();
  for (const rel of [...(await listDataFiles(dir)), ...(await readdir(path.join(dir, 'truth'))).map((f) => `truth/${f}`)]) {
    m.set(rel, await readFile(path.join(dir, rel)));
  }
  return m;
}

describe('sample layout', () => {
  it('writes December GBK CSVs and January XLSX files named like the real exports', async () => {
    expect(await listDataFiles(a)).toEqual([
      '202312/12-27.csv',
      '202312/to_yqy_12028.csv',
      '202312/to_yqy_12029.csv',
      '202312/to_yqy_12030.csv',
      '202401/01.xlsx',
      '202401/02-03.xlsx',
    ]);
    expect(summary.files.map((f) => path.relative(a, f).split(path.sep).join('/'))).toEqual(await listDataFiles(a));
    expect(summary.days).toEqual(Array.from({ length: 8 }, (_, i) => addDays('2023-12-27', i)));
  });

  it('makes one file a byte copy of the day before and leaves the last December day without a file', async () => {
    const src = await readFile(path.join(a, '202312/to_yqy_12029.csv'));
    const copy = await readFile(path.join(a, '202312/to_yqy_12030.csv'));
    expect(copy.equals(src)).toBe(true);
    expect(summary.missingDays).toEqual(['2023-12-30', '2023-12-31']);
    // No row anywhere is dated the 30th or the 31st.
    const dates = new Set(files.flatMap((f) => f.rows.map((r) => r[4]!.split(' ')[0])));
    expect([...dates].filter((d) => /12\/3[01]$/.test(d!))).toEqual([]);
    const missing = await readTruth(summary.truthMissingDaysFile);
    expect(missing.map((m) => [m.DAY, m.REASON, m.FILE, m.COPY_OF_DAY])).toEqual([
      ['2023-12-30', 'copy_of_other_day', '202312/to_yqy_12030.csv', '2023-12-29'],
      ['2023-12-31', 'no_file', '', ''],
    ]);
    for (const m of missing) expect(Number(m.EXPECTED_PASSES)).toBeGreaterThan(1000);
  });

  it('keeps the truth outside the month folders', async () => {
    expect(path.relative(a, summary.truthFile).split(path.sep)).toEqual(['truth', 'truth.csv']);
    expect((await readdir(a)).sort()).toEqual(['202312', '202401', 'truth']);
  });

  it('by default crosses the month change with December days a week before each missing day', () => {
    const start = defaultStart(DEFAULT_SAMPLE_DAYS);
    expect(start).toBe('2023-12-23');
    const plan = planSample(start, DEFAULT_SAMPLE_DAYS);
    expect(plan.days.at(-1)! >= '2024-01-03').toBe(true);
    for (const m of plan.missing) {
      const source = addDays(m.day, -7);
      expect(weekday(source)).toBe(weekday(m.day));
      expect(plan.files.some((f) => !f.copyOf && f.days.includes(source))).toBe(true);
    }
    expect(plan.files.filter((f) => f.format === 'xlsx' && f.days.length > 1)).toHaveLength(1);
    expect(defaultStart(45)).toBe('2023-12-09');
  });
});

describe('December CSV files', () => {
  it('are GB18030/GBK, not UTF-8, and decode to the real checkpoint names', async () => {
    const raw = await readFile(path.join(a, '202312/to_yqy_12028.csv'));
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(raw)).toThrow();
    const text = iconv.decode(raw, 'gb18030');
    expect(text).toContain('徐州市邳州市S250宿邳线K1江苏徐州-S250-苏鲁界省际卡口');
    expect(text).toContain('高速五大队');
    expect(iconv.encode(text, 'gbk').equals(raw)).toBe(true); // every character is plain GBK
    expect(raw.includes(Buffer.from('\r\n'))).toBe(false);
    expect(raw.at(-1)).toBe(10);
  });

  it('carry the two header variants, quoting styles and time formats', async () => {
    const minutes = (await readFile(path.join(a, '202312/12-27.csv'))).toString('latin1').split('\n');
    expect(minutes[0]).toBe(`GCXH,XZQHMC,KKMC,FXLX,GCSJ,HPZL,"SUBSTR(HPHM,1,4)||'***'",CLPPXH`);
    expect(minutes[1]!.startsWith('"')).toBe(false);
    const quoted = (await readFile(path.join(a, '202312/to_yqy_12028.csv'))).toString('latin1').split('\n');
    expect(quoted[0]).toBe('"GCXH","XZQHMC","KKMC","FXLX","GCSJ","HPZL","HP","CLPPXH"');
    expect(quoted[1]).toMatch(/^"\d{18}","/);
    const m = await readCsvGbk(path.join(a, '202312/12-27.csv'));
    const q = await readCsvGbk(path.join(a, '202312/to_yqy_12028.csv'));
    for (const r of m.rows) expect(r[4]).toMatch(/^2023\/12\/27 \d{1,2}:\d{2}$/);
    for (const r of q.rows) expect(r[4]).toMatch(/^2023\/12\/28 \d{1,2}:\d{2}:\d{2}$/);
    expect(m.rows.some((r) => /\/27 0:0\d$/.test(r[4]!))).toBe(true); // hours are not zero-padded
  });

  it('list rows grouped by brand, each group in time order, like the real exports', async () => {
    const q = await readCsvGbk(path.join(a, '202312/to_yqy_12028.csv'));
    const secs = q.rows.map((r) => {
      const [h, mi, sec] = r[4]!.split(' ')[1]!.split(':').map(Number);
      return h! * 3600 + mi! * 60 + sec!;
    });
    let restarts = 0;
    for (let i = 1; i < secs.length; i++) if (secs[i]! < secs[i - 1]!) restarts++;
    expect(restarts).toBeGreaterThan(10); // not one time-sorted list …
    expect(restarts).toBeLessThan(110); // … but a run per brand group (the real files have 80–104)
    const firstRestart = secs.findIndex((t, i) => i > 0 && t < secs[i - 1]!);
    const lastDash = q.rows.map((r) => r[7]).lastIndexOf('-');
    expect(lastDash).toBeLessThan(firstRestart); // the first group holds every row without a brand
  });
});

describe('January XLSX files', () => {
  it('read back with exceljs: G-prefixed ids, text times, an empty Sheet2 in the first file', async () => {
    const first = await readXlsx(path.join(a, '202401/01.xlsx'));
    expect(first.sheets).toEqual(['Sheet1', 'Sheet2']);
    expect(first.header).toEqual([`'G'||GCXH`, 'XZQHMC', 'KKMC', 'FXLX', `TO_CHAR(GCSJ,'YYYY-MM-DDHH24:M`, 'HPZL', `SUBSTR(HPHM,0,4)||'***'`, 'CLPPXH']);
    expect(first.rows.length).toBeGreaterThan(500);
    for (const r of first.rows) {
      expect(r[0]).toMatch(/^G\d{18}$/);
      expect(typeof r[4]).toBe('string');
      expect(r[4]).toMatch(/^2024-01-01 \d{2}:\d{2}:\d{2}$/);
      expect(typeof r[3]).toBe('string'); // FXLX and HPZL are text, as in the real files
    }
    const multi = await readXlsx(path.join(a, '202401/02-03.xlsx'));
    expect(multi.sheets).toEqual(['Sheet1']);
    expect(new Set(multi.rows.map((r) => String(r[4]).slice(0, 10)))).toEqual(new Set(['2024-01-02', '2024-01-03']));
  });

  it('spell one checkpoint with a leading 江苏省 in January only', () => {
    const alt = CHECKPOINTS.find((c) => c.altName)!;
    const dec = files.filter((f) => f.rel.startsWith('202312')).flatMap((f) => f.rows.map((r) => r[2]));
    const jan = files.filter((f) => f.rel.startsWith('202401')).flatMap((f) => f.rows.map((r) => r[2]));
    expect(dec).toContain(alt.name);
    expect(dec).not.toContain(alt.altName);
    expect(jan).toContain(alt.altName);
    expect(new Set([...dec, ...jan]).size).toBeGreaterThanOrEqual(19);
  });
});

describe('the ETL raw reader', () => {
  it('reads every generated file with its header recognised and no broken record', async () => {
    for (const f of summary.files) {
      const { info, records } = await openRawFile(f);
      expect(info.header).toHaveLength(8);
      let n = 0;
      for await (const r of records) {
        expect(r.error, `${f}:${r.line}`).toBeUndefined();
        expect(r.fields).toHaveLength(8);
        n++;
      }
      const expected = files.find((x) => f.endsWith(x.rel.split('/').join(path.sep)))!.rows.length;
      expect(n).toBe(expected);
    }
  });
});

describe('determinism', () => {
  it('gives byte-identical output for the same seed and different output for another seed', async () => {
    const b = path.join(root, 'b');
    const c = path.join(root, 'c');
    await generateSample({ out: b, ...OPTS });
    await generateSample({ out: c, ...OPTS, seed: OPTS.seed + 1 });
    const [ba, bb, bc] = await Promise.all([bytesOf(a), bytesOf(b), bytesOf(c)]);
    expect([...bb.keys()]).toEqual([...ba.keys()]);
    for (const [rel, buf] of ba) {
      expect(bb.get(rel)!.equals(buf), rel).toBe(true);
      if (rel !== 'truth/truth_summary.json') expect(bc.get(rel)?.equals(buf) ?? false, rel).toBe(false);
    }
  });
});

describe('pass ids', () => {
  it('are 18 digits, unique except in the byte copy, and follow time within a day', () => {
    const ids = new Map<string, string>();
    for (const f of files) {
      if (f.rel.endsWith('to_yqy_12030.csv')) continue;
      for (const r of f.rows) {
        const id = r[0]!.replace(/^G/, '');
        expect(id).toMatch(/^\d{18}$/);
        expect(ids.has(id)).toBe(false);
        ids.set(id, r[4]!);
      }
    }
    const xlsx = files.filter((f) => f.rel.endsWith('.xlsx')).flatMap((f) => f.rows);
    const sorted = xlsx.map((r) => [r[0]!, r[4]!] as const).sort((x, y) => (x[0] < y[0] ? -1 : 1));
    let late = 0;
    for (let i = 1; i < sorted.length; i++) {
      const t0 = Date.parse(sorted[i - 1]![1].replace(' ', 'T') + 'Z');
      const t1 = Date.parse(sorted[i]![1].replace(' ', 'T') + 'Z');
      if (t1 < t0 - 60_000) late++;
    }
    expect(late / sorted.length).toBeLessThan(0.03);
  });
});

describe('values and their truth', () => {
  const rate = (rows: string[][], pred: (r: string[]) => boolean): number => rows.filter(pred).length / rows.length;

  it('blank and break values near the rates measured on the real files', () => {
    const csv = files.filter((f) => f.rel.endsWith('.csv') && !f.rel.endsWith('12030.csv')).flatMap((f) => f.rows);
    const xlsx = files.filter((f) => f.rel.endsWith('.xlsx')).flatMap((f) => f.rows);
    const all = [...csv, ...xlsx];
    expect(csv.length).toBeGreaterThan(5000);
    expect(rate(csv, (r) => r[5] === '-')).toBeGreaterThan(0.025);
    expect(rate(csv, (r) => r[5] === '-')).toBeLessThan(0.055);
    expect(rate(xlsx, (r) => r[5] === '-')).toBe(0);
    expect(rate(csv, (r) => !GOOD_PLATE.test(r[6]!))).toBeGreaterThan(0.018);
    expect(rate(csv, (r) => !GOOD_PLATE.test(r[6]!))).toBeLessThan(0.04);
    expect(rate(xlsx, (r) => !GOOD_PLATE.test(r[6]!))).toBeLessThan(0.015);
    expect(rate(all, (r) => r[7] === '-')).toBeGreaterThan(0.14);
    expect(rate(all, (r) => r[7] === '-')).toBeLessThan(0.22);
    const brandOnly = rate(all, (r) => r[7] !== '-' && !r[7]!.includes('-'));
    expect(brandOnly).toBeGreaterThan(0.34);
    expect(brandOnly).toBeLessThan(0.48);
    expect(rate(all, (r) => r[5] === '02')).toBeGreaterThan(0.66);
    expect(rate(all, (r) => r[5] === '02')).toBeLessThan(0.76);
    expect(rate(all, (r) => r[5] === '01')).toBeGreaterThan(0.15);
    expect(rate(all, (r) => r[5] === '01')).toBeLessThan(0.24);
    const ne = all.filter((r) => r[5] === '52' && GOOD_PLATE.test(r[6]!));
    expect(rate(ne, (r) => 'DF'.includes(r[6]![2]!))).toBeGreaterThan(0.93);
    expect(rate(all, (r) => r[6]!.startsWith('苏C'))).toBeGreaterThan(0.5);
    // The malformed kinds named in the real data all occur.
    const plates = csv.map((r) => r[6]!);
    expect(plates).toContain('-***');
    expect(plates.some((p) => /^[A-Z][A-Z0-9]{3}\*\*\*$/.test(p))).toBe(true); // C379***
    expect(plates.some((p) => /^[^A-Z0-9-][A-Z0-9]?\*\*\*$/.test(p))).toBe(true); // 京***
    expect(plates.some((p) => /^[0-9A-Z][京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新][A-Z]/.test(p))).toBe(true); // 4皖LG***
  });

  it('record the true value of every blanked or misread value, and nothing else', async () => {
    const truth = await readTruth(summary.truthFile);
    const byId = new Map<string, string[]>();
    for (const f of files) for (const r of f.rows) byId.set(r[0]!.replace(/^G/, ''), r);
    const col: Record<string, number> = { HPZL: 5, HPHM: 6, CLPPXH: 7 };
    const seen = new Set<string>();
    for (const t of truth) {
      const row = byId.get(t.GCXH!);
      expect(row, t.GCXH).toBeDefined();
      expect(row![col[t.FIELD!]!]).toBe(t.WRITTEN_VALUE);
      expect(t.TRUE_VALUE).not.toBe(t.WRITTEN_VALUE);
      if (t.FIELD === 'HPHM') {
        expect(t.TRUE_VALUE).toMatch(GOOD_PLATE);
        expect(t.TRUE_PLATE).toHaveLength(7);
        expect(t.TRUE_PLATE!.startsWith(t.TRUE_VALUE!.slice(0, 4))).toBe(true);
      } else {
        expect(t.TRUE_PLATE).toBe('');
      }
      if (t.FIELD === 'HPZL') expect(t.TRUE_VALUE).toMatch(/^\d{2}$/);
      if (t.FIELD === 'CLPPXH') expect(t.TRUE_VALUE).not.toBe('-');
      seen.add(`${t.GCXH}|${t.FIELD}`);
    }
    for (const [id, r] of byId) {
      if (r[5] === '-') expect(seen.has(`${id}|HPZL`), id).toBe(true);
      if (r[7] === '-') expect(seen.has(`${id}|CLPPXH`), id).toBe(true);
      if (!GOOD_PLATE.test(r[6]!)) expect(seen.has(`${id}|HPHM`), id).toBe(true);
    }
    expect(truth.length).toBeGreaterThan(1000);
  });

  it('reuse recurring vehicles with the same plate, type and brand', () => {
    const rows = files.filter((f) => !f.rel.endsWith('12030.csv')).flatMap((f) => f.rows);
    const keys = new Map<string, number>();
    for (const r of rows)
      if (GOOD_PLATE.test(r[6]!) && r[7]!.split('-').length >= 3) keys.set(`${r[6]}|${r[5]}|${r[7]}`, (keys.get(`${r[6]}|${r[5]}|${r[7]}`) ?? 0) + 1);
    const total = [...keys.values()].reduce((x, y) => x + y, 0);
    const repeated = [...keys.values()].filter((n) => n > 1).reduce((x, y) => x + y, 0);
    expect(repeated / total).toBeGreaterThan(0.1);
    expect(repeated / total).toBeLessThan(0.5);
  });
});

describe('the profile', () => {
  it('measured again on a generated sample matches the profile it was generated from', async () => {
    const p = (await deriveProfile(a)) as {
      checkpoints: { name: string; altName: string | null; share: number; xzqhmc: string; fxlx: string }[];
      hpzl: [string, number][];
    };
    const byName = new Map(p.checkpoints.map((c) => [c.name, c]));
    for (const c of PROFILE.checkpoints) {
      if (c.share < 0.001) continue; // G237 may be silent in a small sample
      const d = byName.get(c.name);
      expect(d, c.name).toBeDefined();
      expect(Math.abs(d!.share - c.share), c.name).toBeLessThan(0.02);
      expect([d!.xzqhmc, d!.fxlx, d!.altName]).toEqual([c.xzqhmc, c.fxlx, c.altName]);
    }
    const total = p.hpzl.reduce((x, [, k]) => x + k, 0);
    const real = PROFILE.hpzl.reduce((x, [, k]) => x + k, 0);
    for (const [z, k] of PROFILE.hpzl.slice(0, 3)) {
      const got = (p.hpzl.find(([y]) => y === z)?.[1] ?? 0) / total;
      expect(Math.abs(got - k / real), z).toBeLessThan(0.02);
    }
  });
});

describe('volume', () => {
  it('puts ~25k passes on a weekday over the 19 checkpoints, with a night trough and a morning peak', async () => {
    const out = path.join(root, 'volume');
    const s = await generateSample({ out, seed: 3, days: 1, startDate: '2024-01-03' });
    expect(s.rows).toBeGreaterThan(20_000);
    expect(s.rows).toBeLessThan(33_000);
    const x = await readXlsx(s.files[0]!);
    const hours = new Array<number>(24).fill(0);
    for (const r of x.rows) hours[Number(String(r[4]).slice(11, 13))]!++;
    const night = hours.slice(2, 5).reduce((p, q) => p + q, 0) / 3;
    const morning = hours.slice(7, 10).reduce((p, q) => p + q, 0) / 3;
    expect(morning).toBeGreaterThan(3 * night);
    expect(new Set(x.rows.map((r) => r[2])).size).toBeGreaterThanOrEqual(17);
  });
});

describe('options', () => {
  it('the data:sample command normalizes its flags and rejects bad ones', async () => {
    await expect(command.run(['--out', path.join(root, 'cli'), '--days', 'x'])).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(command.run(['--out', path.join(root, 'cli'), '--bogus'])).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    const code = await command.run(['--out', path.join(root, 'cli'), '--days', '2', '--seed', '5', '--passes-per-day', '300']);
    expect(code).toBe(0);
    expect(await listDataFiles(path.join(root, 'cli'))).toEqual(['202312/12-31.csv', '202401/01.xlsx']);
  });

  it('reject bad days, start dates and volumes with INVALID_OPTION', async () => {
    const out = path.join(root, 'bad');
    for (const o of [{ days: 0 }, { days: 401 }, { days: 2, startDate: '2023-13-01' }, { days: 2, startDate: '20231201' }, { days: 2, passesPerDay: 0 }]) {
      await expect(generateSample({ out, seed: 1, ...o })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    }
  });

  it('refuse to mix with raw files already in the output unless told to replace them', async () => {
    const out = path.join(root, 'existing');
    await mkdir(path.join(out, '202312'), { recursive: true });
    await writeFile(path.join(out, '202312', 'mine.csv'), 'x\n');
    const err = await generateSample({ out, seed: 1, days: 2, passesPerDay: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrafficError);
    expect((err as TrafficError).code).toBe('INVALID_OPTION');
    await generateSample({ out, seed: 1, days: 2, passesPerDay: 200, overwrite: true });
    expect(await listDataFiles(out)).toEqual(['202312/12-31.csv', '202401/01.xlsx']);
  });
});
