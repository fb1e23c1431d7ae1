/**
 * The two hot parts of an .xlsx: the shared-string table and the sheet's cells, read by indexOf
 * and character-code scanning over the XML text (no DOM, no per-attribute allocation), which is
 * what makes ~10⁵–10⁶ rows/s possible where a generic XML parser manages ~2·10⁴.
 */
import { addDays, parseExcelSerial } from '../../core/time.ts';
import { decodeCellText, rootPrefix } from './xml.ts';
import { DATE_TIME, NOT_DATE, type DateKind } from './xlsx-styles.ts';

/** Shared strings (`<si>`): plain `<t>`, rich-text runs `<r><t>`, phonetic runs `<rPh>` left out. */
export function readSharedStrings(xml: string | undefined): string[] {
  if (!xml) return [];
  const p = rootPrefix(xml, 'sst');
  const siOpen = '<' + p + 'si';
  const siClose = '</' + p + 'si>';
  const tOpen = '<' + p + 't';
  const tClose = '</' + p + 't>';
  const rPhOpen = '<' + p + 'rPh';
  const rPhClose = '</' + p + 'rPh>';
  const tOpenGt = tOpen + '>';
  const out: string[] = [];
  let i = xml.indexOf(siOpen);
  while (i !== -1) {
    const after = xml.charCodeAt(i + siOpen.length);
    const gt = xml.indexOf('>', i);
    if (gt === -1) break;
    if (after !== 62 && after !== 32 && after !== 47 && after !== 9 && after !== 10 && after !== 13) {
      i = xml.indexOf(siOpen, gt); // some other tag starting with "si"
      continue;
    }
    if (xml.charCodeAt(gt - 1) === 47) {
      out.push(''); // <si/>
      i = xml.indexOf(siOpen, gt);
      continue;
    }
    const end = xml.indexOf(siClose, gt);
    if (end === -1) break;
    let text: string | undefined;
    // Fast path: <si><t>text</t></si>
    if (xml.startsWith(tOpenGt, gt + 1)) {
      const a = gt + 1 + tOpenGt.length;
      const b = xml.indexOf(tClose, a);
      if (b + tClose.length === end) text = xml.slice(a, b);
    }
    if (text === undefined) text = collectText(xml, gt + 1, end, tOpen, tClose, rPhOpen, rPhClose);
    text = xmlNewlines(text);
    out.push(text.indexOf('&') === -1 && text.indexOf('_x') === -1 ? text : decodeCellText(text));
    i = xml.indexOf(siOpen, end);
  }
  return out;
}

/** Concatenated `<t>` contents in xml[from, to), skipping phonetic (`<rPh>`) runs. Not decoded. */
function collectText(xml: string, from: number, to: number, tOpen: string, tClose: string, rPhOpen: string, rPhClose: string): string {
  let s = '';
  let j = from;
  for (;;) {
    const k = xml.indexOf('<', j);
    if (k === -1 || k >= to) break;
    if (isTag(xml, k, rPhOpen)) {
      const e = xml.indexOf(rPhClose, k);
      if (e === -1 || e >= to) break;
      j = e + rPhClose.length;
      continue;
    }
    if (isTag(xml, k, tOpen)) {
      const gt = xml.indexOf('>', k);
      if (gt === -1 || gt >= to) break;
      if (xml.charCodeAt(gt - 1) === 47) {
        j = gt + 1; // <t/>
        continue;
      }
      const e = xml.indexOf(tClose, gt);
      if (e === -1 || e > to) break;
      s += xml.slice(gt + 1, e);
      j = e + tClose.length;
      continue;
    }
    j = k + 1;
  }
  return s;
}

/** xml holds `pat` at position p (a loop: cheaper than startsWith for a few characters). */
function at(xml: string, p: number, pat: string): boolean {
  for (let i = 0; i < pat.length; i++) if (xml.charCodeAt(p + i) !== pat.charCodeAt(i)) return false;
  return true;
}

