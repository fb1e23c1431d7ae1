/**
 * `--from N` / `--only N` reproduce a full run: each stage run alone reads its input file from the
 * output dir and writes the same bytes the fused full run wrote. Runs on a small generated sample
 * (missing days, copies, XLSX and GBK files included) in-process.
 */
import { appendFile, cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FILES } from '../../core/schema.ts';
import type { Manifest } from '../../etl/manifest.ts';
import { runEtl, type EtlOptions } from '../../etl/runner.ts';
import type { StageNo } from '../../etl/stages.ts';

const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
let dir: string;
let raw: string;
let full: string;

const opts = (out: string, from: StageNo, to: StageNo): EtlOptions => ({
  raw,
  rawExplicit: false,
  out,
  from,
  to,
  fill: true,
  seed: 3,
  tty: false,
  stream: quiet,
  sample: { days: 10, passesPerDay: 600 },
});

/** Every output file except the manifest, byte for byte. */
async function expectSameFiles(a: string, b: string): Promise<void> {
  const names = (await readdir(a)).filter((n) => n !== FILES.manifest).sort();
  expect((await readdir(b)).filter((n) => n !== FILES.manifest).sort()).toEqual(names);
  for (const n of names) {
    const x = await readFile(path.join(a, n));
    const y = await readFile(path.join(b, n));
    expect(x.equals(y), n).toBe(true);
  }
}

async function manifestOf(out: string): Promise<Manifest> {
  return JSON.parse(await readFile(path.join(out, FILES.manifest), 'utf8')) as Manifest;
}

const counts = (m: Manifest) =>
  Object.fromEntries(Object.entries(m.stages).map(([k, e]) => [k, [e.in, e.out, e.rejected, e.removedCopies, e.added, e.counts]]));

