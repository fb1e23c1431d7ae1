import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  crc32c,
  decodeRecordV0,
  encodeRecordV0,
  type RecordBatchContext,
  type RecordDecoderInput,
  type RecordFields,
} from '../../streaming/bus/kafkajs-patches.ts';
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
type RecordDecoder = (d: RecordDecoderInput, c?: RecordBatchContext) => unknown;
const kafkajsRecordDecoder = kafkajsOriginal<RecordDecoder>('protocol/recordBatch/record/v0/decoder.js');
/** What kafkajs's consumer now calls (the replacement, with kafkajs's own decoder behind it). */
const installedRecordDecoder = require(require.resolve('kafkajs/src/protocol/recordBatch/record/v0/decoder.js')) as RecordDecoder;
const KafkajsDecoder = require(require.resolve('kafkajs/src/protocol/decoder.js')) as new (b: Buffer) => RecordDecoderInput & { readVarIntBytes(): Buffer };

/** A record's bytes as the batch decoder hands them over (kafkajs's encoding, length prefix read off). */
function recordBody(r: RecordFields): Buffer {
  return new KafkajsDecoder(kafkajsRecord(r).buffer).readVarIntBytes();
}

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

describe('kafkajs record decoder replacement', () => {
  const context = (over: Partial<RecordBatchContext> = {}): RecordBatchContext => ({
    firstOffset: '1234567',
    firstTimestamp: '1733550000000',
    magicByte: 2,
    isControlBatch: false,
    timestampType: 0,
    maxTimestamp: '1733550009999',
    ...over,
  });
  /** Both decoders on fresh decoders over the same bytes: their records, and where each stopped. */
  const both = (body: Buffer, ctx: RecordBatchContext, ours: RecordDecoder = installedRecordDecoder) => {
    const d1 = new KafkajsDecoder(body);
    const d2 = new KafkajsDecoder(body);
    return { ours: comparable(ours(d1, ctx)), theirs: comparable(kafkajsRecordDecoder(d2, ctx)), oursAt: d1.offset, theirsAt: d2.offset };
  };
  /** A message with its key and value as hex (a deep compare of long Buffers is slow). */
  const comparable = (m: unknown): unknown => {
    if (!m) return m;
    const r = m as { key: Buffer | null; value: Buffer | null };
    return { ...r, key: r.key && `hex:${r.key.toString('hex')}`, value: r.value && `hex:${r.value.toString('hex')}` };
  };

  it('gives the same messages as kafkajs for stream records of the master, with the same key and value bytes', () => {
    const rows = makeRows(2000, { seed: 5 });
    const ctx = context();
    rows.forEach((row, i) => {
      const body = recordBody({ key: row[6]!, value: encodeRecord(row), offsetDelta: i, timestampDelta: i % 3 });
      const r = both(body, ctx, decodeRecordV0 as RecordDecoder);
      expect(r.ours).toEqual(r.theirs);
      expect(r.oursAt).toBe(body.length);
    });
  });

  it('gives the same messages at every varint width, for null, empty and multi-byte keys and values, and log-append time', () => {
    const deltas = [0, 1, -1, 63, 64, -65, 8191, 8192, 1 << 20, -(1 << 20), 2 ** 31 - 1, -(2 ** 31), 2 ** 40, -(2 ** 47)];
    const values: unknown[] = [null, '', '苏CD7***', '𠀀𩸽', 'x'.repeat(127), 'x'.repeat(70_000), bytes(300, 3)];
    for (const ctx of [context(), context({ timestampType: 1 }), context({ firstOffset: '0', firstTimestamp: '-1' })]) {
      for (const td of deltas) {
        for (const od of [0, 999, 2 ** 31 - 1]) {
          for (const key of [null, '苏C12345']) {
            for (const value of values) {
              const r = both(recordBody({ key, value, offsetDelta: od, timestampDelta: td }), ctx, decodeRecordV0 as RecordDecoder);
              expect(r.ours, `td ${td} od ${od}`).toEqual(r.theirs);
              expect(r.oursAt).toBe(r.theirsAt);
            }
          }
        }
      }
    }
  });

  it('leaves to kafkajs what it does not cover, and the installed decoder still gives kafkajs messages for those', () => {
    const headers = recordBody({ key: 'k', value: 'v', headers: { reason: 'bad', source: 'x' } });
    const wideDelta = recordBody({ key: 'k', value: 'v', timestampDelta: 2 ** 50 });
    const plain = recordBody({ key: 'k', value: 'v', offsetDelta: 7 });
    const beyondExact = context({ firstOffset: '9007199254740993' }); // 2^53 + 1: not exact as a number
    for (const [body, ctx] of [
      [headers, context()],
      [wideDelta, context()],
      [plain, beyondExact],
      [plain.subarray(0, plain.length - 2), context()], // truncated
    ] as const) {
      const d = new KafkajsDecoder(body);
      expect(decodeRecordV0(d, ctx)).toBeUndefined();
      expect(d.offset).toBe(0);
      if (body.length === plain.length - 2) continue; // kafkajs itself reads past a truncated record's end
      const r = both(body, ctx);
      expect(r.ours).toEqual(r.theirs);
    }
    expect((installedRecordDecoder(new KafkajsDecoder(headers), context()) as { headers: unknown }).headers).toEqual({
      reason: Buffer.from('bad'),
      source: Buffer.from('x'),
    });
    expect((both(plain, beyondExact).ours as { offset: string }).offset).toBe('9007199254741000');
  });
});