/** `<name` at k followed by white space, `>` or `/` (so `<t` does not match `<tab`). */
function isTag(xml: string, k: number, open: string): boolean {
  if (!xml.startsWith(open, k)) return false;
  const c = xml.charCodeAt(k + open.length);
  return c === 62 || c === 32 || c === 47 || c === 9 || c === 10 || c === 13;
}

export interface SheetRow {
  /** 1-based sheet row number (the `r` attribute, else counted). */
  r: number;
  /** Cell texts by 0-based column (A = 0); '' for absent cells, up to the last cell present. */
  cells: string[];
  /** True when at least one cell holds a non-empty value. */
  hasValue: boolean;
  /** True when a cell holds a comma, quote or line break (the raw text must quote it). */
  needsQuoting: boolean;
  /** Problems found in the row's cells (Excel error values, dangling shared-string indexes). */
  error?: string;
}

export interface SheetContext {
  sharedStrings: readonly string[];
  dateKinds: readonly DateKind[];
  date1904: boolean;
}

/** Excel's last column is XFD = 16384. */
const MAX_COLUMNS = 16384;
const BAD_COLUMN = -2;

// Cell types by the first letter of the t attribute (`str` and `s` told apart by length).
const T_NUMBER = 0;
const T_SHARED = 1;
const T_STR = 2;
const T_INLINE = 3;
const T_BOOL = 4;
const T_DATE = 5;
const T_ERROR = 6;

/** Iterates the rows of one worksheet's XML, given as its bytes read as latin1 (see utf8FromLatin1). */
export class SheetScanner {
  private pos: number;
  private readonly end: number;
  private lastRow = 0;
  /** Per shared string: 0 not yet known, 1 plain, 2 needs quoting in the raw text. */
  private readonly sstQuoting: Uint8Array;
  private readonly rowOpen: string;
  private readonly rowClose: string;
  private readonly cOpen: string;
  private readonly cClose: string;
  private readonly vOpen: string;
  private readonly vOpenGt: string;
  private readonly vcClose: string;
  private readonly vClose: string;
  private readonly isOpen: string;
  private readonly isClose: string;
  private readonly tOpen: string;
  private readonly tClose: string;
  private readonly rPhOpen: string;
  private readonly rPhClose: string;

  constructor(
    private readonly xml: string,
    private readonly ctx: SheetContext,
  ) {
    this.sstQuoting = new Uint8Array(ctx.sharedStrings.length);
    const p = rootPrefix(xml, 'worksheet');
    this.rowOpen = '<' + p + 'row';
    this.rowClose = '</' + p + 'row>';
    this.cOpen = '<' + p + 'c';
    this.cClose = '</' + p + 'c>';
    this.vOpen = '<' + p + 'v';
    this.vClose = '</' + p + 'v>';
    this.vOpenGt = this.vOpen + '>';
    this.vcClose = this.vClose + this.cClose;
    this.isOpen = '<' + p + 'is';
    this.isClose = '</' + p + 'is>';
    this.tOpen = '<' + p + 't';
    this.tClose = '</' + p + 't>';
    this.rPhOpen = '<' + p + 'rPh';
    this.rPhClose = '</' + p + 'rPh>';
    const sd = xml.indexOf('<' + p + 'sheetData');
    const sdGt = sd === -1 ? -1 : xml.indexOf('>', sd);
    if (sd === -1 || sdGt === -1 || xml.charCodeAt(sdGt - 1) === 47) {
      // No sheetData, or `<sheetData/>`: an empty sheet.
      this.pos = 0;
      this.end = 0;
    } else {
      this.pos = sdGt + 1;
      const close = xml.indexOf('</' + p + 'sheetData>', this.pos);
      this.end = close === -1 ? xml.length : close;
    }
  }