let generated: Awaited<ReturnType<typeof runEtl>>['generated'];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'etl-resume-'));
  raw = path.join(dir, 'raw');
  full = path.join(dir, 'full');
  // No raw data yet and no --raw: the run generates the sample first.
  generated = (await runEtl(opts(path.join(dir, 'first'), 1, 5))).generated;
  // Then some bad rows so that stages 01 and 03 reject: a wrong width, a date without a time, a
  // conflicting duplicate id, and a row without a checkpoint name (passes 01, rejected by 03).
  const csv = (await readdir(path.join(raw, '202312'))).filter((n) => n.endsWith('.csv')).sort()[0]!;
  const file = path.join(raw, '202312', csv);
  const text = await readFile(file, 'latin1');
  const first = text.split('\n')[1]!.replace(/\r$/, '');
  const id = first.replace(/"/g, '').split(',')[0]!;
  await appendFile(
    file,
    [
      '1,2,3,4,5,6,7,8,9',
      '99000000000000001,x,K1,1,2023/12/25,02,A,-',
      `${id},x,K1,1,2023/12/25 1:00:00,02,A,-`,
      '99000000000000002,x,,1,2023/12/25 2:00:00,02,A,-',
      '',
    ].join('\r\n'),
    'latin1',
  );
  await runEtl({ ...opts(full, 1, 5), rawExplicit: true });
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('resuming with --from / --only', () => {
  it('generated the sample where the raw data was missing and recorded it', async () => {
    expect(generated?.rows).toBeGreaterThan(1000);
    expect((await manifestOf(path.join(dir, 'first'))).options.generatedSample).toBe(true);
    const m = await manifestOf(full);
    expect(m.options.generatedSample).toBe(false);
    expect(m.inputs.some((i) => i.format === 'xlsx')).toBe(true);
    expect(m.inputs.some((i) => i.format === 'csv')).toBe(true);
    expect(m.run.stages).toEqual(['01-merge', '02-profile', '03-standardize', '04-repair', '05-features']);
  });

  it('--from 2 reproduces the full run from merged_data.csv', async () => {
    const out = path.join(dir, 'from2');
    await cp(full, out, { recursive: true });
    await rm(path.join(out, FILES.master));
    const r = await runEtl(opts(out, 2, 5));
    expect(r.generated).toBeUndefined();
    await expectSameFiles(full, out);
    expect(counts(r.manifest)).toEqual(counts(await manifestOf(full)));
    // 02 streams merged_data.csv and hands its rows to 03 in memory; 04 scans first, so it streams
    // the file 03 just wrote (twice) rather than holding it, and hands its rows to 05.
    expect(Object.values(r.manifest.stages).map((e) => [e.stage, e.source])).toEqual([
      ['01-merge', 'raw'],
      ['02-profile', 'file'],
      ['03-standardize', 'memory'],
      ['04-repair', 'file'],
      ['05-features', 'memory'],
    ]);
  });

  it('--only 3, --only 4 and --only 5 in turn reproduce the full run', async () => {
    const out = path.join(dir, 'only');
    await cp(full, out, { recursive: true });
    for (const n of [3, 4, 5] as const) {
      const r = await runEtl(opts(out, n, n));
      expect(r.manifest.run.stages).toHaveLength(1);
    }
    await expectSameFiles(full, out);
    expect(counts(await manifestOf(out))).toEqual(counts(await manifestOf(full)));
  });

  it('--only 1 rewrites merged_data.csv and keeps the later stages in the manifest', async () => {
    const out = path.join(dir, 'only1');
    await cp(full, out, { recursive: true });
    const r = await runEtl(opts(out, 1, 1));
    await expectSameFiles(full, out);
    expect(Object.keys(r.manifest.stages)).toHaveLength(5);
  });

  it('reads the raw files in-thread or by any number of reader threads with the same result', async () => {
    const runs: string[] = [];
    for (const readers of [0, 1, 2, 5]) {
      const d = path.join(dir, `readers-${readers}`);
      await runEtl({ ...opts(d, 1, 1), readers });
      runs.push(d);
    }
    const merged = await readFile(path.join(full, FILES.merged));
    const rejects0 = await readFile(path.join(runs[0]!, FILES.rejects), 'utf8');
    expect(rejects0.trim().split('\n')).toHaveLength(4);
    for (const d of runs) {
      expect((await readFile(path.join(d, FILES.merged))).equals(merged)).toBe(true);
      expect(await readFile(path.join(d, FILES.rejects), 'utf8')).toBe(rejects0);
      expect(counts(await manifestOf(d))).toEqual(counts(await manifestOf(runs[0]!)));
    }
  });

  it('says which file is missing when a stage runs alone before its input exists', async () => {
    const out = path.join(dir, 'empty');
    await expect(runEtl(opts(out, 4, 4))).rejects.toMatchObject({
      code: 'STAGE_INPUT_MISSING',
      message: expect.stringContaining('merged_data_standardized.csv'),
    });
  });

  it('collects the rejects of stages 01 and 03 with their reasons', async () => {
    const m = await manifestOf(full);
    expect(m.stages['01-merge']?.rejectsByReason).toEqual({
      'expected 8 fields, got 9': 1,
      'GCSJ has a date but no time': 1,
      'GCXH duplicate with different content': 1,
    });
    expect(m.stages['03-standardize']?.rejected).toBe(1);
    const lines = (await readFile(path.join(full, FILES.rejects), 'utf8')).trim().split('\n');
    expect(lines.map((l) => l.split(',')[2])).toEqual(['STAGE', '01-merge', '01-merge', '01-merge', '03-standardize']);
    expect(lines[4]).toMatch(/^merged_data\.csv,\d+,03-standardize,/);
  });

  it('balances every stage of the generated run, copies and fill included', async () => {
    const m = await manifestOf(full);
    for (const e of Object.values(m.stages)) expect(e.in + e.added, e.stage).toBe(e.out + e.rejected + e.removedCopies);
    expect(m.totals.rawRecords).toBe(m.inputs.reduce((s, i) => s + i.rows, 0));
    const rejects = (await readFile(path.join(full, FILES.rejects), 'utf8')).trim().split('\n').length - 1;
    expect(rejects).toBe(m.totals.rejected);
  });
});
