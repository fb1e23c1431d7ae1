import { describe, expect, it } from 'vitest';
import { runStageInMemory } from '../../../core/stage.ts';
import { isHeldOut } from '../../../etl/logic/holdout.ts';
import { createRepairStage, type FieldQuality } from '../../../etl/stages/04-repair.ts';

/**
 * A data set whose answers are known:
 *  A: 50 full plates 苏A1xxxx, 4 passes each, HPZL 01 for every 5th plate else 02, one model per plate;
 *  B: 30 full plates 苏A2xxxx seen once, HPZL 02, a brand of their own (no evidence can fill them);
 *  C: 20 full plates 鲁Q3xxxx, 3 passes each, HPZL 01, one model per plate.
 * Every pass of a plate is an hour apart (no near-duplicates), all at one checkpoint.
 */
function dataset(): string[][] {
  const rows: string[][] = [];
  let id = 5000;
  const pass = (slot: number, hphm: string, hpzl: string, clppxh: string): void => {
    const h = String(Math.floor(slot / 60) % 24).padStart(2, '0');
    const m = String(slot % 60).padStart(2, '0');
    rows.push([String(id++), '邳州市', 'S250_Pizhou_K1', '1', `2024-01-01 ${h}:${m}:00`, hpzl, hphm, clppxh]);
  };
  for (let p = 0; p < 50; p++)
    for (let k = 0; k < 4; k++) pass(p + k * 61 * 4, `苏A1${String(p).padStart(4, '0')}`, p % 5 === 0 ? '01' : '02', `A牌-型号${p}-2020`);
  for (let p = 0; p < 30; p++) pass(p + 3, `苏A2${String(p).padStart(4, '0')}`, '02', `独${p}牌`);
  for (let p = 0; p < 20; p++) for (let k = 0; k < 3; k++) pass(p + 7 + k * 61 * 4, `鲁Q3${String(p).padStart(4, '0')}`, '01', `Q牌-型号${p}-2019`);
  return rows.sort((a, b) => (a[4]! < b[4]! ? -1 : a[4]! > b[4]! ? 1 : a[0]! < b[0]! ? -1 : 1));
}

describe('hold-out measurement', () => {
  const rate = 0.25;
  const seed = 7;
  const rows = dataset();
  const r = runStageInMemory((io) => createRepairStage({ fill: false, holdoutRate: rate, seed }, io), rows);
  const q = JSON.parse(r.artifacts['repair_quality.json']!).holdout as Record<string, FieldQuality>;
  const hidden = (f: string, row: string[]): boolean => isHeldOut(seed, f, row[0]!, rate);

  /** Expected figures worked out from the data set's design, not from the stage. */
  function expectFor(field: 'HPZL' | 'CLPPXH', value: (r: string[]) => string) {
    const held = rows.filter((x) => hidden(field, x));
    const plateOf = (x: string[]): string => x[6]!;
    // A hidden pass is filled iff another pass of its plate still shows the value (groups A and C).
    const filled = held.filter((x) => rows.some((y) => y !== x && plateOf(y) === plateOf(x) && !hidden(field, y)));
    const visible = rows.filter((x) => !hidden(field, x)).map(value);
    const counts = new Map<string, number>();
    for (const v of visible) counts.set(v, (counts.get(v) ?? 0) + 1);
    const top = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
    return { held, filled, top, baseCorrect: held.filter((x) => value(x) === top).length };
  }

  it('hides a deterministic fraction of known values per field', () => {
    const n = rows.filter((x) => hidden('HPZL', x)).length;
    expect(q.HPZL!.hidden).toBe(n);
    expect(n).toBeGreaterThan(rows.length * 0.15);
    expect(n).toBeLessThan(rows.length * 0.35);
    // Another seed hides other rows.
    expect(rows.filter((x) => isHeldOut(8, 'HPZL', x[0]!, rate)).map((x) => x[0])).not.toEqual(rows.filter((x) => hidden('HPZL', x)).map((x) => x[0]));
  });

  it('reports coverage, accuracy and the most-common baseline for HPZL', () => {
    const e = expectFor('HPZL', (x) => x[5]!);
    expect(q.HPZL).toMatchObject({
      hidden: e.held.length,
      filled: e.filled.length,
      accuracy: 1,
      baseline: { value: '02', accuracy: Math.round((e.baseCorrect / e.held.length) * 10000) / 10000 },
      beats_baseline: true,
    });
    expect(e.top).toBe('02');
    expect(q.HPZL!.coverage).toBeCloseTo(e.filled.length / e.held.length, 3);
    expect(q.HPZL!.coverage!).toBeLessThan(1); // group B cannot be filled
    expect(q.HPZL!.by_method.same_plate!.filled).toBe(e.filled.length);
  });

  it('reports CLPPXH the same way', () => {
    const e = expectFor('CLPPXH', (x) => x[7]!);
    expect(q.CLPPXH).toMatchObject({ hidden: e.held.length, filled: e.filled.length, accuracy: 1, brand_accuracy: 1 });
    expect(q.CLPPXH!.baseline.value).toBe(e.top);
  });

  it('fills every hidden province (each stem has one province) and beats answering 苏', () => {
    const held = rows.filter((x) => hidden('PROVINCE', x));
    const su = held.filter((x) => x[6]!.startsWith('苏')).length;
    expect(q.PROVINCE).toMatchObject({ hidden: held.length, filled: held.length, coverage: 1, accuracy: 1 });
    expect(q.PROVINCE!.baseline).toEqual({ value: '苏', accuracy: Math.round((su / held.length) * 10000) / 10000 });
  });

  it('keeps the true values of hidden rows in the output and changes nothing else', () => {
    expect(r.rows).toEqual(rows);
    expect(r.side.repair_log ?? []).toEqual([]);
    expect(r.counts['holdout.HPZL.hidden']).toBe(q.HPZL!.hidden);
    expect(r.counts['holdout.HPZL.correct']).toBe(q.HPZL!.filled);
  });

  it('is repeatable: same seed, same report', () => {
    const again = runStageInMemory((io) => createRepairStage({ fill: false, holdoutRate: rate, seed }, io), rows);
    expect(again.artifacts['repair_quality.json']).toBe(r.artifacts['repair_quality.json']);
  });
});
