import { afterAll, describe, expect, it } from 'vitest';
import { F } from '../../core/schema.ts';
import { openSink, openSource } from '../../streaming/bus/index.ts';
import { encodeRecord } from '../../streaming/record.ts';
import { simulate } from '../../streaming/simulate.ts';
import { createTopic, deleteTopics, kafkaUri, readMessages, uniqueGroup, uniqueTopic } from '../helpers/kafka.ts';
import { collect } from './collect.ts';
import { masterRows, tmpDir, writeMaster } from './fixtures.ts';

const topics: string[] = [];
afterAll(() => deleteTopics(topics));

describe('simulator → Kafka → Kafka source', () => {
  it('delivers every simulated record exactly once, with identical content, key = HPHM and per-plate order', async () => {
    const topic = await createTopic(uniqueTopic('sim-exact'));
    topics.push(topic);
    const rows = masterRows(3000, 1);
    const input = writeMaster(tmpDir(), rows);
    const sink = await openSink(kafkaUri(topic));
    const sum = await simulate({ input, sink, rate: Infinity, mode: 'replay' });
    await sink.close();
    expect(sum).toMatchObject({ read: 3000, emitted: 3000, sent: 3000, skipped: 0, outOfOrder: 0 });

    const source = await openSource(kafkaUri(topic), { groupId: uniqueGroup('sim-exact') });
    const got = await collect(source, 3000);
    expect(got).toHaveLength(3000);
    expect(source.stats).toMatchObject({ received: 3000, delivered: 3000, deadLettered: 0 });

    const expected = new Map(rows.map((r) => [r[F.GCXH]!, encodeRecord(r)]));
    const seen = new Set<string>();
    for (const it of got) {
      const gcxh = it.row[F.GCXH]!;
      expect(seen.has(gcxh)).toBe(false);
      seen.add(gcxh);
      expect(it.raw).toBe(expected.get(gcxh));
      expect(it.key).toBe(it.row[F.HPHM]);
      expect(it.source).toBe(topic);
    }
    expect(seen.size).toBe(3000);
    // Per plate, the order received is the order simulated (one plate lives in one partition).
    const order = (items: string[][]): Map<string, string[]> => {
      const m = new Map<string, string[]>();
      for (const r of items) {
        const list = m.get(r[F.HPHM]!) ?? [];
        list.push(r[F.GCXH]!);
        m.set(r[F.HPHM]!, list);
      }
      return m;
    };
    expect(order(got.map((g) => g.row))).toEqual(order(rows));
  });

  it('paces 250 records at 50/s: none is sent before it is due, and the run takes 5 s (+10% at most)', async () => {
    const topic = await createTopic(uniqueTopic('sim-pace'));
    topics.push(topic);
    const rows = masterRows(250);
    const input = writeMaster(tmpDir(), rows);
    const sink = await openSink(kafkaUri(topic));
    const sum = await simulate({ input, sink, rate: 50, mode: 'replay' });
    await sink.close();
    expect(sum.sent).toBe(250);
    expect(sum.maxAheadMs).toBeLessThanOrEqual(0);
    // Record 249 is due at 4.98 s; the run must not be faster, nor more than 10% slower than 5 s.
    expect(sum.seconds).toBeGreaterThanOrEqual(4.98);
    expect(sum.seconds).toBeLessThanOrEqual(5.5);

    // The broker's view: each message's create time is at or after its due time.
    const msgs = await readMessages(topic, 250);
    expect(msgs).toHaveLength(250);
    for (const m of msgs) {
      const i = Number(m.value.split('\t')[F.GCXH]) - 1000;
      expect(m.timestamp).toBeGreaterThanOrEqual(Math.floor(sum.startedAtMs + i * 20) - 1);
    }
    const last = Math.max(...msgs.map((m) => m.timestamp));
    expect(last - sum.startedAtMs).toBeGreaterThanOrEqual(4979);
  });
});
