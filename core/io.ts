/**
 * File IO for the project's own UTF-8 CSVs (stage outputs, master): streaming readers with line
 * numbers and a buffered writer that respects backpressure. Raw input files (GBK/UTF-8 CSV, XLSX)
 * have their own readers in etl/read/.
 */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { CsvParser, csvLine, type CsvRecord } from './csv.ts';
import { TrafficError } from './errors.ts';

/**
 * Streams the records of a UTF-8 CSV (BOM allowed) with their line numbers. `onChunk` sees every
 * raw chunk in order (e.g. to hash the file in the same read).
 */
export async function* readCsvRecords(file: string, highWaterMark = 1 << 20, onChunk?: (chunk: Buffer) => void): AsyncGenerator<CsvRecord> {
  for await (const batch of readCsvBatches(file, highWaterMark, onChunk)) yield* batch;
}

/**
 * The records of readCsvRecords, as the arrays each chunk of the file gives (thousands at a
 * time): one async step per chunk instead of one per record, for readers that do little per
 * record (the simulator at full speed).
 */
export async function* readCsvBatches(file: string, highWaterMark = 1 << 20, onChunk?: (chunk: Buffer) => void): AsyncGenerator<CsvRecord[]> {
  let queue: CsvRecord[] = [];
  const parser = new CsvParser((r) => queue.push(r));
  const decoder = new TextDecoder('utf-8', { ignoreBOM: false });
  let stream;
  try {
    stream = createReadStream(file, { highWaterMark });
    for await (const chunk of stream) {
      onChunk?.(chunk as Buffer);
      parser.push(decoder.decode(chunk as Buffer, { stream: true }));
      if (queue.length) {
        const batch = queue;
        queue = [];
        yield batch;
      }
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new TrafficError('INPUT_NOT_FOUND', `no such file: ${file}`, { file });
    }
    throw err;
  }
  parser.push(decoder.decode());
  parser.end();
  if (queue.length) yield queue;
}

/**
 * Reads a UTF-8 CSV (BOM allowed) written by this toolkit and calls `onRecord` for every record
 * after the header, synchronously from the parser: no async step per record, which costs about
 * as much as the parsing itself on a million-row master (docs/model.md "Benchmark"). The header
 * is checked like openCsvTable's. `onChunk` sees every raw chunk in order (e.g. to hash the file).
 */
export async function forEachCsvRecord(
  file: string,
  expected: readonly string[] | undefined,
  onRecord: (rec: CsvRecord) => void,
  onChunk?: (chunk: Buffer) => void,
): Promise<{ header: string[] }> {
  let header: string[] | null = null;
  const parser = new CsvParser((r) => {
    if (header !== null) return onRecord(r);
    header = checkHeader(file, r.fields, expected);
  });
  const decoder = new TextDecoder('utf-8', { ignoreBOM: false });
  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  try {
    for await (const chunk of stream) {
      onChunk?.(chunk as Buffer);
      parser.push(decoder.decode(chunk as Buffer, { stream: true }));
    }
  } catch (err) {
    stream.destroy();
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new TrafficError('INPUT_NOT_FOUND', `no such file: ${file}`, { file });
    throw err;
  }
  parser.push(decoder.decode());
  parser.end();
  if (header === null) throw new TrafficError('INPUT_EMPTY', `file is empty (no header): ${file}`, { file });
  return { header };
}

export interface CsvTable {
  header: string[];
  rows: AsyncGenerator<CsvRecord>;
}

/** openCsvTable's header check, with the records after the header in batches (readCsvBatches). */
export async function openCsvBatches(file: string, expected?: readonly string[]): Promise<{ header: string[]; batches: AsyncGenerator<CsvRecord[]> }> {
  const batches = readCsvBatches(file);
  // readCsvBatches yields no empty batch: the first one starts with the header.
  const first = await batches.next();
  if (first.done) throw new TrafficError('INPUT_EMPTY', `file is empty (no header): ${file}`, { file });
  const header = checkHeader(file, first.value[0]!.fields, expected);
  const rest = first.value.slice(1);
  async function* all(): AsyncGenerator<CsvRecord[]> {
    if (rest.length) yield rest;
    yield* batches;
  }
  return { header, batches: all() };
}

