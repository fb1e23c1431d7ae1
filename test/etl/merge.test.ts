import { describe, expect, it } from 'vitest';
import { compareRows, Deduper, mergeInMemory, normalizeRecord, sortRows } from '../../etl/stages/01-merge.ts';

const rec = (line: number, fields: string[], error?: string) => ({ fields, line, raw: fields.join(','), ...(error ? { error } : {}) });
const dec = ['320300108805919450', '邳州市', '徐州市邳州市S250宿邳线K1江苏徐州-S250-苏鲁界省际卡口', '1', '2023/12/1 0:02', '01', '鲁Q02***', '-'];

describe('stage 01 record normalization', () => {
  it('keeps values as written except GCXH prefix, GCSJ form and surrounding blanks', () => {
    const r = normalizeRecord([' G320300108805919450', ' 邳州市 ', 'KK', '1', '2024-01-01 00:00:24', '02', '苏CD7***', '五菱牌-五菱宏光-2013_2014_2016 ']);
    expect(r).toEqual({
      ok: true,
      row: ['320300108805919450', '邳州市', 'KK', '1', '2024-01-01 00:00:24', '02', '苏CD7***', '五菱牌-五菱宏光-2013_2014_2016'],
    });
  });

  it('keeps the exact second of every time form and pads minutes-only times with :00', () => {
    const at = (t: string) => {
      const r = normalizeRecord([...dec.slice(0, 4), t, ...dec.slice(5)]);
      return r.ok ? r.row[4] : r.reason;
    };
    expect(at('2023/12/9 0:00:09')).toBe('2023-12-09 00:00:09');
    expect(at('2023/12/1 0:02')).toBe('2023-12-01 00:02:00');
    expect(at('2024-01-01 00:00:24.900')).toBe('2024-01-01 00:00:24');
    expect(at('2024/1/16')).toMatch(/date but no time/);
    expect(at('yesterday')).toMatch(/GCSJ unparseable/);
  });

  it('rejects a wrong field count, an empty or non-numeric GCXH, naming the problem', () => {
    expect(normalizeRecord(dec.slice(0, 7))).toEqual({ ok: false, reason: 'expected 8 fields, got 7' });
    expect(normalizeRecord([...dec, 'x'])).toEqual({ ok: false, reason: 'expected 8 fields, got 9' });
    expect(normalizeRecord(['', ...dec.slice(1)])).toEqual({ ok: false, reason: 'GCXH empty' });
    expect(normalizeRecord(['32030A1', ...dec.slice(1)])).toEqual({ ok: false, reason: 'GCXH not digits: 32030A1' });
  });
});

