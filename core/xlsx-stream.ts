/**
 * A one-sheet .xlsx written row by row with constant memory: the package parts go out first as
 * small zip entries, then the worksheet is deflated and sent chunk by chunk as rows arrive, and
 * the zip's central directory closes it. Nothing is held but the chunk being written.
 *
 * The zip container is fflate's streaming `Zip` (data descriptors, no sizes needed up front).
 * The worksheet entry is deflated by Node's native zlib (a `ZipInputFile` of our own), the small
 * parts by fflate's `ZipDeflate`: fflate's pure-JS deflate measured ~30k rows/s on this kind of
 * machine against ~300k rows/s for native zlib at the same level (`npm run bench:api` prints both), and native
 * zlib runs on the libuv thread pool, beside the thread that builds the XML.
 *
 * Cells: text as inline strings (codes keep their leading zeros because they are text), numbers as
 * numbers, dates as date serials with a date format. Columns marked `shared` (few distinct values:
 * checkpoint, county, vehicle type …) go through a shared-string table instead: each cell is then
 * an index (`<c t="s"><v>7</v></c>`), a third of an inline string's XML, and the table itself is a
 * zip entry written after the sheet. The table is capped at SHARED_MAX distinct strings (memory
 * stays bounded whatever the data); values past the cap are written inline.
 */
import { createDeflateRaw, crc32, type DeflateRaw } from 'node:zlib';
import { Zip, ZipDeflate, type AsyncFlateStreamHandler, type ZipInputFile } from 'fflate';
import { CHINA_OFFSET_S } from './time.ts';
import { NS_MAIN, SHEET_CLOSE, STYLE, XML_HEAD, columnName, excelSerial, packageParts, sheetOpen, xmlEscape } from './xlsx-parts.ts';

export type XlsxColumnKind = 'text' | 'number' | 'date';

export interface XlsxColumn {
  name: string;
  kind: XlsxColumnKind;
  /** Width in characters (default 12). */
  width?: number;
  /** Text with few distinct values: cells refer to the shared-string table (see the module comment). */
  shared?: boolean;
}

/** One row: text for `text` and `date` columns (`YYYY-MM-DD HH:mm:ss` wall clock), numbers for `number`. */
export type XlsxRow = readonly (string | number)[];

export interface XlsxStreamOptions {
  columns: readonly XlsxColumn[];
  /** Receives the file's bytes in order. */
  onData: (chunk: Uint8Array) => void;
  sheetName?: string;
  /** Number format of date columns (default `yyyy-mm-dd hh:mm:ss`). */
  dateFormat?: string;
  /** Deflate level of the worksheet, 1–9 (default 1: the sheet XML compresses ~11× even so). */
  level?: number;
  /** Epoch ms stamped on the zip entries and document properties (default now), shown in China time. */
  now?: number;
  /** Who deflates the worksheet: native zlib (default) or fflate's ZipDeflate (kept for the benchmark). */
  sheetDeflate?: 'native' | 'fflate';
}

/** The worksheet entry: takes uncompressed bytes, resolves when ready for more. */
interface SheetEntry {
  push(chunk: Buffer): Promise<void>;
  end(): void;
  terminate(): void;
}

/** fflate's own streaming deflate (pure JS, on this thread), behind the same interface. */
function fflateSheet(zip: Zip, filename: string, level: number, mtime: number): SheetEntry {
  const f = new ZipDeflate(filename, { level: level as 1 });
  f.mtime = mtime;
  zip.add(f);
  return {
    async push(chunk) {
      f.push(chunk);
    },
    end() {
      f.push(new Uint8Array(0), true);
    },
    terminate() {},
  };
}

/** fflate's deflate-level bits of the zip flag (APPNOTE 4.4.4): 3 super fast, 2 fast, 0 normal, 1 max. */
function levelFlag(level: number): 0 | 1 | 2 | 3 {
  return level === 1 ? 3 : level < 6 ? 2 : level === 9 ? 1 : 0;
}

/** A zip entry deflated by native zlib as data is pushed; fflate's Zip frames it. */
class NativeDeflateFile implements ZipInputFile, SheetEntry {
  size = 0;
  crc = 0;
  readonly compression = 8;
  readonly flag: 0 | 1 | 2 | 3;
  ondata!: AsyncFlateStreamHandler;
  private readonly z: DeflateRaw;

