/**
 * The embedded store's export cursor (EmbeddedStore.exportRows), which reads each row as one
 * string joined in SQL and splits it: every field comes back exactly as stored, whatever it
 * holds (the separator characters, empty fields, NULLs), in the order of the query page, and
 * across many DuckDB vectors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MasterRow } from '../../core/schema.ts';
import { EmbeddedStore } from '../../store/duckdb-store.ts';
import { PASS_COLUMNS, type PassRecord } from '../../store/store-api.ts';
import { makeRows } from './fixture.ts';

let store: EmbeddedStore;

/** Fields that would break a naive join/split: the separators, the escape, a literal escape code. */
const TRICKY: MasterRow[] = [
  ['T1', 'a\x1fb', 'K_01', '\x1e', '2024-02-01 10:00:00', '\x1e0', '苏C\x1f\x1f1', '\x1e1\x1f', '', '0', '1', 'x\x1e'],
  ['T2', '', 'K_01', '', '2024-02-01 10:00:01', '', '', '', '', '1', '0', ''],
  ['T3', '\n\r\t"', 'K_01', '1', '2024-02-01 10:00:02', '02', '=1+1', '-', '江苏', '0', '0', '小型汽车'],
];

async function exported(filter = {}): Promise<PassRecord[]> {
  const all: PassRecord[] = [];
  const n = await store.exportRows(filter, (rows) => {
    all.push(...rows);
  });
  expect(n).toBe(all.length);
  return all;
}

function asRecord(r: MasterRow): PassRecord {
  return Object.fromEntries(PASS_COLUMNS.map((c, i) => [c, c === 'is_weekend' || c === 'is_peak_hour' ? Number(r[i]) : r[i]])) as unknown as PassRecord;
}

beforeAll(async () => {
  store = await EmbeddedStore.open(':memory:');
  await store.insert([...makeRows(10_000, { seed: 3 }), ...TRICKY]);
});

afterAll(async () => {
  await store?.close();
});

describe('EmbeddedStore.exportRows', () => {
  it('returns every field exactly as stored, separators and empty fields included', async () => {
    const rows = await exported({ kkmc: 'K_01' });
    expect(rows).toEqual([...TRICKY].reverse().map(asRecord));
  });

  it('returns a NULL field as an empty one and a NULL flag as 0', async () => {
    // Rows written behind the store's back (an older loader) may hold NULLs.
    await (store as unknown as { serial<T>(f: () => Promise<T>): Promise<T> }).serial(async () => {
      const conn = (store as unknown as { conn: { run(sql: string): Promise<unknown> } }).conn;
      await conn.run(`INSERT INTO traffic_data VALUES ('N1', NULL, 'K_02', NULL, TIMESTAMP '2024-02-02 00:00:00', NULL, NULL, NULL, NULL, NULL, NULL, NULL)`);
    });
    const [row] = await exported({ kkmc: 'K_02' });
    expect(row).toEqual({
      gcxh: 'N1',
      xzqhmc: '',
      kkmc: 'K_02',
      fxlx: '',
      gcsj: '2024-02-02 00:00:00',
      hpzl: '',
      hphm: '',
      clppxh: '',
      province: '',
      is_weekend: 0,
      is_peak_hour: 0,
      vehicle_type_name: '',
    });
  });

  it('gives the query page its rows, in its order, across many vectors', async () => {
    const all = await exported();
    expect(all).toHaveLength(10_000 + TRICKY.length + 1);
    const page = await store.query({}, 3, 200);
    expect(all.slice(400, 600)).toEqual(page.rows);
    const plate = await exported({ hphm: '苏C' });
    expect(plate).toEqual(all.filter((r) => r.hphm.includes('苏C')));
  });
});
