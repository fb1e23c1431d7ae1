import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TrafficError } from '../../core/errors.ts';
import { percentileOf, readThresholds, ThresholdBuilder, thresholdsCsv } from '../../streaming/congestion/thresholds.ts';
import { normalizeCongestionOptions } from '../../streaming/congestion-cli.ts';
import { normalizeThresholdsOptions } from '../../streaming/thresholds-cli.ts';
import { readEnv } from '../../core/config.ts';
import { burst, pass } from './fixtures.ts';

const dir = await mkdtemp(path.join(tmpdir(), 'congestion-th-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('threshold derivation', () => {
  it('takes nearest-rank percentiles', () => {
    expect(percentileOf([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90)).toBe(9);
    expect(percentileOf([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99)).toBe(10);
    expect(percentileOf([], 90)).toBe(0);
  });

  it('counts windows without passes as 0, ignores synthetic rows and partial days, and applies floors', () => {
    const b = new ThresholdBuilder({ minWarning: 0, minAlert: 0, minGap: 0 });
    // Monday and Tuesday (weekdays): hour 8 windows 10 and 4 on Monday, 6 on Tuesday, the other 21 windows 0.
    const rows = [
      ...burst('A', '2024-01-15 08:00', 10),
      ...burst('A', '2024-01-15 08:05', 4),
      ...burst('A', '2024-01-16 08:00', 6),
      // Synthetic copies (missing-day fill) are no evidence.
      ...burst('A', '2024-01-15 08:10', 50).map((r) => ['SYN20240115' + r[0], ...r.slice(1)]),
      // Wednesday has 1 pass: a partial day (< half the median day of 6).
      pass('A', '1', '2024-01-17 08:00:00'),
    ];
    for (const r of rows) b.add(r);
    const { rows: out, summary } = b.derive();
    expect(summary.days.used).toEqual(['2024-01-15', '2024-01-16']);
    expect(summary.days.skipped.map((d) => d.day)).toEqual(['2024-01-17']);
    expect(summary.synthetic).toBe(50);
    const h8 = out.find((r) => r.kkmc === 'A' && r.dayType === 'weekday' && r.hour === 8)!;
    // 24 samples: 21 zeros, 4, 6, 10 → P90 = rank 22 = 4, P99 = rank 24 = 10.
    expect(h8).toEqual({ kkmc: 'A', dayType: 'weekday', hour: 8, warning: 4, alert: 10 });
    // No weekend day in the history: the weekday windows stand in.
    expect(out.find((r) => r.dayType === 'weekend' && r.hour === 8)).toMatchObject({ warning: 4, alert: 10 });
    expect(out.find((r) => r.dayType === 'weekday' && r.hour === 3)).toMatchObject({ warning: 0, alert: 0 });

    const floored = new ThresholdBuilder();
    for (const r of rows) floored.add(r);
    const f = floored.derive().rows;
    expect(f.find((r) => r.hour === 8 && r.dayType === 'weekday')).toMatchObject({ warning: 5, alert: 10 });
    expect(f.find((r) => r.hour === 3 && r.dayType === 'weekday')).toMatchObject({ warning: 5, alert: 8 });
  });

  it('writes a CSV that reads back to the same table', async () => {
    const file = path.join(dir, 'rt.csv');
    const rows = [
      { kkmc: 'A', dayType: 'weekday' as const, hour: 8, warning: 5, alert: 9 },
      { kkmc: 'A', dayType: 'weekend' as const, hour: 8, warning: 3, alert: 8 },
    ];
    await writeFile(file, thresholdsCsv(rows));
    const t = await readThresholds(file);
    expect(t.rows).toEqual(rows);
    expect(t.get('A', 'weekend', 8)).toEqual({ warning: 3, alert: 8 });
  });

  it('rejects a hand-edited file with a bad value, naming file, line and field', async () => {
    const file = path.join(dir, 'bad.csv');
    await writeFile(file, 'KKMC,DAY_TYPE,HOUR,WARNING,ALERT\nA,weekday,8,5,9\nA,weekday,9,12,7\n');
    const err = await readThresholds(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrafficError);
    expect((err as TrafficError).code).toBe('BAD_ROW');
    expect((err as TrafficError).context).toMatchObject({ file, line: 3, field: 'ALERT' });
    await writeFile(file, 'KKMC,DAY_TYPE,HOUR,WARNING,ALERT\nA,holiday,8,5,9\n');
    expect(((await readThresholds(file).catch((e: unknown) => e)) as TrafficError).context.field).toBe('DAY_TYPE');
  });
});

describe('command options', () => {
  const env = { ...readEnv({}), dataDir: dir };

  it('thresholds: percentiles in range and ALERT ≥ WARNING', () => {
    expect(normalizeThresholdsOptions(['--in', 'm.csv'], env)).toMatchObject({
      in: 'm.csv',
      out: path.join(dir, 'kkmc_thresholds.csv'),
      warningPct: 90,
      alertPct: 99,
    });
    expect(() => normalizeThresholdsOptions(['--warning-pct', '0'], env)).toThrow(/--warning-pct must be in/);
    expect(() => normalizeThresholdsOptions(['--warning-pct', '99', '--alert-pct', '90'], env)).toThrow(/--alert-pct/);
  });

  it('congestion: needs a thresholds file, checks URIs, levels and store', async () => {
    const th = path.join(dir, 'kkmc_thresholds.csv');
    expect(() => normalizeCongestionOptions(['--from', 'file:x.csv'], env)).toThrow(/run `traffic thresholds` first/);
    await writeFile(th, 'KKMC,DAY_TYPE,HOUR,WARNING,ALERT\n');
    const o = normalizeCongestionOptions(['--from', 'file:x.csv'], env);
    expect(o).toMatchObject({
      thresholds: th,
      latenessS: 60,
      riseWindows: 2,
      holdWindows: 6,
      clearRatio: 0.8,
      store: { kind: 'none' },
      state: { kind: 'none' },
    });
    expect(o.to).toBe(`jsonl:${path.join(dir, 'congestion.jsonl')}`);
    expect(normalizeCongestionOptions(['--from', 'kafka://127.0.0.1:9092/t', '--to', 'redis://127.0.0.1:6379'], env).state).toEqual({
      kind: 'redis',
      uri: 'redis://127.0.0.1:6379',
    });
    // MQTT is a live source: it keeps a restart snapshot like Kafka.
    expect(normalizeCongestionOptions(['--from', 'mqtt://127.0.0.1:1883/t'], env).state.kind).toBe('file');
    expect(() => normalizeCongestionOptions(['--from', 'mqtt://127.0.0.1:1883/'], env)).toThrow(/empty MQTT topic/);
    expect(() => normalizeCongestionOptions(['--from', 'http://x'], env)).toThrow(/--from must be/);
    expect(() => normalizeCongestionOptions(['--from', 'file:x', '--to', 'mysql://x'], env)).toThrow(/--to must be/);
    expect(() => normalizeCongestionOptions(['--from', 'file:x', '--clear-ratio', '1.5'], env)).toThrow(/--clear-ratio must be in/);
    expect(() => normalizeCongestionOptions(['--from', 'file:x', '--store', 'oracle'], env)).toThrow(/--store must be/);
    expect(() => normalizeCongestionOptions(['--from', 'file:x', '--hold', '0'], env)).toThrow(/--hold must be in/);
  });
});
