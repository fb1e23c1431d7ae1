import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { keyPartition } from '../../streaming/bus/kafka-partition.ts';
import { makeRows } from '../store/fixture.ts';

describe('Kafka default partition of a key', () => {
  it('equals kafkajs DefaultPartitioner (Java-compatible murmur2) on plates, odd lengths, non-BMP and empty keys', () => {
    const kafkajs = Partitioners.DefaultPartitioner();
    const keys = [
      ...makeRows(3000, { seed: 4 }).map((r) => r[6]!),
      '',
      'a',
      'ab',
      'abc',
      'abcd',
      'abcde',
      '苏',
      '苏C',
      '苏CD7***',
      '𠀀𩸽',
      'x'.repeat(300),
      '粤B·12345',
      '-',
    ];
    for (const n of [1, 2, 3, 4, 7, 12]) {
      const partitionMetadata = Array.from({ length: n }, (_, i) => ({ partitionErrorCode: 0, partitionId: i, leader: 0, replicas: [0], isr: [0] }));
      for (const key of keys) {
        expect([key, n, keyPartition(key, n)]).toEqual([key, n, kafkajs({ topic: 't', partitionMetadata, message: { key, value: null } })]);
      }
    }
  });
});
