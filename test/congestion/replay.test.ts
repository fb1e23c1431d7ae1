/** The commands end to end on a small master CSV: thresholds derived, replay to JSONL, replay again. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { csvText } from '../../core/io.ts';
import { MASTER_COLUMNS } from '../../core/schema.ts';
import { command as congestion } from '../../streaming/congestion-cli.ts';
import { runCongestion } from '../../streaming/congestion/run.ts';
import { getCongestionState } from '../../streaming/congestion/state.ts';
import { readThresholds } from '../../streaming/congestion/thresholds.ts';
import { command as thresholds } from '../../streaming/thresholds-cli.ts';
import { burst, flatThresholds } from './fixtures.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'congestion-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A's 5-minute windows from 08:00 (a Monday); B has 2 passes in each window. */
const A = [12, 12, 25, 25, 3, 3, 3, 3, 3, 3, 3, 3];
const rows = A.flatMap((n, i) => {
  const t = `2024-01-15 08:${String(i * 5).padStart(2, '0')}`;
  return [...burst('A', t, n), ...burst('B', t, 2)];
}).sort((a, b) => (a[4]! < b[4]! ? -1 : a[4]! > b[4]! ? 1 : 0));
const master = path.join(dir, 'master_data_expanded.csv');
writeFileSync(master, csvText(MASTER_COLUMNS, rows));

function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  return fn().finally(() => {
    out.mockRestore();
    err.mockRestore();
  });
}

describe('congestion replay of a master CSV', () => {
  it('derives a thresholds file the congestion command reads', async () => {
    const out = path.join(dir, 'derived.csv');
    expect(await quietly(() => thresholds.run(['--in', master, '--out', out]))).toBe(0);
    const t = await readThresholds(out);
    expect(t.checkpoints).toBe(2);
    expect(t.rows.length).toBe(2 * 2 * 24);
  });

  it('writes exactly the expected level changes, and a second replay adds none', async () => {
    const th = path.join(dir, 'kkmc_thresholds.csv');
    writeFileSync(
      th,
      'KKMC,DAY_TYPE,HOUR,WARNING,ALERT\n' + ['weekday', 'weekend'].flatMap((d) => Array.from({ length: 24 }, (_, h) => `A,${d},${h},10,20\n`)).join(''),
    );
    const jsonl = path.join(dir, 'changes.jsonl');
    const args = ['--from', `file:${master}`, '--to', `jsonl:${jsonl}`];
    expect(await quietly(() => congestion.run(args))).toBe(0);
    const first = readFileSync(jsonl, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first.map((c) => `${String(c.window_start).slice(11, 16)} ${c.kkmc} ${c.previous_level}→${c.level} ${c.passes}/${c.threshold}`)).toEqual([
      '08:05 A 舒适→黄色拥堵 12/10',
      '08:15 A 黄色拥堵→红色警戒 25/20',
      '08:45 A 红色警戒→舒适 3/10',
    ]);
    expect(Object.keys(first[0]!).sort()).toEqual(['id', 'kkmc', 'level', 'passes', 'previous_level', 'threshold', 'window_start']);
    expect(await quietly(() => congestion.run(args))).toBe(0);
    expect(readFileSync(jsonl, 'utf8').trim().split('\n')).toHaveLength(3);
  });

  it('feeds the in-process state: current levels, recent changes, closed windows', async () => {
    const state = getCongestionState('replay-test');
    const heard: string[] = [];
    state.subscribe((c) => heard.push(c.level));
    let windows = 0;
    state.subscribeWindows((w) => (windows += w.length));
    const s = await runCongestion({
      from: `file:${master}`,
      to: 'memory:replay-test',
      groupId: 'g',
      thresholds: flatThresholds({ A: [10, 20], B: [10, 20] }),
      state,
      quiet: true,
    });
    expect(heard).toEqual(['黄色拥堵', '红色警戒', '舒适']);
    expect(state.recent(2).map((c) => c.level)).toEqual(['舒适', '红色警戒']);
    expect(state.current().map((c) => `${c.kkmc} ${c.level} ${c.passes} ${c.warning}/${c.alert} ${c.window_start.slice(11, 16)}`)).toEqual([
      'A 舒适 3 10/20 08:55',
      'B 舒适 2 10/20 08:55',
    ]);
    // 12 five-minute windows × (A: 2 directions, B: 2 directions) plus the 1-minute windows.
    expect(s.windowsClosed).toBe(windows);
    expect(s).toMatchObject({ records: rows.length, late: 0, changes: 3, stored: 3, days: ['2024-01-15'], checkpoints: ['A', 'B'] });
    expect(s.changesPerDay).toEqual({ '2024-01-15': { A: 3 } });
  });
});
