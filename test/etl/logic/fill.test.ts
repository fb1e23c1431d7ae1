import { describe, expect, it } from 'vitest';
import { runStageInMemory } from '../../../core/stage.ts';
import { addDays } from '../../../core/time.ts';
import { planFill } from '../../../etl/logic/fill.ts';
import { createRepairStage, DEFAULT_REPAIR_OPTIONS } from '../../../etl/stages/04-repair.ts';

const TIMES = ['00:00:00', '08:00:00', '12:30:15', '23:59:59'];

/**
 * 2024-01-01 (Mon) … 2024-01-16 (Tue), 4 passes a day, except: 01-02 (Tue) and 01-08 (Mon) and
 * 01-15 (Mon) empty, 01-10 (Wed) partial with 1 pass.
 */
function days(): string[][] {
  const rows: string[][] = [];
  let id = 100;
  for (let d = 0; d < 16; d++) {
    const date = addDays('2024-01-01', d);
    if (['2024-01-02', '2024-01-08', '2024-01-15'].includes(date)) continue;
    const times = date === '2024-01-10' ? TIMES.slice(1, 2) : TIMES;
    for (const t of times) rows.push([String(id++), '邳州市', 'S250_Pizhou_K1', '1', `${date} ${t}`, '02', '苏C12***', '-']);
  }
  return rows;
}

const sortedLike = (rows: string[][]): boolean =>
  rows.every((r, i) => i === 0 || rows[i - 1]![4]! < r[4]! || (rows[i - 1]![4] === r[4] && rows[i - 1]![0]! <= r[0]!));

describe('missing-day fill', () => {
  const input = days();
  const r = runStageInMemory((io) => createRepairStage({ ...DEFAULT_REPAIR_OPTIONS, holdoutRate: 0 }, io), input);
  const quality = JSON.parse(r.artifacts['repair_quality.json']!).days;

  it('fills a missing Monday from the previous Monday, times shifted by 7 days, SYN ids', () => {
    const syn = r.rows.filter((x) => x[4]!.startsWith('2024-01-08'));
    const src = input.filter((x) => x[4]!.startsWith('2024-01-01'));
    expect(syn).toEqual(src.map((x) => [`SYN20240108${x[0]}`, x[1], x[2], x[3], x[4]!.replace('2024-01-01', '2024-01-08'), x[5], x[6], x[7]]));
  });

  it('goes back whole weeks past a day that was itself filled', () => {
    const syn = r.rows.filter((x) => x[4]!.startsWith('2024-01-15'));
    expect(syn.map((x) => x[0])).toEqual(input.filter((x) => x[4]!.startsWith('2024-01-01')).map((x) => `SYN20240115${x[0]}`));
    expect(quality.filled).toEqual([
      { date: '2024-01-08', source: '2024-01-01', weeks_back: 1, rows: 4 },
      { date: '2024-01-15', source: '2024-01-01', weeks_back: 2, rows: 4 },
    ]);
  });

  it('keeps the output sorted and loses no real row', () => {
    expect(sortedLike(r.rows)).toBe(true);
    expect(r.rows.length).toBe(input.length + 8);
    expect(r.rows.filter((x) => !x[0]!.startsWith('SYN'))).toEqual(input);
    expect(r.counts['fill.rows']).toBe(8);
    expect(r.counts['fill.days_filled']).toBe(2);
  });

  it('reports a day with no complete source and a partial day, without filling them', () => {
    expect(quality.unfillable).toEqual(['2024-01-02']);
    expect(quality.partial).toEqual([{ date: '2024-01-10', passes: 1 }]);
    expect(quality.median_passes).toBe(4);
    expect(r.rows.some((x) => x[4]!.startsWith('2024-01-02'))).toBe(false);
    expect(r.rows.filter((x) => x[4]!.startsWith('2024-01-10'))).toHaveLength(1);
    expect(r.counts['days.unfillable']).toBe(1);
    expect(r.counts['days.partial']).toBe(1);
  });

  it('writes no repair_log rows for synthesized passes', () => {
    expect(r.side.repair_log ?? []).toEqual([]);
  });

  it('--no-fill reports the missing days and fills nothing', () => {
    const off = runStageInMemory((io) => createRepairStage({ ...DEFAULT_REPAIR_OPTIONS, holdoutRate: 0, fill: false }, io), input);
    expect(off.rows).toEqual(input);
    const q = JSON.parse(off.artifacts['repair_quality.json']!).days;
    expect(q.filled).toEqual([]);
    expect(q.missing_not_filled).toEqual(['2024-01-02', '2024-01-08', '2024-01-15']);
    expect(off.counts['fill.rows']).toBeUndefined();
  });

  it('uses the repaired version of the source rows', () => {
    const rows = input.map((x) => (x[0] === '100' ? [...x.slice(0, 6), '4苏C12***', '-'] : x));
    const out = runStageInMemory((io) => createRepairStage({ ...DEFAULT_REPAIR_OPTIONS, holdoutRate: 0 }, io), rows);
    expect(out.rows.find((x) => x[0] === 'SYN20240108100')![6]).toBe('苏C12***');
  });
});

describe('planFill', () => {
  it('needs a complete source (≥ half the median) of the same weekday', () => {
    const counts = new Map([
      ['2024-01-01', 10],
      ['2024-01-02', 10],
      ['2024-01-03', 10],
      ['2024-01-07', 4], // Sunday, partial: median 10 → threshold 5
      ['2024-01-16', 10],
    ]);
    const plan = planFill(counts);
    expect(plan.completeThreshold).toBe(5);
    expect(plan.partial).toEqual([{ date: '2024-01-07', passes: 4 }]);
    expect(plan.filled.map((f) => [f.date, f.source])).toEqual([
      ['2024-01-08', '2024-01-01'],
      ['2024-01-09', '2024-01-02'],
      ['2024-01-10', '2024-01-03'],
      ['2024-01-15', '2024-01-01'],
    ]);
    // Thu–Sat have no earlier same weekday; 01-14 (Sun) only has the partial 01-07.
    expect(plan.unfilled).toEqual(['2024-01-04', '2024-01-05', '2024-01-06', '2024-01-11', '2024-01-12', '2024-01-13', '2024-01-14']);
  });

  it('plans nothing for an empty input', () => {
    expect(planFill(new Map()).filled).toEqual([]);
  });
});
