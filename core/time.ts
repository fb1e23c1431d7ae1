/**
 * Pass times (GCSJ) are China local wall-clock times. China has had no daylight saving since 1991,
 * so Asia/Shanghai is a fixed UTC+8 for all our data: we never ask the machine's zone (tests run
 * under TZ=UTC to prove it). Times are kept as canonical strings `YYYY-MM-DD HH:mm:ss`, which sort
 * lexically in time order; arithmetic goes through epoch seconds with the fixed offset.
 */

export const CHINA_OFFSET_S = 8 * 3600;
const CHINA_OFFSET_MS = CHINA_OFFSET_S * 1000;
/** Excel's day 0 for the 1900 date system (serial 1 = 1900-01-01, with the 1900 leap-year bug). */
const EXCEL_EPOCH_UTC_MS = Date.UTC(1899, 11, 30);

const pad2 = (n: number): string => (n < 10 ? '0' + n : String(n));

function daysInMonth(y: number, m: number): number {
  return new Date(Date.UTC(y, m, 0)).getUTCDate();
}

export function formatParts(y: number, mo: number, d: number, h: number, mi: number, s: number): string {
  return `${y}-${pad2(mo)}-${pad2(d)} ${pad2(h)}:${pad2(mi)}:${pad2(s)}`;
}

export type ParseTimeResult = { ok: true; value: string } | { ok: false; reason: string };

// `2023/12/9 0:00:09`, `2023/12/1 0:02`, `2024-01-01 00:00:24`, `2024-01-01T00:00:24.5`, `2024-01-0100:00:24`
const TIME_RE = /^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]*(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d+))?)?)?$/;

/**
 * Parses any GCSJ form the exports use into `YYYY-MM-DD HH:mm:ss`. Fractional seconds are
 * truncated (the id keeps the event's identity; sub-second order is not in the data).
 * A date with no time is rejected: inventing midnight would put the pass in the wrong hour.
 */
export function parseGcsjText(text: string): ParseTimeResult {
  const s = text.trim();
  const fast = fastGcsj(s);
  return fast !== undefined ? { ok: true, value: fast } : parseGcsjByPattern(s);
}

/** parseGcsjText without its fast path (the reference the fast path is tested against). */
export function parseGcsjByPattern(text: string): ParseTimeResult {
  const s = text.trim();
  if (s === '' || s === '-') return { ok: false, reason: 'GCSJ empty' };
  const m = TIME_RE.exec(s);
  if (!m) {
    // An Excel serial written as text, e.g. "45292.0002777778".
    if (/^\d{5}(\.\d+)?$/.test(s)) return parseExcelSerial(Number(s));
    return { ok: false, reason: `GCSJ unparseable: ${s}` };
  }
  if (m[4] === undefined) return { ok: false, reason: `GCSJ has a date but no time: ${s}` };
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const h = Number(m[4]);
  const mi = Number(m[5]);
  const sec = m[6] === undefined ? 0 : Number(m[6]);
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || sec > 59) {
    return { ok: false, reason: `GCSJ out of range: ${s}` };
  }
  return { ok: true, value: formatParts(y, mo, d, h, mi, sec) };
}

const DATE_RE = /^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$/;
/** Date text → `YYYY-MM-DD`, or null when it is not a valid date (few distinct values per file). */
const dateCache = new Map<string, string | null>();

/**
 * The common shape `<date> H:mm[:ss]` (one space; any date form TIME_RE takes) parsed with the
 * date's part looked up once per distinct date text; undefined for anything else (and for every
 * invalid value), which then takes the full path and its error message. Same values as TIME_RE.
 */
