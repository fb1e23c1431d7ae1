/**
 * Imported for its effect, by the producer threads, before kafkajs: kafkajs 2.2.4 groups each
 * request's messages by partition with `[...current, message]` per message — quadratic, about a
 * fifth of a producer thread's CPU at 1000 records a request. Every message our threads send
 * already names its partition, so the linear grouping below gives the same groups in the same
 * order. kafkajs's producer captures the function when it is first required, hence the
 * require-cache entry here; only for the version it was checked against (any other keeps its own).
 */
import { createRequire } from 'node:module';

interface Grouping {
  topic: string;
  partitionMetadata: unknown[];
  messages: unknown[];
  partitioner: (a: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number;
}

const require = createRequire(import.meta.url);
if ((require('kafkajs/package.json') as { version: string }).version === '2.2.4') {
  const file = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
  require(file);
  const cached = require.cache[file];
  if (cached) {
    cached.exports = ({ topic, partitionMetadata, messages, partitioner }: Grouping): Record<number, unknown[]> => {
      if (partitionMetadata.length === 0) return {};
      const out: Record<number, unknown[]> = {};
      for (const message of messages) (out[partitioner({ topic, partitionMetadata, message })] ??= []).push(message);
      return out;
    };
  }
}
