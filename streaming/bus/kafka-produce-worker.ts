// Producer thread of KafkaSink (streaming/bus/kafka.ts). kafkajs encodes records in JavaScript
// (~25 µs of CPU per record), so the sink spreads partitions over worker threads: the main thread
// keeps reading and encoding the stream, each worker owns some partitions with one request in
// flight per partition (per-partition order holds across kafkajs retries).
import { parentPort as maybePort, workerData } from 'node:worker_threads';
// First: replaces kafkajs's quadratic grouping and its per-record encoder before kafkajs loads (see the module).
import './kafkajs-patches.ts';
import { Kafka, Partitioners, logLevel, type Message, type RetryOptions } from 'kafkajs';
import type { PartPayload } from './kafka.ts';

interface ProducerThreadData {
  brokers: string[];
  clientId: string;
  topic: string;
  maxRequest: number;
  retry: RetryOptions;
}
type Command = { type: 'batch'; ts: string; parts: PartPayload[] } | { type: 'close' };
interface Lane {
  queue: Message[];
  inflight: boolean;
}

if (!maybePort) throw new Error('kafka-produce-worker runs only as a worker thread');
const parentPort = maybePort;

const { brokers, clientId, topic, maxRequest, retry } = workerData as ProducerThreadData;
// Errors are reported to the main thread, which owns logging.
const kafka = new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING, connectionTimeout: 3000, retry });
const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: true });
/** partition (or -1 = let kafkajs choose) → { queue, inflight } */
const lanes = new Map<number, Lane>();
let failed = false;
let closing: (() => void) | null = null;

function lane(p: number): Lane {
  let l = lanes.get(p);
  if (!l) lanes.set(p, (l = { queue: [], inflight: false }));
  return l;
}

function kick(p: number): void {
  const l = lane(p);
  if (l.inflight || l.queue.length === 0 || failed) return;
  const messages = l.queue.length <= maxRequest ? l.queue : l.queue.slice(0, maxRequest);
  l.queue = l.queue.length <= maxRequest ? [] : l.queue.slice(maxRequest);
  l.inflight = true;
  producer.send({ topic, messages }).then(
    () => {
      l.inflight = false;
      parentPort.postMessage({ type: 'acked', n: messages.length });
      kick(p);
      maybeClosed();
    },
    (err: unknown) => {
      failed = true;
      l.inflight = false;
      parentPort.postMessage({ type: 'error', message: String((err as Error)?.message ?? err) });
      maybeClosed();
    },
  );
}

function idle(): boolean {
  for (const l of lanes.values()) if (l.inflight || (l.queue.length && !failed)) return false;
  return true;
}

function maybeClosed(): void {
  if (closing && idle()) {
    const done = closing;
    closing = null;
    done();
  }
}

parentPort.on('message', (msg: Command) => {
  if (msg.type === 'batch') {
    // Per partition: all values in one string, all keys in another, with their lengths (see KafkaSink.handOver).
    for (const { partition: p, values, valueLengths, keys, keyLengths } of msg.parts) {
      const l = lane(p);
      let v = 0;
      let k = 0;
      for (let i = 0; i < valueLengths.length; i++) {
        const vl = valueLengths[i]!;
        const kl = keyLengths[i]!;
        const m: Message = { key: kl < 0 ? null : keys.slice(k, k + kl), value: values.slice(v, v + vl), timestamp: msg.ts };
        v += vl;
        if (kl > 0) k += kl;
        if (p >= 0) m.partition = p;
        l.queue.push(m);
      }
      kick(p);
    }
  } else if (msg.type === 'close') {
    new Promise<void>((resolve) => {
      closing = resolve;
      maybeClosed();
    })
      .then(() => producer.disconnect())
      .catch(() => undefined)
      .then(() => parentPort.postMessage({ type: 'closed' }));
  }
});

producer.connect().then(
  () => parentPort.postMessage({ type: 'ready' }),
  (err: unknown) => parentPort.postMessage({ type: 'error', message: `cannot connect producer: ${String((err as Error)?.message ?? err)}` }),
);