  constructor(
    readonly filename: string,
    level: number,
    readonly mtime: number,
  ) {
    this.flag = levelFlag(level);
    // Output buffers of 256 KiB instead of zlib's 16 KiB: each buffer is a round trip between the
    // thread pool and this thread (measured: ~16× fewer callbacks, ~0.3 s less CPU on 484k rows).
    this.z = createDeflateRaw({ level, chunkSize: 1 << 18 });
    this.z.on('data', (b: Buffer) => this.ondata(null, b as Uint8Array<ArrayBuffer>, false));
    this.z.on('end', () => this.ondata(null, new Uint8Array(0), true));
    this.z.on('error', (err) => this.ondata(Object.assign(err, { code: 0 }), new Uint8Array(0), true));
  }

  /** Adds uncompressed bytes; resolves when zlib is ready for more (backpressure). */
  async push(chunk: Buffer): Promise<void> {
    this.size += chunk.length;
    this.crc = crc32(chunk, this.crc);
    if (!this.z.write(chunk)) await new Promise((resolve) => this.z.once('drain', resolve));
  }

  end(): void {
    this.z.end();
  }

  terminate(): void {
    this.z.destroy();
  }
}

/** Epoch ms whose local-time fields read as China local time (zip entries store local wall clock). */
function chinaWallClockMs(epochMs: number): number {
  return epochMs + CHINA_OFFSET_S * 1000 + new Date(epochMs).getTimezoneOffset() * 60_000;
}

const NEEDS_SPACE_PRESERVE = /^\s|\s$/;

/** Distinct strings the shared-string table holds at most (~ a few MB); later new values go inline. */
export const SHARED_MAX = 50_000;

/** Whether a text needs `xml:space="preserve"` (leading or trailing white space); printable ASCII ends decide without the regex. */
function needsSpacePreserve(s: string): boolean {
  const a = s.charCodeAt(0);
  const b = s.charCodeAt(s.length - 1);
  if (a > 32 && a < 127 && b > 32 && b < 127) return false;
  return NEEDS_SPACE_PRESERVE.test(s);
}

const latin1 = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const ROW_OPEN = latin1('<row r="');
const QUOTE_GT = latin1('">');
const ROW_CLOSE = latin1('</row>');
const NUMBER_OPEN = latin1('"><v>');
const DATE_OPEN = latin1(`" s="${STYLE.date}"><v>`);
const VALUE_CLOSE = latin1('</v></c>');
const INLINE_OPEN = latin1('" t="inlineStr"><is><t>');
const INLINE_OPEN_PRESERVE = latin1('" t="inlineStr"><is><t xml:space="preserve">');
const INLINE_CLOSE = latin1('</t></is></c>');
const HEX = '0123456789ABCDEF';
/** Second of the day → the decimals of its date-serial fraction (`.5` for noon), filled as met. */
const DAY_FRACTIONS: (string | undefined)[] = new Array(86_400);

/**
 * The worksheet XML of one `writeRows` call as UTF-8 bytes, written in place. Short byte runs are
 * copied in a loop (cheaper than `Buffer.set` per piece for a few bytes), text is escaped and
 * encoded to UTF-8 in the same pass. Produces exactly the bytes of `xmlEscape` + `Buffer.write`:
 * `&<>"` as entities, XML-invalid characters as `_xHHHH_`, a lone surrogate as U+FFFD.
 */
