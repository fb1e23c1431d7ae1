/**
 * RFC 4180 CSV, incremental and fast. Real exports come in two shapes (bare cells; every cell
 * quoted) that both take a native `split` fast path; anything else (escaped quotes, commas or
 * newlines inside quotes) falls back to a character scan. Each record carries the 1-based line it
 * starts on and its raw text, so a bad row can be rejected with file, line and the original bytes.
 */

export interface CsvRecord {
  fields: string[];
  /** 1-based physical line where the record starts. */
  line: number;
  /** The record's text as read (without the line break). */
  raw: string;
  /** Set when the record is structurally broken (e.g. an unterminated quote at end of input). */
  error?: string;
}

export interface CsvParseStats {
  records: number;
  emptyLines: number;
}

/**
 * Longest record held while waiting for its end (characters). Real records are ~100 characters;
 * without a bound, a line that never ends or a quote that is never closed would make the parser
 * hold (and rescan) the rest of the file: memory and time would grow with the square of it.
 * Past the bound the record is cut off as an error record and reading goes on (see drain).
 */
export const MAX_RECORD_CHARS = 1 << 20;
/** Raw text kept of a record cut off for its length. */
const RAW_KEEP = 1000;

export class CsvParser {
  private buf = '';
  private line = 1;
  /** Inside a line longer than MAX_RECORD_CHARS: input is dropped up to its newline. */
  private skipping = false;
  readonly stats: CsvParseStats = { records: 0, emptyLines: 0 };

  constructor(private readonly onRecord: (rec: CsvRecord) => void) {}

  push(text: string): void {
    if (this.skipping) {
      const nl = text.indexOf('\n');
      if (nl === -1) return;
      this.skipping = false;
      this.line++;
      text = text.slice(nl + 1);
    }
    this.buf = this.buf.length ? this.buf + text : text;
    this.drain(false);
  }

  end(): void {
    if (!this.skipping) this.drain(true);
    this.skipping = false;
    this.buf = '';
  }

  private drain(final: boolean): void {
    const buf = this.buf;
    const n = buf.length;
    let pos = 0;
    while (pos < n) {
      const nl = buf.indexOf('\n', pos);
      if (nl === -1 && !final) {
        if (n - pos > MAX_RECORD_CHARS) {
          // A line with no end in sight: one error record for it, the rest of it is skipped.
          this.emit({
            fields: [],
            line: this.line,
            raw: buf.slice(pos, pos + RAW_KEEP) + '…',
            error: `line longer than ${MAX_RECORD_CHARS} characters`,
          });
          this.skipping = true;
          pos = n;
        }
        break;
      }
      const end = nl === -1 ? n : nl;
      const lineEnd = end > pos && buf.charCodeAt(end - 1) === 13 ? end - 1 : end;
      const text = buf.slice(pos, lineEnd);
      if (text.length === 0) {
        this.stats.emptyLines++;
        this.line++;
        pos = end + 1;
        continue;
      }
      if (text.indexOf('"') === -1) {
        this.emit({ fields: text.split(','), line: this.line, raw: text });
        this.line++;
        pos = end + 1;
        continue;
      }
      // Every cell quoted, nothing escaped: `"a","b","c"`.
      if (text.length >= 2 && text.charCodeAt(0) === 34 && text.charCodeAt(text.length - 1) === 34) {
        const inner = text.slice(1, -1);
        const parts = inner.split('","');
        let clean = true;
        for (const p of parts) {
          if (p.indexOf('"') !== -1) {
            clean = false;
            break;
          }
        }
        if (clean) {
          this.emit({ fields: parts, line: this.line, raw: text });
          this.line++;
          pos = end + 1;
          continue;
        }
      }
      const r = scanRecord(buf, pos, final);
      if (r === null) {
        // A quoted field continues past what we have: wait for more input, unless it has run on
        // for too long. Then its opening quote is taken for a stray one: the record's first line
        // becomes an error record and parsing resumes on the next line.
        if (n - pos > MAX_RECORD_CHARS) {
          this.emit({
            fields: [],
            line: this.line,
            raw: text.length > RAW_KEEP ? text.slice(0, RAW_KEEP) + '…' : text,
            error: `quoted field not closed within ${MAX_RECORD_CHARS} characters`,
          });
          this.line++;
          pos = end + 1;
          continue;
        }
        break;
      }
      const raw = buf.slice(pos, r.end).replace(/\r$/, '');
      const rec: CsvRecord = { fields: r.fields, line: this.line, raw };
      if (r.error) rec.error = r.error;
      this.emit(rec);
      this.line += r.newlines + 1;
      pos = r.end + 1;
    }
    this.buf = pos >= n ? '' : buf.slice(pos);
  }

  private emit(rec: CsvRecord): void {
    this.stats.records++;
    this.onRecord(rec);
  }
}

interface ScanResult {
  fields: string[];
  /** Index of the terminating newline (or buf.length). */
  end: number;
  newlines: number;
  error?: string;
}

/** Character scan of one record starting at `start`; null when the input ends inside quotes. */
function scanRecord(buf: string, start: number, final: boolean): ScanResult | null {
  const fields: string[] = [];
  let field = '';
  let i = start;
  let newlines = 0;
  const n = buf.length;
  for (;;) {
    if (i < n && buf.charCodeAt(i) === 34) {
      // Quoted field.
      i++;
      for (;;) {
        const q = buf.indexOf('"', i);
        if (q === -1) {
          if (!final) return null;
          field += buf.slice(i);
          for (let k = i; k < n; k++) if (buf.charCodeAt(k) === 10) newlines++;
          fields.push(field);
          return { fields, end: n, newlines, error: 'unterminated quoted field' };
        }
        const chunk = buf.slice(i, q);
        for (let k = 0; k < chunk.length; k++) if (chunk.charCodeAt(k) === 10) newlines++;
        field += chunk;
        if (buf.charCodeAt(q + 1) === 34) {
          field += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      if (i >= n && !final) return null;
    }
    // Unquoted part (or text after a closing quote, kept as written).
    while (i < n) {
      const c = buf.charCodeAt(i);
      if (c === 44 || c === 10) break;
      if (c === 34) {
        // A stray quote inside an unquoted cell: keep it literally.
        field += '"';
        i++;
        continue;
      }
      field += buf[i];
      i++;
    }
    if (i >= n && !final) return null;
    if (i < n && buf.charCodeAt(i) === 44) {
      fields.push(field);
      field = '';
      i++;
      continue;
    }
    // Newline or end of input ends the record.
    if (field.endsWith('\r')) field = field.slice(0, -1);
    fields.push(field);
    return { fields, end: i, newlines };
  }
}

/** Parses a whole string (tests, small files). */
export function parseCsv(text: string): CsvRecord[] {
  const out: CsvRecord[] = [];
  const p = new CsvParser((r) => out.push(r));
  p.push(text);
  p.end();
  return out;
}

const NEEDS_QUOTES = /[",\r\n]/;

export function csvField(value: string): string {
  return NEEDS_QUOTES.test(value) ? '"' + value.replace(/"/g, '""') + '"' : value;
}

/** One CSV line (with trailing \n). Fields are quoted only when they must be. */
export function csvLine(fields: readonly string[]): string {
  let s = '';
  for (let i = 0; i < fields.length; i++) {
    if (i) s += ',';
    s += csvField(fields[i] ?? '');
  }
  return s + '\n';
}