function checkHeader(file: string, header: string[], expected: readonly string[] | undefined): string[] {
  if (expected && (header.length !== expected.length || header.some((h, i) => h !== expected[i]))) {
    throw new TrafficError('HEADER_UNRECOGNISED', `unexpected header: got [${header.join(',')}], expected [${expected.join(',')}]`, { file, line: 1 });
  }
  return header;
}

/**
 * Opens a UTF-8 CSV written by this toolkit and checks its header against the expected columns,
 * so that a stage fed the wrong file says so instead of producing nonsense.
 */
export async function openCsvTable(file: string, expected?: readonly string[], onChunk?: (chunk: Buffer) => void): Promise<CsvTable> {
  const rows = readCsvRecords(file, undefined, onChunk);
  const first = await rows.next();
  if (first.done) throw new TrafficError('INPUT_EMPTY', `file is empty (no header): ${file}`, { file });
  const header = checkHeader(file, first.value.fields, expected);
  return { header, rows };
}

/**
 * Text is gathered into chunks of at most this many characters before it is written or posted to
 * a thread. Two bytes a character once a Chinese name is in it, so a chunk stays below V8's
 * 128 KiB large-object size: it lives and dies in the young generation, whose pages are reused,
 * instead of on freshly mapped pages (a page fault each 4 KiB; docs/etl.md "Batch and chunk sizes").
 */
export const CHUNK_CHARS = 1 << 15;

/** Buffered CSV/text writer: batches small writes, awaits drain when the OS buffer is full. */
export class TextFileWriter {
  private buf = '';
  private readonly out: WriteStream;
  private readonly limit: number;
  /** The wait for 'drain' under way, shared by the writes that meet a full stream. */
  private draining: Promise<void> | undefined;
  lines = 0;

  private constructor(out: WriteStream, limit: number) {
    this.out = out;
    this.limit = limit;
  }

  static async open(file: string, opts: { append?: boolean; bufferBytes?: number } = {}): Promise<TextFileWriter> {
    await mkdir(path.dirname(file), { recursive: true });
    const out = createWriteStream(file, { flags: opts.append ? 'a' : 'w' });
    await new Promise<void>((resolve, reject) => {
      out.once('open', () => resolve());
      out.once('error', reject);
    });
    return new TextFileWriter(out, opts.bufferBytes ?? CHUNK_CHARS >> 1); // half: the last write may overshoot the buffer
  }

  /** Write text; returns a promise only when the caller should wait (backpressure). */
  write(text: string): Promise<void> | undefined {
    this.buf += text;
    if (this.buf.length < this.limit) return undefined;
    return this.flushBuffer();
  }

  writeCsv(fields: readonly string[]): Promise<void> | undefined {
    this.lines++;
    return this.write(csvLine(fields));
  }

  private flushBuffer(): Promise<void> | undefined {
    const data = this.buf;
    this.buf = '';
    if (this.out.write(data)) return undefined;
    // One 'drain' wait shared by every write until it comes: a caller that waits only now and
    // then (the ETL's rejects, between batches) must not add a listener per write.
    this.draining ??= new Promise((resolve) =>
      this.out.once('drain', () => {
        this.draining = undefined;
        resolve();
      }),
    );
    return this.draining;
  }

  async close(): Promise<void> {
    if (this.buf) await this.flushBuffer();
    await new Promise<void>((resolve, reject) => this.out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}

/** Writes a whole CSV (header + rows) at once; for small tables (dimension, stats). */
export function csvText(header: readonly string[], rows: readonly (readonly string[])[]): string {
  let s = csvLine(header);
  for (const r of rows) s += csvLine(r);
  return s;
}
