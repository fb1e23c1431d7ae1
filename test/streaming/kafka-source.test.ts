import { afterAll, describe, expect, it } from 'vitest';
import { F } from '../../core/schema.ts';
import { TrafficError } from '../../core/errors.ts';
import { openSink, openSource, type StreamItem } from '../../streaming/bus/index.ts';
import { encodeRecord } from '../../streaming/record.ts';
import { createTopic, deleteTopics, kafkaUri, produceRaw, readMessages, testKafka, uniqueGroup, uniqueTopic } from '../helpers/kafka.ts';
import { collect } from './collect.ts';
import { masterRows } from './fixtures.ts';

const topics: string[] = [];
afterAll(() => deleteTopics(topics));

async function topicWith(prefix: string, rows: string[][], partitions = 3): Promise<string> {
  const topic = await createTopic(uniqueTopic(prefix), partitions);
  topics.push(topic);
  const sink = await openSink(kafkaUri(topic));
  await sink.send(rows);
  await sink.close();
  return topic;
}

const gcxhs = (items: StreamItem[]): string[] => items.map((i) => i.row[F.GCXH]!);
const quiet = { log: () => undefined, retryMs: { initial: 20, max: 100 } };

describe('Kafka consumer-group source', () => {
  it('dead-letters malformed messages to <topic>-dlq with reason, source, partition and offset headers, and delivers the valid ones', async () => {
    const rows = masterRows(10);
    const topic = await createTopic(uniqueTopic('dlq'), 1);
    topics.push(topic);
    const bad = [
      { key: 'x', value: 'only\tthree\tfields' },
      { key: 'y', value: encodeRecord(rows[0]!).replace('2024-01-06 07:59:00', '2024/1/6 7:59') },
      { key: null, value: '' },
    ];
    await produceRaw(topic, [
      ...rows.slice(0, 5).map((r) => ({ key: r[F.HPHM]!, value: encodeRecord(r) })),
      ...bad,
      ...rows.slice(5).map((r) => ({ key: r[F.HPHM]!, value: encodeRecord(r) })),
    ]);
    const source = await openSource(kafkaUri(topic), { groupId: uniqueGroup('dlq'), ...quiet });
    const got = await collect(source, 10);
    expect(gcxhs(got)).toEqual(rows.map((r) => r[F.GCXH]));
    expect(source.stats.received).toBe(13);
    expect(source.stats.delivered).toBe(10);
    expect(source.stats.deadLettered).toBe(3);
    expect(source.stats.deadLetterReasons).toEqual({
      'expected 12 tab-separated fields, got 3': 1,
      'GCSJ not YYYY-MM-DD HH:mm:ss': 1,
      'empty record': 1,
    });
    const dlq = await readMessages(`${topic}-dlq`, 3);
    dlq.sort((a, b) => Number(a.headers.offset) - Number(b.headers.offset));
    expect(dlq.map((m) => m.value)).toEqual(bad.map((b) => b.value));
    expect(dlq.map((m) => m.headers.offset)).toEqual(['5', '6', '7']);
    expect(dlq[0]!.headers).toMatchObject({ reason: 'expected 12 tab-separated fields, got 3', source: topic, partition: '0' });
    expect(dlq[1]!.headers.reason).toBe('GCSJ not YYYY-MM-DD HH:mm:ss: "2024/1/6 7:59"');
  });

  it('gives a batch whose handler failed with a retriable error to the handler again, losing and duplicating nothing', async () => {
    const rows = masterRows(300);
    const topic = await topicWith('retry', rows, 1);
    const source = await openSource(kafkaUri(topic), { groupId: uniqueGroup('retry'), maxBatch: 50, ...quiet });
    let calls = 0;
    let failedBatch: string[] = [];
    let retriedBatch: string[] = [];
    const got = await collect(source, 300, 20_000, (b) => {
      calls++;
      if (calls === 2) {
        failedBatch = gcxhs(b);
        throw new TrafficError('SERVICE_UNAVAILABLE', 'store down for a moment');
      }
      if (calls === 3) retriedBatch = gcxhs(b);
    });
    expect(failedBatch).toHaveLength(50);
    expect(retriedBatch).toEqual(failedBatch);
    expect(gcxhs(got)).toEqual(rows.map((r) => r[F.GCXH]));
    expect(source.stats.delivered).toBe(300);
  });

  it('rejects run() on a non-retriable handler error without committing: the group gets that batch again', async () => {
    const rows = masterRows(120);
    const topic = await topicWith('fatal', rows, 1);
    const group = uniqueGroup('fatal');
    const first = await openSource(kafkaUri(topic), { groupId: group, maxBatch: 40, ...quiet });
    let calls = 0;
    await expect(
      first.run(async () => {
        calls++;
        if (calls === 2) throw new TrafficError('BAD_RECORD', 'cannot store this');
      }),
    ).rejects.toThrow('cannot store this');
    expect(first.stats.delivered).toBe(40);

    const second = await openSource(kafkaUri(topic), { groupId: group, maxBatch: 40, ...quiet });
    const got = await collect(second, 80);
    expect(gcxhs(got)).toEqual(rows.slice(40).map((r) => r[F.GCXH]));
  });

  it('with inFlight, hands the next batches of a partition over while an earlier one is still in the handler, and commits only up to that one', async () => {
    const rows = masterRows(200);
    const topic = await topicWith('inflight', rows, 1);
    const group = uniqueGroup('inflight');
    const first = await openSource(kafkaUri(topic), { groupId: group, maxBatch: 50, inFlight: 200, ...quiet });
    const done: string[] = [];
    let secondStarted = false;
    let laterWhileSecondRan = 0;
    const timer = setTimeout(() => void first.stop(), 20_000);
    await first.run(async (batch) => {
      const offset = Number(batch[0]!.offset);
      if (offset === 50) {
        // The second batch cannot be stored (the store is down) until the source stops.
        secondStarted = true;
        throw new TrafficError('SERVICE_UNAVAILABLE', 'store down');
      }
      if (secondStarted) laterWhileSecondRan++;
      done.push(...gcxhs(batch));
      if (done.length >= 150) void first.stop();
    });
    clearTimeout(timer);
    expect(laterWhileSecondRan).toBe(2); // batches 3 and 4 went on while batch 2 was retried
    expect(done).toEqual([...rows.slice(0, 50), ...rows.slice(100)].map((r) => r[F.GCXH]));
    expect(first.stats.delivered).toBe(50); // only the first batch counts as committed

    // The group resumes at the unfinished batch: it and everything after it come again.
    const second = await openSource(kafkaUri(topic), { groupId: group, maxBatch: 50, ...quiet });
    const again = await collect(second, 150);
    expect(gcxhs(again)).toEqual(rows.slice(50).map((r) => r[F.GCXH]));
  });

  it('resumes a restarted consumer of the same group after its committed work, without loss or duplicates', async () => {
    const rows = masterRows(600);
    const topic = await topicWith('resume', rows.slice(0, 400));
    const group = uniqueGroup('resume');
    const first = await openSource(kafkaUri(topic), { groupId: group, maxBatch: 100, ...quiet });
    const part1 = await collect(first, 400);
    expect(part1).toHaveLength(400);

    // More records arrive while no consumer runs.
    const sink = await openSink(kafkaUri(topic));
    await sink.send(rows.slice(400));
    await sink.close();

    const second = await openSource(kafkaUri(topic), { groupId: group, maxBatch: 100, ...quiet });
    const part2 = await collect(second, 200, 15_000);
    const all = [...gcxhs(part1), ...gcxhs(part2)];
    expect(all.sort()).toEqual(rows.map((r) => r[F.GCXH]!).sort());
    expect(new Set(all).size).toBe(600);
  });

  it('shares the partitions of a topic between two consumers of one group', async () => {
    const rows = masterRows(900, 1);
    const topic = await createTopic(uniqueTopic('share'), 3);
    topics.push(topic);
    const group = uniqueGroup('share');
    const a = await openSource(kafkaUri(topic), { groupId: group, ...quiet });
    const b = await openSource(kafkaUri(topic), { groupId: group, ...quiet });
    const got: StreamItem[] = [];
    const stopBoth = (): void => void Promise.all([a.stop(), b.stop()]);
    const handler = async (batch: StreamItem[]): Promise<void> => {
      got.push(...batch);
      if (got.length >= 900) stopBoth();
    };
    const timer = setTimeout(stopBoth, 30_000);
    const running = Promise.all([a.run(handler), b.run(handler)]);
    // Produce only once both members hold partitions, so the split does not depend on join timing.
    const admin = testKafka().admin();
    await admin.connect();
    try {
      for (let i = 0; ; i++) {
        const { groups } = await admin.describeGroups([group]);
        const g = groups[0];
        if (g && g.state === 'Stable' && g.members.length === 2) break;
        if (i > 150) throw new Error(`group not stable with 2 members: ${JSON.stringify(g?.state)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await admin.disconnect();
    }
    const sink = await openSink(kafkaUri(topic));
    await sink.send(rows);
    await sink.close();
    await running;
    clearTimeout(timer);
    expect(new Set(gcxhs(got)).size).toBe(900);
    expect(got).toHaveLength(900);
    expect(a.stats.delivered).toBeGreaterThan(0);
    expect(b.stats.delivered).toBeGreaterThan(0);
    expect(a.stats.delivered + b.stats.delivered).toBe(900);
  });
});
