import { describe, expect, it } from 'vitest';
import { alertId, type Alert } from '../../streaming/detect/alert.ts';
import { detector, rec, run } from './fixtures.ts';

const FULL = '苏C12345';
const MASKED = '苏CD7***';

describe('default rule', () => {
  it('alerts on the same full plate at distant checkpoints three minutes apart', () => {
    const alerts = run(detector(), [
      rec('1001', 'G104_Suining_K873', '2024-01-01 10:00:00', FULL),
      rec('1002', 'G310_Tongshan_K310', '2024-01-01 10:03:00', FULL),
    ]);
    expect(alerts).toHaveLength(1);
    const a = alerts[0]!;
    expect(a).toMatchObject({
      id: alertId('1001', '1002'),
      hphm: FULL,
      masked: false,
      prev: { gcxh: '1001', kkmc: 'G104_Suining_K873', gcsj: '2024-01-01 10:00:00' },
      curr: { gcxh: '1002', kkmc: 'G310_Tongshan_K310', gcsj: '2024-01-01 10:03:00' },
      interval_s: 180,
      rule: 'default',
      detected_at: '2024-01-01T12:00:00+08:00',
    });
    // ~88 km in 3 minutes.
    expect(a.distance_km).toBeGreaterThan(85);
    expect(a.distance_km).toBeLessThan(92);
    expect(a.speed_kmh).toBeCloseTo((a.distance_km! / 180) * 3600, 0);
    expect(Object.keys(a)).toEqual(['id', 'hphm', 'masked', 'prev', 'curr', 'interval_s', 'distance_km', 'speed_kmh', 'rule', 'detected_at']);
  });

  it('stays silent for near checkpoints passed at a legal speed, which the window rule flags', () => {
    // 6.6 km in 5 minutes = ~80 km/h.
    const rows = [rec('2001', 'G104_Suining_K873', '2024-01-01 10:00:00', FULL), rec('2002', 'S252_Suining_K56', '2024-01-01 10:05:00', FULL)];
    expect(run(detector(), rows)).toEqual([]);
    const w = run(detector({ rule: 'window' }), rows);
    expect(w).toHaveLength(1);
    expect(w[0]!.rule).toBe('window');
    expect(w[0]!.speed_kmh).toBeGreaterThan(75);
    expect(w[0]!.speed_kmh).toBeLessThan(85);
  });

  it('alerts on near checkpoints when the implied speed is above the limit', () => {
    // 6.6 km in 60 s = ~400 km/h; with --speed-kmh 500 it is legal.
    const rows = [rec('2101', 'G104_Suining_K873', '2024-01-01 10:00:00', FULL), rec('2102', 'S252_Suining_K56', '2024-01-01 10:01:00', FULL)];
    expect(run(detector(), rows)).toHaveLength(1);
    expect(run(detector({ speedKmh: 500 }), rows)).toEqual([]);
  });

  it('alerts when a checkpoint has no coordinates (distance unknown)', () => {
    const alerts = run(detector(), [
      rec('2201', 'G104_Suining_K873', '2024-01-01 10:00:00', FULL),
      rec('2202', 'X999_Nowhere_K1', '2024-01-01 10:04:00', FULL),
    ]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ distance_km: null, speed_kmh: null });
  });

  it('alerts on two distant checkpoints in the same second, with no finite speed', () => {
    const alerts = run(detector(), [
      rec('2301', 'G104_Suining_K873', '2024-01-01 10:00:00', FULL),
      rec('2302', 'G310_Tongshan_K310', '2024-01-01 10:00:00', FULL),
    ]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.speed_kmh).toBeNull();
    expect(alerts[0]!.interval_s).toBe(0);
  });

  it('never pairs passes at the same checkpoint or more than the window apart', () => {
    expect(
      run(detector(), [
        rec('2401', 'G104_Suining_K873', '2024-01-01 10:00:00', FULL),
        rec('2402', 'G104_Suining_K873', '2024-01-01 10:01:00', FULL),
        rec('2403', 'G310_Tongshan_K310', '2024-01-01 10:06:01', FULL), // 301 s after 2402
      ]),
    ).toEqual([]);
    // Exactly the window (300 s) still pairs.
    expect(
      run(detector(), [rec('2411', 'G104_Suining_K873', '2024-01-01 10:00:00', FULL), rec('2412', 'G310_Tongshan_K310', '2024-01-01 10:05:00', FULL)]),
    ).toHaveLength(1);
  });

  it('respects --window-s', () => {
    const rows = [rec('2501', 'G104_Suining_K873', '2024-01-01 10:00:00', FULL), rec('2502', 'G310_Tongshan_K310', '2024-01-01 10:03:00', FULL)];
    expect(run(detector({ windowS: 120 }), rows)).toEqual([]);
  });
});

