/**
 * Rows on disk while a run is over its memory budget (etl/memory.ts): stage 01's sorted runs and
 * the rows stage 04 reads a second time. A spill file is the run's own scratch file in the output
 * dir (never /tmp: on many machines that is memory too), removed when the run ends or fails.
 *
 * Format: records in UTF-8, each followed by U+001E. A record is a packed row (fields joined by
 * U+001F, as stage 01 and the stage threads hold them) or, for the rare row that cannot be held
 * packed, U+001D + the JSON of its fields (JSON escapes every control character, so that form
 * never holds U+001E either).
 *
 * Reads are plain positional reads in blocks below V8's large-object size (see docs/etl.md
 * "Batch and chunk sizes"), decoded and split in one call each: no stream machinery per record.
 */
import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { TrafficError } from '../core/errors.ts';

const RS = '\x1e';
const RS_BYTE = 0x1e;
const JSON_MARK = '\x1d';
const FS = '\x1f';
/** Bytes per read: a decoded block stays a young-generation string (< 128 KiB even as UTF-16). */
const READ_BLOCK = 48 << 10;
/** Bytes buffered before a write. */
const WRITE_BUFFER = 1 << 20;
/** Records per group of the random-access index (recordAt): one offset per group. */
const GROUP = 16;

/** A growable list of int32s: per-row state in 4 bytes a row, not a JS array's 8 plus boxes. */
export class Int32List {
  private a: Int32Array;
  length = 0;

  constructor(capacity = 1024) {
    this.a = new Int32Array(Math.max(16, capacity));
  }

  push(v: number): void {
    if (this.length === this.a.length) this.grow(this.length + 1);
    this.a[this.length++] = v;
  }

  get(i: number): number {
    return this.a[i] as number;
  }

  set(i: number, v: number): void {
    if (i >= this.a.length) this.grow(i + 1);
    this.a[i] = v;
    if (i >= this.length) this.length = i + 1;
  }

  private grow(min: number): void {
    let cap = this.a.length * 2;
    while (cap < min) cap *= 2;
    const b = new Int32Array(cap);
    b.set(this.a);
    this.a = b;
  }
}

/** A row of string fields as one spill record (see the format above). */
export function encodeRecord(row: string | readonly string[]): string {
  if (typeof row === 'string') {
    if (row.indexOf(RS) === -1 && row.charCodeAt(0) !== 0x1d) return row;
    return JSON_MARK + JSON.stringify(row.split(FS));
  }
  for (let i = 0; i < row.length; i++) {
    if ((row[i] as string).indexOf(FS) !== -1 || (row[i] as string).indexOf(RS) !== -1) return JSON_MARK + JSON.stringify(row);
  }
  const packed = row.join(FS);
  return packed.charCodeAt(0) === 0x1d ? JSON_MARK + JSON.stringify(row) : packed;
}

/** encodeRecord undone: a packed row, or the fields of a row that could not be packed. */
export function decodeRecord(rec: string): string | string[] {
  return rec.charCodeAt(0) === 0x1d ? (JSON.parse(rec.slice(1)) as string[]) : rec;
}

let spillCounter = 0;

/** A byte range of a spill file holding `count` records. */
export interface SpillRange {
  start: number;
  end: number;
  count: number;
}

export class SpillFile {
  readonly file: string;
  private fd: number;
  /** Bytes on disk (written). */
  private written = 0;
  private readonly buf = Buffer.allocUnsafe(WRITE_BUFFER);
  private used = 0;
  /** Records appended. */
  count = 0;
  /** Byte offset of every GROUP-th record, when indexed (recordAt). */
  private readonly groups: number[] | undefined;
  private cachedGroup = -1;
  private cached: string[] = [];
  private closed = false;

  private constructor(dir: string, tag: string, indexed: boolean) {
    this.file = path.join(dir, `.spill-${tag}-${process.pid}-${++spillCounter}.tmp`);
    try {
      this.fd = openSync(this.file, 'w+');
    } catch (err) {
      throw new TrafficError('OUTPUT_WRITE_FAILED', `cannot create the spill file ${this.file}: ${(err as Error).message}`, { file: this.file });
    }
    this.groups = indexed ? [] : undefined;
  }

  /** A new spill file in `dir`; `indexed` keeps what recordAt needs (0.5 byte a record). */
  static create(dir: string, tag: string, indexed = false): SpillFile {
    return new SpillFile(dir, tag, indexed);
  }

  /** Bytes appended so far (on disk or buffered): the end of the last record. */
  get size(): number {
    return this.written + this.used;
  }

  append(record: string): void {
    if (this.groups && this.count % GROUP === 0) this.groups.push(this.size);
    this.count++;
    this.cachedGroup = -1; // the cached group may be the one growing
    // A UTF-16 unit is at most 3 bytes of UTF-8; + 1 for the separator.
    const max = record.length * 3 + 1;
    if (this.used + max > this.buf.length) {
      this.flush();
      if (max > this.buf.length) {
        this.writeBytes(Buffer.from(record + RS, 'utf8'));
        return;
      }
    }
    this.used += this.buf.write(record, this.used, 'utf8');
    this.buf[this.used++] = RS_BYTE;
  }

