import { describe, expect, it } from 'vitest';
import { KafkaItem } from '../../streaming/bus/kafka-item.ts';
import { decodeRecord, encodeRecord, recordField } from '../../streaming/record.ts';

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

describe('reading a record from its bytes', () => {
  const records = [
    row,
    ['1', '', 'K1', '', '2024-01-01 00:00:00', '', '', '', '', '1', '0', ''],
    ['𠀀gcxh', '高速五大队', 'G3_Xuzhou_K731', '1', '2023-12-01 00:00:00', '02', '苏CD7***', 'a b', '江苏', '0', '1', '小型汽车'],
  ];

  it('gives every field as decoding the whole record does, with or without a CR at its end', () => {
    for (const r of records) {
      for (const text of [encodeRecord(r), `${encodeRecord(r)}\r`]) {
        const bytes = Buffer.from(text);
        const d = decodeRecord(text);
        expect(d.ok).toBe(true);
        for (let i = 0; i < 12; i++) expect(recordField(bytes, i), `${text} field ${i}`).toBe(d.ok ? d.row[i] : '');
      }
    }
  });

  it('a Kafka item holds the record bytes and decodes its row and raw text from them', () => {
    const bytes = Buffer.from(encodeRecord(records[2]!));
    const item = new KafkaItem(bytes, '苏CD7***', 'traffic-raw', 2, '41');
    expect(item.row).toEqual(records[2]);
    expect(item.raw).toBe(encodeRecord(records[2]!));
    expect({ key: item.key, source: item.source, partition: item.partition, offset: item.offset }).toEqual({
      key: '苏CD7***',
      source: 'traffic-raw',
      partition: 2,
      offset: '41',
    });
    expect(item.row).not.toBe(item.row); // decoded afresh on each access: nothing cached
    // What stays in memory while the record is in flight: the bytes and where they came from.
    expect(Object.values(item).filter((v) => Array.isArray(v))).toEqual([]);
  });

  it("a Kafka item hands the source's validated row to the first read only, then decodes from the bytes", () => {
    const bytes = Buffer.from(encodeRecord(records[2]!));
    const validated = decodeRecord(bytes.toString());
    const item = new KafkaItem(bytes, null, 'traffic-raw', 0, '7', validated.ok ? validated.row : undefined);
    expect(Object.values(item).filter((v) => Array.isArray(v))).toHaveLength(1);
    const first = item.row;
    expect(first).toBe(validated.ok ? validated.row : null);
    expect(Object.values(item).filter((v) => Array.isArray(v))).toEqual([]); // let go after the first read
    const again = item.row;
    expect(again).not.toBe(first);
    expect(again).toEqual(records[2]);
  });
});
