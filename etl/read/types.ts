/** The shapes the raw readers hand to stage 01 (re-exported by raw.ts, the public entry). */

export interface RawRecord {
  /** The 8 contract fields in contract order (GCXH … CLPPXH); see shapeFields for the exceptions. */
  fields: string[];
  /** 1-based physical line (CSV) or sheet row number (XLSX). */
  line: number;
  /** The record as read: CSV line text; XLSX cells joined by commas (CSV-quoted where needed). */
  raw: string;
  /** A structural problem (bad bytes, unterminated quote, Excel error cell …); stage 01 rejects it. */
  error?: string;
}

export interface RawFileInfo {
  file: string;
  format: 'csv' | 'xlsx';
  /** CSV only. Final once `records` has been read to the end (a pure-ASCII file is utf-8). */
  encoding?: 'utf-8' | 'gb18030';
  /** XLSX only: the sheet read. */
  sheet?: string;
  /** 1-based line (CSV) or row (XLSX) of the header. */
  headerLine: number;
  header: string[];
  /** Hex SHA-256 of the file's bytes. CSV: filled in when `records` has been read to the end. */
  sha256: string;
  bytes: number;
}
