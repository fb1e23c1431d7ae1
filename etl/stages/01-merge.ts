/**
 * Stage 01 merge: every raw file → one table, one row per pass id (GCXH), sorted by GCSJ then GCXH.
 *
 * Not a RowStage: it reads many files and must see all of them before it can sort. The row logic
 * is split into small pure pieces (normalize one record, dedupe, sort) that tests call on literal
 * rows; `mergeRawFiles` is the thin driver that feeds them from the raw readers.
 *
 * Memory: the sort holds kept rows packed (~0.4 kB a row, see docs/etl.md) up to the run's memory
 * budget, then spills them as a sorted run (Deduper.spillRun; merged by etl/sorted-runs.ts); what
 * stays for every row is the compact key set for copy detection (~40 bytes a row).
 */
import { F, RAW_COLUMNS, type PassRow } from '../../core/schema.ts';
import { CHINA_OFFSET_S, EpochSeconds, parseGcsjText } from '../../core/time.ts';
import { TrafficError } from '../../core/errors.ts';
import { IntPairIndex } from '../logic/idtable.ts';
import { Int32List, type SpillFile, type SpillRange } from '../spill.ts';

export const MERGE_STAGE = '01-merge';
export const FIELD_COUNT = RAW_COLUMNS.length;

export type NormalizeResult = { ok: true; row: PassRow } | { ok: false; reason: string };

const DIGITS = /^\d+$/;
/**
 * A record holding the packing separators (see packRow) cannot be held packed; no export uses
 * these control characters, so such a record is garbage. Checked on the record's text, which holds
 * every field (one native scan instead of a test per field).
 */
export function separatorReason(raw: string): string | undefined {
  return raw.indexOf('\x1f') !== -1 || raw.indexOf('\x1e') !== -1 ? 'control character U+001E/U+001F in the record' : undefined;
}

/**
 * One raw record → a canonical 8-field row, or the reason it cannot be one.
 * Cells are trimmed; GCXH loses the January `G` prefix and must be digits; GCSJ becomes
 * `YYYY-MM-DD HH:mm:ss` with its exact second. Nothing else is touched: values are repaired in 04.
 */
export function normalizeRecord(fields: readonly string[]): NormalizeResult {
  if (fields.length !== FIELD_COUNT) {
    return { ok: false, reason: `expected ${FIELD_COUNT} fields, got ${fields.length}` };
  }
  const row: string[] = new Array<string>(FIELD_COUNT);
  for (let i = 0; i < FIELD_COUNT; i++) row[i] = (fields[i] as string).trim();
  let gcxh = row[F.GCXH] as string;
  if (gcxh.charCodeAt(0) === 71 /* G */ || gcxh.charCodeAt(0) === 103 /* g */) gcxh = gcxh.slice(1);
  if (gcxh === '') return { ok: false, reason: 'GCXH empty' };
  if (!DIGITS.test(gcxh)) return { ok: false, reason: `GCXH not digits: ${row[F.GCXH]}` };
  row[F.GCXH] = gcxh;
  const t = parseGcsjText(row[F.GCSJ] as string);
  if (!t.ok) return { ok: false, reason: t.reason };
  row[F.GCSJ] = t.value;
  return { ok: true, row };
}

/**
 * Rows are held packed while the data set is in memory: one string per row,
 * `GCSJ \x1f GCXH \x1f XZQHMC \x1f KKMC \x1f FXLX \x1f HPZL \x1f HPHM \x1f CLPPXH`.
 * One object per row instead of ten keeps the garbage collector's work (it marks every live
 * object, again and again while the heap grows) from dominating the merge; GCSJ first makes the
 * sort key a fixed prefix. Records holding the separators are rejected by normalizeRecord.
 */
export const FS = '\x1f';
const PACK_ORDER = [F.GCSJ, F.GCXH, F.XZQHMC, F.KKMC, F.FXLX, F.HPZL, F.HPHM, F.CLPPXH] as const;

export function packRow(row: readonly string[]): string {
  let s = row[F.GCSJ] as string;
  for (let i = 1; i < PACK_ORDER.length; i++) s += FS + (row[PACK_ORDER[i] as number] as string);
  return s;
}

export function unpackRow(packed: string): PassRow {
  const p = packed.split(FS);
  return [p[1], p[2], p[3], p[4], p[0], p[5], p[6], p[7]] as PassRow;
}