function fastGcsj(s: string): string | undefined {
  const sp = s.indexOf(' ');
  if (sp < 8 || sp > 10) return undefined;
  const dateText = s.slice(0, sp);
  let iso = dateCache.get(dateText);
  if (iso === undefined) {
    const m = DATE_RE.exec(dateText);
    iso = null;
    if (m) {
      const y = Number(m[1]);
      const mo = Number(m[2]);
      const d = Number(m[3]);
      if (mo >= 1 && mo <= 12 && d >= 1 && d <= daysInMonth(y, mo)) iso = `${y}-${pad2(mo)}-${pad2(d)}`;
    }
    if (dateCache.size >= 4096) dateCache.clear();
    dateCache.set(dateText, iso);
  }
  if (iso === null) return undefined;
  // H or HH, ':', m or mm, then optionally ':', s or ss — digits only, nothing after.
  let i = sp + 1;
  const n = s.length;
  let h = 0;
  let digits = 0;
  for (; i < n && digits < 3; i++, digits++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    h = h * 10 + c;
  }
  if (digits === 0 || digits > 2 || s.charCodeAt(i) !== 58 /* : */) return undefined;
  i++;
  let mi = 0;
  digits = 0;
  for (; i < n && digits < 3; i++, digits++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    mi = mi * 10 + c;
  }
  if (digits === 0 || digits > 2) return undefined;
  let sec = 0;
  if (i < n) {
    if (s.charCodeAt(i) !== 58) return undefined;
    i++;
    digits = 0;
    for (; i < n && digits < 3; i++, digits++) {
      const c = s.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      sec = sec * 10 + c;
    }
    if (digits === 0 || digits > 2 || i !== n) return undefined;
  }
  if (h > 23 || mi > 59 || sec > 59) return undefined;
  return `${iso} ${pad2(h)}:${pad2(mi)}:${pad2(sec)}`;
}

/** Excel serial day number (1900 system) holding China wall-clock time. Rounded to the second. */
export function parseExcelSerial(serial: number): ParseTimeResult {
  if (!Number.isFinite(serial) || serial < 1) return { ok: false, reason: `GCSJ bad Excel serial: ${serial}` };
  if (Number.isInteger(serial)) return { ok: false, reason: `GCSJ has a date but no time: serial ${serial}` };
  const ms = EXCEL_EPOCH_UTC_MS + Math.round(serial * 86400) * 1000;
  return { ok: true, value: utcFieldsToText(new Date(ms)) };
}

/**
 * A JS Date from a spreadsheet reader that holds the wall-clock time in its UTC fields
 * (exceljs does this): read with UTC getters so the machine's zone cannot shift it.
 */
export function parseWallClockDate(d: Date): ParseTimeResult {
  if (Number.isNaN(d.getTime())) return { ok: false, reason: 'GCSJ invalid date cell' };
  const rounded = new Date(Math.round(d.getTime() / 1000) * 1000);
  if (rounded.getUTCHours() === 0 && rounded.getUTCMinutes() === 0 && rounded.getUTCSeconds() === 0) {
    return { ok: false, reason: `GCSJ has a date but no time: ${utcFieldsToText(rounded).slice(0, 10)}` };
  }
  return { ok: true, value: utcFieldsToText(rounded) };
}

function utcFieldsToText(d: Date): string {
  return formatParts(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds());
}

/** Epoch seconds of a canonical China-time string. */
export function toEpochSeconds(gcsj: string): number {
  const ms = Date.UTC(+gcsj.slice(0, 4), +gcsj.slice(5, 7) - 1, +gcsj.slice(8, 10), +gcsj.slice(11, 13), +gcsj.slice(14, 16), +gcsj.slice(17, 19));
  return ms / 1000 - CHINA_OFFSET_S;
}

/** Canonical China-time string of an epoch (ms). */
export function formatChinaTime(epochMs: number): string {
  return utcFieldsToText(new Date(Math.floor(epochMs / 1000) * 1000 + CHINA_OFFSET_MS));
}

/** China-time now, for run timestamps and `--mode now`. */
export function chinaNow(): string {
  return formatChinaTime(Date.now());
}

/** ISO 8601 with the +08:00 offset, for manifests and JSON (unambiguous for other tools). */
export function chinaIso(epochMs: number = Date.now(), withMs = false): string {
  const ms = withMs ? `.${String(Math.floor(epochMs) % 1000).padStart(3, '0')}` : '';
  return formatChinaTime(epochMs).replace(' ', 'T') + ms + '+08:00';
}

/** Day of week of a `YYYY-MM-DD…` string: 0 = Sunday … 6 = Saturday. */
export function weekday(dateOrTime: string): number {
  return new Date(Date.UTC(+dateOrTime.slice(0, 4), +dateOrTime.slice(5, 7) - 1, +dateOrTime.slice(8, 10))).getUTCDay();
}

export function isWeekend(dateOrTime: string): boolean {
  const w = weekday(dateOrTime);
  return w === 0 || w === 6;
}

