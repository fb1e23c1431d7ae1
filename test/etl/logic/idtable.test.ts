import { describe, expect, it } from 'vitest';
import { csvLine } from '../../../core/csv.ts';
import { batchCsv } from '../../../etl/chain.ts';
import { heldOutTest, isHeldOut } from '../../../etl/logic/holdout.ts';
import { IdVoteTable, IntPairIndex } from '../../../etl/logic/idtable.ts';
import { VoteTable } from '../../../etl/logic/votes.ts';

describe('IntPairIndex', () => {
  it('gives each distinct pair one dense entry, also after growing', () => {
    const ix = new IntPairIndex(4);
    const seen = new Map<string, number>();
    for (let a = 0; a < 300; a++) {
      for (let b = 0; b < 7; b++) {
        const e = ix.intern(a * 13, b);
        expect(e).toBe(seen.size);
        seen.set(`${a * 13}|${b}`, e);
      }
    }
    expect(ix.size).toBe(2100);
    for (const [k, e] of seen) {
      const [a, b] = k.split('|').map(Number) as [number, number];
      expect(ix.get(a, b)).toBe(e);
      expect(ix.intern(a, b)).toBe(e);
    }
    expect(ix.get(1, 0)).toBe(-1);
    expect(ix.get(0, 7)).toBe(-1);
  });
});

/** Deterministic pseudo-random numbers in [0, 1) (an LCG), so the vote streams are repeatable. */
function lcg(seed: number): () => number {
  let x = seed;
  return () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

describe('IdVoteTable', () => {
  it('tallies like VoteTable: total, leading value, ties to the smaller text', () => {
    const names = ['02', '52', '01', '苏', '皖'];
    const ids = new IdVoteTable(names);
    const strings = new VoteTable();
    // key (1, 2): 52 ×2, 01 ×2, 02 ×1 → tie between 01 and 52 goes to 01 whatever the order.
    const votes: Array<[number, number, number]> = [
      [1, 2, 1],
      [1, 2, 0],
      [1, 2, 1],
      [1, 2, 2],
      [1, 2, 2],
      [2, 1, 3],
      [2, 1, 4],
      [2, 1, 4],
    ];
    for (const [a, b, v] of votes) {
      ids.add(a, b, v);
      strings.add(`${a}|${b}`, names[v]!);
    }
    expect(ids.tally(1, 2)).toEqual({ n: 5, top: '01', topCount: 2 });
    expect(ids.tally(1, 2)).toEqual(strings.tally('1|2'));
    expect(ids.tally(2, 1)).toEqual(strings.tally('2|1'));
    expect(ids.tally(2, 1)).toEqual({ n: 3, top: '皖', topCount: 2 });
    expect(ids.tally(2, 2)).toBeUndefined();
    expect(ids.size).toBe(2);
  });

  it('tallies like VoteTable on many keys whose common values arrive late (values move into the slot)', () => {
    const names = ['02', '01', '52', '51', '13', '22', '23', '-'];
    const ids = new IdVoteTable(names);
    const strings = new VoteTable();
    // Keys 0..299, each with its own skew; the first votes of a key are rare
    // values, the common ones come later and must outvote them wherever they are kept.
    const next = lcg(12345);
    for (let i = 0; i < 30_000; i++) {
      const key = Math.floor(next() * 300);
      const late = i > 3000;
      const v = late && next() < 0.7 ? key % 3 : Math.floor(next() * names.length);
      ids.add(key, 7, v);
      strings.add(`${key}|7`, names[v]!);
    }
    for (let key = 0; key < 300; key++) expect(ids.tally(key, 7), `key ${key}`).toEqual(strings.tally(`${key}|7`));
    expect(ids.size).toBe(300);
  });

  it('tallies like VoteTable when votes outnumber its log (put in hash order, several flushes, big growth)', () => {
    const names = ['02', '01', '52', '-'];
    const ids = new IdVoteTable(names);
    const strings = new VoteTable();
    const next = lcg(99);
    // 600k votes on 150k keys: more than one log's worth, and a table that grows from 1k slots
    // to 256k during the first flush (keys in hash order must not pile up on a few home slots).
    for (let i = 0; i < 600_000; i++) {
      const key = Math.floor(next() * 150_000);
      const v = next() < 0.8 ? key % 2 : Math.floor(next() * names.length);
      ids.add(key, key % 5, v);
      if (key % 97 === 0) strings.add(`${key}|${key % 5}`, names[v]!);
    }
    for (let key = 0; key < 150_000; key += 97) expect(ids.tally(key, key % 5), `key ${key}`).toEqual(strings.tally(`${key}|${key % 5}`));
    expect(ids.size).toBeGreaterThan(145_000);
    expect(ids.size).toBeLessThanOrEqual(150_000);
    expect(ids.tally(150_001, 0)).toBeUndefined();
  });

  it('keeps counts of many keys when its arrays grow', () => {
    const t = new IdVoteTable(['x', 'y']);
    for (let k = 0; k < 5000; k++) for (let j = 0; j <= k % 3; j++) t.add(k, 0, j % 2);
    expect(t.tally(4999, 0)).toEqual({ n: 2, top: 'x', topCount: 1 });
    expect(t.tally(4998, 0)).toEqual({ n: 1, top: 'x', topCount: 1 });
    expect(t.tally(4997, 0)).toEqual({ n: 3, top: 'x', topCount: 2 });
  });
});

describe('heldOutTest', () => {
  it('answers exactly as isHeldOut for the same seed, field and rate', () => {
    for (const [seed, field, rate] of [
      [20240101, 'HPZL', 0.02],
      [7, 'PROVINCE', 0.3],
      [0, 'CLPPXH', 0.5],
    ] as const) {
      const test = heldOutTest(seed, field, rate);
      let hidden = 0;
      for (let i = 0; i < 5000; i++) {
        const gcxh = i % 7 === 0 ? `SYN20231201${320300100000 + i}` : String(320300108919519684n + BigInt(i * 7919));
        const h = isHeldOut(seed, field, gcxh, rate);
        expect(test(gcxh)).toBe(h);
        if (h) hidden++;
      }
      expect(hidden).toBeGreaterThan(0);
    }
    expect(heldOutTest(1, 'HPZL', 0)('123')).toBe(false);
  });
});

describe('batchCsv', () => {
  it('writes the same bytes as csvLine per row, quoting where needed', () => {
    const rows = [
      ['1', '徐州市', 'G3_Xuzhou_K731', '1', '2023-12-01 00:00:00', '02', '苏C37***', '大众牌'],
      ['2', 'a,b', 'say "hi"', 'x\ny', 'cr\r', '', '-', '福田牌-欧曼-2019'],
      ['3', '', '', '', '', '', '', ''],
    ];
    expect(batchCsv(rows)).toBe(rows.map((r) => csvLine(r)).join(''));
    expect(batchCsv([])).toBe('');
  });
});
