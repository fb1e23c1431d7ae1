import { describe, expect, it } from 'vitest';
import { F } from '../../core/schema.ts';
import { memoryDelete, memoryPublish, memoryRecords, openSink, openSource, type StreamItem } from '../../streaming/bus/index.ts';
import { simulate } from '../../streaming/simulate.ts';
import { masterRows, tmpDir, writeMaster } from './fixtures.ts';
import { collect } from './collect.ts';

const gcxhs = (items: StreamItem[]): string[] => items.map((i) => i.row[F.GCXH]!);

describe('in-process memory bus', () => {
  it('fans every record out to each consumer group, each from its own offset', async () => {
    const name = `mem-fanout-${Date.now()}`;
    const rows = masterRows(40);
    const sink = await openSink(`memory:${name}`);
    await simulate({ input: writeMaster(tmpDir(), rows), sink, rate: Infinity, mode: 'replay' });
    const sinkGroup = await openSource(`memory:${name}`, { groupId: 'sink', maxBatch: 7 });
    const detectGroup = await openSource(`memory:${name}`, { groupId: 'detect' });
    const [a, b] = await Promise.all([collect(sinkGroup, 40), collect(detectGroup, 40)]);
    expect(gcxhs(a)).toEqual(rows.map((r) => r[F.GCXH]));
    expect(gcxhs(b)).toEqual(rows.map((r) => r[F.GCXH]));
    expect(a.map((i) => i.offset)).toEqual(rows.map((_, i) => String(i)));

    // A group that comes back later resumes after what it committed; fromBeginning:false skips history.
    await sink.send(masterRows(45).slice(40));
    const again = await openSource(`memory:${name}`, { groupId: 'sink' });
    expect(gcxhs(await collect(again, 5))).toEqual(['1040', '1041', '1042', '1043', '1044']);
    const late = await openSource(`memory:${name}`, { groupId: 'late', fromBeginning: false });
    const lateRun = collect(late, 1);
    await new Promise((r) => setTimeout(r, 20));
    await sink.send([masterRows(46)[45]!]);
    expect(gcxhs(await lateRun)).toEqual(['1045']);
    memoryDelete(name);
  });

  it('dead-letters malformed records to the <name>-dlq memory bus with the reason', async () => {
    const name = `mem-dlq-${Date.now()}`;
    const sink = await openSink(`memory:${name}`);
    await sink.send(masterRows(2));
    memoryPublish(name, [{ key: null, raw: 'bad' }]);
    await sink.send(masterRows(3).slice(2));
    const src = await openSource(`memory:${name}`, { groupId: 'g' });
    expect(gcxhs(await collect(src, 3))).toEqual(['1000', '1001', '1002']);
    expect(src.stats.deadLetterReasons).toEqual({ 'expected 12 tab-separated fields, got 1': 1 });
    expect(memoryRecords(`${name}-dlq`)).toEqual([
      { key: null, raw: 'bad', headers: { reason: 'expected 12 tab-separated fields, got 1', source: name, partition: '0', offset: '2' } },
    ]);
    memoryDelete(name);
    memoryDelete(`${name}-dlq`);
  });
});
