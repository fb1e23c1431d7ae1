import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readMasterGrid } from '../../models/read-master.ts';
import { writeSyntheticMaster } from '../../models/synthetic-master.ts';
import { flaggedDaysFromStats, HourlyGridBuilder } from '../../models/grid.ts';
import { row } from './helpers.ts';

/** `n` passes spread over hours 0..23 of a day (at least one in hour 0 and one in hour 23). */
function fullDay(date: string, kkmc: string, n: number, prefix = ''): string[][] {
  return Array.from({ length: n }, (_, i) => {
    const h = Math.floor((i * 24) / n);
    return row(`${prefix}${date.replaceAll('-', '')}${i}`, kkmc, `${date} ${String(h).padStart(2, '0')}:10:00`);
  });
}

describe('reading a master', () => {
  it('refuses the header of another file, and counts a malformed record instead of stopping', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'traffic-grid-read-'));
    try {
      const bad = path.join(dir, 'bad.csv');
      await writeFile(bad, 'GCXH,KKMC,GCSJ\n1,K,2024-01-01 00:00:00\n');
      await expect(readMasterGrid(bad)).rejects.toMatchObject({ code: 'HEADER_UNRECOGNISED' });
      const master = path.join(dir, 'master.csv');
      const header = 'GCXH,XZQHMC,KKMC,FXLX,GCSJ,HPZL,HPHM,CLPPXH,PROVINCE,IS_WEEKEND,IS_PEAK_HOUR,VEHICLE_TYPE_NAME\n';
      const ok = `${row('1', 'K', '2024-01-01 08:00:00').join(',')}\n`;
      await writeFile(master, `${header}${ok}${ok.replace('1,', '2,')}"3,unterminated\n`);
      const scan = await readMasterGrid(master);
      expect(scan.grid.rows).toBe(3);
      expect(scan.grid.realRows).toBe(2);
      expect(Object.keys(scan.grid.skipped)[0]).toMatch(/^malformed CSV/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('hourly grid', () => {
  it('counts passes per checkpoint-hour with zeros for silent hours and whole missing days', () => {
    const b = new HourlyGridBuilder();
    b.add(row('1', 'B_K1', '2024-01-01 07:05:00'));
    b.add(row('2', 'B_K1', '2024-01-01 07:59:59'));
    b.add(row('3', 'A_K2', '2024-01-03 23:00:00'));
    const g = b.finish();
    expect(g.checkpoints).toEqual(['A_K2', 'B_K1']);
    expect(g.days.map((d) => d.date)).toEqual(['2024-01-01', '2024-01-02', '2024-01-03']);
    expect(g.days[0]!.real[1 * 24 + 7]).toBe(2);
    expect(g.days[0]!.real.reduce((a, v) => a + v, 0)).toBe(2);
    expect(g.days[1]!.status).toBe('empty');
    expect(g.days[2]!.real[0 * 24 + 23]).toBe(1);
    expect(g.from).toBe('2024-01-01 07:05:00');
    expect(g.to).toBe('2024-01-03 23:00:00');
  });

  it('keeps the first and last pass of a day and of the master when rows come out of order', () => {
    const b = new HourlyGridBuilder();
    for (const [id, t] of [
      ['1', '2024-01-02 10:30:00'],
      ['2', '2024-01-02 10:05:00'], // earlier in the same hour: becomes the first
      ['3', '2024-01-02 12:00:00'],
      ['4', '2024-01-01 23:59:59'], // an earlier day after a later one
      ['5', '2024-01-02 11:00:00'], // between first and last: changes neither
      ['6', '2024-01-02 12:40:00'], // later in the last hour: becomes the last
      ['SYN1', '2024-01-03 02:00:00'], // SYN on the next day: the master's last GCSJ, no day's real pass
    ] as const) {
      b.add(row(id, 'K', t));
    }
    const g = b.finish();
    expect([g.from, g.to]).toEqual(['2024-01-01 23:59:59', '2024-01-03 02:00:00']);
    expect([g.days[1]!.firstReal, g.days[1]!.lastReal]).toEqual(['2024-01-02 10:05:00', '2024-01-02 12:40:00']);
    expect(g.days[1]!.reason).toMatch(/starts late \(10:05\)/);
  });

  it('classes filled, partial, low-volume and flagged days; only full real days are complete', () => {
    const b = new HourlyGridBuilder();
    const rows = [
      ...fullDay('2024-01-01', 'K', 48), // complete
      ...fullDay('2024-01-02', 'K', 48, 'SYN'), // filled by stage 04
      ...fullDay('2024-01-03', 'K', 48).filter((r) => r[4]! < '2024-01-03 18'), // stops early
      ...fullDay('2024-01-04', 'K', 20), // < 50% of the median day
      ...fullDay('2024-01-05', 'K', 48), // flagged by stage 02
      ...fullDay('2024-01-06', 'K', 48).filter((r) => r[4]! >= '2024-01-06 03'), // starts late
      ...fullDay('2024-01-07', 'K', 50), // complete
    ];
    for (const r of rows) b.add(r);
    const g = b.finish({ flagged: new Map([['2024-01-05', 'partial']]) });
    expect(g.days.map((d) => d.status)).toEqual(['complete', 'filled', 'partial', 'partial', 'partial', 'partial', 'complete']);
    expect(g.days[1]!.synPasses).toBe(48);
    expect(g.days[1]!.realPasses).toBe(0);
    expect(g.synRows).toBe(48);
    expect(g.days[2]!.reason).toMatch(/stops early/);
    expect(g.days[3]!.reason).toMatch(/50% of the median/);
    expect(g.days[4]!.reason).toMatch(/stage 02/);
    expect(g.days[5]!.reason).toMatch(/starts late/);
  });

  it('counts rows it cannot place instead of dropping them silently', () => {
    const b = new HourlyGridBuilder();
    expect(b.add(row('1', 'K', '2024/01/01 7:00'), 2)).toBe(false);
    expect(b.add(row('2', '', '2024-01-01 07:00:00'), 3)).toBe(false);
    expect(b.add(['3', 'x'], 4)).toBe(false);
    expect(b.add(row('4', 'K', '2024-01-01 07:00:00'), 5)).toBe(true);
    b.reject('malformed CSV: unterminated quoted field', 6);
    const g = b.finish();
    expect(g.rows).toBe(5);
    expect(Object.values(g.skipped).reduce((a, v) => a + v, 0)).toBe(4);
    expect(g.skipped['malformed CSV: unterminated quoted field']).toBe(1);
    expect(b.skippedExamples[0]).toMatch(/^line 2: GCSJ/);
  });

  it('reads stage 02 day flags from kkmc_statistics.json whatever the nesting', () => {
    const flags = flaggedDaysFromStats({
      checkpoints: [{ kkmc: 'x', passes: 3 }],
      days: [
        { date: '2023-12-17', passes: 100, partial: true },
        { date: '2023-12-18', passes: 0, empty: true },
        { date: '2023-12-19', passes: 900, flags: ['ok'] },
        { day: '2023-12-20', status: 'PARTIAL' },
      ],
    });
    expect([...flags]).toEqual([
      ['2023-12-17', 'partial'],
      ['2023-12-18', 'empty'],
      ['2023-12-20', 'partial'],
    ]);
  });

  it('a master read from disk takes the day flags of kkmc_statistics.json beside it', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'traffic-grid-'));
    try {
      const master = path.join(dir, 'master_data_expanded.csv');
      const rows = await writeSyntheticMaster(master, { checkpoints: 3, days: 5, seed: 3, dailyPerCheckpoint: 300 });
      // The shape stage 02 writes: byDay entries with partial/empty booleans and flags.
      await writeFile(
        path.join(dir, 'kkmc_statistics.json'),
        JSON.stringify({ format: 'kkmc-statistics/1', byDay: [{ date: '2023-12-03', passes: 900, empty: false, partial: true, flags: ['gap 03-07'] }] }),
      );
      const scan = await readMasterGrid(master);
      expect(scan.grid.rows).toBe(rows);
      expect(scan.sha256).toBe(
        createHash('sha256')
          .update(await readFile(master))
          .digest('hex'),
      );
      expect(scan.flagsFrom).toBe(path.join(dir, 'kkmc_statistics.json'));
      expect(scan.grid.days.map((d) => d.status)).toEqual(['complete', 'complete', 'partial', 'complete', 'complete']);
      expect(scan.sha256).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
