import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { crc32c, encodeRecordV0, type RecordFields } from '../../streaming/bus/kafkajs-patches.ts';
import { encodeRecord } from '../../streaming/record.ts';
import { makeRows } from '../store/fixture.ts';

const require = createRequire(import.meta.url);

/** kafkajs's own module, evaluated afresh (the patch may already sit in the require cache). */
function kafkajsOriginal<T>(module: string): T {
  const file = require.resolve(`kafkajs/src/${module}`);
  const cached = require.cache[file];
  delete require.cache[file];
  try {
    return require(file) as T;
  } finally {
    if (cached) require.cache[file] = cached;
  }
}

const kafkajsRecord = kafkajsOriginal<(r: RecordFields) => { buffer: Buffer }>('protocol/recordBatch/record/v0/index.js');
const kafkajsCrc = kafkajsOriginal<(b: Buffer) => number>('protocol/recordBatch/crc32C/index.js');

/** A deterministic byte source (no Math.random: a failure must reproduce). */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

describe('kafkajs record encoder replacement', () => {
  it('writes the same bytes as kafkajs for stream records of the master (keys = plates)', () => {
    const rows = makeRows(2000, { seed: 11 });
    rows.forEach((row, i) => {
      const r = { key: row[6]!, value: encodeRecord(row), timestamp: '1733550000000', partition: 1, offsetDelta: i % 1000, timestampDelta: 0 };
      expect(encodeRecordV0(r)!.buffer.equals(kafkajsRecord(r).buffer)).toBe(true);
    });
  });

  it('writes the same bytes at every varint width, for null, empty, Buffer and multi-byte keys and values', () => {
    const deltas = [0, 1, -1, 63, 64, -64, -65, 8191, 8192, -8193, 1 << 20, -(1 << 20), 2 ** 30, -(2 ** 30), 2 ** 31 - 1, -(2 ** 31)];
    const lengths = [0, 1, 62, 63, 64, 127, 128, 8191, 8192, 70_000];
    const values: unknown[] = [null, undefined, '', '苏CD7***', '𠀀𩸽', ...lengths.map((n) => 'x'.repeat(n)), ...lengths.map((n) => bytes(n, n + 1))];
    for (const td of deltas) {
      for (const od of [0, 999, 2 ** 31 - 1]) {
        for (const key of [null, '苏C12345', bytes(3, 9)]) {
          for (const value of values) {
            const r: RecordFields = { key, value, offsetDelta: od, timestampDelta: td };
            const ours = encodeRecordV0(r);
            expect(ours, `td ${td} od ${od}`).toBeDefined();
            expect(ours!.buffer.equals(kafkajsRecord(r).buffer), `td ${td} od ${od} key ${String(key)} value ${String(value).slice(0, 20)}`).toBe(true);
          }
        }
      }
    }
  });

  it('leaves to kafkajs what it does not cover: headers, 64-bit deltas, values that are not strings or Buffers', () => {
    expect(encodeRecordV0({ key: 'k', value: 'v', headers: { h: 'x' } })).toBeUndefined();
    expect(encodeRecordV0({ key: 'k', value: 'v', timestampDelta: 2 ** 40 })).toBeUndefined();
    expect(encodeRecordV0({ key: 'k', value: 'v', timestampDelta: 1.5 })).toBeUndefined();
    expect(encodeRecordV0({ key: 'k', value: 42 })).toBeUndefined();
    // An empty header object is what kafkajs defaults to: covered.
    const r = { key: 'k', value: 'v', headers: {} };
    expect(encodeRecordV0(r)!.buffer.equals(kafkajsRecord(r).buffer)).toBe(true);
  });
});

describe('kafkajs CRC-32C replacement', () => {
  it('gives kafkajs checksum for every length around the 8-byte step and for a whole batch', () => {
    for (let n = 0; n <= 64; n++) expect([n, crc32c(bytes(n, n + 7))]).toEqual([n, kafkajsCrc(bytes(n, n + 7))]);
    const batch = bytes(131_072 + 5, 3);
    expect(crc32c(batch)).toBe(kafkajsCrc(batch));
    // The standard check value of CRC-32C ("123456789" → 0xE3069283).
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });
});
