import { describe, expect, it } from 'vitest';
import { CsvParser, csvLine, parseCsv } from '../../core/csv.ts';

describe('CSV parsing', () => {
  it('reads bare cells and counts physical lines', () => {
    const recs = parseCsv('GCXH,KKMC\n1,a\n\n2,b\r\n');
    expect(recs.map((r) => r.fields)).toEqual([
      ['GCXH', 'KKMC'],
      ['1', 'a'],
      ['2', 'b'],
    ]);
    expect(recs.map((r) => r.line)).toEqual([1, 2, 4]);
  });

  it('reads every-cell-quoted rows like the December exports', () => {
    const recs = parseCsv('"GCXH","HP"\n"320300108854424764","苏CD7***"\n');
    expect(recs[1]?.fields).toEqual(['320300108854424764', '苏CD7***']);
  });

  it('handles escaped quotes, commas and newlines inside quotes, keeping line numbers', () => {
    const recs = parseCsv('a,"b ""x"", y",c\n"multi\nline",2\nlast,1\n');
    expect(recs[0]?.fields).toEqual(['a', 'b "x", y', 'c']);
    expect(recs[1]?.fields).toEqual(['multi\nline', '2']);
    expect(recs[2]?.line).toBe(4);
  });

  it('reports an unterminated quote instead of swallowing the rest of the file', () => {
    const recs = parseCsv('ok,1\n"broken,2\n');
    expect(recs[1]?.error).toBe('unterminated quoted field');
    expect(recs[1]?.line).toBe(2);
  });

  it('gives the same records whatever the chunking', () => {
    const text = 'h1,h2\n"a,1","b""2"\nc,d\n"e\nf",g\n';
    const whole = parseCsv(text).map((r) => [r.fields, r.line]);
    for (let cut = 1; cut < text.length; cut++) {
      const out: unknown[] = [];
      const p = new CsvParser((r: { fields: string[]; line: number }) => out.push([r.fields, r.line]));
      p.push(text.slice(0, cut));
      p.push(text.slice(cut));
      p.end();
      expect(out, `cut at ${cut}`).toEqual(whole);
    }
  });

  it('quotes only fields that need it, and round-trips', () => {
    const row = ['1', 'a,b', 'say "hi"', 'x\ny', ''];
    const line = csvLine(row);
    expect(line).toBe('1,"a,b","say ""hi""","x\ny",\n');
    expect(parseCsv(line)[0]?.fields).toEqual(row);
  });
});
