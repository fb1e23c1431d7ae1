/**
 * Cells a spreadsheet would read as a formula (CSV/formula injection, OWASP "CSV Injection"):
 * text starting with `=`, `+`, `-`, `@`, a tab or a carriage return. Exports (CSV and XLSX) pass
 * every text cell through `neutralizeCell`, which prefixes such a cell with a single quote so the
 * spreadsheet shows it as text. Plain numbers (`-12`, `+86`, `3.5`) and the `-` placeholder of the
 * data stay as they are: they are values, not formulas, and users sort and sum them.
 */
const FORMULA_START = /^[=+\-@\t\r]/;
const PLAIN_NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

/** True when a spreadsheet would evaluate this cell text. */
export function isFormulaLike(value: string): boolean {
  return FORMULA_START.test(value) && value !== '-' && !PLAIN_NUMBER.test(value);
}

/** The cell text a spreadsheet shows as typed: formula-like text gets a leading `'`. */
export function neutralizeCell(value: string): string {
  return isFormulaLike(value) ? `'${value}` : value;
}
