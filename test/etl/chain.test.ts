import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Progress } from '../../core/progress.ts';
import { RAW_COLUMNS, type Reject } from '../../core/schema.ts';
import type { RowStage, StageIO } from '../../core/stage.ts';
import { arraySource, fileSource, runSegment, StageRun } from '../../etl/chain.ts';
import { checkBalance } from '../../etl/manifest.ts';

const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
const progress = () => new Progress({ label: 't', stream: quiet, tty: false });
const row = (id: string, t = '2023-12-01 00:00:00') => [id, 'x', 'K', '1', t, '02', '苏C1***', '-'];

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'etl-chain-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function open(make: (io: StageIO) => RowStage, rejects: Reject[], outputName: string | null, inputName = 'in.csv'): StageRun {
  return StageRun.create(make, { outDir: dir, inputName, outputName, source: 'memory', sideHeaders: {}, onReject: (r) => rejects.push(r) });
}

/** Drops rows whose id is odd, saying why. */
const rejectOdd = (io: StageIO): RowStage => ({
  name: 'odd',
  inputColumns: RAW_COLUMNS,
  outputColumns: RAW_COLUMNS,
  transform(r, emit, where) {
    if (Number(r[0]) % 2) io.reject(r, 'odd id: ' + r[0], where);
    else emit(r);
  },
});

/** Scans first (counts rows), then adds one SYN row at the end. */
const scanAndAdd = (): RowStage => {
  let seen = 0;
  return {
    name: 'scan',
    inputColumns: RAW_COLUMNS,
    outputColumns: RAW_COLUMNS,
    scan() {
      seen++;
    },
    transform(r, emit) {
      emit(r);
    },
    flush(emit) {
      emit(row(`SYN20231202${seen}`));
    },
  };
};

describe('fused stage chain', () => {
  it('sends rejects with the input file and data line, writes each stage file and balances', async () => {
    const rejects: Reject[] = [];
    const a = open(rejectOdd, rejects, 'a.csv', 'merged_data.csv');
    const b = open(scanAndAdd, rejects, 'b.csv');
    await a.openFiles();
    await b.openFiles();
    const rows = ['1', '2', '3', '4'].map((id) => row(id));
    await runSegment(arraySource(rows), [a], { progress: progress() });
    await a.close();
    // A scanning stage reads its source twice: here the file stage a wrote.
    await runSegment(fileSource(path.join(dir, 'a.csv'), RAW_COLUMNS, 'scan'), [b], { progress: progress() });
    await b.close();
    expect(rejects.map((r) => [r.sourceFile, r.line, r.stage, r.reason])).toEqual([
      ['merged_data.csv', 2, 'odd', 'odd id: 1'],
      ['merged_data.csv', 4, 'odd', 'odd id: 3'],
    ]);
    expect(a.entry).toMatchObject({ in: 4, out: 2, rejected: 2, rejectsByReason: { 'odd id': 2 } });
    expect(b.entry).toMatchObject({ in: 2, out: 3, added: 1 });
    const text = await readFile(path.join(dir, 'b.csv'), 'utf8');
    expect(
      text
        .trim()
        .split('\n')
        .map((l) => l.split(',')[0]),
    ).toEqual(['GCXH', '2', '4', 'SYN202312022']);
    checkBalance(a.entry);
    checkBalance(b.entry);
  });

  it('fails loudly when a stage loses a row without a reason', async () => {
    const silent = (): RowStage => ({
      name: 'leaky',
      inputColumns: RAW_COLUMNS,
      outputColumns: RAW_COLUMNS,
      transform(r, emit) {
        if (r[0] !== '2') emit(r);
      },
    });
    const run = open(silent, [], null);
    await run.openFiles();
    await runSegment(arraySource([row('1'), row('2')]), [run], { progress: progress() });
    await run.close();
    expect(() => checkBalance(run.entry)).toThrow(/row accounting does not balance in stage leaky: in 2 \+ added 0 ≠ out 1/);
  });

  it('gives every stage its own copy of a row and passes flushed rows down the chain', async () => {
    const kept: string[][] = [];
    const keeper = (): RowStage => ({
      name: 'keeper',
      inputColumns: RAW_COLUMNS,
      outputColumns: RAW_COLUMNS,
      transform(r, emit) {
        kept.push(r);
        emit(r);
      },
      flush(emit) {
        emit(row('SYN1'));
      },
    });
    const widen = (): RowStage => ({
      name: 'widen',
      inputColumns: RAW_COLUMNS,
      outputColumns: [...RAW_COLUMNS, 'X'],
      transform(r, emit) {
        r.push('extra');
        emit(r);
      },
    });
    const a = open(keeper, [], null);
    const b = open(widen, [], 'w.csv');
    await a.openFiles();
    await b.openFiles();
    const collect: string[][] = [];
    await runSegment(arraySource([row('1')]), [a, b], { progress: progress(), leave: (rows) => collect.push(...rows) });
    await a.close();
    await b.close();
    expect(kept[0]).toHaveLength(8);
    expect(collect.map((r) => r.length)).toEqual([9, 9]);
    expect(b.entry).toMatchObject({ in: 2, out: 2, added: 0 });
    expect(a.entry).toMatchObject({ in: 1, out: 2, added: 1 });
  });

  it('rejects rows of a hand-edited input file that have the wrong width', async () => {
    const rejects: Reject[] = [];
    const { writeFile } = await import('node:fs/promises');
    const file = path.join(dir, 'merged_data.csv');
    await writeFile(file, RAW_COLUMNS.join(',') + '\n' + row('2').join(',') + '\n1,2,3\n');
    const run = open(rejectOdd, rejects, null, 'merged_data.csv');
    await run.openFiles();
    await runSegment(fileSource(file, RAW_COLUMNS, 'odd'), [run], { progress: progress() });
    await run.close();
    expect(rejects.map((r) => [r.line, r.reason, r.raw])).toEqual([[3, 'expected 8 fields, got 3', '1,2,3']]);
    checkBalance(run.entry);
  });

  it('names the missing input file of a resumed stage', async () => {
    const src = fileSource(path.join(dir, 'merged_data_standardized.csv'), RAW_COLUMNS, '04-repair');
    const run = open(rejectOdd, [], null);
    await expect(runSegment(src, [run], { progress: progress() })).rejects.toMatchObject({
      code: 'STAGE_INPUT_MISSING',
      message: expect.stringMatching(/stage 04-repair reads merged_data_standardized\.csv/),
    });
  });
});
