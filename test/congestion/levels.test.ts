import { describe, expect, it } from 'vitest';
import { CongestionLevels, congestionId, type CongestionAlert } from '../../streaming/congestion/levels.ts';
import { FlowWindows, type FlowWindow } from '../../streaming/windows/core.ts';
import { formatChinaTime, toEpochSeconds } from '../../core/time.ts';
import { burst, flatThresholds } from './fixtures.ts';

const T = flatThresholds({ A: [10, 20], B: [10, 20] });
const brief = (c: CongestionAlert): string => `${c.window_start.slice(11, 16)} ${c.kkmc} ${c.previous_level}→${c.level} ${c.passes}/${c.threshold}`;

/** 5-minute windows of A from 08:00 with the given passes (direction 1), then the watermark after them. */
function feed(levels: CongestionLevels, passes: number[], kkmc = 'A'): CongestionAlert[] {
  const t0 = toEpochSeconds('2024-01-15 08:00:00');
  const windows: FlowWindow[] = passes.map((n, i) => ({
    kkmc,
    fxlx: '1',
    window_start: formatChinaTime((t0 + i * 300) * 1000),
    window_len_s: 300,
    passes: n,
    late: 0,
  }));
  return levels.onClosed(windows, t0 + passes.length * 300);
}

describe('congestion levels', () => {
  it('escalates 舒适→黄色拥堵→红色警戒 and falls back, one change per level change (no hysteresis)', () => {
    const l = new CongestionLevels(T, { riseWindows: 1, holdWindows: 1 });
    expect(feed(l, [5, 12, 25, 25, 15, 3, 3]).map(brief)).toEqual([
      '08:05 A 舒适→黄色拥堵 12/10',
      '08:10 A 黄色拥堵→红色警戒 25/20',
      '08:20 A 红色警戒→黄色拥堵 15/20',
      '08:25 A 黄色拥堵→舒适 3/10',
    ]);
  });

  it('a window equal to the threshold does not exceed it', () => {
    const l = new CongestionLevels(T, { riseWindows: 1, holdWindows: 1 });
    expect(feed(l, [10, 20, 11]).map(brief)).toEqual(['08:05 A 舒适→黄色拥堵 20/10']);
  });

  it('needs `rise` windows above to escalate and `hold` windows below to de-escalate', () => {
    const l = new CongestionLevels(T, { riseWindows: 2, holdWindows: 2 });
    expect(feed(l, [12, 5, 12, 12, 25, 25, 3, 15, 3, 3]).map(brief)).toEqual([
      '08:15 A 舒适→黄色拥堵 12/10',
      '08:25 A 黄色拥堵→红色警戒 25/20',
      '08:35 A 红色警戒→黄色拥堵 15/20',
      '08:45 A 黄色拥堵→舒适 3/10',
    ]);
  });

  it('de-escalates only under threshold × clear ratio', () => {
    const l = new CongestionLevels(T, { riseWindows: 1, holdWindows: 1, clearRatio: 0.5 });
    expect(feed(l, [12, 8, 6, 5]).map(brief)).toEqual(['08:00 A 舒适→黄色拥堵 12/10', '08:15 A 黄色拥堵→舒适 5/10']);
  });

  it('derives ids from checkpoint, window and level (a replay gives the same ids)', () => {
    const a = feed(new CongestionLevels(T, { riseWindows: 1, holdWindows: 1 }), [12, 3]);
    const b = feed(new CongestionLevels(T, { riseWindows: 1, holdWindows: 1 }), [12, 3]);
    expect(a.map((c) => c.id)).toEqual(b.map((c) => c.id));
    expect(a[0]!.id).toBe(congestionId('A', '2024-01-15 08:00:00', '黄色拥堵'));
    expect(new Set(a.map((c) => c.id)).size).toBe(2);
  });

  it('leaves a checkpoint without thresholds at 舒适 and counts its windows', () => {
    const l = new CongestionLevels(T, { riseWindows: 1, holdWindows: 1 });
    expect(feed(l, [50, 50], 'Z')).toEqual([]);
    expect(l.stats.noThreshold).toBe(2);
    expect(l.current()).toEqual([{ kkmc: 'Z', level: '舒适', passes: 50, warning: null, alert: null, window_start: '2024-01-15 08:05:00' }]);
  });

  it('sums directions and counts windows with no passes as 0, from flow windows closed by the watermark', () => {
    const fw = new FlowWindows({ latenessS: 60 });
    const l = new CongestionLevels(T, { riseWindows: 1, holdWindows: 2 });
    const changes: CongestionAlert[] = [];
    // 6 + 6 passes at 08:00 (both directions), 30 at 08:05, then silence until a pass at B at 09:00.
    for (const r of [...burst('A', '2024-01-15 08:00', 12), ...burst('A', '2024-01-15 08:05', 30), ...burst('B', '2024-01-15 09:00', 1)]) {
      fw.push(r);
      changes.push(...l.onClosed(fw.drain().closed, fw.watermark));
    }
    expect(changes.map(brief)).toEqual(['08:00 A 舒适→黄色拥堵 12/10', '08:05 A 黄色拥堵→红色警戒 30/20', '08:15 A 红色警戒→舒适 0/10']);
    expect(l.current().map((c) => `${c.kkmc} ${c.level} ${c.window_start.slice(11, 16)}`)).toEqual(['A 舒适 08:50']);
  });

  it('continues from a snapshot', () => {
    const whole = feed(new CongestionLevels(T, { riseWindows: 2, holdWindows: 2 }), [12, 12, 3, 3]);
    const first = new CongestionLevels(T, { riseWindows: 2, holdWindows: 2 });
    const a = feed(first, [12]);
    const second = new CongestionLevels(T, { riseWindows: 2, holdWindows: 2 });
    second.restore(JSON.parse(JSON.stringify(first.snapshot())));
    const t0 = toEpochSeconds('2024-01-15 08:05:00');
    const rest = second.onClosed(
      [12, 3, 3].map((n, i) => ({ kkmc: 'A', fxlx: '1', window_start: formatChinaTime((t0 + i * 300) * 1000), window_len_s: 300, passes: n, late: 0 })),
      t0 + 900,
    );
    expect([...a, ...rest]).toEqual(whole);
  });
});
