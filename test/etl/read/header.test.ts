import { describe, expect, it } from 'vitest';
import { recognizeHeader } from '../../../etl/read/raw.ts';
import { columnOfHeaderCell, describeHeaderMismatch } from '../../../etl/read/header.ts';

const IN_ORDER = [0, 1, 2, 3, 4, 5, 6, 7];

describe('header recognition by content', () => {
  it('recognises the December bare header with the Oracle plate expression', () => {
    expect(recognizeHeader(['GCXH', 'XZQHMC', 'KKMC', 'FXLX', 'GCSJ', 'HPZL', "SUBSTR(HPHM,1,4)||'***'", 'CLPPXH'])).toEqual(IN_ORDER);
  });

  it('recognises the December all-quoted header whose plate column is named HP', () => {
    // As the CSV parser hands it over (quotes removed) and as written (quotes kept).
    expect(recognizeHeader(['GCXH', 'XZQHMC', 'KKMC', 'FXLX', 'GCSJ', 'HPZL', 'HP', 'CLPPXH'])).toEqual(IN_ORDER);
    expect(recognizeHeader(['"GCXH"', '"XZQHMC"', '"KKMC"', '"FXLX"', '"GCSJ"', '"HPZL"', '"HP"', '"CLPPXH"'])).toEqual(IN_ORDER);
  });

  it('recognises the January XLSX header of export expressions', () => {
    const cells = ["'G'||GCXH", 'XZQHMC', 'KKMC', 'FXLX', "TO_CHAR(GCSJ,'YYYY-MM-DDHH24:M", 'HPZL', "SUBSTR(HPHM,0,4)||'***'", 'CLPPXH'];
    expect(recognizeHeader(cells)).toEqual(IN_ORDER);
  });

  it('recognises Chinese column names, also decorated', () => {
    const cells = ['过车序号', '行政区划名称', '卡口名称', '方向类型', '过车时间', '号牌种类', '号牌号码（脱敏）', '车辆品牌型号'];
    expect(recognizeHeader(cells)).toEqual(IN_ORDER);
  });

  it('tolerates case, spaces, a BOM and table prefixes', () => {
    const cells = ['\uFEFFgcxh', ' XzQhMc ', 't.KKMC', 'FXLX ', ' gcsj', 'hpzl', 'SUBSTR( hphm ,1,4)', 'clppxh'];
    expect(recognizeHeader(cells)).toEqual(IN_ORDER);
  });

  it('maps columns by name when they come in another order, ignoring extra columns', () => {
    const cells = ['ID', 'GCSJ', 'GCXH', 'HPHM', 'KKMC', 'XZQHMC', 'FXLX', 'CLPPXH', 'HPZL'];
    expect(recognizeHeader(cells)).toEqual([2, 5, 4, 6, 1, 8, 3, 7]);
  });

  it('rejects a header missing a column, naming it', () => {
    const cells = ['GCXH', 'XZQHMC', 'KKMC', 'FXLX', 'TIME', 'HPZL', 'HPHM', 'CLPPXH'];
    expect(recognizeHeader(cells)).toBeNull();
    expect(describeHeaderMismatch(cells)).toMatch(/no column names GCSJ/);
  });

  it('rejects a header naming a column twice', () => {
    const cells = ['GCXH', 'XZQHMC', 'KKMC', 'FXLX', 'GCSJ', 'HPZL', 'HPHM', 'HP'];
    expect(recognizeHeader(cells)).toBeNull();
    expect(describeHeaderMismatch(cells)).toMatch(/more than one column names HPHM/);
  });

  it('does not take a data row for a header', () => {
    const row = ['320300108805919450', '邳州市', '徐州市邳州市S250宿邳线K1江苏徐州-S250-苏鲁界省际卡口', '1', '2023/12/1 0:02', '01', '鲁Q02***', '-'];
    expect(recognizeHeader(row)).toBeNull();
  });

  it('leaves a cell that names two columns unmatched', () => {
    expect(columnOfHeaderCell('GCXH||HPHM')).toBe(-1);
    expect(columnOfHeaderCell('HPZL')).toBe(5);
    expect(columnOfHeaderCell('SUBSTR(HPHM,1,4)')).toBe(6);
  });
});
