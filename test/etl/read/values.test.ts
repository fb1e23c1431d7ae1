import { describe, expect, it } from 'vitest';
import { isoDateText, numberText, readSharedStrings, serialText } from '../../../etl/read/xlsx-sheet.ts';
import { DATE_ONLY, DATE_TIME, NOT_DATE, classifyFormatCode, readDateStyles } from '../../../etl/read/xlsx-styles.ts';
import { decodeCellText, decodeXml, resolvePartPath } from '../../../etl/read/xml.ts';
import { decide, mostlyUtf8 } from '../../../etl/read/decode.ts';
import iconv from 'iconv-lite';

describe('cell values', () => {
  it('prints long numeric ids with all their digits, never in exponent form', () => {
    expect(numberText('320300109027253771')).toBe('320300109027253771');
    expect(numberText('3.2030010902725299E+17')).toBe('320300109027252990');
    expect(numberText('3.20300109027253E+17')).toBe('320300109027253000');
    expect(numberText('1.5E-3')).toBe('0.0015');
    expect(numberText('-2.5e2')).toBe('-250');
    expect(numberText('45292.0002777778')).toBe('45292.0002777778');
    expect(numberText('2')).toBe('2');
  });

  it('turns date serials into canonical text, keeping a whole day as a date unless the format shows time', () => {
    expect(serialText(45292.0002777778, DATE_TIME, '')).toBe('2024-01-01 00:00:24');
    expect(serialText(45291.99999, DATE_TIME, '')).toBe('2023-12-31 23:59:59');
    expect(serialText(45292.0002777778, DATE_ONLY, '')).toBe('2024-01-01 00:00:24');
    expect(serialText(45292, DATE_ONLY, '45292')).toBe('2024-01-01');
    expect(serialText(45292, DATE_TIME, '45292')).toBe('2024-01-01 00:00:00');
    expect(serialText(0.5, DATE_TIME, '0.5')).toBe('0.5');
  });

  it('reads ISO date cells as wall-clock text', () => {
    expect(isoDateText('2024-01-01T00:00:24', DATE_TIME)).toBe('2024-01-01 00:00:24');
    expect(isoDateText('2024-01-01T00:00:24.500Z', NOT_DATE)).toBe('2024-01-01 00:00:24');
    expect(isoDateText('2024-01-01T00:00:00', NOT_DATE)).toBe('2024-01-01');
    expect(isoDateText('2024-01-01', DATE_TIME)).toBe('2024-01-01 00:00:00');
  });

  it('classifies number formats as dates with or without time', () => {
    expect(classifyFormatCode('yyyy/M/d hh:mm:ss')).toBe(DATE_TIME);
    expect(classifyFormatCode('yyyy-mm-dd')).toBe(DATE_ONLY);
    expect(classifyFormatCode('[$-804]yyyy"年"m"月"d"日"')).toBe(DATE_ONLY);
    expect(classifyFormatCode('[h]:mm:ss')).toBe(DATE_TIME);
    expect(classifyFormatCode('0.00E+00')).toBe(NOT_DATE);
    expect(classifyFormatCode('"$U"\\ #,##0_);[Red]\\("$U"\\ #,##0\\)')).toBe(NOT_DATE);
    expect(classifyFormatCode('_(* #,##0_);_(* \\(#,##0\\);_(* "-"_);_(@_)')).toBe(NOT_DATE);
    expect(classifyFormatCode('General')).toBe(NOT_DATE);
    expect(classifyFormatCode('@')).toBe(NOT_DATE);
  });

  it('reads cell styles: custom formats override built-ins, cellStyleXfs do not count', () => {
    const xml =
      '<styleSheet><numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy/M/d hh:mm:ss" /><numFmt numFmtId="14" formatCode="0.00"/></numFmts>' +
      '<cellStyleXfs count="1"><xf numFmtId="22"/></cellStyleXfs>' +
      '<cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="14"/><xf numFmtId="22"/></cellXfs></styleSheet>';
    expect(readDateStyles(xml)).toEqual([NOT_DATE, DATE_TIME, NOT_DATE, DATE_TIME]);
  });

  it('decodes XML entities and OOXML escapes', () => {
    expect(decodeXml('a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#33487; &#x82CF;')).toBe('a & b <c> "d" \'e\' 苏 苏');
    expect(decodeXml('&amp;lt;')).toBe('&lt;');
    expect(decodeCellText('x_x000D__x005F_x000A_')).toBe('x\r_x000A_');
  });

  it('reads shared strings: plain, preserved space, rich runs, phonetic runs left out, empty', () => {
    const xml =
      '<sst><si><t>A</t></si><si><t xml:space="preserve"> b </t></si><si><r><t>邳</t></r><r><rPr><sz val="9"/></rPr><t>州</t></r>' +
      '<rPh sb="0" eb="1"><t>pi</t></rPh></si><si/><si><t/></si><si><t>&lt;x&gt;</t></si></sst>';
    expect(readSharedStrings(xml)).toEqual(['A', ' b ', '邳州', '', '', '<x>']);
  });

  it('resolves relationship targets', () => {
    expect(resolvePartPath('xl', 'worksheets/sheet1.xml')).toBe('xl/worksheets/sheet1.xml');
    expect(resolvePartPath('xl', '/xl/sharedStrings.xml')).toBe('xl/sharedStrings.xml');
    expect(resolvePartPath('xl/sub', '../styles.xml')).toBe('xl/styles.xml');
  });
});

describe('encoding decision', () => {
  const text = '徐州市邳州市S250宿邳线K1江苏徐州-S250-苏鲁界省际卡口,1,2023/12/1 0:02,01,鲁Q02***,神狐牌-未知系列0\n'.repeat(50);

  it('calls GBK bytes gb18030 and UTF-8 bytes utf-8', () => {
    expect(decide(iconv.encode(text, 'gb18030'), true)).toBe('gb18030');
    expect(decide(Buffer.from(text), true)).toBe('utf-8');
  });

  it('still calls UTF-8 with a damaged byte utf-8, but not GBK', () => {
    const damaged = Buffer.concat([Buffer.from(text.slice(0, 30)), Buffer.from([0xff]), Buffer.from(text.slice(30))]);
    expect(mostlyUtf8(damaged)).toBe(true);
    expect(decide(damaged, true)).toBe('utf-8');
    expect(mostlyUtf8(iconv.encode(text, 'gb18030'))).toBe(false);
  });
});
