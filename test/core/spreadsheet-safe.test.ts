import { describe, expect, it } from 'vitest';
import { isFormulaLike, neutralizeCell } from '../../core/spreadsheet-safe.ts';

describe('neutralizeCell', () => {
  it('prefixes text a spreadsheet would evaluate with a quote', () => {
    for (const v of ['=1+1', '+cmd|/c calc', '-2+3', '@SUM(A1)', '\t=x', '\r=x', '=HYPERLINK("http://x")']) {
      expect(neutralizeCell(v)).toBe(`'${v}`);
    }
  });
  it('keeps plain numbers, the - placeholder and ordinary text as they are', () => {
    for (const v of ['-', '-12', '+86', '3.5', '-0.25', '苏CD7***', '02', 'S325_Suining_K63', '2024-01-01 00:00:24', '']) {
      expect(neutralizeCell(v)).toBe(v);
      expect(isFormulaLike(v)).toBe(false);
    }
  });
});
