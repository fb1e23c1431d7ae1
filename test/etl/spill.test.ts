/**
 * The pieces of bounded memory on literal rows: sorted runs merged from a spill file come out in
 * exactly sortPacked's order; a Deduper that spilled still tells copies from conflicts against the
 * first row on disk; the rows a RowStore sends to disk come back the same, odd characters included.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RowStore } from '../../etl/chain.ts';
import { PRESSURE_CHECK_ROWS } from '../../etl/memory.ts';
import { mergedRuns } from '../../etl/sorted-runs.ts';
import { SpillFile } from '../../etl/spill.ts';
import { Deduper, packRow, sortPacked } from '../../etl/stages/01-merge.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'etl-spill-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A deterministic LCG: the same rows on every run. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

/** Packed rows with many ties on the second, ids of several lengths, Chinese text. */
function rows(n: number, seed: number): string[] {
  const r = lcg(seed);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = Math.floor(r() * 600);
    const gcsj = `2023-12-${String(1 + Math.floor(s / 60)).padStart(2, '0')} 0${Math.floor((s % 60) / 10)}:0${s % 10}:00`;
    const id = i % 7 === 0 ? String(i) : String(320300000000000000n + BigInt(i * 7919));
    out.push(packRow([id, '徐州市', `卡口${i % 19}`, '1', gcsj, '02', `苏C${String(i).padStart(5, '0')}`, '-']));
  }
  return out;
}

describe('sorted runs', () => {
  it('a k-way merge of spilled runs and a last run in memory gives sortPacked order exactly', () => {
    const all = rows(5000, 11);
    const file = SpillFile.create(dir, 'test-merge', true);
    const d = new Deduper();
    for (let i = 0; i < all.length; i++) {
      expect(d.addPacked(all[i]!, { file: 'a.csv', line: i + 2 }).kind).toBe('kept');
      if (d.rows.length >= 700) d.spillRun(file);
    }
    const last = sortPacked(d.rows);
    const merged = mergedRuns(file, d.runs, last);
    expect(merged.spilledRuns).toBe(7);
    expect(merged.length).toBe(5000);
    const got = [...merged.batches(333)].flat();
    expect(got).toEqual(sortPacked([...all]));
    // Read again: the same rows (a source may be read twice).
    expect([...merged.batches(512)].flat()).toEqual(got);
    merged.release();
  });
});

describe('dedupe after spilling', () => {
  it('compares a later copy with the first row read back from disk: same content is a copy, other content a conflict naming the first', async () => {
    const file = SpillFile.create(dir, 'test-dedupe', true);
    const d = new Deduper();
    const all = rows(3000, 5);
    for (let i = 0; i < all.length; i++) {
      d.addPacked(all[i]!, { file: '202312/a.csv', line: i + 2 });
      if (d.rows.length >= 256) d.spillRun(file);
    }
    expect(d.runs.length).toBeGreaterThan(10);
    // Copies of spilled rows, in file order (neighbours) and scattered.
    for (const i of [0, 1, 2, 1500, 17, 2999]) expect(d.addPacked(all[i]!, { file: '202312/b.csv', line: 9 }).kind).toBe('copy');
    const other = all[1234]!.replace('苏C01234', '苏C99999');
    expect(d.addPacked(other, { file: '202312/b.csv', line: 10 })).toEqual({
      kind: 'conflict',
      reason: 'GCXH duplicate with different content: first at 202312/a.csv line 1236 (differs in HPHM)',
    });
    expect(d.copies).toBe(6);
    expect(d.kept).toBe(3000);
    file.remove();
    expect((await readdir(dir)).filter((n) => n.includes('test-dedupe'))).toEqual([]);
  });
});

describe('rows kept for a second pass', () => {
  it('past its cap a RowStore sends rows to disk and gives every row back in order, fields with separators included', async () => {
    const store = new RowStore({ rows: 3, dir });
    const input: string[][] = [];
    for (let i = 0; i < 2000; i++) input.push([`${i}`, '徐州市', `K${i}`, '1', '2023-12-01 00:00:00', '02', '苏C1', '-']);
    input[1500] = ['x\x1fy', 'a\x1eb', '\x1dlead', '', '"q",', 'line\nbreak', '\u00e9', '-'];
    input[1501] = ['\x1dstarts', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    // Records longer than a read block (48 KB), ASCII and 3-byte UTF-8, one after the other.
    input[1502] = ['x'.repeat(120_000), 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    input[1503] = ['徐'.repeat(40_000), 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    for (const r of input) store.push(r);
    expect(store.length).toBe(2000);
    expect(store.spilled).toBe(1997);
    const back: string[][] = [];
    for await (const b of store.source()()) back.push(...b);
    expect(back).toEqual(input);
    store.release();
    expect((await readdir(dir)).filter((n) => n.startsWith('.spill-rows'))).toEqual([]);
  });

  it('past the pressure point a RowStore writes the rows it held to disk too, and still gives every row back in order', async () => {
    const rows = (n: number): string[][] =>
      Array.from({ length: n }, (_, i) => [`${i}`, '徐州市', `K${i % 7}`, '1', '2023-12-01 00:00:00', '02', `苏C${i}`, '-']);
    // pressureBytes 1: the process is always past it, so the first look (after PRESSURE_CHECK_ROWS rows) evicts.
    // Under its cap: the held rows start the file, later rows follow them.
    const early = new RowStore({ rows: 1_000_000, dir, pressureBytes: 1 });
    // Over its cap first: the held rows go to a file of their own, read before the others.
    const late = new RowStore({ rows: 100, dir, pressureBytes: 1 });
    const input = rows(3 * PRESSURE_CHECK_ROWS);
    for (const store of [early, late]) {
      for (const r of input) store.push(r);
      expect(store.length).toBe(input.length);
      expect(store.spilled).toBe(input.length);
      expect(store.evicted).toBe(store === early ? PRESSURE_CHECK_ROWS : 100);
      const back: string[][] = [];
      for await (const b of store.source()()) back.push(...b);
      expect(back).toEqual(input);
      store.release();
    }
    expect((await readdir(dir)).filter((n) => n.startsWith('.spill-rows'))).toEqual([]);
  });
});
