/**
 * Per-file text decoding of raw CSVs: UTF-8 (with or without BOM) or GB18030 (a superset of GBK),
 * detected, never assumed, while streaming.
 *
 * Rule: a UTF-8 BOM → utf-8. Otherwise text is passed through as ASCII up to the first byte ≥ 0x80;
 * from there 64 KiB are gathered (the rest of a 1 MiB chunk, so normally no waiting; less only at
 * the end of the file) and decide: valid UTF-8 (a fatal decoder in stream mode, so a character cut
 * at the end is not an error), or nearly so (mostlyUtf8) → utf-8; otherwise gb18030.
 * Everything before was pure ASCII, which both encodings decode identically, so no text is ever
 * decoded twice or differently. From then on decoding is non-fatal: a bad byte becomes
 * U+FFFD and the record holding it is flagged by the reader, the rest of the file is unaffected
 * (an invalid byte never swallows the ASCII comma or newline after it in either decoder).
 */
import { isAscii } from 'node:buffer';

export type RawEncoding = 'utf-8' | 'gb18030';

const UTF8_BOM = [0xef, 0xbb, 0xbf] as const;

export class StreamDecoder {
  private decoder: TextDecoder | null = null;
  private first = true;
  /** Bytes from the first non-ASCII byte on, held until there is enough to decide on. */
  private pending: Buffer | null = null;
  /** Set once a decoded chunk contained U+FFFD: only then do records need checking. */
  sawReplacement = false;

  get encoding(): RawEncoding | undefined {
    return this.decoder ? (this.decoder.encoding === 'utf-8' ? 'utf-8' : 'gb18030') : undefined;
  }

  /** Decodes the next chunk of the file (text may lag behind the bytes until the encoding is decided). */
  decode(chunk: Buffer): string {
    if (this.decoder) return this.run(chunk);
    const isFirst = this.first;
    this.first = false;
    if (isFirst) {
      if (isUtf16Bom(chunk)) throw new Utf16Error();
      if (hasUtf8Bom(chunk)) return this.start('utf-8', chunk);
    }
    let prefix = '';
    if (this.pending) {
      this.pending = Buffer.concat([this.pending, chunk]);
    } else {
      // Pure ASCII: latin1 is the cheapest exact decoding of it.
      if (isAscii(chunk)) return chunk.toString('latin1');
      let i = 0;
      while (chunk[i]! < 0x80) i++;
      prefix = chunk.toString('latin1', 0, i);
      this.pending = chunk.subarray(i);
    }
    // A lone character at the end of a chunk is too little to tell the encodings apart.
    if (this.pending.length < DECIDE_BYTES) return prefix;
    const held = this.pending;
    this.pending = null;
    return prefix + this.start(decide(held, false), held);
  }

  /** Flushes what is held: an undecided tail, or a character cut off at the end (U+FFFD). */
  end(): string {
    let text = '';
    if (this.pending) {
      const held = this.pending;
      this.pending = null;
      text = this.start(decide(held, false), held);
    }
    if (!this.decoder) return text;
    const rest = this.decoder.decode();
    if (rest.indexOf('\uFFFD') !== -1) this.sawReplacement = true;
    return text + rest;
  }

  private start(encoding: RawEncoding, bytes: Buffer): string {
    this.decoder = new TextDecoder(encoding, { fatal: false, ignoreBOM: false });
    return this.run(bytes);
  }

  private run(bytes: Buffer): string {
    const text = this.decoder!.decode(bytes, { stream: true });
    if (!this.sawReplacement && text.indexOf('\uFFFD') !== -1) this.sawReplacement = true;
    return text;
  }
}

/** Non-ASCII bytes gathered before deciding (unless the file ends first). */
const DECIDE_BYTES = 64 * 1024;

function hasUtf8Bom(chunk: Uint8Array): boolean {
  return chunk[0] === UTF8_BOM[0] && chunk[1] === UTF8_BOM[1] && chunk[2] === UTF8_BOM[2];
}

/** The encoding decided by the first non-ASCII chunk (see the rule above). */
export function decide(chunk: Uint8Array, atFileStart: boolean): RawEncoding {
  if (atFileStart && hasUtf8Bom(chunk)) return 'utf-8';
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(chunk, { stream: true });
    return 'utf-8';
  } catch {
    return mostlyUtf8(chunk) ? 'utf-8' : 'gb18030';
  }
}

/**
 * Not valid UTF-8, but maybe UTF-8 with a few damaged bytes. Read as UTF-8, GBK/GB18030 text
 * turns ~88% of its non-ASCII characters into U+FFFD (measured on the real exports); UTF-8 with
 * a damaged byte here and there, a few percent at most. Under 1 in 5 → UTF-8, so the damaged
 * records are flagged instead of the whole file being misread. Judged on 64 KiB from the
 * first non-ASCII byte.
 */
export function mostlyUtf8(chunk: Uint8Array): boolean {
  // Start at the first non-ASCII byte: a character boundary in both encodings.
  let from = 0;
  while (from < chunk.length && chunk[from]! < 0x80) from++;
  const text = new TextDecoder('utf-8').decode(chunk.subarray(from, from + SAMPLE_BYTES), { stream: true });
  let nonAscii = 0;
  let bad = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 128) continue;
    nonAscii++;
    if (c === 0xfffd) bad++;
  }
  return bad * 5 < nonAscii;
}

const SAMPLE_BYTES = 64 * 1024;

function isUtf16Bom(chunk: Uint8Array): boolean {
  return chunk.length >= 2 && ((chunk[0] === 0xff && chunk[1] === 0xfe) || (chunk[0] === 0xfe && chunk[1] === 0xff));
}

/** UTF-16 text (Excel's "Unicode text") is neither of the supported encodings. */
export class Utf16Error extends Error {
  constructor() {
    super('file is UTF-16 (starts with a UTF-16 byte order mark); save it as UTF-8 or GBK CSV');
  }
}
