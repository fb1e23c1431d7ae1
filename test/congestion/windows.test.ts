import { describe, expect, it } from 'vitest';
import { FlowWindows, type FlowWindow } from '../../streaming/windows/core.ts';
import { toEpochSeconds } from '../../core/time.ts';
import { pass } from './fixtures.ts';

const brief = (w: FlowWindow): string => `${w.kkmc}/${w.fxlx} ${w.window_start.slice(11, 16)} ${w.window_len_s}s ${w.passes}+${w.late}`;

/** Pushes rows (optionally draining after each), returns every emitted row and the final table (upsert semantics). */
function run(rows: string[][], opts: { drainEach?: boolean; latenessS?: number; retainS?: number } = {}) {
  const fw = new FlowWindows({ latenessS: opts.latenessS ?? 60, retainS: opts.retainS });
  const emitted: FlowWindow[] = [];
  const table = new Map<string, FlowWindow>();
  const take = (r: { closed: FlowWindow[]; updated: FlowWindow[] }): void => {
    for (const w of [...r.closed, ...r.updated]) {
      emitted.push(w);
      table.set(`${w.kkmc}|${w.fxlx}|${w.window_start}|${w.window_len_s}`, w);
    }
  };
  for (const r of rows) {
    fw.push(r);
    if (opts.drainEach) take(fw.drain());
  }
  take(fw.drain());
  return { fw, emitted, table: [...table.values()].map(brief).sort() };
}

const IN_ORDER = [
  pass('A', '1', '2024-01-15 10:00:05'),
  pass('A', '1', '2024-01-15 10:00:50'),
  pass('A', '2', '2024-01-15 10:00:59'),
  pass('A', '1', '2024-01-15 10:01:10'),
  pass('B', '1', '2024-01-15 10:02:00'),
  pass('A', '1', '2024-01-15 10:06:30'),
];