class SheetBytes {
  buf: Buffer;
  o = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** Makes room for `n` more bytes. */
  room(n: number): void {
    if (this.o + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.o + n));
    this.buf.copy(next, 0, 0, this.o);
    this.buf = next;
  }

  /** Copies `src[from, to)`; the caller made room. */
  bytes(src: Uint8Array, from: number, to: number): void {
    const buf = this.buf;
    let o = this.o;
    for (let i = from; i < to; i++) buf[o++] = src[i]!;
    this.o = o;
  }

  /** ASCII text (numbers), with room for a closing tag after it. */
  ascii(s: string): void {
    this.room(s.length + 16);
    const buf = this.buf;
    let o = this.o;
    for (let i = 0; i < s.length; i++) buf[o++] = s.charCodeAt(i);
    this.o = o;
  }

  /** Any text, already valid XML markup (the header): encoded as it is. */
  text(s: string): void {
    this.room(s.length * 3);
    this.o += this.buf.write(s, this.o, 'utf8');
  }

  /** Text as escaped XML character data in UTF-8. */
  escaped(s: string): void {
    // At most 7 bytes per UTF-16 unit (`_xHHHH_`; entities ≤ 6, UTF-8 ≤ 3 per unit).
    this.room(s.length * 7);
    const buf = this.buf;
    let o = this.o;
    const n = s.length;
    for (let i = 0; i < n; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        if (c >= 0x3f || (c >= 0x20 && c !== 0x26 && c !== 0x3c && c !== 0x3e && c !== 0x22)) buf[o++] = c;
        else if (c === 0x26) o += buf.write('&amp;', o, 'latin1');
        else if (c === 0x3c) o += buf.write('&lt;', o, 'latin1');
        else if (c === 0x3e) o += buf.write('&gt;', o, 'latin1');
        else if (c === 0x22) o += buf.write('&quot;', o, 'latin1');
        else if (c === 0x09 || c === 0x0a || c === 0x0d) buf[o++] = c;
        else o = this.hexEscape(c, o);
      } else if (c < 0x800) {
        buf[o++] = 0xc0 | (c >> 6);
        buf[o++] = 0x80 | (c & 0x3f);
      } else if (c >= 0xd800 && c <= 0xdfff) {
        const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
          buf[o++] = 0xf0 | (c >> 18);
          buf[o++] = 0x80 | ((c >> 12) & 0x3f);
          buf[o++] = 0x80 | ((c >> 6) & 0x3f);
          buf[o++] = 0x80 | (c & 0x3f);
        } else {
          // A lone surrogate: U+FFFD, as Buffer.write encodes it.
          buf[o++] = 0xef;
          buf[o++] = 0xbf;
          buf[o++] = 0xbd;
        }
      } else if (c >= 0xfffe) {
        o = this.hexEscape(c, o);
      } else {
        buf[o++] = 0xe0 | (c >> 12);
        buf[o++] = 0x80 | ((c >> 6) & 0x3f);
        buf[o++] = 0x80 | (c & 0x3f);
      }
    }
    this.o = o;
  }

  /** A character XML cannot carry, as OOXML's `_xHHHH_` (as `xmlEscape` writes it). */
  private hexEscape(c: number, o: number): number {
    const buf = this.buf;
    buf[o++] = 0x5f;
    buf[o++] = 0x78;
    for (let shift = 12; shift >= 0; shift -= 4) buf[o++] = HEX.charCodeAt((c >> shift) & 15);
    buf[o++] = 0x5f;
    return o;
  }
}

export class XlsxStreamWriter {
  private readonly zip: Zip;
  private readonly sheet: SheetEntry;
  private readonly refs: string[];
  /** `<c r="B` of each column, as bytes. */
  private readonly cellHeads: Uint8Array[];
  /** The current row number's digits, right-aligned. */
  private readonly rowNo = new Uint8Array(16);
  private lastDay = '';
  private lastDaySerial = '';
  private readonly kinds: XlsxColumnKind[];
  private readonly shared: boolean[];
  /** Shared string → the tail of its cell's XML (`" t="s"><v>7</v></c>`, bytes), in table order. */
  private readonly sst = new Map<string, Uint8Array>();
  /** References to the table (the `count` of sharedStrings.xml). */
  private sstRefs = 0;
  private readonly sstFile: ZipDeflate | null;
  private readonly done: Promise<void>;
  private failed: Error | null = null;
  private nextRow = 2;
  private closed = false;
  /** The header row, sent with the first rows. */
  private headXml: string | null;

