/**
 * A full run moves stages 02–03 and 05 to stage threads (etl/stage-thread.ts). The threads must be
 * invisible in the results: the same files, counts and rejects as running every stage on the
 * main thread, and a failure inside a thread stops the run with the thread's error (code, file)
 * and leaves no partial file behind.
 */
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../etl/manifest.ts';
import { runEtl, type EtlOptions } from '../../etl/runner.ts';
import { FILES } from '../../core/schema.ts';

const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
let dir: string;
let raw: string;

const opts = (out: string, threads: boolean): EtlOptions => ({
  raw,
  rawExplicit: false,
  out,
  from: 1,
  to: 5,
  fill: true,
  seed: 5,
  tty: false,
  stream: quiet,
  sample: { days: 9, passesPerDay: 500 },
  writerThread: threads,
  stageThreads: threads,
});

async function manifestOf(out: string): Promise<Manifest> {
  return JSON.parse(await readFile(path.join(out, FILES.manifest), 'utf8')) as Manifest;
}

const counts = (m: Manifest) =>
  Object.fromEntries(Object.entries(m.stages).map(([k, e]) => [k, [e.in, e.out, e.rejected, e.removedCopies, e.added, e.counts, e.outputs]]));

const leftovers = async (out: string): Promise<string[]> => (await readdir(out)).filter((n) => n.includes('partial'));

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'etl-stage-threads-'));
  raw = path.join(dir, 'raw');
  // Generates the sample (no raw data yet), then a row 03 rejects (no checkpoint name): a reject
  // that happens inside the 02–03 thread.
  await runEtl(opts(path.join(dir, 'first'), false));
  const csv = (await readdir(path.join(raw, '202312'))).filter((n) => n.endsWith('.csv')).sort()[0]!;
  await appendFile(path.join(raw, '202312', csv), '99000000000000002,x,,1,2023/12/05 2:00:00,02,A,-\r\n', 'latin1');
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('stage threads', () => {
  it('write the same files, counts and rejects as running every stage on the main thread', async () => {
    const main = path.join(dir, 'main');
    const threaded = path.join(dir, 'threaded');
    await runEtl(opts(main, false));
    await runEtl(opts(threaded, true));
    const names = (await readdir(main)).filter((n) => n !== FILES.manifest).sort();
    expect((await readdir(threaded)).filter((n) => n !== FILES.manifest).sort()).toEqual(names);
    for (const n of names) expect((await readFile(path.join(threaded, n))).equals(await readFile(path.join(main, n))), n).toBe(true);
    const m = await manifestOf(threaded);
    expect(counts(m)).toEqual(counts(await manifestOf(main)));
    // The thread-side reject made it to rejects.csv, counted under its stage.
    expect(m.stages['03-standardize']?.rejected).toBe(1);
    expect(await readFile(path.join(threaded, FILES.rejects), 'utf8')).toMatch(/\n\S*merged_data\.csv,\d+,03-standardize,/);
    expect(m.stages['05-features']?.in).toBe(m.stages['04-repair']?.out);
    expect(await leftovers(threaded)).toEqual([]);
  }, 120_000);

  it('write the same files when 04 fills more days than it reads (05 then stays on the main thread)', async () => {
    // 22 days (2023-12-21 … 2024-01-11); all but the first week and the last day removed: the 14
    // days between are filled from the first week.
    const fillRaw = path.join(dir, 'fill-raw');
    const first = path.join(dir, 'fill-first');
    await runEtl({ ...opts(first, false), raw: fillRaw, sample: { days: 22, passesPerDay: 400 } });
    for (const f of ['to_yqy_12028.csv', 'to_yqy_12029.csv', 'to_yqy_12030.csv']) await rm(path.join(fillRaw, '202312', f));
    for (const f of ['01.xlsx', '02-06.xlsx', '07.xlsx', '08.xlsx', '09.xlsx', '10.xlsx']) await rm(path.join(fillRaw, '202401', f));
    const outs: string[] = [];
    for (const threads of [false, true]) {
      const out = path.join(dir, `fill-${threads}`);
      await runEtl({ ...opts(out, threads), raw: fillRaw, rawExplicit: true });
      outs.push(out);
    }
    const m = await manifestOf(outs[1]!);
    expect(m.stages['04-repair']!.added).toBeGreaterThan(m.stages['04-repair']!.in / 2);
    const names = (await readdir(outs[0]!)).filter((n) => n !== FILES.manifest).sort();
    expect((await readdir(outs[1]!)).filter((n) => n !== FILES.manifest).sort()).toEqual(names);
    for (const n of names) expect((await readFile(path.join(outs[1]!, n))).equals(await readFile(path.join(outs[0]!, n))), n).toBe(true);
    expect(counts(m)).toEqual(counts(await manifestOf(outs[0]!)));
    expect(await leftovers(outs[1]!)).toEqual([]);
  }, 120_000);

  it('stop the run with the same error as the main thread when a stage cannot load its options', async () => {
    const bad = path.join(dir, 'bad-overrides.csv');
    await writeFile(bad, 'KKMC_NAME,KKMC\n某卡口,not a code!\n');
    const errors = [];
    for (const threads of [false, true]) {
      const out = path.join(dir, `overrides-${threads}`);
      const err = await runEtl({ ...opts(out, threads), overrides: bad }).catch((e: unknown) => e);
      expect(err, `threads ${threads}`).toMatchObject({ code: 'BAD_ROW', message: expect.stringContaining('bad-overrides.csv') });
      errors.push((err as Error).message);
      expect(await leftovers(out)).toEqual([]);
    }
    expect(errors[1]).toBe(errors[0]);
  }, 120_000);

  it('report a stage thread that cannot write its output, naming the file, and leave no partial files', async () => {
    const out = path.join(dir, 'unwritable');
    // A directory where 05 writes its partial output: opening it for writing fails in the thread.
    await mkdir(path.join(out, `${FILES.master}.partial`), { recursive: true });
    const err = await runEtl(opts(out, true)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(`${FILES.master}.partial`);
    expect((await leftovers(out)).sort()).toEqual([`${FILES.master}.partial`]);
    expect(await readdir(out)).not.toContain(FILES.master);
  }, 120_000);
});