  /** The next row, or null at the end of the sheet. */
  next(): SheetRow | null {
    const xml = this.xml;
    let i = this.pos;
    for (;;) {
      i = xml.indexOf(this.rowOpen, i);
      if (i === -1 || i >= this.end) {
        this.pos = this.end;
        return null;
      }
      const c = xml.charCodeAt(i + this.rowOpen.length);
      if (c === 32 || c === 62 || c === 47 || c === 9 || c === 10 || c === 13) break;
      i += this.rowOpen.length;
    }
    const gt = xml.indexOf('>', i);
    if (gt === -1 || gt >= this.end) {
      // A row tag cut off at the end of the sheet: nothing more to read (never scan backwards).
      this.pos = this.end;
      return null;
    }
    const r = rowNumber(xml, i, gt);
    this.lastRow = r > 0 ? r : this.lastRow + 1;
    const row: SheetRow = { r: this.lastRow, cells: [], hasValue: false, needsQuoting: false };
    if (xml.charCodeAt(gt - 1) === 47) {
      this.pos = gt + 1; // <row …/>
      return row;
    }
    this.pos = this.scanCells(row, gt + 1);
    return row;
  }

  /**
   * Reads the cells of a row whose content starts at `from`; returns the position after `</row>`.
   * Pure character-code scanning: on ~8 short cells a row, builtin calls (indexOf, startsWith)
   * cost more than the few characters they would skip.
   */
  private scanCells(row: SheetRow, from: number): number {
    const xml = this.xml;
    const len = xml.length;
    const end = this.end;
    const cells = row.cells;
    const cOpen = this.cOpen;
    const cOpenLen = cOpen.length;
    const vOpenGt = this.vOpenGt;
    const vcClose = this.vcClose;
    const sst = this.ctx.sharedStrings;
    let j = from;
    let col = -1;
    for (;;) {
      // Cells follow each other directly; anything else (white space, other elements) is stepped over.
      if (xml.charCodeAt(j) !== 60) {
        j = xml.indexOf('<', j);
        if (j === -1 || j >= end) return end;
      }
      if (!at(xml, j, cOpen)) {
        if (at(xml, j, this.rowClose)) return j + this.rowClose.length;
        if (j >= end) return end;
        j++;
        continue;
      }
      let k = j + cOpenLen;
      let ch = xml.charCodeAt(k);
      if (ch !== 32 && ch !== 62 && ch !== 47 && ch !== 9 && ch !== 10 && ch !== 13) {
        j = k; // another element whose name starts with "c"
        continue;
      }
      // Attributes: r (column letters), t (type), s (style index).
      let refCol = -1;
      let type = T_NUMBER;
      let style = 0;
      let refStart = -1;
      let refEnd = -1;
      for (;;) {
        while (ch === 32 || ch === 9 || ch === 10 || ch === 13) ch = xml.charCodeAt(++k);
        if (ch === 62 || ch === 47 || k >= len) break;
        const nameStart = k;
        while (ch !== 61 && ch !== 32 && ch !== 62 && k < len) ch = xml.charCodeAt(++k);
        const nameLen = k - nameStart;
        while (ch !== 34 && ch !== 39 && ch !== 62 && k < len) ch = xml.charCodeAt(++k);
        if (ch === 62 || k >= len) break;
        const vStart = k + 1;
        let vEnd = vStart;
        while (vEnd < len && xml.charCodeAt(vEnd) !== ch) vEnd++;
        if (vEnd >= len) return end;
        k = vEnd + 1;
        ch = xml.charCodeAt(k);
        if (nameLen !== 1) continue;
        const name = xml.charCodeAt(nameStart);
        if (name === 114 /* r */) {
          refStart = vStart;
          refEnd = vEnd;
          let n = 0;
          for (let q = vStart; q < vEnd && n <= MAX_COLUMNS; q++) {
            const L = xml.charCodeAt(q);
            if (L >= 65 && L <= 90) n = n * 26 + (L - 64);
            else if (L >= 97 && L <= 122) n = n * 26 + (L - 96);
            else break;
          }
          if (n > MAX_COLUMNS) refCol = BAD_COLUMN;
          else if (n > 0) refCol = n - 1;
        } else if (name === 116 /* t */) {
          type = cellType(xml, vStart, vEnd);
        } else if (name === 115 /* s */) {
          let n = 0;
          for (let q = vStart; q < vEnd; q++) n = n * 10 + (xml.charCodeAt(q) - 48);
          style = n;
        }
      }
      if (k >= len) return end;
      if (refCol === BAD_COLUMN) {
        // Past Excel's last column (XFD): no sheet holds it; flag the row rather than pad to it.
        addError(row, `cell ${xml.slice(refStart, Math.min(refEnd, refStart + 20))} is beyond column XFD`);
        const close = xml.indexOf('>', k);
        if (close === -1) return end;
        if (xml.charCodeAt(close - 1) !== 47) {
          const cEnd = xml.indexOf(this.cClose, close);
          if (cEnd === -1) return end;
          j = cEnd + this.cClose.length;
        } else j = close + 1;
        continue;
      }
      col = refCol >= 0 ? refCol : col + 1;
      if (col >= MAX_COLUMNS) {
        addError(row, `more than ${MAX_COLUMNS} cells in row ${row.r}`);
        const close = xml.indexOf('>', k);
        if (close === -1) return end;
        j = close + 1;
        continue;
      }
      if (ch === 47) {
        // <c …/>: an empty (styled) cell
        const gt = xml.indexOf('>', k);
        if (gt === -1) return end;
        j = gt + 1;
        continue;
      }
      const gt = k; // ch is '>'
      let value: string | undefined;
      // Fast path, nearly every cell: <v>text</v></c> (a value holds no '<').
      let b = -1;
      const a = gt + 1 + vOpenGt.length;
      if (at(xml, gt + 1, vOpenGt)) {
        b = a;
        while (b < len && xml.charCodeAt(b) !== 60) b++;
      }
      if (b !== -1 && at(xml, b, vcClose)) {
        j = b + vcClose.length;
        if (type === T_SHARED && b > a) {
          let n = 0;
          for (let q = a; q < b; q++) {
            const d = xml.charCodeAt(q) - 48;
            if (d < 0 || d > 9) {
              n = -1;
              break;
            }
            n = n * 10 + d;
          }
          if (n >= 0 && n < sst.length) {
            value = sst[n]!;
            if (!row.needsQuoting && this.sharedNeedsQuoting(n)) row.needsQuoting = true;
          }
        }
        value ??= this.valueText(row, a, b, type, style, refStart, refEnd);
      } else {
        const cEnd = xml.indexOf(this.cClose, gt);
        if (cEnd === -1) return end;
        j = cEnd + this.cClose.length;
        value = this.cellValue(row, gt + 1, cEnd, type, style, refStart, refEnd);
      }
      if (value === '') continue;
      if (type !== T_SHARED && type !== T_NUMBER && !row.needsQuoting && NEEDS_QUOTING_RE.test(value)) row.needsQuoting = true;
      while (cells.length < col) cells.push('');
      if (cells.length === col) cells.push(value);
      else cells[col] = value; // a repeated or out-of-order reference: the later cell wins
      row.hasValue = true;
    }
  }