describe('stage 01 dedupe', () => {
  it('counts a same-content copy once and rejects a conflicting one naming the first file and line', () => {
    const d = new Deduper();
    const row = (normalizeRecord(dec) as { row: string[] }).row;
    expect(d.add(row, { file: '202312/a.csv', line: 2 })).toEqual({ kind: 'kept' });
    expect(d.add([...row], { file: '202312/b.csv', line: 7 })).toEqual({ kind: 'copy' });
    const other = [...row];
    other[6] = '鲁Q03***';
    const r = d.add(other, { file: '202312/c.csv', line: 9 });
    expect(r.kind).toBe('conflict');
    expect((r as { reason: string }).reason).toBe('GCXH duplicate with different content: first at 202312/a.csv line 2 (differs in HPHM)');
    expect(d.rows).toHaveLength(1);
    expect(d.copies).toBe(1);
  });

  it('tells ids apart exactly whatever their length: 18-digit ids, leading zeros, longer and shorter ids', () => {
    const d = new Deduper();
    const base = (normalizeRecord(dec) as { row: string[] }).row;
    const withId = (id: string, plate = base[6]!): string[] => {
      const r = [...base];
      r[0] = id;
      r[6] = plate;
      return r;
    };
    const ids = ['320300108827219660', '320300108827219661', '032030010882721966', '32030010882721966', '3203001088272196600', '000000000000000000', '1'];
    for (const [i, id] of ids.entries()) expect(d.add(withId(id), { file: 'a.csv', line: i + 2 })).toEqual({ kind: 'kept' });
    for (const id of ids) expect(d.add(withId(id), { file: 'b.csv', line: 9 })).toEqual({ kind: 'copy' });
    const r = d.add(withId('032030010882721966', '鲁Q03***'), { file: 'c.csv', line: 4 });
    expect(r).toEqual({ kind: 'conflict', reason: 'GCXH duplicate with different content: first at a.csv line 4 (differs in HPHM)' });
    expect(d.rows).toHaveLength(ids.length);
    expect(d.copies).toBe(ids.length);
  });

  it('treats the January G-prefixed id as the same pass as the bare id', () => {
    const m = mergeInMemory([
      { file: '202312/x.csv', records: [rec(2, dec)] },
      { file: '202401/y.xlsx', records: [rec(2, ['G' + dec[0], ...dec.slice(1, 4), '2023-12-01 00:02:00', ...dec.slice(5)])] },
    ]);
    expect(m.rows).toHaveLength(1);
    expect(m.copies).toBe(1);
  });

  it('balances: records in = rows out + rejects + copies, with reader errors rejected as they came', () => {
    const m = mergeInMemory([
      {
        file: 'a.csv',
        records: [rec(2, dec), rec(3, dec), rec(4, ['1', 'x']), rec(5, ['2', ...dec.slice(1)], 'undecodable bytes (gb18030)')],
      },
      { file: 'b.csv', records: [rec(2, ['9', ...dec.slice(1)])] },
    ]);
    expect(m.in).toBe(5);
    expect(m.rows.length + m.rejects.length + m.copies).toBe(5);
    expect(m.rejects.map((r) => [r.file, r.line, r.reason])).toEqual([
      ['a.csv', 4, 'expected 8 fields, got 2'],
      ['a.csv', 5, 'undecodable bytes (gb18030)'],
    ]);
  });
});

describe('stage 01 packed rows', () => {
  it('round-trips a row and rejects a record holding the packing separator', async () => {
    const { packRow, unpackRow } = await import('../../etl/stages/01-merge.ts');
    const row = (normalizeRecord(dec) as { row: string[] }).row;
    expect(unpackRow(packRow(row))).toEqual(row);
    const bad = [...dec];
    bad[7] = 'a\x1fb';
    const m = mergeInMemory([{ file: 'a.csv', records: [rec(2, bad), rec(3, dec)] }]);
    expect(m.rejects.map((r) => [r.line, r.reason])).toEqual([[2, 'control character U+001E/U+001F in the record']]);
    expect(m.rows).toEqual([row]);
  });
});

describe('stage 01 sort', () => {
  const row = (gcxh: string, t: string) => [gcxh, '', '', '', t, '', '', ''];

  it('orders by GCSJ then GCXH as text (not as numbers)', () => {
    const rows = [row('9', '2024-01-01 00:00:01'), row('10', '2024-01-01 00:00:01'), row('5', '2023-12-31 23:59:59'), row('2', '2024-01-01 00:00:00')];
    expect(sortRows(rows).map((r) => r[0])).toEqual(['5', '2', '10', '9']);
  });

  it('gives the comparator order on many shuffled rows', () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const rows: string[][] = [];
    for (let i = 0; i < 5000; i++) {
      const s = Math.floor(rnd() * 600);
      rows.push(row(String(Math.floor(rnd() * 1e6)), `2023-12-0${1 + (s % 3)} 0${Math.floor(s / 100)}:${String(s % 60).padStart(2, '0')}:0${s % 10}`));
    }
    const expected = [...rows].sort(compareRows);
    expect(sortRows([...rows])).toEqual(expected);
  });

  it('still sorts rows whose time is not canonical (comparator fallback)', () => {
    const rows = [row('2', 'b'), row('1', 'a')];
    expect(sortRows(rows).map((r) => r[0])).toEqual(['1', '2']);
  });
});
