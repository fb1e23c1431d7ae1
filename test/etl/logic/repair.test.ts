import { describe, expect, it } from 'vitest';
import { runStageInMemory } from '../../../core/stage.ts';
import { createRepairStage, DEFAULT_REPAIR_OPTIONS, remask, type RepairOptions } from '../../../etl/stages/04-repair.ts';

const NO_HOLDOUT: RepairOptions = { ...DEFAULT_REPAIR_OPTIONS, holdoutRate: 0 };

/** Builds rows sorted like the stage input (GCSJ, then GCXH). */
class Rows {
  private readonly rows: string[][] = [];
  private seq = 1000;
  add(gcsj: string, hphm: string, hpzl: string, clppxh: string, kkmc = 'S250_Pizhou_K1'): string {
    const id = String(this.seq++);
    this.rows.push([id, '邳州市', kkmc, '1', gcsj, hpzl, hphm, clppxh]);
    return id;
  }
  sorted(): string[][] {
    return [...this.rows].sort((a, b) => (a[4]! < b[4]! ? -1 : a[4]! > b[4]! ? 1 : a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0));
  }
}

/** `2024-01-01 HH:MM:00` for the n-th hour slot; passes of one plate an hour apart are not near-duplicates. */
const at = (n: number): string => `2024-01-01 ${String(Math.floor(n / 60) % 24).padStart(2, '0')}:${String(n % 60).padStart(2, '0')}:00`;

function run(rows: string[][], opts: RepairOptions = NO_HOLDOUT) {
  return runStageInMemory((io) => createRepairStage(opts, io), rows);
}

function byId(out: string[][], id: string): string[] {
  const r = out.find((x) => x[0] === id);
  if (!r) throw new Error(`row ${id} missing`);
  return r;
}

describe('stage 04 plate repair', () => {
  it('normalizes plates, removes junk prefixes, logs each change', () => {
    const b = new Rows();
    const a = b.add(at(0), '4皖LG***', '02', '-');
    const c = b.add(at(1), '苏c·d7***', '52', '-');
    const d = b.add(at(2), '-***', '02', '-');
    const r = run(b.sorted());
    expect(byId(r.rows, a)[6]).toBe('皖LG***');
    expect(byId(r.rows, c)[6]).toBe('苏CD7***');
    expect(byId(r.rows, d)[6]).toBe('-***');
    expect(r.side.repair_log).toEqual([
      [a, 'HPHM', '4皖LG***', '皖LG***', 'junk_prefix', '1.000'],
      [c, 'HPHM', '苏c·d7***', '苏CD7***', 'normalize', '1.000'],
    ]);
    expect(r.counts['plate.MASKED']).toBe(2);
    expect(r.counts['plate.INVALID']).toBe(1);
  });

  it('infers a missing province character from plates with the same stem at the checkpoint', () => {
    const b = new Rows();
    for (let i = 0; i < 15; i++) b.add(at(i), '苏C37***', '02', '-');
    const strong = b.add(at(20), 'C379***', '02', '-');
    // Weak: J67 seen 3× with 苏 and 3× with 鲁: not enough, not in agreement.
    for (let i = 0; i < 3; i++) b.add(at(30 + i), '苏J67***', '02', '-');
    for (let i = 0; i < 3; i++) b.add(at(40 + i), '鲁J67***', '02', '-');
    const weak = b.add(at(50), 'J678***', '02', '-');
    const r = run(b.sorted());
    // Re-masked to the data's 4 visible characters, like the vehicle's other passes.
    expect(byId(r.rows, strong)[6]).toBe('苏C37***');
    expect(byId(r.rows, weak)[6]).toBe('J678***');
    const log = r.side.repair_log!.find((x) => x[0] === strong)!;
    expect(log.slice(0, 5)).toEqual([strong, 'HPHM', 'C379***', '苏C37***', 'province.stem_kkmc']);
    expect(Number(log[5])).toBeGreaterThan(0.9);
    expect(r.counts['imputed.PROVINCE.stem_kkmc']).toBe(1);
    expect(r.counts['missing.PROVINCE']).toBe(1);
  });
});

describe('remask', () => {
  it('cuts a repaired masked plate to the mask width, leaves full plates alone', () => {
    expect(remask('苏C379***', 4)).toBe('苏C37***');
    expect(remask('苏C37***', 4)).toBe('苏C37***');
    expect(remask('苏C3***', 4)).toBe('苏C3***');
    expect(remask('苏C12345', 4)).toBe('苏C12345');
    expect(remask('苏C379***', 0)).toBe('苏C379***');
  });
});