describe('masked plates', () => {
  const far = (a: string, b: string, ca: object, cb: object): string[][] => [
    rec(a, 'G104_Suining_K873', '2024-01-01 10:00:00', MASKED, ca),
    rec(b, 'G310_Tongshan_K310', '2024-01-01 10:02:00', MASKED, cb),
  ];

  it('alert when both passes agree on HPZL and the same known CLPPXH', () => {
    const alerts = run(detector(), far('3001', '3002', { clppxh: '比亚迪牌-秦-2021' }, { clppxh: '比亚迪牌-秦-2021' }));
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.masked).toBe(true);
  });

  it('stay silent when the CLPPXH differ (a shared prefix is no evidence)', () => {
    const rows = far('3101', '3102', { clppxh: '比亚迪牌-秦-2021' }, { clppxh: '大众牌-朗逸-2019' });
    expect(run(detector(), rows)).toEqual([]);
    expect(run(detector({ rule: 'window' }), rows)).toHaveLength(1);
  });

  it('stay silent when CLPPXH is unknown (-) on both passes', () => {
    expect(run(detector(), far('3201', '3202', { clppxh: '-' }, { clppxh: '-' }))).toEqual([]);
  });

  it('stay silent when HPZL differ', () => {
    expect(run(detector(), far('3301', '3302', { hpzl: '02', clppxh: '福田牌' }, { hpzl: '01', clppxh: '福田牌' }))).toEqual([]);
  });
});

describe('invalid plates', () => {
  it('never alert, under either rule', () => {
    for (const plate of ['-***', '京***', 'J678***', '-', '']) {
      for (const rule of ['default', 'window'] as const) {
        const det = detector({ rule });
        const alerts = run(det, [
          rec('4001', 'G104_Suining_K873', '2024-01-01 10:00:00', plate),
          rec('4002', 'G310_Tongshan_K310', '2024-01-01 10:01:00', plate),
        ]);
        expect(alerts, `${plate} ${rule}`).toEqual([]);
        expect(det.stats.invalidPlate).toBe(2);
      }
    }
  });

  it('normalizes the plate before keying (junk prefix, lower case)', () => {
    const alerts = run(detector(), [
      rec('4101', 'G104_Suining_K873', '2024-01-01 10:00:00', '苏c12345'),
      rec('4102', 'G310_Tongshan_K310', '2024-01-01 10:01:00', '苏C12345'),
    ]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.hphm).toBe('苏C12345');
  });
});