/** `YYYY-MM-DD` shifted by whole days. */
export function addDays(date: string, days: number): string {
  const d = new Date(Date.UTC(+date.slice(0, 4), +date.slice(5, 7) - 1, +date.slice(8, 10) + days));
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}

/** Whole days from a to b (both `YYYY-MM-DD`). */
export function daysBetween(a: string, b: string): number {
  const ta = Date.UTC(+a.slice(0, 4), +a.slice(5, 7) - 1, +a.slice(8, 10));
  const tb = Date.UTC(+b.slice(0, 4), +b.slice(5, 7) - 1, +b.slice(8, 10));
  return Math.round((tb - ta) / 86_400_000);
}

/** Hour 0–23 of a canonical time string. */
export function hourOf(gcsj: string): number {
  return +gcsj.slice(11, 13);
}

/**
 * The one canonical GCSJ shape, `YYYY-MM-DD HH:mm:ss` in China local time: what stage 01 writes,
 * what every later stage, the stream record, the model and the stores accept. Times in this shape
 * sort lexically in time order.
 */
export const CANONICAL_GCSJ = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;
const CANONICAL_DAY = /^\d{4}-\d{2}-\d{2}$/;

export function isCanonicalGcsj(s: string): boolean {
  return CANONICAL_GCSJ.test(s);
}

/** Two ASCII digits at `at` as a number, or a negative number when either is not a digit. */
function twoDigits(s: string, at: number): number {
  const a = s.charCodeAt(at) - 48;
  const b = s.charCodeAt(at + 1) - 48;
  return a < 0 || a > 9 || b < 0 || b > 9 ? -1 : a * 10 + b;
}

/**
 * Epoch seconds of canonical GCSJ strings for hot loops (stage 01's sort keys, stage 04's scan,
 * the detector): the day's part is computed once per day (the input comes nearly in time order,
 * so the last day answers almost every call) and the clock part from the characters, without a
 * regex or a Date per row. `of` returns NaN for anything that is not a canonical time; the same
 * result as `toEpochSeconds` otherwise.
 */
export class EpochSeconds {
  private lastDay = '';
  private lastBase = NaN;
  private readonly days = new Map<string, number>();

  of(gcsj: string): number {
    if (gcsj.length !== 19 || gcsj.charCodeAt(10) !== 32 || gcsj.charCodeAt(13) !== 58 || gcsj.charCodeAt(16) !== 58) {
      return NaN;
    }
    const base = this.lastDay !== '' && gcsj.startsWith(this.lastDay) ? this.lastBase : this.dayBase(gcsj.slice(0, 10));
    if (Number.isNaN(base)) return NaN;
    const h = twoDigits(gcsj, 11);
    const m = twoDigits(gcsj, 14);
    const s = twoDigits(gcsj, 17);
    if (h < 0 || h > 23 || m < 0 || m > 59 || s < 0 || s > 59) return NaN;
    return base + h * 3600 + m * 60 + s;
  }

  private dayBase(day: string): number {
    let base = this.days.get(day);
    if (base === undefined) {
      base = CANONICAL_DAY.test(day) ? Date.UTC(+day.slice(0, 4), +day.slice(5, 7) - 1, +day.slice(8, 10)) / 1000 - CHINA_OFFSET_S : NaN;
      // Bounded: a long stream sees one day after another.
      if (this.days.size >= 10_000) this.days.clear();
      this.days.set(day, base);
    }
    this.lastDay = day;
    this.lastBase = base;
    return base;
  }
}

/**
 * Hour number of a canonical China-time string: whole hours since 1970-01-01 00:00 China time
 * (the start of its hour). Hourly series (forecast history) are indexed by it, so day and hour of
 * day are plain arithmetic: day = ⌊n / 24⌋, hour = n mod 24.
 */
export function chinaHourNumber(gcsj: string): number {
  return Math.floor((toEpochSeconds(gcsj) + CHINA_OFFSET_S) / 3600);
}

/** `YYYY-MM-DD HH:00:00` of an hour number (inverse of chinaHourNumber). */
export function hourNumberText(n: number): string {
  return formatChinaTime((n * 3600 - CHINA_OFFSET_S) * 1000);
}

/** Saturday/Sunday for a China-local day number (days since 1970-01-01, a Thursday). */
export function isWeekendDayNumber(day: number): boolean {
  const w = (((day + 4) % 7) + 7) % 7;
  return w === 0 || w === 6;
}
