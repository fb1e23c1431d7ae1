import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listRawFiles } from '../../../etl/read/raw.ts';
import { TrafficError } from '../../../core/errors.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'raw-list-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function tree(root: string, files: string[], dirs: string[] = []): Promise<string> {
  await mkdir(root, { recursive: true });
  for (const d of dirs) await mkdir(path.join(root, d), { recursive: true });
  for (const f of files) {
    await mkdir(path.dirname(path.join(root, f)), { recursive: true });
    await writeFile(path.join(root, f), 'x');
  }
  return root;
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

describe('listing raw files', () => {
  it('orders by month, then by name, with loose files in the folder first', async () => {
    const root = await tree(path.join(tmp, 'ordered'), [
      '202401/16-20.xlsx',
      '202401/01.xlsx',
      '202312/to_yqy_1209.csv',
      '202312/12-01.csv',
      '202312/TO_YQY_12017.CSV',
      'extra.csv',
      'a.xlsx',
    ]);
    const rel = (await listRawFiles(root)).map((f) => path.relative(root, f));
    expect(rel).toEqual([
      'a.xlsx',
      'extra.csv',
      path.join('202312', '12-01.csv'),
      path.join('202312', 'TO_YQY_12017.CSV'),
      path.join('202312', 'to_yqy_1209.csv'),
      path.join('202401', '01.xlsx'),
      path.join('202401', '16-20.xlsx'),
    ]);
  });

  it('leaves out other files and folders: non-months, hidden files, Excel lock files, nested folders', async () => {
    const root = await tree(path.join(tmp, 'noise'), [
      '202401/01.xlsx',
      '202401/~$01.xlsx',
      '202401/.12-01.csv',
      '202401/notes.txt',
      '202401/old/02.xlsx',
      '202413/x.csv',
      'archive/202312.csv',
      'readme.md',
    ]);
    const rel = (await listRawFiles(root)).map((f) => path.relative(root, f));
    expect(rel).toEqual([path.join('202401', '01.xlsx')]);
  });

  it('accepts a single raw file given as the path', async () => {
    const root = await tree(path.join(tmp, 'single'), ['202401/01.xlsx']);
    const file = path.join(root, '202401/01.xlsx');
    expect(await listRawFiles(file)).toEqual([file]);
  });

  it('says INPUT_NOT_FOUND for a missing path', async () => {
    const missing = path.join(tmp, 'does-not-exist');
    const err = await rejection(listRawFiles(missing));
    expect(err.code).toBe('INPUT_NOT_FOUND');
    expect(err.message).toContain(missing);
  });

  it('says INPUT_EMPTY for a folder with no month folder', async () => {
    const root = await tree(path.join(tmp, 'empty'), ['notes.txt'], ['misc']);
    const err = await rejection(listRawFiles(root));
    expect(err.code).toBe('INPUT_EMPTY');
    expect(err.message).toMatch(/no month folder \(YYYYMM/);
  });

  it('says INPUT_EMPTY naming the month folders when they hold no raw file', async () => {
    const root = await tree(path.join(tmp, 'hollow'), ['202312/readme.txt'], ['202401']);
    const err = await rejection(listRawFiles(root));
    expect(err.code).toBe('INPUT_EMPTY');
    expect(err.message).toContain('202312, 202401 hold no .csv or .xlsx file');
  });
});