  /** Whether shared string n holds a comma, quote or line break; worked out once per string. */
  private sharedNeedsQuoting(n: number): boolean {
    let f = this.sstQuoting[n];
    if (f === 0) {
      f = NEEDS_QUOTING_RE.test(this.ctx.sharedStrings[n]!) ? 2 : 1;
      this.sstQuoting[n] = f;
    }
    return f === 2;
  }

  /** The text of one cell whose content (inside `<c>`) is xml[from, to). */
  private cellValue(row: SheetRow, from: number, to: number, type: number, style: number, refStart: number, refEnd: number): string {
    const xml = this.xml;
    if (type === T_INLINE) {
      const a = findTag(xml, this.isOpen, from, to);
      if (a === -1) return '';
      const e = xml.indexOf(this.isClose, a);
      const t = collectText(xml, a, e === -1 || e > to ? to : e, this.tOpen, this.tClose, this.rPhOpen, this.rPhClose);
      return decodeCellText(xmlNewlines(utf8FromLatin1(t)));
    }
    // <v>…</v> after a formula (<f>) or with attributes.
    const v = findTag(xml, this.vOpen, from, to);
    if (v === -1) return '';
    const gt = xml.indexOf('>', v);
    if (gt === -1 || gt >= to || xml.charCodeAt(gt - 1) === 47) return '';
    const b = xml.indexOf(this.vClose, gt);
    if (b === -1 || b > to) return '';
    return this.valueText(row, gt + 1, b, type, style, refStart, refEnd);
  }

