/**
 * Imported for its effect, before kafkajs, by the producer threads and the consumer's module.
 * kafkajs 2.2.4 spends most of a producer thread's CPU, and much of a consumer's, in internal
 * functions that its public API cannot route around; each is replaced here by one that gives the
 * same result (the same groups, the same bytes, the same messages) for less:
 *
 * - `groupMessagesPerPartition` groups a request's messages with `[...current, message]` per
 *   message: quadratic, about a fifth of a thread's CPU at 1000 records a request. Every message
 *   our threads send names its partition, so a linear grouping gives the same groups in order.
 * - `Record` (record batch v2, "Record v0") encodes each record with a fresh `Encoder` (a
 *   zero-filled 512-byte buffer, grown by doubling) and a `Buffer.from([...])` per varint: the
 *   record is written here into one exact-size buffer from Node's pool.
 * - `crc32C` checksums each batch one byte per step; slicing-by-8 (eight tables, eight bytes per
 *   step) gives the same checksum.
 * - The fetch side's record decoder reads each record's timestamp delta as a 64-bit `Long` (a
 *   dozen Long objects per varint byte) and parses the batch's first offset and timestamp from
 *   their strings again for every record: a fifth of the sink's allocation, all of it garbage
 *   for the collector. The record is read here with plain numbers where they are exact.
 *
 * kafkajs captures these modules when it first requires them, hence the require-cache entries
 * here; only for the version they were read against (any other keeps its own, and is merely
 * slower). The encoders are exported for the tests that compare them with kafkajs's own.
 */
import { createRequire } from 'node:module';

interface Grouping {
  topic: string;
  partitionMetadata: unknown[];
  messages: unknown[];
  partitioner: (a: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number;
}

/** What kafkajs's produce request passes to `Record` (a message spread plus its deltas). */
export interface RecordFields {
  offsetDelta?: number;
  timestampDelta?: number;
  key?: unknown;
  value?: unknown;
  headers?: unknown;
}

/** What kafkajs's RecordBatch reads of an encoded record: `buf` (checked to be a Buffer) and `buffer`. */
export class EncodedRecord {
  constructor(readonly buf: Buffer) {}