describe('event-time tumbling windows', () => {
  it('counts in-order passes per checkpoint and direction in 1- and 5-minute windows, closed by the watermark', () => {
    const { fw, emitted } = run(IN_ORDER);
    expect(fw.watermark).toBe(toEpochSeconds('2024-01-15 10:05:30'));
    expect(emitted.map(brief)).toEqual([
      'A/1 10:00 60s 2+0',
      'A/2 10:00 60s 1+0',
      'A/1 10:01 60s 1+0',
      'B/1 10:02 60s 1+0',
      'A/1 10:00 300s 3+0',
      'A/2 10:00 300s 1+0',
      'B/1 10:00 300s 1+0',
    ]);
    expect(fw.openWindows().map(brief)).toEqual(['A/1 10:06 60s 1+0', 'A/1 10:05 300s 1+0']);
    expect(fw.stats).toMatchObject({ records: 6, late: 0, lateExpired: 0, bad: 0 });
  });

  it('counts a record that arrives out of order but whose windows are still open, and flags none late', () => {
    const { fw, table } = run([...IN_ORDER, pass('A', '1', '2024-01-15 10:05:35'), pass('A', '2', '2024-01-15 10:05:10')]);
    // 10:05:10 is 80 s behind the newest pass but its windows (10:05–10:06, 10:05–10:10) are open.
    expect(fw.stats.late).toBe(0);
    const closed = run([...IN_ORDER, pass('A', '1', '2024-01-15 10:05:35'), pass('A', '2', '2024-01-15 10:05:10'), pass('C', '1', '2024-01-15 10:20:00')]);
    expect(closed.table).toContain('A/1 10:05 60s 1+0');
    expect(closed.table).toContain('A/2 10:05 60s 1+0');
    expect(closed.table).toContain('A/1 10:05 300s 2+0');
    expect(closed.table).toContain('A/2 10:05 300s 1+0');
    expect(table).not.toContain('A/1 10:05 60s 1+0'); // not closed yet before C moved the watermark
  });

  it('flags a record for a closed window as late, attaches it to that window and re-emits the window', () => {
    const { fw, emitted, table } = run([...IN_ORDER, pass('A', '1', '2024-01-15 10:04:50'), pass('B', '1', '2024-01-15 10:00:01')]);
    expect(fw.stats.late).toBe(2);
    expect(fw.stats.lateByKkmc).toEqual({ A: 1, B: 1 });
    // The late records are not in passes: they are in `late` of their windows.
    expect(table).toContain('A/1 10:00 300s 3+1');
    expect(table).toContain('A/1 10:04 60s 0+1');
    expect(table).toContain('B/1 10:00 60s 0+1');
    expect(table).toContain('B/1 10:00 300s 1+1');
    expect(
      emitted
        .filter((w) => w.late > 0)
        .map(brief)
        .sort(),
    ).toEqual(['A/1 10:00 300s 3+1', 'A/1 10:04 60s 0+1', 'B/1 10:00 300s 1+1', 'B/1 10:00 60s 0+1']);
  });

  it('gives the same windows whether drained after every record or once (lateness is decided per record)', () => {
    const rows = [...IN_ORDER, pass('A', '1', '2024-01-15 10:04:50'), pass('A', '1', '2024-01-15 10:05:35'), pass('B', '2', '2024-01-15 10:12:00')];
    expect(run(rows, { drainEach: true }).table).toEqual(run(rows).table);
  });

  it('takes the watermark from the slowest partition, so a partition read behind is not late', () => {
    const fw = new FlowWindows({ latenessS: 60 });
    fw.expectPartitions([0, 1]);
    fw.push(pass('A', '1', '2024-01-15 10:10:00'), 0);
    // Partition 1 has not delivered yet: nothing can close.
    expect(fw.watermark).toBe(-Infinity);
    fw.push(pass('A', '1', '2024-01-15 10:01:00'), 1);
    expect(fw.watermark).toBe(toEpochSeconds('2024-01-15 10:00:00'));
    expect(fw.push(pass('A', '1', '2024-01-15 10:00:30'), 1)).toBe('ok');
    expect(fw.drain().closed).toEqual([]);
    // Partition 1 goes idle: partition 0 alone moves the watermark to 10:09.
    fw.setIdle(1, true);
    expect(fw.drain().closed.map(brief)).toEqual(['A/1 10:00 60s 1+0', 'A/1 10:01 60s 1+0', 'A/1 10:00 300s 2+0']);
    // Back from idle behind the watermark: its record is late, the watermark does not move back.
    expect(fw.push(pass('A', '1', '2024-01-15 10:02:00'), 1)).toBe('late');
    expect(fw.watermark).toBe(toEpochSeconds('2024-01-15 10:09:00'));
  });

  it('with one partition, a record behind the newest by more than the lateness is late for its closed window', () => {
    const fw = new FlowWindows({ latenessS: 60 });
    fw.push(pass('A', '1', '2024-01-15 10:10:00'));
    expect(fw.push(pass('A', '1', '2024-01-15 10:01:00'))).toBe('late');
    expect(fw.stats.lateByKkmc).toEqual({ A: 1 });
  });

  it('counts a record later than the retention of closed windows as expired, per checkpoint', () => {
    const { fw } = run([pass('A', '1', '2024-01-15 10:00:00'), pass('A', '1', '2024-01-15 12:00:00'), pass('A', '1', '2024-01-15 10:00:10')], {
      drainEach: true,
      retainS: 600,
    });
    expect(fw.stats).toMatchObject({ late: 0, lateExpired: 1, lateByKkmc: { A: 1 } });
  });

  it('rejects records without KKMC or a valid GCSJ, counted as bad', () => {
    const fw = new FlowWindows();
    expect(fw.push(pass('', '1', '2024-01-15 10:00:00'))).toBe('bad');
    expect(fw.push(pass('A', '1', '2024-02-30 10:00:00'))).toBe('bad');
    expect(fw.stats.bad).toBe(2);
  });

  it('continues from a snapshot exactly as an uninterrupted run', () => {
    const rows = [...IN_ORDER, pass('A', '2', '2024-01-15 10:07:00'), pass('B', '1', '2024-01-15 10:09:59'), pass('A', '1', '2024-01-15 10:16:00')];
    const whole = run(rows);
    const first = new FlowWindows();
    const out: string[] = [];
    for (const r of rows.slice(0, 6)) first.push(r);
    out.push(...first.drain().closed.map(brief));
    const second = new FlowWindows();
    second.restore(JSON.parse(JSON.stringify(first.snapshot())));
    for (const r of rows.slice(6)) second.push(r);
    out.push(...second.drain().closed.map(brief));
    expect(out.sort()).toEqual(whole.table);
  });

  it('after a restart, waits again for every announced partition before moving the watermark', () => {
    const before = new FlowWindows();
    before.expectPartitions([0, 1]);
    before.push(pass('A', '1', '2024-01-15 10:10:00'), 0);
    const after = new FlowWindows();
    after.expectPartitions([0, 1]);
    after.restore(JSON.parse(JSON.stringify(before.snapshot())));
    expect(after.watermark).toBe(-Infinity);
    expect(after.push(pass('A', '1', '2024-01-15 10:00:00'), 1)).toBe('ok');
    expect(after.watermark).toBe(toEpochSeconds('2024-01-15 09:59:00'));
  });

  it('closes every open window at the end of a finite input', () => {
    const fw = new FlowWindows();
    fw.push(pass('A', '1', '2024-01-15 10:00:05'));
    expect(fw.closeAll().closed.map(brief)).toEqual(['A/1 10:00 60s 1+0', 'A/1 10:00 300s 1+0']);
    expect(fw.openWindows()).toEqual([]);
  });
});
