/**
 * Which cell styles show a number as a date. A numeric cell is an Excel serial day number when
 * its style's number format (styles.xml cellXfs → numFmtId → built-in or custom numFmt) is a
 * date/time format; whether that format shows a time decides how a whole-day serial is read
 * (see docs/etl-readers.md).
 */
import { attributes, decodeXml, startTags } from './xml.ts';

export const NOT_DATE = 0;
export const DATE_ONLY = 1;
export const DATE_TIME = 2;
export type DateKind = typeof NOT_DATE | typeof DATE_ONLY | typeof DATE_TIME;

/**
 * Built-in number formats (ECMA-376 §18.8.30) that are dates; 27–36 and 50–58 are the East Asian
 * locale date formats, which a zh-CN Excel uses.
 */
const BUILTIN: ReadonlyMap<number, DateKind> = new Map<number, DateKind>([
  ...[14, 15, 16, 17, 27, 28, 29, 30, 31, 36, 50, 51, 52, 53, 54, 57, 58].map((id): [number, DateKind] => [id, DATE_ONLY]),
  ...[18, 19, 20, 21, 22, 32, 33, 34, 35, 45, 46, 47, 55, 56].map((id): [number, DateKind] => [id, DATE_TIME]),
]);

/** Classifies a custom format code such as `yyyy/M/d hh:mm:ss` or `0.00`. */
export function classifyFormatCode(code: string): DateKind {
  // Only the first section (positive numbers) matters for dates.
  let s = code.split(';')[0] ?? '';
  s = s
    .replace(/"[^"]*"/g, '') // literal text
    .replace(/\\./g, '') // escaped character
    .replace(/[_*]./g, '') // padding / fill character
    .replace(/\[(?:h+|m+|s+)\]/gi, 'h') // elapsed time [h]:mm keeps its meaning
    .replace(/\[[^\]]*\]/g, ''); // colours, conditions, locales
  if (/general/i.test(s)) s = s.replace(/general/gi, '');
  if (!/[ymdhs]/i.test(s)) return NOT_DATE;
  // "E" of scientific notation is not a date token; y/d are unambiguous, m with h or s too.
  return /[hs]/i.test(s) ? DATE_TIME : /[ymd]/i.test(s) ? DATE_ONLY : NOT_DATE;
}

/** Date kind by cell style index (the `s` attribute of a cell). */
export function readDateStyles(stylesXml: string | undefined): DateKind[] {
  if (!stylesXml) return [];
  const custom = new Map<number, DateKind>();
  const fmtsStart = stylesXml.indexOf('numFmts');
  if (fmtsStart !== -1) {
    for (const tag of startTags(stylesXml, prefixOf(stylesXml, 'numFmt') + 'numFmt', fmtsStart)) {
      const a = attributes(tag);
      const id = Number(a.get('numFmtId'));
      const code = a.get('formatCode');
      if (Number.isInteger(id) && code !== undefined) custom.set(id, classifyFormatCode(decodeXml(code)));
    }
  }
  const xfsOpen = stylesXml.search(/<([\w.-]+:)?cellXfs[\s>]/);
  if (xfsOpen === -1) return [];
  const xfsClose = stylesXml.indexOf('cellXfs>', xfsOpen + 8);
  const p = prefixOf(stylesXml, 'cellXfs');
  const kinds: DateKind[] = [];
  for (const tag of startTags(stylesXml, p + 'xf', xfsOpen, xfsClose === -1 ? stylesXml.length : xfsClose)) {
    const id = Number(attributes(tag).get('numFmtId') ?? 0);
    kinds.push(custom.get(id) ?? BUILTIN.get(id) ?? NOT_DATE);
  }
  return kinds;
}

function prefixOf(xml: string, local: string): string {
  const m = new RegExp(`<([\\w.-]+:)?${local}[\\s>/]`).exec(xml);
  return m?.[1] ?? '';
}