  get buffer(): Buffer {
    return this.buf;
  }
}

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

const isInt32 = (v: number): boolean => Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX;

/** Zig-zag of an int32, as an unsigned 32-bit number (also the 64-bit zig-zag of that value). */
const zigzag = (v: number): number => ((v << 1) ^ (v >> 31)) >>> 0;

function uvarintSize(u: number): number {
  let n = 1;
  while (u > 0x7f) {
    n++;
    u >>>= 7;
  }
  return n;
}

function writeUvarint(buf: Buffer, at: number, u: number): number {
  while (u > 0x7f) {
    buf[at++] = (u & 0x7f) | 0x80;
    u >>>= 7;
  }
  buf[at++] = u;
  return at;
}

/** Byte length of a key or value, -1 for null; undefined for what kafkajs would stringify. */
function bytesOf(v: unknown): number | undefined {
  if (v === null || v === undefined) return -1;
  if (typeof v === 'string') return Buffer.byteLength(v, 'utf8');
  if (Buffer.isBuffer(v)) return v.length;
  return undefined;
}

function writeBytes(buf: Buffer, at: number, v: unknown, len: number): number {
  at = writeUvarint(buf, at, zigzag(len));
  if (len <= 0) return at;
  if (typeof v === 'string') buf.write(v, at, len, 'utf8');
  else (v as Buffer).copy(buf, at);
  return at + len;
}

const hasHeaders = (h: unknown): boolean => h !== undefined && h !== null && (typeof h !== 'object' || Object.keys(h).length > 0);

/**
 * kafkajs 2.2.4's Record v0 bytes (length, attributes 0, timestamp delta, offset delta, key,
 * value, no headers) in one buffer, or undefined for a record this does not cover (headers,
 * deltas outside int32, keys or values that are neither strings, Buffers nor null): kafkajs's
 * own encoder takes those.
 */
export function encodeRecordV0(r: RecordFields): EncodedRecord | undefined {
  const td = r.timestampDelta ?? 0;
  const od = r.offsetDelta ?? 0;
  if (!isInt32(td) || !isInt32(od) || hasHeaders(r.headers)) return undefined;
  const kl = bytesOf(r.key);
  const vl = bytesOf(r.value);
  if (kl === undefined || vl === undefined) return undefined;
  const ztd = zigzag(td);
  const zod = zigzag(od);
  const zkl = zigzag(kl);
  const zvl = zigzag(vl);
  // attributes (1) + deltas + key + value + header count (varint 0: 1 byte)
  const body = 1 + uvarintSize(ztd) + uvarintSize(zod) + uvarintSize(zkl) + Math.max(kl, 0) + uvarintSize(zvl) + Math.max(vl, 0) + 1;
  const zbody = zigzag(body);
  // allocUnsafe: every byte is written below; small sizes come from Node's pool (no page faults).
  const buf = Buffer.allocUnsafe(uvarintSize(zbody) + body);
  let at = writeUvarint(buf, 0, zbody);
  buf[at++] = 0;
  at = writeUvarint(buf, at, ztd);
  at = writeUvarint(buf, at, zod);
  at = writeBytes(buf, at, r.key, kl);
  at = writeBytes(buf, at, r.value, vl);
  buf[at] = 0;
  return new EncodedRecord(buf);
}

/** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) tables for slicing-by-8. */
const CRC_TABLES: Int32Array[] = (() => {
  const t: Int32Array[] = Array.from({ length: 8 }, () => new Int32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[0]![n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[0]![n]!;
    for (let s = 1; s < 8; s++) {
      c = t[0]![c & 0xff]! ^ (c >>> 8);
      t[s]![n] = c;
    }
  }
  return t;
})();

/** CRC-32C of the bytes, unsigned: what kafkajs's `recordBatch/crc32C` returns. */
export function crc32c(b: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
  let crc = -1;
  let i = 0;
  const end8 = b.length - (b.length % 8);
  for (; i < end8; i += 8) {
    const lo = crc ^ (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24));
    crc =
      t7[lo & 0xff]! ^ t6[(lo >>> 8) & 0xff]! ^ t5[(lo >>> 16) & 0xff]! ^ t4[lo >>> 24]! ^ t3[b[i + 4]!]! ^ t2[b[i + 5]!]! ^ t1[b[i + 6]!]! ^ t0[b[i + 7]!]!;
  }
  for (; i < b.length; i++) crc = t0[(crc ^ b[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** What kafkajs's record batch decoder hands the record decoder: its Decoder over one record. */
export interface RecordDecoderInput {
  buffer: Buffer;
  offset: number;
}

/** The batch fields the record decoder reads (kafkajs recordBatch/v0/decoder.js's recordContext). */
export interface RecordBatchContext {
  firstOffset?: string;
  firstTimestamp?: string;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
  maxTimestamp?: string;
}

/** A decoded record, field for field what kafkajs 2.2.4's record decoder returns. */
export interface DecodedRecord {
  magicByte: number | undefined;
  attributes: number;
  timestamp: string | undefined;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, unknown>;
  isControlRecord: boolean;
  batchContext: RecordBatchContext;
}

/** kafkajs's TimestampTypes.LOG_APPEND_TIME. */
const LOG_APPEND_TIME = 1;

/** Parsed batch strings, kept for the next record of the same batch (one batch is decoded at a time). */
let lastContext: RecordBatchContext | null = null;
let lastFirstOffset = Number.NaN;
let lastFirstTimestamp = Number.NaN;
/** The last timestamp delta and its string: a batch's records mostly share their timestamp. */
let lastDelta = Number.NaN;
let lastTimestamp = '';

/** Where the varint readers below stopped (a module variable: no result object per varint). */
let pos = 0;

/**
 * A zig-zag varint at `at` as kafkajs's `readVarInt` reads it, leaving `pos` after it; NaN to
 * leave the record to kafkajs (over 5 bytes, where kafkajs's shifts wrap). Both work modulo 2^32
 * from the fifth byte on (`<< 28` drops the higher bits), so the 32-bit results agree.
 */
function readVarInt(buf: Buffer, at: number): number {
  let u = 0;
  for (let shift = 0; shift <= 28; shift += 7) {
    if (at >= buf.length) return Number.NaN;
    const b = buf[at++]!;
    u |= (b & 0x7f) << shift;
    if (b < 0x80) {
      pos = at;
      return (u >>> 1) ^ -(u & 1);
    }
  }
  return Number.NaN;
}

/** A zig-zag varlong of at most 7 bytes (below 2^49: exact as a number), as kafkajs's `readVarLong` reads it. */
function readVarLong(buf: Buffer, at: number): number {
  let u = 0;
  let scale = 1;
  for (let n = 0; n < 7; n++) {
    if (at >= buf.length) return Number.NaN;
    const b = buf[at++]!;
    u += (b & 0x7f) * scale;
    if (b < 0x80) {
      pos = at;
      return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
    }
    scale *= 128;
  }
  return Number.NaN;
}

/** `Long.fromValue(base).add(delta).toString()` when both are exact as numbers, else undefined. */
function addExact(base: number, delta: number): string | undefined {
  const sum = base + delta;
  return Number.isSafeInteger(base) && Number.isSafeInteger(sum) ? String(sum) : undefined;
}

/** A key or value (`readVarIntBytes`) at `at`: null for length -1; undefined to leave the record to kafkajs. */
function readBytes(buf: Buffer, at: number): Buffer | null | undefined {
  const len = readVarInt(buf, at);
  if (len === -1) return null;
  // NaN fails both tests.
  if (!(len >= 0) || !(pos + len <= buf.length)) return undefined;
  const start = pos;
  pos += len;
  return buf.subarray(start, pos);
}

/**
 * kafkajs 2.2.4's record v0 decoding (`protocol/recordBatch/record/v0/decoder.js`) for a record
 * without headers whose varints and offsets are exact as numbers: the same fields, the same
 * strings, the same key and value slices; the decoder is left after the record. Undefined, with
 * the decoder untouched, for anything else (headers, a 64-bit delta, an offset beyond 2^53, a
 * truncated record): kafkajs's own decoder takes those.
 */
export function decodeRecordV0(decoder: RecordDecoderInput, batchContext: RecordBatchContext = {}): DecodedRecord | undefined {
  const { firstOffset, firstTimestamp, magicByte, isControlBatch = false, timestampType, maxTimestamp } = batchContext;
  if (typeof firstOffset !== 'string' || typeof firstTimestamp !== 'string') return undefined;
  if (batchContext !== lastContext) {
    lastContext = batchContext;
    lastFirstOffset = Number(firstOffset);
    lastFirstTimestamp = Number(firstTimestamp);
    lastDelta = Number.NaN;
  }
  const buf = decoder.buffer;
  const at = decoder.offset;
  if (at >= buf.length) return undefined;
  const attributes = buf.readInt8(at);
  const td = readVarLong(buf, at + 1);
  if (Number.isNaN(td)) return undefined;
  let timestamp: string | undefined;
  if (timestampType === LOG_APPEND_TIME && maxTimestamp) timestamp = maxTimestamp;
  else if (td === lastDelta) timestamp = lastTimestamp;
  else {
    timestamp = addExact(lastFirstTimestamp, td);
    if (timestamp === undefined) return undefined;
    lastDelta = td;
    lastTimestamp = timestamp;
  }
  const od = readVarInt(buf, pos);
  if (Number.isNaN(od)) return undefined;
  const offset = addExact(lastFirstOffset, od);
  if (offset === undefined) return undefined;
  const key = readBytes(buf, pos);
  if (key === undefined) return undefined;
  const value = readBytes(buf, pos);
  if (value === undefined) return undefined;
  const headerCount = readVarInt(buf, pos);
  // -1 (none) and 0 give kafkajs's empty headers object; headers themselves are left to kafkajs.
  if (headerCount !== 0 && headerCount !== -1) return undefined;
  decoder.offset = pos;
  return { magicByte, attributes, timestamp, offset, key, value, headers: {}, isControlRecord: isControlBatch, batchContext };
}

const require = createRequire(import.meta.url);

/** Replaces a kafkajs module's exports before kafkajs requires it. */
function replace(module: string, make: (original: unknown) => unknown): void {
  const file = require.resolve(`kafkajs/src/${module}`);
  const original: unknown = require(file);
  const cached = require.cache[file];
  if (cached) cached.exports = make(original);
}

if ((require('kafkajs/package.json') as { version: string }).version === '2.2.4') {
  replace('producer/groupMessagesPerPartition.js', () => ({ topic, partitionMetadata, messages, partitioner }: Grouping): Record<number, unknown[]> => {
    if (partitionMetadata.length === 0) return {};
    const out: Record<number, unknown[]> = {};
    for (const message of messages) (out[partitioner({ topic, partitionMetadata, message })] ??= []).push(message);
    return out;
  });
  replace('protocol/recordBatch/record/v0/index.js', (original) => {
    const kafkajsRecord = original as (r: RecordFields) => unknown;
    return (r: RecordFields): unknown => encodeRecordV0(r) ?? kafkajsRecord(r);
  });
  replace('protocol/recordBatch/crc32C/index.js', () => crc32c);
  replace('protocol/recordBatch/record/v0/decoder.js', (original) => {
    const kafkajsDecoder = original as (d: RecordDecoderInput, c?: RecordBatchContext) => unknown;
    return (d: RecordDecoderInput, c?: RecordBatchContext): unknown => decodeRecordV0(d, c) ?? kafkajsDecoder(d, c);
  });
}
