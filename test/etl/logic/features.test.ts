import { describe, expect, it } from 'vitest';
import { MASTER_COLUMNS } from '../../../core/schema.ts';
import { runStageInMemory } from '../../../core/stage.ts';
import { createFeaturesStage, DEFAULT_FEATURES_OPTIONS, parsePeakHours } from '../../../etl/stages/05-features.ts';
import { provinceOfPlate, vehicleTypeName } from '../../../core/reference.ts';

const row = (id: string, gcsj: string, hpzl: string, hphm: string): string[] => [id, '睢宁县', 'S325_Suining_K63', '1', gcsj, hpzl, hphm, '-'];
const run = (rows: string[][], opts = DEFAULT_FEATURES_OPTIONS) => runStageInMemory((io) => createFeaturesStage(opts, io), rows);

describe('stage 05 features', () => {
  it('adds PROVINCE, IS_WEEKEND, IS_PEAK_HOUR, VEHICLE_TYPE_NAME (12 columns)', () => {
    // 2024-01-06 is a Saturday, 2024-01-08 a Monday (China local dates; the test runs under TZ=UTC).
    const r = run([row('1', '2024-01-06 07:30:00', '02', '苏CD7***'), row('2', '2024-01-08 12:00:00', '52', '鲁Q12***')]);
    expect(r.rows).toEqual([
      ['1', '睢宁县', 'S325_Suining_K63', '1', '2024-01-06 07:30:00', '02', '苏CD7***', '-', '江苏', '1', '1', '小型汽车'],
      ['2', '睢宁县', 'S325_Suining_K63', '1', '2024-01-08 12:00:00', '52', '鲁Q12***', '-', '山东', '0', '0', '小型新能源汽车'],
    ]);
    expect(r.rows[0]).toHaveLength(MASTER_COLUMNS.length);
  });

  it('reads weekends from the China local date: Sunday 23:59:59 and Monday 00:00:00', () => {
    const r = run([row('1', '2024-01-07 23:59:59', '02', '苏C1***'), row('2', '2024-01-08 00:00:00', '02', '苏C1***')]);
    expect(r.rows.map((x) => x[9])).toEqual(['1', '0']);
  });

  it('treats peak ranges as inclusive minutes', () => {
    const times = ['06:59:59', '07:00:00', '08:59:59', '09:00:00', '16:59:59', '17:00:00', '18:59:59', '19:00:00'];
    const r = run(times.map((t, i) => row(String(i), `2024-01-08 ${t}`, '02', '苏C1***')));
    expect(r.rows.map((x) => x[10])).toEqual(['0', '1', '1', '0', '0', '1', '1', '0']);
  });

  it('uses custom peak hours', () => {
    const r = run([row('1', '2024-01-08 10:15:00', '02', '苏C1***'), row('2', '2024-01-08 07:30:00', '02', '苏C1***')], {
      peakHours: parsePeakHours('10:00-10:30'),
    });
    expect(r.rows.map((x) => x[10])).toEqual(['1', '0']);
  });

  it('maps 使 to 使馆, anything else without a province to 未知; - and unknown codes to 未知', () => {
    const r = run([
      row('1', '2024-01-08 10:00:00', '03', '使014***'),
      row('2', '2024-01-08 10:00:00', '-', 'C379***'),
      row('3', '2024-01-08 10:00:00', '23', '-***'),
    ]);
    expect(r.rows.map((x) => [x[8], x[11]])).toEqual([
      ['使馆', '使馆汽车'],
      ['未知', '未知'],
      ['未知', '警用汽车'],
    ]);
    expect(r.counts['PROVINCE.unknown']).toBe(2);
    expect(r.counts['VEHICLE_TYPE_NAME.unknown']).toBe(1);
  });

  it('rejects rows it cannot read instead of guessing', () => {
    const r = run([row('1', '2024/1/8 7:00', '02', '苏C1***'), ['1', '2']]);
    expect(r.rows).toHaveLength(0);
    expect(r.rejects.map((x) => x.reason)).toEqual(['GCSJ not YYYY-MM-DD HH:mm:ss: 2024/1/8 7:00', 'expected 8 fields, got 2']);
  });

  it('validates peak hour options', () => {
    expect(() => parsePeakHours('7-9')).toThrow(/07:00-08:59/);
    expect(() => createFeaturesStage({ peakHours: [['09:00', '08:00']] }, { reject() {}, count() {}, side() {} })).toThrow(/ends before it starts/);
    expect(() => createFeaturesStage({ peakHours: [['24:00', '24:30']] }, { reject() {}, count() {}, side() {} })).toThrow(/HH:MM/);
  });
});

describe('reference tables', () => {
  it('covers all 31 provinces plus 使, and GA 24.7 names', () => {
    expect(provinceOfPlate('蒙A1***')).toBe('内蒙古');
    expect(provinceOfPlate('黑A1***')).toBe('黑龙江');
    expect(provinceOfPlate('新A1***')).toBe('新疆');
    expect(provinceOfPlate('WJ苏12345')).toBe('未知');
    expect(vehicleTypeName('01')).toBe('大型汽车');
    expect(vehicleTypeName('51')).toBe('大型新能源汽车');
    expect(vehicleTypeName('99')).toBe('其他号牌');
    expect(vehicleTypeName('-')).toBe('未知');
  });
});
