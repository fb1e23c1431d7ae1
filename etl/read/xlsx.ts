/**
 * Raw .xlsx files, read by a focused OOXML reader: the package relationships lead to the workbook,
 * the workbook lists the sheets in order, and the first sheet holding any value is read. Its
 * first row with a value is the header; later rows with no value at all are skipped (they hold
 * nothing to lose).
 */
import { readFile, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { csvField } from '../../core/csv.ts';
import { TrafficError } from '../../core/errors.ts';
import { describeHeaderMismatch, recognizeHeader } from './header.ts';
import { fieldMap, joinErrors, shapeFields, type FieldMap } from './shape.ts';
import { SheetScanner, readSharedStrings, type SheetContext, type SheetRow } from './xlsx-sheet.ts';
import { readDateStyles } from './xlsx-styles.ts';
import { attributes, localAttr, resolvePartPath, rootPrefix, startTags } from './xml.ts';
import { ZipArchive, looksLikeOle, looksLikeZip } from './zip.ts';
import type { RawFileInfo, RawRecord } from './types.ts';

const utf8 = new TextDecoder('utf-8');
/** V8's longest string is ~512 MiB; a sheet that large (~1.7 M rows) should come as CSV. */
const MAX_SHEET_BYTES = 500e6;

interface SheetRef {
  name: string;
  part: string;
}

interface Workbook {
  /** A part's inflated bytes, undefined when absent; XLSX_INVALID when it cannot be inflated. */
  read: (part: string) => Uint8Array | undefined;
  sheets: SheetRef[];
  date1904: boolean;
  sharedStringsPart?: string;
  stylesPart?: string;
}

/** A workbook is read whole: past this it is refused (its sheet would be past MAX_SHEET_BYTES anyway). */
const MAX_XLSX_FILE_BYTES = 1e9;

export async function openXlsxFile(file: string): Promise<{ info: RawFileInfo; records: AsyncGenerator<RawRecord> }> {
  const size = (await stat(file)).size;
  if (size > MAX_XLSX_FILE_BYTES) {
    throw new TrafficError(
      'XLSX_INVALID',
      `workbook is ${Math.round(size / 1e6)} MB, more than this reader holds (${MAX_XLSX_FILE_BYTES / 1e6} MB); export it as CSV or split it`,
      { file },
    );
  }
  return readXlsxBytes(await readFile(file), file);
}

/** The same from bytes already in memory (`file` names them in errors). */
export async function readXlsxBytes(data: Buffer, file: string): Promise<{ info: RawFileInfo; records: AsyncGenerator<RawRecord> }> {
  const sha256 = createHash('sha256').update(data).digest('hex');
  const book = openWorkbook(data, file);

  // Shared strings and styles are read only once a sheet with cells is found.
  let ctx: SheetContext | undefined;
  for (const sheet of book.sheets) {
    const bytes = book.read(sheet.part);
    if (!bytes) throw new TrafficError('XLSX_INVALID', `sheet "${sheet.name}" is listed but its part ${sheet.part} is missing`, { file });
    // latin1: a straight byte copy; the scanner decodes the rare non-ASCII values itself.
    if (bytes.length > MAX_SHEET_BYTES) {
      throw new TrafficError(
        'XLSX_INVALID',
        `sheet "${sheet.name}" is ${Math.round(bytes.length / 1e6)} MB of XML, more than this reader holds in memory (${MAX_SHEET_BYTES / 1e6} MB); export it as CSV or split it`,
        { file },
      );
    }
    const xml = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    if (!hasCells(xml)) continue;
    ctx ??= readContext(book);
    const scanner = new SheetScanner(xml, ctx);
    let header: SheetRow | null;
    while ((header = scanner.next()) && !header.hasValue);
    if (!header) continue; // styled but empty cells only
    const headerCells = header.cells;
    const positions = recognizeHeader(headerCells);
    if (!positions) {
      throw new TrafficError('HEADER_UNRECOGNISED', `${describeHeaderMismatch(headerCells)} in sheet "${sheet.name}"`, {
        file,
        line: header.r,
      });
    }
    const info: RawFileInfo = {
      file,
      format: 'xlsx',
      sheet: sheet.name,
      headerLine: header.r,
      header: headerCells,
      sha256,
      bytes: data.length,
    };
    return { info, records: sheetRecords(scanner, fieldMap(positions, headerCells.length)) };
  }
  throw new TrafficError('XLSX_NO_DATA', `workbook has no sheet with data (${book.sheets.length} sheet(s), all empty)`, { file });
}

async function* sheetRecords(scanner: SheetScanner, map: FieldMap): AsyncGenerator<RawRecord> {
  let row: SheetRow | null;
  while ((row = scanner.next())) {
    if (!row.hasValue) continue;
    const src = row.cells;
    while (src.length < map.headerWidth) src.push('');
    const raw = row.needsQuoting ? joinQuoted(src) : src.join(',');
    if (map.identity) {
      const rec: RawRecord = { fields: src, line: row.r, raw };
      if (row.error !== undefined) rec.error = row.error;
      yield rec;
    } else {
      const s = shapeFields(src, map);
      const rec: RawRecord = { fields: s.fields, line: row.r, raw };
      const error = joinErrors(row.error, s.error);
      if (error !== undefined) rec.error = error;
      yield rec;
    }
  }
}

function joinQuoted(cells: readonly string[]): string {
  let s = csvField(cells[0] ?? '');
  for (let i = 1; i < cells.length; i++) s += ',' + csvField(cells[i]!);
  return s;
}

/** Cheap test before any parsing: does the sheet XML hold a cell at all? */
function hasCells(xml: string): boolean {
  const p = rootPrefix(xml, 'worksheet');
  return xml.indexOf('<' + p + 'c ') !== -1 || xml.indexOf('<' + p + 'c>') !== -1;
}

function readContext(book: Workbook): SheetContext {
  const text = (part: string | undefined): string | undefined => {
    const b = part ? book.read(part) : undefined;
    return b ? utf8.decode(b) : undefined;
  };
  return {
    sharedStrings: readSharedStrings(text(book.sharedStringsPart)),
    dateKinds: readDateStyles(text(book.stylesPart)),
    date1904: book.date1904,
  };
}

/** Opens the package and lists its worksheets in workbook order. */
export function openWorkbook(data: Uint8Array, file: string): Workbook {
  if (!looksLikeZip(data)) {
    const what = looksLikeOle(data)
      ? 'an encrypted workbook or a legacy .xls file, not an .xlsx package'
      : data.length === 0
        ? 'an empty file, not an .xlsx package'
        : 'not an .xlsx package (not a zip archive)';
    throw new TrafficError('XLSX_INVALID', `${path.basename(file)} is ${what}`, { file });
  }
  let zip: ZipArchive;
  try {
    zip = ZipArchive.open(data);
  } catch (err) {
    throw new TrafficError('XLSX_INVALID', `corrupt zip archive: ${(err as Error).message}`, { file }, { cause: err });
  }
  const readBytes = (part: string): Uint8Array | undefined => {
    try {
      return zip.read(part);
    } catch (err) {
      throw new TrafficError('XLSX_INVALID', `corrupt part ${part}: ${(err as Error).message}`, { file }, { cause: err });
    }
  };
  const read = (part: string): string | undefined => {
    const b = readBytes(part);
    return b ? utf8.decode(b) : undefined;
  };

  const rootRels = relationships(read('_rels/.rels'), '');
  const workbookPart = rootRels.find((r) => r.type.endsWith('/officeDocument'))?.target ?? 'xl/workbook.xml';
  const workbookXml = read(workbookPart);
  if (workbookXml === undefined) {
    throw new TrafficError('XLSX_INVALID', `not an .xlsx package: no workbook part (${workbookPart})`, { file });
  }
  const dir = path.posix.dirname(workbookPart);
  const relsPart = resolvePartPath(dir, `_rels/${path.posix.basename(workbookPart)}.rels`);
  const rels = relationships(read(relsPart), dir === '.' ? '' : dir);
  const byId = new Map(rels.map((r) => [r.id, r]));

  const p = rootPrefix(workbookXml, 'workbook');
  let date1904 = false;
  for (const tag of startTags(workbookXml, p + 'workbookPr')) {
    const v = attributes(tag).get('date1904');
    date1904 = v === '1' || v === 'true';
  }
  const sheets: SheetRef[] = [];
  for (const tag of startTags(workbookXml, p + 'sheet')) {
    const a = attributes(tag);
    const rel = byId.get(localAttr(a, 'id') ?? '');
    // Chart sheets and dialog sheets hold no cells.
    if (!rel || !rel.type.endsWith('/worksheet')) continue;
    sheets.push({ name: a.get('name') ?? rel.target, part: rel.target });
  }
  if (sheets.length === 0) throw new TrafficError('XLSX_INVALID', 'workbook lists no worksheet', { file });
  const out: Workbook = { read: readBytes, sheets, date1904 };
  const sst = rels.find((r) => r.type.endsWith('/sharedStrings'))?.target;
  const styles = rels.find((r) => r.type.endsWith('/styles'))?.target;
  if (sst) out.sharedStringsPart = sst;
  if (styles) out.stylesPart = styles;
  return out;
}

interface Relationship {
  id: string;
  type: string;
  /** Package path of the target. */
  target: string;
}

function relationships(xml: string | undefined, baseDir: string): Relationship[] {
  if (!xml) return [];
  const p = rootPrefix(xml, 'Relationships');
  const out: Relationship[] = [];
  for (const tag of startTags(xml, p + 'Relationship')) {
    const a = attributes(tag);
    if (a.get('TargetMode') === 'External') continue;
    const id = a.get('Id');
    const target = a.get('Target');
    if (id === undefined || target === undefined) continue;
    out.push({ id, type: a.get('Type') ?? '', target: resolvePartPath(baseDir, target) });
  }
  return out;
}