  /** Writes what is buffered (before reading, and at the end of a range). */
  flush(): void {
    if (this.used === 0) return;
    this.writeBytes(this.buf.subarray(0, this.used));
    this.used = 0;
  }

  private writeBytes(b: Buffer): void {
    let off = 0;
    try {
      while (off < b.length) off += writeSync(this.fd, b, off, b.length - off, this.written + off);
    } catch (err) {
      throw new TrafficError('OUTPUT_WRITE_FAILED', `cannot write the spill file ${this.file}: ${(err as Error).message}`, { file: this.file });
    }
    this.written += b.length;
  }

  /**
   * The record at `ordinal` (the count of records appended before it), read back from disk
   * (indexed files only). The last group read is cached: lookups come in runs (a copied file
   * repeats rows that were spilled next to each other).
   */
  recordAt(ordinal: number): string {
    if (!this.groups) throw new TrafficError('INTERNAL', 'recordAt on a spill file without an index');
    const g = Math.floor(ordinal / GROUP);
    if (g !== this.cachedGroup) {
      this.flush();
      const start = this.groups[g] as number;
      const end = g + 1 < this.groups.length ? (this.groups[g + 1] as number) : this.size;
      const b = Buffer.allocUnsafe(end - start);
      this.readBytes(b, start);
      this.cached = b.toString('utf8', 0, b.length - 1).split(RS);
      this.cachedGroup = g;
    }
    return this.cached[ordinal % GROUP] as string;
  }

  private readBytes(b: Buffer, at: number): number {
    let off = 0;
    while (off < b.length) {
      const n = readSync(this.fd, b, off, b.length - off, at + off);
      if (n === 0) break;
      off += n;
    }
    return off;
  }

  /** A cursor over the records of a byte range (flushes first). */
  cursor(range: SpillRange): SpillCursor {
    this.flush();
    return new SpillCursor(this, range);
  }

  /** @internal positional read for cursors */
  read(b: Buffer, length: number, at: number): number {
    return this.readBytes(length === b.length ? b : b.subarray(0, length), at);
  }

  /** Closes and removes the file (idempotent). */
  remove(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      closeSync(this.fd);
    } finally {
      rmSync(this.file, { force: true });
    }
  }
}

/** Sequential reader of a spill range: `head` is the current record (undefined at the end). */
export class SpillCursor {
  head: string | undefined;
  private parts: string[] = [];
  private i = 0;
  private pos: number;
  /**
   * Read buffer: the unfinished record of the last block (`carry` bytes) at its start, the next
   * block read after it. Reused, so a block costs no new buffer (a concatenation per block made
   * ~27k short-lived 48 KB buffers on a year's second pass); it only grows for a record longer
   * than a block.
   */
  private block = Buffer.allocUnsafe(READ_BLOCK + (READ_BLOCK >> 2));
  private carry = 0;

  constructor(
    private readonly file: SpillFile,
    private readonly range: SpillRange,
  ) {
    this.pos = range.start;
    this.advance();
  }

  /** Moves to the next record. */
  advance(): void {
    if (this.i < this.parts.length) {
      this.head = this.parts[this.i++];
      return;
    }
    this.head = this.fill() ? this.parts[this.i++] : undefined;
  }

  /** The records of the next block(s); false at the end of the range. */
  private fill(): boolean {
    while (this.pos < this.range.end) {
      const want = Math.min(READ_BLOCK, this.range.end - this.pos);
      if (this.block.length - this.carry < want) {
        const grown = Buffer.allocUnsafe(this.carry + READ_BLOCK);
        this.block.copy(grown, 0, 0, this.carry);
        this.block = grown;
      }
      const n = this.file.read(this.block.subarray(this.carry, this.carry + want), want, this.pos);
      if (n <= 0) throw new TrafficError('INTERNAL', `spill file ${this.file.file} ended early at byte ${this.pos}`);
      this.pos += n;
      const end = this.carry + n;
      const cut = this.block.lastIndexOf(RS_BYTE, end - 1);
      if (cut === -1) {
        this.carry = end;
        continue;
      }
      this.parts = this.block.toString('utf8', 0, cut).split(RS);
      this.i = 0;
      this.carry = end - cut - 1;
      if (this.carry > 0) this.block.copyWithin(0, cut + 1, end);
      return true;
    }
    if (this.carry > 0) throw new TrafficError('INTERNAL', `spill file ${this.file.file}: record without its end`);
    return false;
  }

  /** The rest of the current block from head on (head included), then moves past them. */
  takeBlock(): string[] {
    if (this.head === undefined) return [];
    const out = this.parts.slice(this.i - 1);
    this.i = this.parts.length;
    this.head = this.fill() ? this.parts[this.i++] : undefined;
    return out;
  }
}
