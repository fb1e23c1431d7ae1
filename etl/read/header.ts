/**
 * Header recognition by content. Exports name the 8 contract columns in many ways: plain names
 * (`GCXH`), Oracle export expressions (`'G'||GCXH`, `TO_CHAR(GCSJ,'YYYY-MM-DDHH24:M`,
 * `SUBSTR(HPHM,1,4)||'***'`), the short alias `HP`, and Chinese names (过车序号 …). A cell is
 * matched to a column when exactly one column is named in it; a header is accepted only when all
 * 8 columns are found, each once. Extra, unmatched cells are allowed (their data is not read).
 */
import { RAW_COLUMNS } from '../../core/schema.ts';

/** Identifier tokens that name a contract column (upper case). */
const TOKEN_NAMES: ReadonlyMap<string, number> = new Map<string, number>([
  ...RAW_COLUMNS.map((c, i): [string, number] => [c, i]),
  // December exports name the masked plate column `HP`.
  ['HP', 6],
]);

/** Chinese column names; a cell containing one of them (e.g. `号牌号码（脱敏）`) names that column. */
const CHINESE_NAMES: readonly (readonly [string, number])[] = [
  ['过车序号', 0],
  ['行政区划名称', 1],
  ['行政区划', 1],
  ['卡口名称', 2],
  ['方向类型', 3],
  ['过车时间', 4],
  ['号牌种类', 5],
  ['号牌号码', 6],
  ['车牌号码', 6],
  ['车辆品牌型号', 7],
  ['品牌型号', 7],
];

const TOKEN_RE = /[A-Z_][A-Z0-9_]*/g;

/** Upper case, no BOM, no surrounding quotes, no white space (ASCII, full-width, NBSP). */
export function normalizeHeaderCell(cell: string): string {
  let s = cell.replace(/[\uFEFF\s\u3000\u00A0]+/g, '');
  // Strip one or more layers of matching surrounding quotes: `"GCXH"`, `'GCXH'`.
  while (s.length >= 2) {
    const q = s[0];
    if ((q === '"' || q === "'") && s[s.length - 1] === q) s = s.slice(1, -1);
    else break;
  }
  return s.toUpperCase();
}

/** The contract column (0–7) a header cell names, or -1 (none, or more than one). */
export function columnOfHeaderCell(cell: string): number {
  const s = normalizeHeaderCell(cell);
  if (s === '') return -1;
  const exact = TOKEN_NAMES.get(s);
  if (exact !== undefined) return exact;
  let found = -1;
  for (const tok of s.match(TOKEN_RE) ?? []) {
    const c = TOKEN_NAMES.get(tok);
    if (c === undefined || c === found) continue;
    if (found !== -1) return -1; // names two columns: ambiguous
    found = c;
  }
  for (const [name, c] of CHINESE_NAMES) {
    if (c === found || !s.includes(name)) continue;
    if (found !== -1) return -1;
    found = c;
  }
  return found;
}

export interface HeaderAnalysis {
  /** Source position of each contract column, or null when the header does not match. */
  positions: number[] | null;
  /** Contract columns no cell names. */
  missing: string[];
  /** Contract columns named by more than one cell. */
  duplicated: string[];
}

export function analyzeHeader(cells: readonly string[]): HeaderAnalysis {
  const positions: number[] = new Array<number>(RAW_COLUMNS.length).fill(-1);
  const duplicated = new Set<string>();
  cells.forEach((cell, i) => {
    const c = columnOfHeaderCell(cell);
    if (c === -1) return;
    if (positions[c] !== -1) duplicated.add(RAW_COLUMNS[c]!);
    else positions[c] = i;
  });
  const missing = RAW_COLUMNS.filter((_, c) => positions[c] === -1);
  const ok = missing.length === 0 && duplicated.size === 0;
  return { positions: ok ? positions : null, missing, duplicated: [...duplicated] };
}

/**
 * Maps the 8 contract columns (GCXH, XZQHMC, KKMC, FXLX, GCSJ, HPZL, HPHM, CLPPXH) to source
 * positions, or null when the cells cannot be matched to all 8.
 */
export function recognizeHeader(cells: string[]): number[] | null {
  return analyzeHeader(cells).positions;
}

/** A one-line reason for HEADER_UNRECOGNISED, showing what was read. */
export function describeHeaderMismatch(cells: readonly string[]): string {
  const a = analyzeHeader(cells);
  const parts: string[] = [];
  if (a.missing.length) parts.push(`no column names ${a.missing.join(', ')}`);
  if (a.duplicated.length) parts.push(`more than one column names ${a.duplicated.join(', ')}`);
  const shown = cells.slice(0, 12).map((c) => JSON.stringify(c.length > 40 ? c.slice(0, 40) + '…' : c));
  return `header not recognised (${parts.join('; ')}); read [${shown.join(', ')}${cells.length > 12 ? ', …' : ''}]`;
}

/** True when the source already is in contract order with nothing extra (no reordering needed). */
export function isIdentity(positions: readonly number[], headerWidth: number): boolean {
  if (headerWidth !== RAW_COLUMNS.length) return false;
  for (let i = 0; i < positions.length; i++) if (positions[i] !== i) return false;
  return true;
}
