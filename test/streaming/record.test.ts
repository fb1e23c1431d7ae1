import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord } from '../../streaming/record.ts';

const row = ['320300108805919450', '邳州市', 'S250_Pizhou_K1', '1', '2023-12-01 00:02:00', '01', '鲁Q02***', '-', '山东', '0', '0', '大型汽车'];

describe('stream record codec', () => {
  it('round-trips a master row as one tab-separated line', () => {
    const line = encodeRecord(row);
    expect(line.split('\t')).toHaveLength(12);
    expect(decodeRecord(line)).toEqual({ ok: true, row });
  });

  it('keeps a record on one line even when a field holds a tab or newline', () => {
    const dirty = [...row];
    dirty[7] = 'a\tb\nc';
    const line = encodeRecord(dirty);
    expect(line.includes('\n')).toBe(false);
    expect(decodeRecord(line).ok).toBe(true);
  });

  it.each([
    ['', 'empty record'],
    ['a\tb', 'expected 12 tab-separated fields, got 2'],
    [encodeRecord(row).replace('2023-12-01 00:02:00', '2023/12/1 0:02'), 'GCSJ not YYYY-MM-DD HH:mm:ss: "2023/12/1 0:02"'],
    [encodeRecord(row).replace('S250_Pizhou_K1', '<script>x</script>'), 'KKMC not a checkpoint code (1–40 of A-Z a-z 0-9 _ -): "<script>x</script>"'],
    [encodeRecord(row).replace('S250_Pizhou_K1', ''), 'KKMC empty'],
  ])('rejects %j with a reason', (text, reason) => {
    expect(decodeRecord(text)).toEqual({ ok: false, reason });
  });
});