  constructor(o: XlsxStreamOptions) {
    const now = o.now ?? Date.now();
    const mtime = chinaWallClockMs(now);
    let resolveDone!: () => void;
    let rejectDone!: (e: Error) => void;
    this.done = new Promise<void>((resolve, reject) => {
      resolveDone = resolve;
      rejectDone = reject;
    });
    this.done.catch(() => undefined); // observed through writeRows / finish
    this.zip = new Zip((err, data, final) => {
      if (err) {
        this.failed = err;
        rejectDone(err);
        return;
      }
      if (data.length) o.onData(data);
      if (final) resolveDone();
    });
    this.refs = o.columns.map((_, i) => `<c r="${columnName(i)}`);
    this.cellHeads = this.refs.map((r) => Buffer.from(r, 'latin1'));
    this.kinds = o.columns.map((c) => c.kind);
    this.shared = o.columns.map((c) => c.kind === 'text' && c.shared === true);
    const sharedStrings = this.shared.includes(true);

    const sheetName = o.sheetName ?? 'Sheet1';
    const iso = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const parts = packageParts({
      sheets: [sheetName],
      sharedStrings,
      dateFormat: o.dateFormat ?? 'yyyy-mm-dd hh:mm:ss',
      application: 'traffic-checkpoint-toolkit',
      appVersion: '1.0000',
      docDate: iso,
    });
    const small: [string, string][] = [
      ['[Content_Types].xml', parts.contentTypes],
      ['_rels/.rels', parts.rootRels],
      ['docProps/core.xml', parts.core],
      ['docProps/app.xml', parts.app],
      ['xl/workbook.xml', parts.workbook],
      ['xl/_rels/workbook.xml.rels', parts.bookRels],
      ['xl/styles.xml', parts.styles],
    ];
    for (const [name, xml] of small) {
      const f = new ZipDeflate(name, { level: 6 });
      f.mtime = mtime;
      this.zip.add(f);
      f.push(Buffer.from(xml, 'utf8'), true);
    }
    const sheetFile = 'xl/worksheets/sheet1.xml';
    if (o.sheetDeflate === 'fflate') {
      this.sheet = fflateSheet(this.zip, sheetFile, o.level ?? 1, mtime);
    } else {
      const native = new NativeDeflateFile(sheetFile, o.level ?? 1, mtime);
      this.zip.add(native);
      this.sheet = native;
    }
    // Added now (fflate's Zip takes no entries after end()), filled at finish(): the zip writes it
    // after the sheet.
    this.sstFile = sharedStrings ? new ZipDeflate('xl/sharedStrings.xml', { level: 6 }) : null;
    if (this.sstFile) {
      this.sstFile.mtime = mtime;
      this.zip.add(this.sstFile);
    }
    this.zip.end();

    let head = sheetOpen({ widths: o.columns.map((c) => c.width ?? 12) }) + '<row r="1">';
    o.columns.forEach((c, i) => {
      head += `${this.refs[i]}1" s="${STYLE.bold}" t="inlineStr"><is><t>${xmlEscape(c.name)}</t></is></c>`;
    });
    this.headXml = head + '</row>';
  }

  /** Data rows written so far. */
  get rows(): number {
    return this.nextRow - 2;
  }

  /**
   * Appends rows; resolves when the deflater can take more. The XML is written as bytes straight
   * into one buffer per call (see `SheetBytes`): no string per cell or row is built, so nothing
   * is concatenated, flattened or collected, and UTF-8 is encoded once, by hand, for text values.
   */
  async writeRows(rows: readonly XlsxRow[]): Promise<void> {
    if (this.failed) throw this.failed;
    if (this.closed) throw new Error('xlsx: rows written after finish()');
    const { kinds, shared, sst, cellHeads, rowNo } = this;
    const width = kinds.length;
    // A fresh buffer per call: zlib reads it asynchronously, so it cannot be reused.
    const w = new SheetBytes(Math.max(1 << 16, rows.length * width * 48));
    if (this.headXml !== null) {
      w.text(this.headXml);
      this.headXml = null;
    }
    let n = this.nextRow;
    for (const row of rows) {
      // The row number's digits, kept as bytes: every cell reference repeats them.
      let digits = 0;
      for (let k = n++; k > 0; k = (k / 10) | 0) rowNo[15 - digits++] = 48 + (k % 10);
      const rowStart = 16 - digits;
      w.room(32 + width * 24);
      w.bytes(ROW_OPEN, 0, ROW_OPEN.length);
      w.bytes(rowNo, rowStart, 16);
      w.bytes(QUOTE_GT, 0, 2);
      for (let c = 0; c < width; c++) {
        const v = row[c];
        if (v === undefined || v === '') continue;
        const head = cellHeads[c]!;
        w.room(head.length + digits + 64);
        w.bytes(head, 0, head.length);
        w.bytes(rowNo, rowStart, 16);
        const kind = kinds[c];
        if (kind === 'number') {
          w.bytes(NUMBER_OPEN, 0, NUMBER_OPEN.length);
          const x = typeof v === 'number' ? v : Number(v);
          if (x >= 0 && x <= 9 && x === (x | 0))
            w.buf[w.o++] = 48 + x; // the 0/1 flags
          else w.ascii(String(x));
          w.bytes(VALUE_CLOSE, 0, VALUE_CLOSE.length);
        } else if (kind === 'date') {
          w.bytes(DATE_OPEN, 0, DATE_OPEN.length);
          this.serial(w, String(v));
          w.bytes(VALUE_CLOSE, 0, VALUE_CLOSE.length);
        } else {
          const s = String(v);
          let tail: Uint8Array | undefined;
          if (shared[c]) {
            tail = sst.get(s);
            if (tail === undefined && sst.size < SHARED_MAX) {
              // A copy: `s` may be a slice of a much larger string the table must not keep alive.
              // A text with a lone surrogate does not survive the copy (it becomes U+FFFD): such
              // a text goes inline, else its copy would be looked up in vain and added again.
              const copy = Buffer.from(s, 'utf8').toString('utf8');
              if (copy === s) {
                tail = Buffer.from(`" t="s"><v>${sst.size}</v></c>`, 'latin1');
                sst.set(copy, tail);
              }
            }
          }
          if (tail !== undefined) {
            this.sstRefs++;
            w.room(tail.length);
            w.bytes(tail, 0, tail.length);
          } else {
            const open = needsSpacePreserve(s) ? INLINE_OPEN_PRESERVE : INLINE_OPEN;
            w.room(open.length + INLINE_CLOSE.length);
            w.bytes(open, 0, open.length);
            w.escaped(s);
            w.room(INLINE_CLOSE.length);
            w.bytes(INLINE_CLOSE, 0, INLINE_CLOSE.length);
          }
        }
      }
      w.room(ROW_CLOSE.length);
      w.bytes(ROW_CLOSE, 0, ROW_CLOSE.length);
    }
    this.nextRow = n;
    if (w.o > 0) await this.sheet.push(w.buf.subarray(0, w.o));
  }

