import { describe, expect, it } from 'vitest';
import { runStageInMemory } from '../../core/stage.ts';
import { createProfileStage, DEFAULT_PROFILE_OPTIONS, formatProfileText, Profiler } from '../../etl/stages/02-profile.ts';

const row = (kkmc: string, t: string, id = '1') => [id, '丰县', kkmc, '1', t, '02', '苏C12***', '-'];

/** `n` passes spread over all 24 hours of a day at one checkpoint. */
function fullDay(date: string, n: number, kkmc = 'A'): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < n; i++) {
    const h = i % 24;
    out.push(row(kkmc, `${date} ${String(h).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:00`, String(i)));
  }
  return out;
}

describe('stage 02 profile', () => {
  it('counts passes, first/last time, days seen and share per KKMC spelling', () => {
    const p = new Profiler();
    for (const r of [row('A', '2023-12-01 08:00:00'), row('江苏省A', '2023-12-01 09:00:00'), row('A', '2023-12-03 10:00:05')]) p.add(r);
    const res = p.result();
    expect(res.kkmc).toEqual([
      {
        name: 'A',
        passes: 2,
        share: 0.666667,
        first: '2023-12-01 08:00:00',
        last: '2023-12-03 10:00:05',
        daysSeen: 2,
        byDay: { '2023-12-01': 1, '2023-12-03': 1 },
      },
      { name: '江苏省A', passes: 1, share: 0.333333, first: '2023-12-01 09:00:00', last: '2023-12-01 09:00:00', daysSeen: 1, byDay: { '2023-12-01': 1 } },
    ]);
    expect(res.from).toBe('2023-12-01');
    expect(res.to).toBe('2023-12-03');
    expect(res.emptyDays).toEqual(['2023-12-02']);
  });

  it('flags only days inside the range with no pass as empty, and low-volume or gapped days as partial', () => {
    const p = new Profiler();
    const rows = [
      ...fullDay('2023-12-01', 480),
      ...fullDay('2023-12-02', 480),
      // 12-03 missing entirely: empty
      ...fullDay('2023-12-04', 200), // < half the median: low_volume
      ...fullDay('2023-12-05', 480).filter((r) => (r[4] as string).slice(11, 13) < '18'), // stops at 18:00: gap
      ...fullDay('2023-12-06', 480),
    ];
    for (const r of rows) p.add(r);
    const res = p.result();
    expect(res.days).toBe(6);
    expect(res.emptyDays).toEqual(['2023-12-03']);
    expect(res.partialDays).toEqual(['2023-12-04', '2023-12-05']);
    expect(res.byDay.find((d) => d.date === '2023-12-04')?.flags).toEqual(['low_volume']);
    expect(res.byDay.find((d) => d.date === '2023-12-05')?.flags).toEqual(['gap']);
    expect(res.byDay.find((d) => d.date === '2023-12-06')?.partial).toBe(false);
  });

  it('does not call quiet hours a gap when the data is too thin to tell', () => {
    const p = new Profiler();
    for (const t of ['2023-12-01 08:00:00', '2023-12-01 17:00:00', '2023-12-02 09:00:00', '2023-12-02 18:00:00']) p.add(row('A', t));
    expect(p.result().partialDays).toEqual([]);
  });

  it('passes every row through unchanged and writes the text and JSON statistics', () => {
    const rows = [...fullDay('2023-12-01', 48), ...fullDay('2023-12-03', 48, '徐州市睢宁县S325淮宿线K63')];
    const r = runStageInMemory((io) => createProfileStage(DEFAULT_PROFILE_OPTIONS, io), rows);
    expect(r.rows).toEqual(rows);
    expect(r.rejects).toEqual([]);
    const json = JSON.parse(r.artifacts['kkmc_statistics.json'] as string);
    expect(json.total).toBe(96);
    expect(json.emptyDays).toEqual(['2023-12-02']);
    const txt = r.artifacts['kkmc_statistics.txt'] as string;
    expect(txt).toContain('徐州市睢宁县S325淮宿线K63');
    expect(txt).toMatch(/2023-12-02 {2}Sat +0 {2}EMPTY/);
    expect(formatProfileText(new Profiler().result())).toContain('passes: 0');
  });
});
