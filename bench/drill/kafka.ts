/**
 * What the drill asks Kafka directly (plain kafkajs, outside the code under test): stream
 * progress, consumer-group lag, malformed records, and reading a topic back to check it.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { decodeRecord } from '../../streaming/record.ts';

export function drillKafka(brokers: string[]): Kafka {
  return new Kafka({ clientId: 'traffic-drill', brokers, logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 3000 } });
}

export async function withAdmin<T>(kafka: Kafka, fn: (a: Admin) => Promise<T>): Promise<T> {
  const a = kafka.admin();
  await a.connect();
  try {
    return await fn(a);
  } finally {
    await a.disconnect().catch(() => undefined);
  }
}

/** Messages in the topic (sum of the partitions' high watermarks; the topic starts empty). */
export async function topicSize(admin: Admin, topic: string): Promise<number> {
  const offs = await admin.fetchTopicOffsets(topic);
  return offs.reduce((s, p) => s + Number(p.high), 0);
}

/** Records the group has not committed yet (a partition never committed counts in full). */
export async function groupLag(admin: Admin, topic: string, groupId: string): Promise<number> {
  const high = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  const committed = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions ?? [];
  const done = new Map(committed.map((p) => [p.partition, BigInt(p.offset)]));
  let lag = 0n;
  for (const [p, h] of high) {
    const c = done.get(p) ?? -1n;
    lag += h - (c < 0n ? 0n : c);
  }
  return Number(lag);
}

/** Malformed stream records the drill sends on purpose: each must end up dead-lettered, not stored. */
export function malformedRecords(count: number, tag: string): { key: string; value: string }[] {
  const good = (gcxh: string): string[] => [
    gcxh,
    '徐州市',
    'G104_Suining_K873',
    '1',
    '2024-01-01 10:00:00',
    '02',
    '苏C12345',
    '大众',
    '江苏',
    '1',
    '0',
    '小型汽车',
  ];
  const kinds: ((i: number) => string)[] = [
    (i) => `DRILL-${tag}-BAD-${i} this is not a record`,
    (i) => good(`DRILL-${tag}-BAD-${i}`).slice(0, 11).join('\t'),
    (i) => [...good(`DRILL-${tag}-BAD-${i}`), 'extra'].join('\t'),
    (i) =>
      good(`DRILL-${tag}-BAD-${i}`)
        .map((f, k) => (k === 4 ? '2024/01/01 10:00' : f))
        .join('\t'),
    (i) =>
      good(`DRILL-${tag}-BAD-${i}`)
        .map((f, k) => (k === 2 ? '' : f))
        .join('\t'),
    (i) =>
      good(`DRILL-${tag}-BAD-${i}`)
        .map((f, k) => (k === 9 ? '2' : f))
        .join('\t'),
    (i) =>
      good(`DRILL-${tag}-BAD-${i}`)
        .map((f, k) => (k === 0 ? '' : k === 7 ? `DRILL-${tag}-BAD-${i}` : f))
        .join('\t'),
  ];
  return Array.from({ length: count }, (_, i) => {
    const value = kinds[i % kinds.length]!(i);
    if (decodeRecord(value).ok) throw new Error(`drill bug: malformed record ${i} decodes`);
    return { key: `DRILL-BAD-${i}`, value };
  });
}

export async function produceRaw(kafka: Kafka, topic: string, messages: { key: string; value: string }[]): Promise<void> {
  const p = kafka.producer();
  await p.connect();
  try {
    await p.send({ topic, acks: -1, messages });
  } finally {
    await p.disconnect().catch(() => undefined);
  }
}

export interface TopicMessage {
  partition: number;
  offset: string;
  value: string;
  headers: Record<string, string>;
}

/** Reads every message up to the current high watermarks with a throwaway group (deleted after). */
export async function readTopic(kafka: Kafka, topic: string, timeoutMs = 120_000): Promise<TopicMessage[]> {
  const high = await withAdmin(kafka, async (a) => {
    if (!(await a.listTopics()).includes(topic)) return null;
    return new Map((await a.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  });
  if (!high) return [];
  const pending = new Set([...high].filter(([, h]) => h > 0n).map(([p]) => p));
  const out: TopicMessage[] = [];
  if (pending.size === 0) return out;
  const groupId = `traffic-drill-reader-${randomBytes(4).toString('hex')}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let finish!: () => void;
    const done = new Promise<void>((r) => (finish = r));
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const h = high.get(batch.partition) ?? 0n;
        for (const m of batch.messages) {
          if (BigInt(m.offset) >= h) break;
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(m.headers ?? {})) headers[k] = v === undefined ? '' : String(v);
          out.push({ partition: batch.partition, offset: m.offset, value: m.value ? m.value.toString('utf8') : '', headers });
        }
        if (BigInt(batch.lastOffset()) >= h - 1n) {
          pending.delete(batch.partition);
          if (pending.size === 0) finish();
        }
      },
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      done,
      new Promise<void>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`reading ${topic}: partitions ${[...pending].join(',')} not read within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await withAdmin(kafka, (a) => a.deleteGroups([groupId])).catch(() => undefined);
  }
  out.sort((x, y) => x.partition - y.partition || Number(BigInt(x.offset) - BigInt(y.offset)));
  return out;
}

/** Deletes topics and the consumer groups whose id starts with one of the prefixes. */
export async function cleanupKafka(kafka: Kafka, topics: string[], groupPrefixes: string[]): Promise<string[]> {
  return withAdmin(kafka, async (a) => {
    const done: string[] = [];
    const existing = new Set(await a.listTopics());
    const del = topics.filter((t) => existing.has(t));
    if (del.length) {
      await a.deleteTopics({ topics: del, timeout: 15_000 });
      done.push(...del.map((t) => `topic ${t}`));
    }
    const groups = (await a.listGroups()).groups.map((g) => g.groupId).filter((g) => groupPrefixes.some((p) => g.startsWith(p)));
    if (groups.length) {
      await a.deleteGroups(groups).catch(() => undefined);
      done.push(...groups.map((g) => `group ${g}`));
    }
    return done;
  });
}