  /** The text of a `<v>` value xml[a, b) of a cell of the given type and style. */
  private valueText(row: SheetRow, a: number, b: number, type: number, style: number, refStart: number, refEnd: number): string {
    const xml = this.xml;
    switch (type) {
      case T_SHARED: {
        let n = b > a ? 0 : -1;
        for (let q = a; q < b; q++) {
          const d = xml.charCodeAt(q) - 48;
          if (d < 0 || d > 9) {
            n = -1;
            break;
          }
          n = n * 10 + d;
        }
        const s = n >= 0 ? this.ctx.sharedStrings[n] : undefined;
        if (s === undefined) {
          addError(row, `cell ${xml.slice(refStart, refEnd)} refers to missing shared string ${xml.slice(a, b)}`);
          return '';
        }
        return s;
      }
      case T_NUMBER: {
        const v = xml.slice(a, b);
        const kind = this.ctx.dateKinds[style] ?? NOT_DATE;
        return kind === NOT_DATE ? numberText(v) : serialText(Number(v) + (this.ctx.date1904 ? 1462 : 0), kind, v);
      }
      case T_BOOL:
        return xml.charCodeAt(a) === 49 ? 'TRUE' : 'FALSE';
      case T_DATE:
        return isoDateText(xml.slice(a, b), this.ctx.dateKinds[style] ?? NOT_DATE);
      case T_ERROR: {
        const v = decodeCellText(utf8FromLatin1(xml.slice(a, b)));
        addError(row, `cell ${xml.slice(refStart, refEnd)} holds the Excel error ${v}`);
        return v;
      }
      default:
        return decodeCellText(xmlNewlines(utf8FromLatin1(xml.slice(a, b))));
    }
  }
}

