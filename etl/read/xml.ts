/**
 * The little XML an .xlsx needs, by string scanning (no DOM): entity decoding, the attributes of
 * one tag, and iteration over the tags of one name. Fast enough for the small parts (workbook,
 * relationships, styles); the sheet and shared strings have their own tighter loops.
 */

const ENTITY_RE = /&(?:#x([0-9a-fA-F]+)|#([0-9]+)|(amp|lt|gt|quot|apos));/g;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
/** OOXML escapes characters XML cannot hold as `_xHHHH_` (e.g. `_x000D_` for a carriage return). */
const OOXML_ESCAPE_RE = /_x([0-9A-Fa-f]{4})_/g;

function fromCodePoint(cp: number): string {
  return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : '\uFFFD';
}

/** Decodes XML entities (&amp; &lt; &gt; &quot; &apos; &#NNN; &#xHH;). */
export function decodeXml(s: string): string {
  if (s.indexOf('&') === -1) return s;
  return s.replace(ENTITY_RE, (_m, hex: string | undefined, dec: string | undefined, name: string | undefined) => {
    if (hex !== undefined) return fromCodePoint(parseInt(hex, 16));
    if (dec !== undefined) return fromCodePoint(parseInt(dec, 10));
    return NAMED[name!]!;
  });
}

/** Text of a spreadsheet string: entities, then OOXML `_xHHHH_` escapes (`_x005F_` escapes `_`). */
export function decodeCellText(s: string): string {
  const t = decodeXml(s);
  if (t.indexOf('_x') === -1) return t;
  return t.replace(OOXML_ESCAPE_RE, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

const ATTR_RE = /([A-Za-z_][\w.:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

/** Attributes of the tag whose text is `tag` (from `<name` to `>`); prefixes kept (`r:id`). */
export function attributes(tag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of tag.matchAll(ATTR_RE)) out.set(m[1]!, decodeXml(m[2] ?? m[3] ?? ''));
  return out;
}

/** The value of an attribute given by local name, whatever its namespace prefix (`r:id` → `id`). */
export function localAttr(attrs: Map<string, string>, local: string): string | undefined {
  const direct = attrs.get(local);
  if (direct !== undefined) return direct;
  for (const [k, v] of attrs) if (k.endsWith(':' + local)) return v;
  return undefined;
}

/** The namespace prefix used on the root element (`x:` in `<x:worksheet …>`), or ''. */
export function rootPrefix(xml: string, localName: string): string {
  const re = new RegExp(`<([A-Za-z_][\\w.-]*:)?${localName}[\\s>/]`);
  const m = re.exec(xml);
  return m?.[1] ?? '';
}

/** Every start tag `<name …>` / `<name …/>` in xml[from, to) (qualified name as written). */
export function* startTags(xml: string, name: string, from = 0, to = xml.length): Generator<string> {
  const open = '<' + name;
  let i = xml.indexOf(open, from);
  while (i !== -1 && i < to) {
    const after = xml.charCodeAt(i + open.length);
    // Whitespace, '>' or '/': the whole name matched (not `<sheetData` for `<sheet`).
    if (after === 32 || after === 9 || after === 10 || after === 13 || after === 62 || after === 47) {
      const end = xml.indexOf('>', i);
      if (end === -1) return;
      yield xml.slice(i, end + 1);
      i = xml.indexOf(open, end);
    } else {
      i = xml.indexOf(open, i + open.length);
    }
  }
}

/** Resolves a relationship target against the folder of the part that holds the relationship. */
export function resolvePartPath(baseDir: string, target: string): string {
  const t = target.replace(/\\/g, '/');
  const joined = t.startsWith('/') ? t.slice(1) : (baseDir ? baseDir + '/' : '') + t;
  const out: string[] = [];
  for (const seg of joined.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return out.join('/');
}
