/**
 * Kafka test helpers: the real broker (TRAFFIC_KAFKA, default 127.0.0.1:9092, started by
 * `traffic services:up`), a unique topic per test, and plain kafkajs access for checks.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { ensureTopic, openSink } from '../../streaming/bus/index.ts';

export const brokers: string[] = (process.env.TRAFFIC_KAFKA ?? '127.0.0.1:9092')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);

/** A topic name no other test (or run) uses: `<prefix>-<time>-<random>`. */
export function uniqueTopic(prefix = 'test'): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** A group id no other test uses. */
export function uniqueGroup(prefix = 'group'): string {
  return uniqueTopic(prefix);
}

export function kafkaUri(topic: string): string {
  return `kafka://${brokers.join(',')}/${topic}`;
}

export function testKafka(): Kafka {
  return new Kafka({ clientId: 'traffic-test', brokers, logLevel: logLevel.NOTHING });
}

/** Creates a topic (and waits for its leaders): subscribe only to topics that exist. */
export async function createTopic(topic: string, partitions = 3): Promise<string> {
  await ensureTopic(brokers, topic, partitions);
  return topic;
}

/** Deletes test topics (their -dlq too); failures are ignored: cleanup must not fail a test. */
export async function deleteTopics(topics: string[]): Promise<void> {
  const admin = testKafka().admin();
  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    const all = topics.flatMap((t) => [t, `${t}-dlq`]).filter((t) => existing.has(t));
    if (all.length) await admin.deleteTopics({ topics: all, timeout: 10_000 });
  } catch {
    /* cleanup only */
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Produces stream records through the project's own Kafka sink (key = HPHM), flushed and closed. */
export async function produceRows(topic: string, rows: readonly (readonly string[])[]): Promise<void> {
  const sink = await openSink(kafkaUri(topic));
  try {
    await sink.send(rows as string[][]);
    await sink.flush();
  } finally {
    await sink.close();
  }
}

/** Produces raw messages as they are (e.g. malformed records). */
export async function produceRaw(topic: string, messages: { key?: string | null; value: string }[]): Promise<void> {
  const p = testKafka().producer();
  await p.connect();
  try {
    await p.send({ topic, messages: messages.map((m) => ({ key: m.key ?? null, value: m.value })) });
  } finally {
    await p.disconnect();
  }
}

export interface ReadMessage {
  partition: number;
  offset: string;
  key: string | null;
  value: string;
  timestamp: number;
  headers: Record<string, string>;
}

/** Reads `count` messages from the start of a topic with a throwaway group (or fails after timeoutMs). */
export async function readMessages(topic: string, count: number, timeoutMs = 20_000): Promise<ReadMessage[]> {
  const consumer = testKafka().consumer({ groupId: uniqueGroup('reader'), maxWaitTimeInMs: 200 });
  const out: ReadMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${out.length} of ${count} messages from ${topic} in ${timeoutMs} ms`)), timeoutMs);
      void consumer.run({
        eachMessage: async ({ partition, message }: { partition: number; message: KafkaMessage }) => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = v === undefined ? '' : String(v);
          out.push({
            partition,
            offset: message.offset,
            key: message.key?.toString('utf8') ?? null,
            value: message.value?.toString('utf8') ?? '',
            timestamp: Number(message.timestamp),
            headers,
          });
          if (out.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
  return out;
}