const NON_ASCII_RE = /[\x80-\xff]/;
const NEEDS_QUOTING_RE = /[",\r\n]/;

/**
 * The sheet XML is read as latin1 (a byte-for-byte copy, far cheaper than UTF-8 decoding of the
 * whole part, and its markup is ASCII); the few text values holding non-ASCII bytes are decoded
 * as UTF-8 here, before entities are expanded.
 */
function utf8FromLatin1(s: string): string {
  return NON_ASCII_RE.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s;
}

/**
 * XML 1.0 §2.11: a parser hands on every literal CR LF or lone CR as LF. (A CR the writer meant
 * is escaped, `&#13;` or `_x000D_`, and is decoded after this.)
 */
function xmlNewlines(s: string): string {
  return s.indexOf('\r') === -1 ? s : s.replace(/\r\n?/g, '\n');
}

function addError(row: SheetRow, msg: string): void {
  row.error = row.error ? `${row.error}; ${msg}` : msg;
}

function cellType(xml: string, a: number, b: number): number {
  switch (xml.charCodeAt(a)) {
    case 115: // s, str
      return b - a === 1 ? T_SHARED : T_STR;
    case 105: // inlineStr
      return T_INLINE;
    case 98: // b
      return T_BOOL;
    case 100: // d
      return T_DATE;
    case 101: // e
      return T_ERROR;
    default: // n
      return T_NUMBER;
  }
}

/** The row tag's r attribute, or 0 when absent. */
function rowNumber(xml: string, from: number, to: number): number {
  let k = xml.indexOf(' r=', from);
  if (k === -1 || k > to) {
    // Attributes may be separated by other white space; rare, take the slow path.
    const m = /\sr\s*=\s*["'](\d+)["']/.exec(xml.slice(from, to));
    return m ? Number(m[1]) : 0;
  }
  k += 4; // past ` r="`
  let n = 0;
  for (;;) {
    const d = xml.charCodeAt(k++) - 48;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
  }
  return n;
}

function findTag(xml: string, open: string, from: number, to: number): number {
  let i = xml.indexOf(open, from);
  while (i !== -1 && i < to) {
    if (isTag(xml, i, open)) return i;
    i = xml.indexOf(open, i + open.length);
  }
  return -1;
}

/**
 * A number as text, never in exponent form: long ids (GCXH) stored as numbers come back with all
 * their digits. Excel keeps only 15 significant digits, so digits beyond that are whatever the
 * file holds (often zeros); the text of the file is expanded as written, not rounded through a
 * double a second time.
 */
export function numberText(v: string): string {
  const e = v.search(/[eE]/);
  if (e === -1) return v;
  const mant = v.slice(0, e);
  const exp = Number(v.slice(e + 1));
  if (!Number.isInteger(exp) || !/^[+-]?\d*\.?\d*$/.test(mant)) return v;
  let sign = '';
  let m = mant;
  if (m[0] === '-' || m[0] === '+') {
    if (m[0] === '-') sign = '-';
    m = m.slice(1);
  }
  const dot = m.indexOf('.');
  const intPart = dot === -1 ? m : m.slice(0, dot);
  const frac = dot === -1 ? '' : m.slice(dot + 1);
  let digits = intPart + frac;
  let point = intPart.length + exp; // position of the decimal point within digits
  if (point <= 0) {
    digits = '0'.repeat(1 - point) + digits;
    point = 1;
  } else if (point > digits.length) {
    digits = digits + '0'.repeat(point - digits.length);
  }
  let int = digits.slice(0, point).replace(/^0+(?=\d)/, '');
  const fr = digits.slice(point).replace(/0+$/, '');
  if (int === '') int = '0';
  return sign + int + (fr ? '.' + fr : '');
}

const EXCEL_DAY0 = '1899-12-30';

/**
 * A date-formatted serial as canonical China time. A whole-day serial is a date with no time
 * (`YYYY-MM-DD`, which stage 01 rejects) unless the cell's format shows a time, in which case it
 * is midnight (`YYYY-MM-DD 00:00:00`). Unusable serials keep their number text.
 */
export function serialText(serial: number, kind: DateKind, original: string): string {
  if (!Number.isFinite(serial) || serial < 1) return numberText(original);
  if (Number.isInteger(serial)) {
    const day = addDays(EXCEL_DAY0, serial);
    return kind === DATE_TIME ? day + ' 00:00:00' : day;
  }
  const r = parseExcelSerial(serial);
  return r.ok ? r.value : numberText(original);
}

const ISO_RE = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?/;

/** A `t="d"` cell (ISO 8601 text, wall-clock time) as canonical text, same whole-day rule. */
export function isoDateText(v: string, kind: DateKind): string {
  const m = ISO_RE.exec(v.trim());
  if (!m) return v;
  const date = m[1]!;
  if (m[2] === undefined) return kind === DATE_TIME ? date + ' 00:00:00' : date;
  const time = `${m[2]}:${m[3]}:${m[4] ?? '00'}`;
  if (time === '00:00:00' && kind !== DATE_TIME) return date;
  return `${date} ${time}`;
}