describe('event time', () => {
  const a = rec('5001', 'G104_Suining_K873', '2024-01-01 10:00:00', FULL);
  const b = rec('5002', 'G310_Tongshan_K310', '2024-01-01 10:00:50', FULL);
  const filler = (t: string): string[] => rec(`F${t}`, 'S323_Xinyi_K10', `2024-01-01 ${t}`, '苏A99999');

  it('pairs out-of-order records within the lateness, with the same alert as in order', () => {
    const inOrder = run(detector(), [a, b]);
    // b (10:00:50) and newer traffic arrive first; a is 55 s behind the newest record.
    const det = detector();
    const outOfOrder = run(det, [b, filler('10:00:55'), a]);
    expect(det.stats.late).toBe(0);
    expect(outOfOrder).toHaveLength(1);
    expect({ ...outOfOrder[0], detected_at: '' }).toEqual({ ...inOrder[0], detected_at: '' });
    expect(outOfOrder[0]!.prev.gcxh).toBe('5001');
  });

  it('counts a record beyond the lateness as late and does not pair it', () => {
    const det = detector();
    // Newest record 10:01:01: watermark 10:00:01 > a's 10:00:00.
    const alerts = run(det, [b, filler('10:01:01'), a]);
    expect(alerts).toEqual([]);
    expect(det.stats.late).toBe(1);
    // With more lateness allowed the same arrival order pairs.
    expect(run(detector({ latenessS: 120 }), [b, filler('10:01:01'), a])).toHaveLength(1);
  });

  it('ignores duplicates (same GCXH) and alerts each pair once', () => {
    const det = detector({ latenessS: 300 });
    const c = rec('5003', 'S323_Xinyi_K10', '2024-01-01 10:02:00', FULL);
    const alerts = run(det, [a, b, a, b, c, b, a, c]);
    expect(det.stats.duplicates).toBe(5);
    expect(det.stats.late).toBe(0);
    expect(alerts.map((x) => `${x.prev.gcxh}-${x.curr.gcxh}`).sort()).toEqual(['5001-5002', '5001-5003', '5002-5003']);
    expect(new Set(alerts.map((x) => x.id)).size).toBe(3);
  });

  it('counts a duplicate that arrives beyond the lateness as late', () => {
    const det = detector();
    const c = rec('5003', 'S323_Xinyi_K10', '2024-01-01 10:02:00', FULL);
    run(det, [a, b, c, a]);
    expect(det.stats).toMatchObject({ late: 1, duplicates: 0 });
  });

  it('derives the alert id from the two GCXH whatever their order', () => {
    expect(alertId('5001', '5002')).toBe(alertId('5002', '5001'));
    expect(alertId('5001', '5002')).not.toBe(alertId('5001', '5003'));
    expect(alertId('5001', '5002')).toMatch(/^[0-9a-f]{16}$/);
  });

  it('keeps watermarks per partition: a busy partition does not make another one late', () => {
    const det = detector();
    const alerts = run(det, [
      [b, 1],
      [filler('11:00:00'), 0], // partition 0 is an hour ahead
      [a, 1],
    ]);
    expect(det.stats.late).toBe(0);
    expect(alerts).toHaveLength(1);
  });
});

describe('state', () => {
  it('evicts sightings once they can no longer pair, so state stays bounded', () => {
    const det = detector();
    const out: Alert[] = [];
    // 20,000 records over ~5.5 hours, 2,000 distinct plates.
    for (let i = 0; i < 20_000; i++) {
      const t = 1_704_067_200 + i; // 2024-01-01 08:00:00+08 onwards, one record a second
      const d = new Date((t + 8 * 3600) * 1000).toISOString();
      const gcsj = `${d.slice(0, 10)} ${d.slice(11, 19)}`;
      det.push(rec(`S${i}`, i % 2 ? 'G104_Suining_K873' : 'G310_Tongshan_K310', gcsj, `苏C${String(10000 + (i % 2000))}`), 0, out);
    }
    const size = det.stateSize();
    // Window 300 s + lateness 60 s + one eviction bucket (60 s) at one record a second.
    expect(size.sightings).toBeLessThanOrEqual(300 + 60 + 60 + 1);
    expect(size.sightings).toBeGreaterThanOrEqual(360);
    expect(det.stats.evicted).toBe(20_000 - size.sightings);
    // Each plate comes back every 2,000 s, beyond the window: no alerts.
    expect(out).toEqual([]);
  });
});
