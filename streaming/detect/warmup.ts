/**
 * Warm-up after a restart (Kafka sources): the detector's state is in memory, so a restarted
 * instance would start empty at the committed offsets and miss pairs whose first pass was
 * committed before the restart. Before joining its consumer group, the detector re-reads up to
 * `maxRecords` records before each partition's committed offset (a throwaway consumer group) and
 * pushes them into its state without alerting: those records were committed, so their own pairs
 * were already stored. Every instance warms every partition (its assignment is not known yet);
 * state for partitions it will not own is bounded and evicted as usual.
 */
import { randomBytes } from 'node:crypto';
import { kafkaClient } from '../bus/kafka.ts';
import { decodeRecord } from '../record.ts';
import type { Alert } from './alert.ts';
import type { CloneDetector } from './core.ts';
import { toEpochSeconds } from '../../core/time.ts';

export interface WarmUpResult {
  partitions: number;
  records: number;
  /** Partitions where the records read span less event time than window + lateness. */
  short: number[];
}

export async function warmUp(
  det: CloneDetector,
  brokers: string[],
  topic: string,
  groupId: string,
  opts: { maxRecords: number; timeoutMs?: number },
): Promise<WarmUpResult> {
  const kafka = kafkaClient(brokers, `traffic-${groupId}-warmup`);
  const admin = kafka.admin();
  await admin.connect();
  const ranges = new Map<number, { start: bigint; end: bigint; truncated: boolean }>();
  try {
    const committed = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions ?? [];
    const low = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.low)]));
    for (const { partition, offset } of committed) {
      const end = BigInt(offset);
      const lo = low.get(partition) ?? 0n;
      if (end <= lo) continue; // nothing committed (-1) or nothing left before it
      const start = end - BigInt(opts.maxRecords) > lo ? end - BigInt(opts.maxRecords) : lo;
      ranges.set(partition, { start, end, truncated: start > lo });
    }
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const result: WarmUpResult = { partitions: ranges.size, records: 0, short: [] };
  if (ranges.size === 0) return result;

  const rows = new Map<number, string[][]>([...ranges.keys()].map((p) => [p, []]));
  const pending = new Set(ranges.keys());
  const warmGroup = `${groupId}-warmup-${randomBytes(4).toString('hex')}`;
  const consumer = kafka.consumer({ groupId: warmGroup, allowAutoTopicCreation: false, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let finish!: () => void;
    const done = new Promise<void>((r) => (finish = r));
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const range = ranges.get(batch.partition);
        if (!range || !pending.has(batch.partition)) return;
        const out = rows.get(batch.partition)!;
        for (const m of batch.messages) {
          const off = BigInt(m.offset);
          if (off < range.start) continue;
          if (off >= range.end) break;
          const d = decodeRecord(m.value ? m.value.toString('utf8') : '');
          if (d.ok) out.push(d.row);
        }
        const last = BigInt(batch.lastOffset());
        if (last >= range.end - 1n) {
          pending.delete(batch.partition);
          consumer.pause([{ topic, partitions: [batch.partition] }]);
          if (pending.size === 0) finish();
        }
      },
    });
    for (const [partition, r] of ranges) consumer.seek({ topic, partition, offset: r.start.toString() });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`warm-up: partitions ${[...pending].join(',')} not read within ${opts.timeoutMs ?? 30_000} ms`)),
        opts.timeoutMs ?? 30_000,
      );
    });
    try {
      await Promise.race([done, timeout]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await consumer.disconnect().catch(() => undefined);
    const a = kafka.admin();
    await a
      .connect()
      .then(() => a.deleteGroups([warmGroup]))
      .catch(() => undefined);
    await a.disconnect().catch(() => undefined);
  }

  // Warm-up records were processed before the restart: they count once, in that run's figures.
  const stats = { ...det.stats };
  const sink: Alert[] = [];
  const span = det.params.windowS + det.params.latenessS;
  for (const [partition, list] of rows) {
    for (const row of list) {
      det.push(row, partition, sink);
      sink.length = 0;
    }
    result.records += list.length;
    const first = list[0]?.[4];
    const last = list[list.length - 1]?.[4];
    const range = ranges.get(partition)!;
    if (first && last && range.truncated && toEpochSeconds(last) - toEpochSeconds(first) < span) result.short.push(partition);
  }
  Object.assign(det.stats, stats);
  return result;
}
