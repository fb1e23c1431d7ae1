/**
 * The stream bus: where simulator records go and consumers (sink, detector) read them.
 * Addresses: `kafka://host:port[,host:port]/topic` | `mqtt://host:port/topic/path` | `file:PATH` |
 * `stdout` (sink only) | `memory:NAME`.
 * Records are the stream record of streaming/record.ts (12 master fields, tab-separated).
 * See docs/streaming.md.
 */
import { TrafficError } from '../../core/errors.ts';
import { FileSink, StdoutSink } from './file-sink.ts';
import { FileSource } from './file-source.ts';
import { KafkaSink, KafkaSource } from './kafka.ts';
import { MemorySink, MemorySource, memoryTopic } from './memory.ts';
import { MqttSink, MqttSource } from './mqtt.ts';
import type { Sink, SinkOptions, Source, SourceOptions } from './types.ts';
import { parseBusUri } from './uri.ts';
import { trackConsumer } from '../../core/metrics.ts';

export type { BusUri, Sink, SinkOptions, Source, SourceOptions, SourceStats, StreamItem } from './types.ts';
export { parseBusUri } from './uri.ts';
export { ensureTopic } from './kafka.ts';
export { mqttClientId, MQTT_SESSION_EXPIRY_S } from './mqtt.ts';
export { memoryPublish, memoryRecords, memoryDelete } from './memory.ts';

/** Opens a consumer on a bus address; its counts appear in the metrics under its group id. */
export async function openSource(uri: string, opts: SourceOptions): Promise<Source> {
  const source = await openBusSource(uri, opts);
  trackConsumer(opts.groupId, () => source.stats);
  return source;
}

async function openBusSource(uri: string, opts: SourceOptions): Promise<Source> {
  const u = parseBusUri(uri);
  switch (u.kind) {
    case 'kafka':
      return new KafkaSource(u.brokers, u.topic, opts);
    case 'file':
      return new FileSource(u.path, opts);
    case 'memory':
      return new MemorySource(memoryTopic(u.name), opts);
    case 'mqtt':
      return new MqttSource(u.url, u.topic, opts);
    case 'stdout':
      throw new TrafficError('INVALID_OPTION', 'stdout is a sink, not a source');
  }
}

export async function openSink(uri: string, opts: SinkOptions = {}): Promise<Sink> {
  const u = parseBusUri(uri);
  switch (u.kind) {
    case 'kafka':
      return KafkaSink.open(u.brokers, u.topic, opts);
    case 'file':
      return FileSink.open(u.path, opts);
    case 'stdout':
      return new StdoutSink();
    case 'memory':
      return new MemorySink(memoryTopic(u.name));
    case 'mqtt':
      return MqttSink.open(u.url, u.topic, opts);
  }
}

/** Brokers of a kafka:// address (for ensureTopic before subscribing). */
export function kafkaBrokers(uri: string): { brokers: string[]; topic: string } | undefined {
  const u = parseBusUri(uri);
  return u.kind === 'kafka' ? { brokers: u.brokers, topic: u.topic } : undefined;
}
