/**
 * A small master with known answers for API tests: 3 checkpoints, 2 days, 40 rows.
 * A_Feng_K1 gets 20 passes, B_Pei_K2 15, C_Xinyi_K3 5; plates/provinces/types are fixed patterns.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { csvText } from '../../core/io.ts';
import { DIMENSION_COLUMNS, MASTER_COLUMNS } from '../../core/schema.ts';
import { HourlyGridBuilder } from '../../models/grid.ts';
import { loadPredictor, type Predictor } from '../../models/predictor.ts';
import { syntheticMasterRows } from '../../models/synthetic-master.ts';
import { trainFlowModel } from '../../models/train.ts';

export const CODES = ['A_Feng_K1', 'B_Pei_K2', 'C_Xinyi_K3'];

/** A real model (with its forecast part) over the fixture's checkpoint codes, from a synthetic master. */
export function fixtureModel(): Predictor {
  const b = new HourlyGridBuilder();
  const synthetic = new Map<string, string>();
  for (const r of syntheticMasterRows({ checkpoints: 3, days: 14, seed: 8, dailyPerCheckpoint: 300 })) {
    if (!synthetic.has(r[2]!)) synthetic.set(r[2]!, CODES[synthetic.size]!);
    r[2] = synthetic.get(r[2]!)!;
    b.add(r);
  }
  return loadPredictor(trainFlowModel(b.finish(), { file: 'm.csv', sha256: '0'.repeat(64) }, { holdoutDays: 2, lambda: 1 }).model);
}

export interface Fixture {
  dir: string;
  master: string;
  dimension: string;
  rows: string[][];
}

export function makeApiFixture(): Fixture {
  const rows: string[][] = [];
  const plan: Array<[string, number]> = [
    ['A_Feng_K1', 20],
    ['B_Pei_K2', 15],
    ['C_Xinyi_K3', 5],
  ];
  let id = 1000;
  for (const [kkmc, n] of plan) {
    for (let i = 0; i < n; i++) {
      const day = i % 2 === 0 ? '2023-12-09' : '2023-12-11'; // Saturday / Monday
      const hour = (i * 5) % 24;
      const gcsj = `${day} ${String(hour).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:00`;
      const jiangsu = i % 3 !== 0;
      const hphm = jiangsu ? `苏C${String(i % 10)}A***` : `鲁Q${String(i % 10)}B***`;
      const hpzl = i % 4 === 0 ? '01' : '02';
      rows.push([
        String(id++),
        '丰县',
        kkmc,
        String(1 + (i % 2)),
        gcsj,
        hpzl,
        hphm,
        i % 5 === 0 ? '-' : '福田牌',
        jiangsu ? '江苏' : '山东',
        day === '2023-12-09' ? '1' : '0',
        (hour >= 7 && hour < 9) || (hour >= 17 && hour < 19) ? '1' : '0',
        hpzl === '01' ? '大型汽车' : '小型汽车',
      ]);
    }
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'traffic-api-'));
  const master = path.join(dir, 'master_data_expanded.csv');
  writeFileSync(master, csvText(MASTER_COLUMNS, rows));
  const dims = [
    ['A_Feng_K1', '徐州市丰县A卡口', '', 'X1', 'Feng', '1', '省际', '丰县', '116.6', '34.9', '20'],
    ['B_Pei_K2', '徐州市沛县B卡口', '', 'X2', 'Pei', '2', '省际', '沛县', '116.8', '34.8', '15'],
    ['C_Xinyi_K3', '徐州市新沂市C卡口', '', 'X3', 'Xinyi', '3', '市际', '新沂市', '', '', '5'],
  ];
  const dimension = path.join(dir, 'kkmc_dimension.csv');
  writeFileSync(dimension, csvText(DIMENSION_COLUMNS, dims));
  return { dir, master, dimension, rows };
}
