/**
 * The stream record (DESIGN.md "Stream record"): the 12 master fields in master order,
 * tab-separated, UTF-8, no header; one per log line or Kafka message value (key = HPHM).
 * Decoding validates what every consumer relies on (including a KKMC that is a safe checkpoint code); a bad record is returned with the reason
 * so the caller can dead-letter it and go on.
 */
import { checkpointCodeProblem } from '../core/checkpoint-code.ts';
import { F, MASTER_COLUMNS, type MasterRow } from '../core/schema.ts';
import { isCanonicalGcsj } from '../core/time.ts';

export const FIELD_COUNT = MASTER_COLUMNS.length;

/** Tabs and newlines cannot occur inside a field of a line-oriented record: replaced by a space. */
function clean(field: string): string {
  return /[\t\r\n]/.test(field) ? field.replace(/[\t\r\n]/g, ' ') : field;
}

export function encodeRecord(row: readonly string[]): string {
  let s = clean(row[0] ?? '');
  for (let i = 1; i < FIELD_COUNT; i++) s += '\t' + clean(row[i] ?? '');
  return s;
}

export type DecodeResult = { ok: true; row: MasterRow } | { ok: false; reason: string };

export function decodeRecord(text: string): DecodeResult {
  const line = text.endsWith('\r') ? text.slice(0, -1) : text;
  if (line.length === 0) return { ok: false, reason: 'empty record' };
  const row = line.split('\t');
  if (row.length !== FIELD_COUNT) {
    return { ok: false, reason: `expected ${FIELD_COUNT} tab-separated fields, got ${row.length}` };
  }
  if (!row[F.GCXH]) return { ok: false, reason: 'GCXH empty' };
  // The code is shown on pages, in logs and in exports: only safe characters get in.
  const kkmcProblem = checkpointCodeProblem(row[F.KKMC]!);
  if (kkmcProblem) return { ok: false, reason: kkmcProblem };
  if (!isCanonicalGcsj(row[F.GCSJ] ?? '')) return { ok: false, reason: `GCSJ not YYYY-MM-DD HH:mm:ss: "${row[F.GCSJ]}"` };
  const w = row[F.IS_WEEKEND];
  const p = row[F.IS_PEAK_HOUR];
  if ((w !== '0' && w !== '1') || (p !== '0' && p !== '1')) {
    return { ok: false, reason: 'IS_WEEKEND / IS_PEAK_HOUR must be 0 or 1' };
  }
  return { ok: true, row };
}

/**
 * Field `index` of a stream record's UTF-8 bytes, as `decodeRecord` would give it for a valid
 * record (a tab is never part of a multi-byte UTF-8 character, so decoding one field's bytes
 * gives what decoding the whole record and splitting it gives). For the sink, which needs a
 * record's plate but not its other fields.
 */
export function recordField(bytes: Buffer, index: number): string {
  let start = 0;
  for (let i = 0; i < index; i++) {
    const tab = bytes.indexOf(9, start);
    if (tab < 0) return '';
    start = tab + 1;
  }
  let end = bytes.indexOf(9, start);
  if (end < 0) end = bytes.length > start && bytes[bytes.length - 1] === 13 ? bytes.length - 1 : bytes.length;
  return bytes.toString('utf8', start, end);
}
