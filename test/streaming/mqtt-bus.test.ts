/**
 * The MQTT bus against the machine's Mosquitto (127.0.0.1:1883): QoS 1 delivery in order, a
 * persistent session per consumer group (records published while it is stopped arrive at its next
 * start), PUBACK only after the handler (a failed batch comes again), malformed payloads to
 * `<topic>-dlq`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { F } from '../../core/schema.ts';
import { openSink, openSource, parseBusUri, type StreamItem } from '../../streaming/bus/index.ts';
import { MqttSource, mqttClientId } from '../../streaming/bus/mqtt.ts';
import { encodeRecord } from '../../streaming/record.ts';
import { masterRows } from './fixtures.ts';
import { forgetSession, listen, mqttUri, publishRaw, uniqueMqttTopic, waitUntil } from '../helpers/mqtt.ts';

const sessions: string[] = [];
afterAll(async () => {
  for (const id of sessions) await forgetSession(id);
});

function source(topic: string, group: string, extra: { maxBatch?: number } = {}): MqttSource {
  sessions.push(mqttClientId(group, topic));
  return new MqttSource(parseBusUriMqtt(topic).url, topic, {
    groupId: group,
    maxBatch: extra.maxBatch ?? 500,
    log: () => undefined,
    retryMs: { initial: 10, max: 50 },
  });
}

function parseBusUriMqtt(topic: string): { url: string } {
  const u = parseBusUri(mqttUri(topic));
  if (u.kind !== 'mqtt') throw new Error('not mqtt');
  return u;
}

async function publishRows(topic: string, rows: string[][]): Promise<number> {
  const sink = await openSink(mqttUri(topic), { clientId: 'test-sim' });
  await sink.send(rows);
  await sink.close();
  return sink.sent;
}

/** Runs a source until `n` records were delivered, then stops it. */
async function consume(src: MqttSource, n: number, onBatch?: (b: StreamItem[]) => Promise<void>): Promise<StreamItem[]> {
  const got: StreamItem[] = [];
  const timer = setTimeout(() => void src.stop(), 20_000);
  try {
    await src.run(async (batch) => {
      await onBatch?.(batch);
      got.push(...batch);
      if (got.length >= n) void src.stop();
    });
  } finally {
    clearTimeout(timer);
  }
  return got;
}