  /**
   * Writes the date serial of a wall clock `YYYY-MM-DD HH:mm:ss`: the day's number, kept while
   * the day repeats (rows come sorted by time), and the time of day's fraction from a table of
   * the 86,400 seconds, 12 decimals (1e-12 day = 86 ns: the same double as the exact serial or its
   * neighbour, read back as the same second). Formatting a double per cell cost ~0.5 µs.
   */
  private serial(w: SheetBytes, wallClock: string): void {
    const day = wallClock.length >= 10 ? wallClock.slice(0, 10) : wallClock;
    if (day !== this.lastDay) {
      this.lastDay = day;
      this.lastDaySerial = String(excelSerial(day));
    }
    w.ascii(this.lastDaySerial);
    if (wallClock.length <= 10) return;
    const at = (i: number): number => wallClock.charCodeAt(i) - 48;
    const secs = (at(11) * 10 + at(12)) * 3600 + (at(14) * 10 + at(15)) * 60 + at(17) * 10 + at(18);
    if (!(secs >= 0 && secs < 86_400) || !/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(wallClock)) {
      // Not the usual shape: the general conversion (it reads the same fields).
      w.o -= this.lastDaySerial.length;
      w.ascii(String(excelSerial(wallClock)));
      return;
    }
    let frac = DAY_FRACTIONS[secs];
    if (frac === undefined) {
      frac = secs === 0 ? '' : (secs / 86_400).toFixed(12).slice(1).replace(/0+$/, '');
      DAY_FRACTIONS[secs] = frac;
    }
    w.ascii(frac);
  }

  /** Closes the sheet and the zip; resolves once the last byte went to `onData`. */
  async finish(): Promise<void> {
    if (this.failed) throw this.failed;
    if (this.headXml !== null) await this.writeRows([]);
    this.closed = true;
    await this.sheet.push(Buffer.from(SHEET_CLOSE, 'latin1'));
    this.sheet.end();
    if (this.sstFile) {
      let xml = `${XML_HEAD}<sst xmlns="${NS_MAIN}" count="${this.sstRefs}" uniqueCount="${this.sst.size}">`;
      for (const s of this.sst.keys()) xml += `<si>${NEEDS_SPACE_PRESERVE.test(s) ? '<t xml:space="preserve">' : '<t>'}${xmlEscape(s)}</t></si>`;
      this.sstFile.push(Buffer.from(xml + '</sst>', 'utf8'), true);
    }
    await this.done;
  }

  /** Stops compressing (the client went away); no further bytes are produced. */
  abort(): void {
    this.closed = true;
    this.sheet.terminate();
  }
}
