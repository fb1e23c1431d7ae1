import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCsv } from '../../../core/csv.ts';
import { DIMENSION_COLUMNS } from '../../../core/schema.ts';
import { runStageInMemory } from '../../../core/stage.ts';
import { createStandardizeStage, loadStandardizeOptions, type StandardizeOptions } from '../../../etl/stages/03-standardize.ts';

const S325 = '徐州市睢宁县S325淮宿线K63(325省道)63K+100M东侧-向西卡口市际卡口';
const S325_JS = '江苏省' + S325;
const G3 = 'G3京台高速K731江苏高速五大队江苏徐州-G3-苏鲁界省际卡口';
const row = (id: string, xzqhmc: string, kkmc: string, hpzl: string): string[] => [
  id,
  xzqhmc,
  kkmc,
  '1',
  `2023-12-01 00:00:${id.padStart(2, '0').slice(-2)}`,
  hpzl,
  '苏C12***',
  '-',
];

const ROWS = [
  row('1', '睢宁县', S325, '2'),
  row('2', '睢宁县', S325_JS, '02'),
  row('3', '睢宁县', S325, '52'),
  row('4', '高速五大队', G3, '-'),
  row('5', '高速五大队', G3, '88'),
  row('6', '丰县', '', '01'),
];

const NO_GEO: StandardizeOptions = { geo: null, overrides: new Map() };

describe('stage 03 standardize', () => {
  it('replaces KKMC by its codename and HPZL by the two-digit code', () => {
    const r = runStageInMemory((io) => createStandardizeStage(NO_GEO, io), ROWS);
    expect(r.rows.map((x) => [x[0], x[2], x[5]])).toEqual([
      ['1', 'S325_Suining_K63', '02'],
      ['2', 'S325_Suining_K63', '02'],
      ['3', 'S325_Suining_K63', '52'],
      ['4', 'G3_Xuzhou_K731', '-'],
      ['5', 'G3_Xuzhou_K731', '-'],
    ]);
    expect(r.rejects).toHaveLength(1);
    expect(r.rejects[0]).toMatchObject({ line: 7, reason: 'KKMC empty', stage: '03-standardize' });
    expect(r.counts['HPZL.unknown_code']).toBe(1);
    expect(r.counts['HPZL.unknown_code.88']).toBe(1);
    expect(r.counts['HPZL.recoded']).toBe(1);
  });

  it('writes kkmc_dimension.csv: most frequent spelling, aliases, parts, geo by alias, passes, sorted', () => {
    const geo = [{ name: S325_JS, lon: 118.04, lat: 33.9 }];
    const r = runStageInMemory((io) => createStandardizeStage({ geo, overrides: new Map() }, io), ROWS);
    const recs = parseCsv(r.artifacts['kkmc_dimension.csv']!).map((x) => x.fields);
    expect(recs[0]).toEqual([...DIMENSION_COLUMNS]);
    expect(recs.slice(1)).toEqual([
      ['G3_Xuzhou_K731', G3, '', 'G3', 'Xuzhou', '731', '省际', '高速五大队', '', '', '2'],
      ['S325_Suining_K63', S325, S325_JS, 'S325', 'Suining', '63', '市际', '睢宁县', '118.04', '33.9', '3'],
    ]);
  });

  it('matches geo by the physical checkpoint when the spelling differs', () => {
    const geo = [{ name: '徐州市睢宁县S325淮宿线K63另一种写法卡口', lon: 1, lat: 2 }];
    const r = runStageInMemory((io) => createStandardizeStage({ geo, overrides: new Map() }, io), ROWS.slice(0, 1));
    expect(parseCsv(r.artifacts['kkmc_dimension.csv']!)[1]!.fields.slice(8, 10)).toEqual(['1', '2']);
  });

  it('applies overrides before the rule', () => {
    const r = runStageInMemory((io) => createStandardizeStage({ geo: null, overrides: new Map([[G3, 'G3_Tongshan_K731']]) }, io), ROWS.slice(3, 5));
    expect(r.rows.map((x) => x[2])).toEqual(['G3_Tongshan_K731', 'G3_Tongshan_K731']);
  });
});

describe('loadStandardizeOptions', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'std-opts-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('defaults to the shipped geo file and no overrides', async () => {
    const o = await loadStandardizeOptions({ outDir: dir });
    expect(o.geo).toHaveLength(19);
    expect(o.geo!.find((g) => g.name === S325)).toEqual({ name: S325, lon: 118.044163, lat: 33.904848 });
    expect(o.overrides.size).toBe(0);
  });

  it('reads kkmc_overrides.csv from the output dir, and --geo / --overrides files', async () => {
    await writeFile(path.join(dir, 'kkmc_overrides.csv'), `KKMC_NAME,KKMC\n${G3},G3_X\n`);
    await writeFile(path.join(dir, 'geo.csv'), `\uFEFFKKMC_NAME,LON,LAT\n${G3},117.4,34.5\n`);
    const o = await loadStandardizeOptions({ outDir: dir, geo: path.join(dir, 'geo.csv') });
    expect(o.overrides.get(G3)).toBe('G3_X');
    expect(o.geo).toEqual([{ name: G3, lon: 117.4, lat: 34.5 }]);
  });

  it('rejects a bad override code and a bad geo row with file and line', async () => {
    await writeFile(path.join(dir, 'bad_o.csv'), `KKMC_NAME,KKMC\n${G3},有中文\n`);
    await expect(loadStandardizeOptions({ outDir: dir, overrides: path.join(dir, 'bad_o.csv') })).rejects.toMatchObject({
      code: 'BAD_ROW',
      context: { line: 2 },
    });
    await writeFile(path.join(dir, 'bad_g.csv'), `KKMC_NAME,LON,LAT\n${G3},east,34\n`);
    await expect(loadStandardizeOptions({ outDir: dir, geo: path.join(dir, 'bad_g.csv') })).rejects.toMatchObject({
      code: 'BAD_ROW',
      context: { line: 2 },
    });
    await expect(loadStandardizeOptions({ outDir: dir, geo: path.join(dir, 'nope.csv') })).rejects.toMatchObject({
      code: 'INPUT_NOT_FOUND',
    });
  });
});