/** GCXH of a packed row (its second field). */
function packedId(packed: string): string {
  const a = packed.indexOf(FS);
  const b = packed.indexOf(FS, a + 1);
  return packed.slice(a + 1, b);
}

/** Where a kept row came from, for the reason of a conflicting duplicate. */
export interface RowSource {
  file: string;
  line: number;
}

export type AddResult = { kind: 'kept' } | { kind: 'copy' } | { kind: 'conflict'; reason: string };

/**
 * Keeps the first row of each GCXH. A later row with the same GCXH and the same content is a
 * copy (the exports overlap: a file duplicated under another day's name); same GCXH with other
 * content keeps the first and rejects the later one, naming where the first came from.
 * Rows are kept packed (packRow).
 *
 * Bounded memory (etl/memory.ts): `spillRun` sorts the rows held (`rows`) and appends them to a
 * spill file as one sorted run, keeping only the compact global key set: per kept row its id's
 * entry, source file and line, and where the spilled row sits in the file (4 bytes each), so that
 * a later copy is still compared with the first row's exact content, read back from disk.
 */
export class Deduper {
  /** Kept rows held in memory: all of them, or those since the last spilled run. */
  rows: string[] = [];
  /** Row index (in the order rows were kept) of rows[0]: the rows before it are spilled. */
  private base = 0;
  private readonly index = new Map<string, number>();
  /** 18-digit GCXH as (first 9 digits, last 9 digits) → entry; rowOfEntry[entry] = row index. */
  private readonly numeric = new IntPairIndex(1 << 16);
  private readonly rowOfEntry = new Int32List(1 << 16);
  private readonly files: string[] = [];
  private readonly fileIds = new Map<string, number>();
  private readonly srcFile = new Int32List(1 << 16);
  private readonly srcLine = new Int32List(1 << 16);
  /** Row index → its record's ordinal in the spill file (rows before `base` only). */
  private readonly spilledAt = new Int32List(0);
  private spill: SpillFile | undefined;
  /** The sorted runs in the spill file, in the order they were written. */
  readonly runs: SpillRange[] = [];
  copies = 0;

  /** Rows kept so far (held and spilled). */
  get kept(): number {
    return this.base + this.rows.length;
  }

  add(row: PassRow, src: RowSource): AddResult {
    return this.addPacked(packRow(row), src);
  }

  /**
   * The row index of a packed row's GCXH, or undefined when it is new (then recorded as the next
   * row). The exports' ids are 18 digits: those are kept as two 9-digit integers in an
   * open-addressing table (one probe, no string hashed or kept per row); any other id goes to a Map.
   */
  private indexOf(packed: string): number | undefined {
    const a = packed.indexOf(FS);
    const b = packed.indexOf(FS, a + 1);
    if (b - a - 1 === 18) {
      let hi = 0;
      let lo = 0;
      let ok = true;
      for (let i = a + 1; i < a + 10; i++) {
        const c = packed.charCodeAt(i) - 48;
        if (c < 0 || c > 9) ok = false;
        hi = hi * 10 + c;
      }
      for (let i = a + 10; i < b; i++) {
        const c = packed.charCodeAt(i) - 48;
        if (c < 0 || c > 9) ok = false;
        lo = lo * 10 + c;
      }
      if (ok) {
        const before = this.numeric.size;
        const e = this.numeric.intern(hi, lo);
        if (e === before) {
          this.rowOfEntry.push(this.kept);
          return undefined;
        }
        return this.rowOfEntry.get(e);
      }
    }
    const gcxh = packed.slice(a + 1, b);
    const at = this.index.get(gcxh);
    if (at === undefined) this.index.set(gcxh, this.kept);
    return at;
  }

  addPacked(packed: string, src: RowSource): AddResult {
    const at = this.indexOf(packed);
    if (at === undefined) {
      this.rows.push(packed);
      let fid = this.fileIds.get(src.file);
      if (fid === undefined) {
        fid = this.files.length;
        this.files.push(src.file);
        this.fileIds.set(src.file, fid);
      }
      this.srcFile.push(fid);
      this.srcLine.push(src.line);
      return { kind: 'kept' };
    }
    const firstPacked = at >= this.base ? (this.rows[at - this.base] as string) : (this.spill as SpillFile).recordAt(this.spilledAt.get(at));
    if (firstPacked === packed) {
      this.copies++;
      return { kind: 'copy' };
    }
    const first = unpackRow(firstPacked);
    const row = unpackRow(packed);
    const diff: string[] = [];
    for (let i = 1; i < FIELD_COUNT; i++) if (first[i] !== row[i]) diff.push(RAW_COLUMNS[i] as string);
    const file = this.files[this.srcFile.get(at)] as string;
    return {
      kind: 'conflict',
      reason: `GCXH duplicate with different content: first at ${file} line ${this.srcLine.get(at)} (differs in ${diff.join('/')})`,
    };
  }