describe('MQTT bus (Mosquitto on 1883)', () => {
  it('delivers every record published with QoS 1 once, in publish order, with HPHM as key', async () => {
    const topic = uniqueMqttTopic();
    const rows = masterRows(1200);
    const src = source(topic, 'g-order');
    const done = consume(src, rows.length);
    await src.ready;
    expect(await publishRows(topic, rows)).toBe(rows.length);
    const got = await done;
    expect(got.map((i) => i.row[F.GCXH])).toEqual(rows.map((r) => r[F.GCXH]));
    expect(got.map((i) => i.raw)).toEqual(rows.map((r) => encodeRecord(r)));
    expect(got[5]!.key).toBe(rows[5]![F.HPHM]);
    expect(src.stats).toMatchObject({ received: 1200, delivered: 1200, deadLettered: 0 });
  });

  it('keeps what is published while the consumer is stopped and delivers it at its next start (persistent session)', async () => {
    const topic = uniqueMqttTopic();
    const rows = masterRows(300);
    const first = source(topic, 'g-resume');
    const part1 = consume(first, 100);
    await first.ready;
    await publishRows(topic, rows.slice(0, 100));
    expect((await part1).length).toBe(100);
    // Stopped: the broker queues the next 200 for the session (fewer than max_queued_messages).
    await publishRows(topic, rows.slice(100));
    const again = await consume(source(topic, 'g-resume'), 200);
    expect(again.map((i) => i.row[F.GCXH])).toEqual(rows.slice(100).map((r) => r[F.GCXH]));
  });

  it('acknowledges only after the handler: a batch whose handler failed is delivered again to the next consumer of the group', async () => {
    const topic = uniqueMqttTopic();
    const rows = masterRows(50);
    const stored = new Set<string>();
    const src = source(topic, 'g-fail');
    const run = src.run(async (batch) => {
      // Not retriable: run() rejects and nothing of this batch is acknowledged.
      if (batch.some((i) => i.row[F.GCXH] === '1030')) throw new Error('disk full');
      for (const i of batch) stored.add(i.row[F.GCXH]!);
    });
    run.catch(() => undefined); // asserted below, once the records are in
    await src.ready;
    await publishRows(topic, rows);
    await expect(run).rejects.toThrow('disk full');
    expect(stored.has('1030')).toBe(false);
    const next = source(topic, 'g-fail');
    const redo = consume(next, Number.POSITIVE_INFINITY, async (b) => {
      for (const i of b) stored.add(i.row[F.GCXH]!);
    });
    await next.ready;
    await waitUntil(() => stored.size === 50, 10_000, 'all 50 records stored');
    await next.stop();
    await redo;
    expect([...stored].sort()).toEqual(rows.map((r) => r[F.GCXH]).sort());
  });

  it('dead-letters malformed payloads to <topic>-dlq with the reason and goes on', async () => {
    const topic = uniqueMqttTopic();
    const rows = masterRows(3);
    const dlq = await listen(`${topic}-dlq`);
    try {
      const src = source(topic, 'g-dlq');
      const done = consume(src, 3);
      await src.ready;
      await publishRaw(topic, [encodeRecord(rows[0]!), 'not\ta\trecord', encodeRecord(rows[1]!), '', encodeRecord(rows[2]!)]);
      const got = await done;
      expect(got.map((i) => i.row[F.GCXH])).toEqual(['1000', '1001', '1002']);
      await waitUntil(() => dlq.messages.length === 2, 5000, 'two dead letters');
      expect(dlq.messages[0]).toMatchObject({
        topic: `${topic}-dlq`,
        payload: 'not\ta\trecord',
        props: { reason: 'expected 12 tab-separated fields, got 3', source: topic },
      });
      expect(dlq.messages[1]!.props.reason).toBe('empty record');
      expect(src.stats.deadLettered).toBe(2);
      expect(src.stats.deadLetterReasons).toEqual({ 'expected 12 tab-separated fields, got 3': 1, 'empty record': 1 });
    } finally {
      await dlq.client.endAsync();
    }
  });

  it('gives each consumer group its own session: two groups both get every record', async () => {
    const topic = uniqueMqttTopic();
    const rows = masterRows(40);
    const a = source(topic, 'g-a');
    const b = source(topic, 'g-b');
    const da = consume(a, 40);
    const db = consume(b, 40);
    await Promise.all([a.ready, b.ready]);
    await publishRows(topic, rows);
    expect((await da).length).toBe(40);
    expect((await db).length).toBe(40);
    expect(mqttClientId('g-a', topic)).not.toBe(mqttClientId('g-b', topic));
    expect(mqttClientId('g-a', topic)).toBe(mqttClientId('g-a', topic));
  });

  it('reads a topic filter: cameras publishing per checkpoint on one + level', async () => {
    const base = uniqueMqttTopic('x').slice(0, -2);
    const rows = masterRows(8);
    const src = source(`${base}/+/raw`, 'g-filter');
    const done = consume(src, 8);
    await src.ready;
    await publishRows(`${base}/cam1/raw`, rows.slice(0, 4));
    await publishRows(`${base}/cam2/raw`, rows.slice(4));
    const got = await done;
    expect(got.map((i) => i.row[F.GCXH]).sort()).toEqual(rows.map((r) => r[F.GCXH]).sort());
    expect(new Set(got.map((i) => i.source))).toEqual(new Set([`${base}/cam1/raw`, `${base}/cam2/raw`]));
  });

  it('refuses to publish to a filter and reports an unreachable broker as CONNECTION_FAILED', async () => {
    await expect(openSink('mqtt://127.0.0.1:1883/a/+/b')).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    const src = await openSource('mqtt://127.0.0.1:1/t', { groupId: 'nobody', log: () => undefined });
    await expect(src.run(async () => undefined)).rejects.toMatchObject({ code: 'CONNECTION_FAILED' });
  }, 20_000);
});
