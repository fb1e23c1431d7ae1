/**
 * The parts of an .xlsx package (SpreadsheetML) that every writer of ours needs: XML escaping,
 * column letters, the Excel date serial, and the fixed package files (workbook, styles,
 * relationships, content types, document properties). Two writers build on it: the sample
 * generator (etl/sample/xlsx-writer.ts: shared strings, a deterministic in-memory zip shaped like
 * the real FlexCel exports) and the streamed export (core/xlsx-stream.ts: inline strings, dates as
 * real date cells, written row by row through a streaming zip).
 */

export const XML_HEAD = '\ufeff<?xml version="1.0" encoding="utf-8" standalone="yes"?>';
export const NS_MAIN = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';
export const NS_REL = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
export const NS_PKG_REL = 'http://schemas.openxmlformats.org/package/2006/relationships';

/** Rows a worksheet can hold (Excel, LibreOffice): 1,048,576 including the header row. */
export const SHEET_MAX_ROWS = 1_048_576;

/** Style indexes of `stylesXml` (cellXfs order). */
export const STYLE = { plain: 0, date: 1, bold: 2 } as const;

const NEEDS_ESCAPE = /[&<>"]/;
/** Characters XML 1.0 cannot carry at all (C0 controls except tab, LF, CR; lone surrogates excluded here). */
const XML_INVALID = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/g;

/** Text as XML character data / attribute value. Invalid XML characters become OOXML `_xHHHH_`. */
export function xmlEscape(s: string): string {
  let out = NEEDS_ESCAPE.test(s) ? s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;') : s;
  if (XML_INVALID.test(out)) {
    XML_INVALID.lastIndex = 0;
    out = out.replace(XML_INVALID, (c) => `_x${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}_`);
  }
  XML_INVALID.lastIndex = 0;
  return out;
}

/** Column letters of a 0-based index: 0 → A, 25 → Z, 26 → AA. */
export function columnName(i: number): string {
  let n = i + 1;
  let s = '';
  while (n > 0) {
    const r = (n - 1) % 26;
    s = String.fromCharCode(65 + r) + s;
    n = Math.floor((n - 1) / 26);
  }
  return s;
}

/** Days from the spreadsheet epoch (1899-12-30) to 1970-01-01. */
const SERIAL_UNIX_DAY = 25569;

/**
 * The date serial a spreadsheet stores for a wall-clock time `YYYY-MM-DD HH:mm:ss` (days since
 * 1899-12-30, the time as the fraction). The serial has no time zone: it is the wall clock it is
 * given, here China local time, so the cell shows the same time on any machine.
 */
export function excelSerial(wallClock: string): number {
  const c = (i: number): number => wallClock.charCodeAt(i) - 48;
  const y = c(0) * 1000 + c(1) * 100 + c(2) * 10 + c(3);
  const mo = c(5) * 10 + c(6);
  const d = c(8) * 10 + c(9);
  const h = wallClock.length > 10 ? c(11) * 10 + c(12) : 0;
  const mi = wallClock.length > 10 ? c(14) * 10 + c(15) : 0;
  const s = wallClock.length > 10 ? c(17) * 10 + c(18) : 0;
  const days = Date.UTC(y, mo - 1, d) / 86_400_000 + SERIAL_UNIX_DAY;
  return days + (h * 3600 + mi * 60 + s) / 86_400;
}

export interface PackageOptions {
  sheets: readonly string[];
  /** Whether xl/sharedStrings.xml is part of the package. */
  sharedStrings: boolean;
  /** Number format of date cells (style STYLE.date), e.g. `yyyy-mm-dd hh:mm:ss`. */
  dateFormat: string;
  /** The Application / AppVersion of docProps/app.xml. */
  application: string;
  appVersion: string;
  /** W3CDTF creation and modification time of docProps/core.xml. */
  docDate: string;
}

/** Every package file except the worksheets and the shared strings: [zip path, XML]. */
export function packageParts(o: PackageOptions): {
  workbook: string;
  styles: string;
  core: string;
  app: string;
  rootRels: string;
  bookRels: string;
  contentTypes: string;
} {
  const sheets = o.sheets;
  const workbook =
    `${XML_HEAD}<workbook xmlns="${NS_MAIN}" xmlns:r="${NS_REL}"><fileVersion appName="xl" rupBuild="4506" lastEdited="4" lowestEdited="4" />` +
    '<workbookPr checkCompatibility="1" defaultThemeVersion="124226" /><bookViews><workbookView xWindow="480" yWindow="105" windowWidth="17145" windowHeight="8535" /></bookViews><sheets>' +
    sheets.map((name, i) => `<sheet name="${xmlEscape(name)}" sheetId="${i + 1}" r:id="flId${i + 1}" />`).join('') +
    '</sheets></workbook>';
  const styles =
    `${XML_HEAD}<styleSheet xmlns="${NS_MAIN}"><numFmts count="1"><numFmt numFmtId="164" formatCode="${xmlEscape(o.dateFormat)}" /></numFmts>` +
    '<fonts count="2"><font><sz val="9" /><name val="宋体" /><family val="2" /><charset val="134" /></font><font><b /><sz val="9" /><name val="宋体" /><family val="2" /><charset val="134" /></font></fonts>' +
    '<fills count="2"><fill><patternFill patternType="none" /></fill><fill><patternFill patternType="gray125" /></fill></fills>' +
    '<borders count="1"><border><left /><right /><top /><bottom /><diagonal /></border></borders>' +
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" /></cellStyleXfs>' +
    '<cellXfs count="3"><xf fontId="0" numFmtId="0" fillId="0" borderId="0" xfId="0" /><xf applyNumberFormat="1" fontId="0" numFmtId="164" fillId="0" borderId="0" xfId="0" /><xf applyFont="1" fontId="1" numFmtId="0" fillId="0" borderId="0" xfId="0" /></cellXfs>' +
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0" /></cellStyles></styleSheet>';
  const core =
    `${XML_HEAD}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
    `<dcterms:created xsi:type="dcterms:W3CDTF">${o.docDate}</dcterms:created><dcterms:modified xsi:type="dcterms:W3CDTF">${o.docDate}</dcterms:modified></cp:coreProperties>`;
  const app =
    `${XML_HEAD}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">` +
    `<Application>${xmlEscape(o.application)}</Application><DocSecurity>0</DocSecurity><HeadingPairs><vt:vector baseType="variant" size="2"><vt:variant><vt:lpstr>Worksheets</vt:lpstr></vt:variant><vt:variant><vt:i4>${sheets.length}</vt:i4></vt:variant></vt:vector></HeadingPairs>` +
    `<TitlesOfParts><vt:vector baseType="lpstr" size="${sheets.length}">${sheets.map((s) => `<vt:lpstr>${xmlEscape(s)}</vt:lpstr>`).join('')}</vt:vector></TitlesOfParts><AppVersion>${o.appVersion}</AppVersion></Properties>`;
  const rootRels =
    `${XML_HEAD}<Relationships xmlns="${NS_PKG_REL}"><Relationship Id="flId1" Type="${NS_REL}/officeDocument" Target="xl/workbook.xml" />` +
    `<Relationship Id="flId2" Type="${NS_PKG_REL}/metadata/core-properties" Target="docProps/core.xml" /><Relationship Id="flId3" Type="${NS_REL}/extended-properties" Target="docProps/app.xml" /></Relationships>`;
  const bookRels =
    `${XML_HEAD}<Relationships xmlns="${NS_PKG_REL}">` +
    (o.sharedStrings ? `<Relationship Id="flId${sheets.length + 1}" Type="${NS_REL}/sharedStrings" Target="sharedStrings.xml" />` : '') +
    `<Relationship Id="flId${sheets.length + 2}" Type="${NS_REL}/styles" Target="styles.xml" />` +
    sheets.map((_, i) => `<Relationship Id="flId${i + 1}" Type="${NS_REL}/worksheet" Target="worksheets/sheet${i + 1}.xml" />`).join('') +
    '</Relationships>';
  const ct = 'application/vnd.openxmlformats-officedocument';
  const contentTypes =
    `${XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml" /><Default Extension="xml" ContentType="application/xml" />` +
    `<Override PartName="/xl/workbook.xml" ContentType="${ct}.spreadsheetml.sheet.main+xml" />` +
    (o.sharedStrings ? `<Override PartName="/xl/sharedStrings.xml" ContentType="${ct}.spreadsheetml.sharedStrings+xml" />` : '') +
    `<Override PartName="/xl/styles.xml" ContentType="${ct}.spreadsheetml.styles+xml" />` +
    sheets.map((_, i) => `<Override PartName="/xl/worksheets/sheet${i + 1}.xml" ContentType="${ct}.spreadsheetml.worksheet+xml" />`).join('') +
    `<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml" /><Override PartName="/docProps/app.xml" ContentType="${ct}.extended-properties+xml" /></Types>`;
  return { workbook, styles, core, app, rootRels, bookRels, contentTypes };
}

export interface SheetOpenOptions {
  /** `A1:L100` when known up front; a streamed sheet leaves it out (it is optional). */
  dimension?: string;
  /** Column widths in characters, from column A. */
  widths?: readonly number[];
}

/** The start of a worksheet up to and including `<sheetData>`: header row frozen. */
export function sheetOpen(o: SheetOpenOptions): string {
  const cols = o.widths?.length
    ? '<cols>' + o.widths.map((w, i) => `<col min="${i + 1}" max="${i + 1}" width="${w}" customWidth="1" />`).join('') + '</cols>'
    : '';
  return (
    `${XML_HEAD}<worksheet xmlns="${NS_MAIN}" xmlns:r="${NS_REL}">` +
    (o.dimension ? `<dimension ref="${o.dimension}" />` : '') +
    '<sheetViews><sheetView tabSelected="1" topLeftCell="A1" workbookViewId="0"><pane ySplit="1" topLeftCell="B2" activePane="bottomLeft" state="frozen" /></sheetView></sheetViews>' +
    `<sheetFormatPr defaultColWidth="9.140625" defaultRowHeight="15" />${cols}<sheetData>`
  );
}

/** The end of a worksheet opened with `sheetOpen`. */
export const SHEET_CLOSE =
  '</sheetData><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3" /><pageSetup usePrinterDefaults="0" /></worksheet>';

/** A worksheet with no cells (the real exports carry an empty Sheet2). */
export const EMPTY_SHEET =
  `${XML_HEAD}<worksheet xmlns="${NS_MAIN}" xmlns:r="${NS_REL}"><dimension ref="A1" /><sheetViews><sheetView topLeftCell="A1" workbookViewId="0"><selection activeCell="A1" sqref="A1" /></sheetView></sheetViews>` +
  '<sheetFormatPr defaultColWidth="9.140625" defaultRowHeight="15" /><sheetData /><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3" /><pageSetup usePrinterDefaults="0" /></worksheet>';