  /**
   * Sorts the rows held (sortPacked's order) and appends them to `file` as one sorted run; the
   * memory they took is free after this. Every run goes to the same file.
   */
  spillRun(file: SpillFile): void {
    if (this.spill && this.spill !== file) throw new TrafficError('INTERNAL', 'a Deduper spills to one file');
    this.spill = file;
    const rows = this.rows;
    if (rows.length === 0) return;
    const order = packedOrder(rows);
    const start = file.size;
    const first = file.count;
    for (let k = 0; k < order.length; k++) {
      const i = order[k] as number;
      file.append(rows[i] as string);
      this.spilledAt.set(this.base + i, first + k);
    }
    file.flush();
    this.runs.push({ start, end: file.size, count: rows.length });
    this.base += rows.length;
    this.rows = [];
  }
}

/** GCSJ then GCXH, both as text (canonical times sort lexically in time order). */
export function compareRows(a: readonly string[], b: readonly string[]): number {
  const ta = a[F.GCSJ] as string;
  const tb = b[F.GCSJ] as string;
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ga = a[F.GCXH] as string;
  const gb = b[F.GCXH] as string;
  return ga < gb ? -1 : ga > gb ? 1 : 0;
}

/**
 * Sorts in place by GCSJ then GCXH, the same order as `compareRows`. A comparator sort over
 * 600k rows costs ~2 s here (the calls, not the comparisons), so rows are ordered by a numeric key
 * instead: seconds since 2000 × 2^b + row index, in a Float64Array sorted natively; only rows
 * sharing a second (a handful) are then ordered by GCXH. Falls back to the comparator when the
 * key would not fit in 53 bits or a time is not canonical.
 */
export function sortRows(rows: PassRow[]): PassRow[] {
  return keySort(rows, (r) => r[F.GCSJ] as string, compareRows);
}

/** GCSJ then GCXH of packed rows (packRow): GCSJ is the first field. */
export function comparePacked(a: string, b: string): number {
  const ta = a.slice(0, a.indexOf(FS));
  const tb = b.slice(0, b.indexOf(FS));
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ga = packedId(a);
  const gb = packedId(b);
  return ga < gb ? -1 : ga > gb ? 1 : 0;
}

/** sortRows for packed rows. */
export function sortPacked(rows: string[]): string[] {
  return keySort(rows, (r) => r.slice(0, r.indexOf(FS)), comparePacked);
}

function keySort<T>(rows: T[], gcsjOf: (r: T) => string, cmp: (a: T, b: T) => number): T[] {
  const n = rows.length;
  if (n < 2) return rows;
  const order = keyOrder(rows, gcsjOf, cmp);
  const sorted: T[] = new Array<T>(n);
  for (let i = 0; i < n; i++) sorted[i] = rows[order[i] as number] as T;
  for (let i = 0; i < n; i++) rows[i] = sorted[i] as T;
  return rows;
}

/**
 * The sorted order of `rows` as indexes into it (order[k] = index of the k-th row), by the numeric
 * key described at sortRows; the comparator decides ties on the second, and everything when a
 * time is not canonical.
 */