describe('stage 04 HPZL / CLPPXH imputation', () => {
  it('fills HPZL from the same full plate and from a consistent model with the new-energy marker', () => {
    const b = new Rows();
    for (let i = 0; i < 3; i++) b.add(at(i * 60), '苏C12345', '01', '福田牌');
    const same = b.add(at(200), '苏C12345', '-', '福田牌');
    for (let i = 0; i < 12; i++) b.add(at(i), `苏CD${i % 10}***`, '52', '比亚迪牌-秦-2021');
    const model = b.add(at(300), '苏CF9***', '-', '比亚迪牌-秦-2021');
    const r = run(b.sorted());
    expect(byId(r.rows, same)[5]).toBe('01');
    expect(byId(r.rows, model)[5]).toBe('52');
    const log = r.side.repair_log!;
    expect(log.find((x) => x[0] === same)!.slice(0, 5)).toEqual([same, 'HPZL', '-', '01', 'same_plate']);
    expect(log.find((x) => x[0] === model)!.slice(0, 5)).toEqual([model, 'HPZL', '-', '52', 'model']);
    expect(r.counts['imputed.HPZL.same_plate']).toBe(1);
    expect(r.counts['imputed.HPZL.model']).toBe(1);
  });

  it('leaves HPZL - on weak evidence: the D/F marker alone, a masked plate with mixed types', () => {
    const b = new Rows();
    // 150 plates with D/F as third character: 60% 52, 40% 02 (the base rates make D/F alone weak).
    for (let i = 0; i < 150; i++) b.add(at(i), `苏CD${String.fromCharCode(65 + (i % 20))}***`, i % 5 < 3 ? '52' : '02', '-');
    const marker = b.add(at(400), '苏CD9***', '-', '-');
    // A masked plate seen with both 01 and 02.
    for (let i = 0; i < 6; i++) b.add(at(500 + i * 2), '苏CX2***', i % 2 ? '01' : '02', '-', 'G3_Xuzhou_K731');
    const mixed = b.add(at(600), '苏CX2***', '-', '-', 'G3_Xuzhou_K731');
    const invalid = b.add(at(700), '-***', '-', '-');
    const r = run(b.sorted());
    expect(byId(r.rows, marker)[5]).toBe('-');
    expect(byId(r.rows, mixed)[5]).toBe('-');
    expect(byId(r.rows, invalid)[5]).toBe('-');
    expect(r.side.repair_log ?? []).toEqual([]);
    expect(r.counts['missing.HPZL']).toBe(3);
    expect(JSON.stringify(r.rows)).not.toContain('"99"');
  });

  it('fills HPZL from a near-duplicate pass of the same plate at the same checkpoint', () => {
    const b = new Rows();
    b.add('2024-01-01 08:00:00', '皖KX1***', '01', '-');
    const dup = b.add('2024-01-01 08:00:30', '皖KX1***', '-', '-');
    const far = b.add('2024-01-01 09:00:00', '皖KX1***', '-', '-');
    const r = run(b.sorted());
    expect(byId(r.rows, dup)[5]).toBe('01');
    expect(r.side.repair_log!.find((x) => x[0] === dup)![4]).toBe('near_dup');
    expect(byId(r.rows, far)[5]).toBe('-');
  });

  it('fills CLPPXH only from the same full plate + type, not from a masked plate shared by many', () => {
    const b = new Rows();
    b.add(at(0), '苏C54321', '02', '大众牌-帕萨特-2019');
    b.add(at(60), '苏C54321', '02', '大众牌-帕萨特-2019');
    const full = b.add(at(120), '苏C54321', '02', '-');
    const brands = ['五菱牌', '大众牌', '丰田牌', '本田牌', '日产牌'];
    for (let i = 0; i < 5; i++) b.add(at(i * 3), '苏CX2***', '02', brands[i]!);
    const masked = b.add(at(200), '苏CX2***', '02', '-');
    const r = run(b.sorted());
    expect(byId(r.rows, full)[7]).toBe('大众牌-帕萨特-2019');
    expect(r.side.repair_log!.find((x) => x[0] === full)!.slice(0, 5)).toEqual([full, 'CLPPXH', '-', '大众牌-帕萨特-2019', 'same_plate']);
    expect(byId(r.rows, masked)[7]).toBe('-');
    expect(r.counts['imputed.CLPPXH.same_plate']).toBe(1);
    expect(r.counts['missing.CLPPXH']).toBe(1);
  });

  it('disables a method the hold-out shows to be wrong on this data, and reports it', () => {
    // Two vehicles share each masked plate and always pass together (10 s apart) with different
    // types: the near-duplicate rule is wrong here, and the hold-out must catch it.
    const b = new Rows();
    for (let i = 0; i < 400; i++) {
      const plate = `苏${String.fromCharCode(65 + (i % 26))}${String(i).padStart(3, '0').slice(-2)}***`;
      const t = `2024-01-01 ${String(Math.floor(i / 60) % 24).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:`;
      b.add(`${t}00`, plate, '01', '-', `K_${i % 7}`);
      b.add(`${t}10`, plate, '02', '-', `K_${i % 7}`);
    }
    b.add('2024-01-02 08:00:00', '皖KX1***', '01', '-');
    const dup = b.add('2024-01-02 08:00:30', '皖KX1***', '-', '-');
    const r = run(b.sorted(), { fill: false, holdoutRate: 0.2, seed: 3 });
    const q = JSON.parse(r.artifacts['repair_quality.json']!).holdout.HPZL;
    expect(q.by_method.near_dup.filled).toBeGreaterThanOrEqual(20);
    expect(q.by_method.near_dup.accuracy).toBe(0);
    expect(q.disabled_methods).toEqual(['near_dup']);
    expect(q.effective.coverage).toBe(0);
    expect(r.counts['disabled.HPZL.near_dup']).toBe(1);
    expect(byId(r.rows, dup)[5]).toBe('-');
  });

  it('rejects rows it cannot read', () => {
    const r = run([
      ['1', '2', '3'],
      ['9', 'x', 'K', '1', '2024/1/1 0:00', '02', '苏C1***', '-'],
    ]);
    expect(r.rows).toEqual([]);
    expect(r.rejects.map((x) => x.reason)).toEqual(['expected 8 fields, got 3', 'GCSJ not YYYY-MM-DD HH:mm:ss: 2024/1/1 0:00']);
  });

  it('validates its options', () => {
    const io = { reject() {}, count() {}, side() {} };
    expect(() => createRepairStage({ ...DEFAULT_REPAIR_OPTIONS, holdoutRate: 2 }, io)).toThrow(/holdoutRate/);
    expect(() => createRepairStage({ ...DEFAULT_REPAIR_OPTIONS, seed: 1.5 }, io)).toThrow(/seed/);
  });
});
