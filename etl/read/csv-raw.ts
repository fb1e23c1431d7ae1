/**
 * Raw CSV files: streamed in 1 MiB chunks (bounded memory), hashed as they stream, decoded per
 * file (decode.ts), parsed by core/csv.ts. Blank lines before the header are skipped; the
 * first non-blank record must be the header.
 */
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { CsvParser, type CsvRecord } from '../../core/csv.ts';
import { TrafficError } from '../../core/errors.ts';
import { StreamDecoder, Utf16Error } from './decode.ts';
import { describeHeaderMismatch, recognizeHeader } from './header.ts';
import { fieldMap, joinErrors, shapeFields, type FieldMap } from './shape.ts';
import type { RawFileInfo, RawRecord } from './types.ts';

const CHUNK_BYTES = 1 << 20;

export async function openCsvFile(file: string, bytes: number): Promise<{ info: RawFileInfo; records: AsyncGenerator<RawRecord> }> {
  const stream = createReadStream(file, { highWaterMark: CHUNK_BYTES });
  return openCsvChunks(stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>, file, bytes, () => stream.destroy());
}

/**
 * The reader over any source of byte chunks (`file` names it in errors and records): the file
 * reader above, and tests that feed bytes cut at chosen places. `close` releases the source.
 */
export async function openCsvChunks(
  chunks: AsyncIterator<Buffer>,
  file: string,
  bytes: number,
  close: () => void = () => undefined,
): Promise<{ info: RawFileInfo; records: AsyncGenerator<RawRecord> }> {
  const hash = createHash('sha256');
  const decoder = new StreamDecoder();
  let queue: CsvRecord[] = [];
  const parser = new CsvParser((r) => queue.push(r));
  let streamed = 0;
  let eof = false;

  /** Reads, hashes, decodes and parses one more chunk; false at end of file. */
  const pull = async (): Promise<boolean> => {
    const next = await chunks.next();
    if (next.done) {
      eof = true;
      parser.push(decoder.end());
      parser.end();
      return false;
    }
    hash.update(next.value);
    streamed += next.value.length;
    try {
      parser.push(decoder.decode(next.value));
    } catch (err) {
      if (err instanceof Utf16Error) throw new TrafficError('HEADER_UNRECOGNISED', err.message, { file });
      throw err;
    }
    return true;
  };

  // Find the header: the first record that is not blank.
  let header: CsvRecord | undefined;
  let qi = 0;
  try {
    while (!header) {
      while (qi < queue.length) {
        const r = queue[qi++]!;
        if (!isBlank(r.fields)) {
          header = r;
          break;
        }
      }
      if (header) break;
      queue = [];
      qi = 0;
      if (eof) throw new TrafficError('HEADER_UNRECOGNISED', 'no header row: the file is empty or blank', { file });
      await pull();
    }
  } catch (err) {
    close();
    throw err;
  }
  const positions = recognizeHeader(header.fields);
  if (!positions) {
    close();
    throw new TrafficError('HEADER_UNRECOGNISED', describeHeaderMismatch(header.fields), { file, line: header.line });
  }
  const map = fieldMap(positions, header.fields.length);
  const info: RawFileInfo = {
    file,
    format: 'csv',
    headerLine: header.line,
    header: header.fields,
    sha256: '',
    bytes,
  };
  if (decoder.encoding) info.encoding = decoder.encoding;

  async function* records(): AsyncGenerator<RawRecord> {
    try {
      for (;;) {
        while (qi < queue.length) yield shape(queue[qi++]!, map, decoder);
        queue = [];
        qi = 0;
        if (eof) break;
        await pull();
      }
      info.sha256 = hash.digest('hex');
      info.bytes = streamed;
      info.encoding = decoder.encoding ?? 'utf-8';
    } finally {
      close();
    }
  }
  return { info, records: records() };
}

/** The parser's record becomes the raw record (no copy) when no reordering is needed. */
function shape(r: CsvRecord, map: FieldMap, decoder: StreamDecoder): RawRecord {
  let error = r.error;
  if (decoder.sawReplacement && r.raw.indexOf('\uFFFD') !== -1) {
    error = joinErrors(error, `undecodable bytes (${decoder.encoding})`);
  }
  if (!map.identity) {
    const s = shapeFields(r.fields, map);
    r.fields = s.fields;
    error = joinErrors(error, s.error);
  }
  if (error !== undefined) r.error = error;
  return r;
}

function isBlank(fields: readonly string[]): boolean {
  for (const f of fields) if (f.trim() !== '') return false;
  return true;
}