function keyOrder<T>(rows: readonly T[], gcsjOf: (r: T) => string, cmp: (a: T, b: T) => number): Int32Array {
  const n = rows.length;
  const order = new Int32Array(n);
  const byCmp = (): Int32Array => {
    const idx = Array.from({ length: n }, (_, i) => i).sort((x, y) => cmp(rows[x] as T, rows[y] as T));
    order.set(idx);
    return order;
  };
  if (n < 2) return order;
  const bits = Math.max(1, Math.ceil(Math.log2(n)));
  const mult = 2 ** bits;
  const keys = new Float64Array(n);
  const secondsOf = makeSecondsOf();
  for (let i = 0; i < n; i++) {
    const s = secondsOf(gcsjOf(rows[i] as T));
    if (s < 0 || s * mult + mult > Number.MAX_SAFE_INTEGER) return byCmp();
    keys[i] = s * mult + i;
  }
  keys.sort();
  for (let i = 0; i < n; i++) order[i] = (keys[i] as number) % mult;
  // Ties on the second: order by GCXH (runs are short). Equal keys ⇔ equal canonical GCSJ.
  let start = 0;
  for (let i = 1; i <= n; i++) {
    if (i === n || Math.floor((keys[i] as number) / mult) !== Math.floor((keys[start] as number) / mult)) {
      if (i - start > 1) {
        const part = Array.from(order.subarray(start, i)).sort((x, y) => cmp(rows[x] as T, rows[y] as T));
        for (let j = start; j < i; j++) order[j] = part[j - start] as number;
      }
      start = i;
    }
  }
  return order;
}

/** sortPacked as an order (indexes into `rows`), for a sorted run written without moving the rows. */
export function packedOrder(rows: readonly string[]): Int32Array {
  return keyOrder(rows, (r) => r.slice(0, r.indexOf(FS)), comparePacked);
}

/** China-local wall-clock seconds of 2000-01-01 00:00:00 as epoch seconds. */
const Y2000_CHINA_EPOCH_S = Date.UTC(2000, 0, 1) / 1000 - CHINA_OFFSET_S;

/** Seconds since 2000-01-01 (China local time) of a canonical time, or -1. */
function makeSecondsOf(): (t: string) => number {
  const epochs = new EpochSeconds();
  return (t) => {
    const e = epochs.of(t);
    return Number.isNaN(e) || e < Y2000_CHINA_EPOCH_S ? -1 : e - Y2000_CHINA_EPOCH_S;
  };
}

export interface MergeReject {
  file: string;
  line: number;
  reason: string;
  raw: string;
}

/** A raw record as the merge sees it (the shape of etl/read/raw.ts RawRecord). */
export interface MergeInputRecord {
  fields: string[];
  line: number;
  raw: string;
  error?: string;
}

/**
 * The dedupe step for a normalized row (the file driver normalizes in the reader thread). A
 * conflicting duplicate is rejected with the normalized row as its RAW text.
 */
export function admitPacked(dedupe: Deduper, file: string, line: number, packed: string, onReject: (r: MergeReject) => void): 'kept' | 'copy' | 'rejected' {
  const r = dedupe.addPacked(packed, { file, line });
  if (r.kind === 'conflict') {
    onReject({ file, line, reason: r.reason, raw: unpackRow(packed).join(',') });
    return 'rejected';
  }
  return r.kind;
}

/**
 * The merge's per-record step: decide keep / copy / reject. Used by tests and small jobs; the
 * file driver runs the same two halves (normalize in the reader thread, then admitPacked).
 */
export function mergeRecord(dedupe: Deduper, file: string, rec: MergeInputRecord, onReject: (r: MergeReject) => void): 'kept' | 'copy' | 'rejected' {
  if (rec.error !== undefined) {
    onReject({ file, line: rec.line, reason: rec.error, raw: rec.raw });
    return 'rejected';
  }
  const bad = separatorReason(rec.raw);
  const n = bad === undefined ? normalizeRecord(rec.fields) : ({ ok: false, reason: bad } as const);
  if (!n.ok) {
    onReject({ file, line: rec.line, reason: n.reason, raw: rec.raw });
    return 'rejected';
  }
  return admitPacked(dedupe, file, rec.line, packRow(n.row), onReject);
}

export interface MergeResult {
  rows: PassRow[];
  in: number;
  copies: number;
  rejects: MergeReject[];
}

/** Merges literal inputs in memory (tests, small jobs): the same steps the file driver runs. */
export function mergeInMemory(inputs: readonly { file: string; records: readonly MergeInputRecord[] }[]): MergeResult {
  const dedupe = new Deduper();
  const rejects: MergeReject[] = [];
  let n = 0;
  for (const input of inputs) {
    for (const rec of input.records) {
      n++;
      mergeRecord(dedupe, input.file, rec, (r) => rejects.push(r));
    }
  }
  return { rows: sortPacked(dedupe.rows).map(unpackRow), in: n, copies: dedupe.copies, rejects };
}
