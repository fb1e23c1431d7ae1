/**
 * Masters for the routes and trajectory tests: a small one whose routes are worked out by hand,
 * and a seeded random one (many vehicles wandering between checkpoints over two days, plates of
 * every class) on which the stores must agree.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mulberry32 } from '../../core/random.ts';
import { csvText } from '../../core/io.ts';
import { DIMENSION_COLUMNS, MASTER_COLUMNS } from '../../core/schema.ts';
import { formatChinaTime, toEpochSeconds } from '../../core/time.ts';

export interface RoutesFixture {
  dir: string;
  master: string;
  dimension: string;
  rows: string[][];
}

/** [gcsj, kkmc, hphm, hpzl, clppxh] → a master row (GCXH in order of the list). */
function masterRows(passes: ReadonlyArray<readonly [string, string, string, string, string]>, firstId: number): string[][] {
  return passes.map(([gcsj, kkmc, hphm, hpzl, clppxh], i) => {
    const hour = Number(gcsj.slice(11, 13));
    const day = new Date(gcsj.slice(0, 10) + 'T00:00:00Z').getUTCDay();
    return [
      String(firstId + i),
      '徐州市',
      kkmc,
      '1',
      gcsj,
      hpzl,
      hphm,
      clppxh,
      hphm.startsWith('鲁') ? '山东' : hphm.startsWith('苏') ? '江苏' : '未知',
      day === 0 || day === 6 ? '1' : '0',
      (hour >= 7 && hour < 9) || (hour >= 17 && hour < 19) ? '1' : '0',
      hpzl === '01' ? '大型汽车' : hpzl === '52' ? '小型新能源汽车' : '小型汽车',
    ];
  });
}

export const ROUTE_DIMS = [
  ['R_A_K1', '徐州市铜山区G104京福线K1卡口', '', 'G104', 'Tongshan', '1', '市际', '铜山区', '117.10', '34.20', '0'],
  ['R_B_K2', '徐州市睢宁县S325淮宿线K63卡口', '', 'S325', 'Suining', '63', '市际', '睢宁县', '117.90', '33.90', '0'],
  ['R_C_K3', '徐州市丰县S254K20卡口', '', 'S254', 'Fengxian', '20', '省际', '丰县', '116.60', '34.70', '0'],
  ['R_D_K4', '徐州市新沂市G205K7卡口', '', 'G205', 'Xinyi', '7', '省际', '新沂市', '', '', '0'],
];

function write(rows: string[][]): RoutesFixture {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'traffic-routes-'));
  const master = path.join(dir, 'master_data_expanded.csv');
  writeFileSync(master, csvText(MASTER_COLUMNS, rows));
  const dimension = path.join(dir, 'kkmc_dimension.csv');
  writeFileSync(dimension, csvText(DIMENSION_COLUMNS, ROUTE_DIMS));
  return { dir, master, dimension, rows };
}

/**
 * Worked by hand. Routes arriving on 2023-12-11:
 *   R_A_K1 → R_B_K2: 3 (苏C12345 10 min, 苏CD7*** 福田 30 min, the cross-midnight 苏E54321 40 min) → median 30
 *   R_B_K2 → R_C_K3: 2 (苏C12345 20 min, 苏CD7*** 福田 50 min) → median 35
 *   R_C_K3 → R_A_K1: 1 (苏C12345 1 h 59 min 59 s, within 2 h) → 120.0 (119.98 rounded)
 * Not routes: the same checkpoint twice, a gap over 2 h, 苏CD7*** passes of another brand or
 * type (other vehicles), a masked plate without a brand, INVALID plates, arrivals on 12-10.
 */
export function makeHandRoutesFixture(): RoutesFixture {
  const passes: Array<[string, string, string, string, string]> = [
    // A full plate: A → B (10 min) → B (same checkpoint: no route) → C (20 min after the B pass) → A (1:59:59) → B (> 2 h).
    ['2023-12-11 08:00:00', 'R_A_K1', '苏C12345', '02', '大众牌'],
    ['2023-12-11 08:10:00', 'R_B_K2', '苏C12345', '02', '-'],
    ['2023-12-11 08:15:00', 'R_B_K2', '苏C12345', '02', '大众牌'],
    ['2023-12-11 08:35:00', 'R_C_K3', '苏C12345', '02', '大众牌'],
    ['2023-12-11 10:34:59', 'R_A_K1', '苏C12345', '02', '大众牌'],
    ['2023-12-11 12:35:00', 'R_B_K2', '苏C12345', '02', '大众牌'],
    // One masked vehicle (type 02, brand 福田牌): A → B (30 min) → C (50 min).
    ['2023-12-11 09:00:00', 'R_A_K1', '苏CD7***', '02', '福田牌'],
    ['2023-12-11 09:30:00', 'R_B_K2', '苏CD7***', '02', '福田牌'],
    ['2023-12-11 10:20:00', 'R_C_K3', '苏CD7***', '02', '福田牌'],
    // Same mask, other vehicles: another brand, another type, no brand — none pairs with the above.
    ['2023-12-11 09:10:00', 'R_C_K3', '苏CD7***', '02', '五菱牌'],
    ['2023-12-11 09:20:00', 'R_D_K4', '苏CD7***', '52', '福田牌'],
    ['2023-12-11 09:40:00', 'R_A_K1', '苏CD7***', '02', '-'],
    ['2023-12-11 09:50:00', 'R_C_K3', '苏CD7***', '02', '-'],
    // INVALID plates never name a vehicle.
    ['2023-12-11 11:00:00', 'R_A_K1', '-***', '02', '福田牌'],
    ['2023-12-11 11:05:00', 'R_B_K2', '-***', '02', '福田牌'],
    ['2023-12-11 11:00:00', 'R_A_K1', '京***', '02', '福田牌'],
    ['2023-12-11 11:05:00', 'R_C_K3', '京***', '02', '福田牌'],
    // Across midnight: counted on the day of arrival (12-11), not on 12-10.
    ['2023-12-10 23:40:00', 'R_A_K1', '苏E54321', '02', '-'],
    ['2023-12-11 00:20:00', 'R_B_K2', '苏E54321', '02', '-'],
    // A route of 12-10 only.
    ['2023-12-10 10:00:00', 'R_C_K3', '鲁Q99999', '01', '解放牌'],
    ['2023-12-10 10:45:00', 'R_D_K4', '鲁Q99999', '01', '解放牌'],
  ];
  return write(masterRows(passes, 5000));
}

/** ~3,000 passes of 400 vehicles over 2023-12-10/11, seeded: every plate class, shared masks, ties in time. */
export function makeRandomRoutesFixture(seed = 7): RoutesFixture {
  const rnd = mulberry32(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const codes = ROUTE_DIMS.map((d) => d[0]!);
  const brands = ['福田牌', '五菱牌', '大众牌', '-'];
  const passes: Array<[string, string, string, string, string]> = [];
  const start = toEpochSeconds('2023-12-10 00:00:00');
  for (let v = 0; v < 400; v++) {
    const kind = int(10);
    // Few distinct masks, so many vehicles share one; some full plates, some INVALID.
    const hphm = kind < 2 ? `苏C${String(10000 + v)}` : kind < 9 ? `苏C${'ABD'[int(3)]}${int(3)}***` : ['-***', 'C37***', '京***'][int(3)]!;
    const hpzl = ['02', '01', '52'][int(3)]!;
    const brand = brands[int(brands.length)]!;
    let t = start + int(2 * 86_400 - 3600);
    const n = 2 + int(12);
    for (let i = 0; i < n && t < start + 2 * 86_400; i++) {
      passes.push([formatChinaTime(t * 1000), codes[int(codes.length)]!, hphm, hpzl, rnd() < 0.1 ? '-' : brand]);
      // Mostly minutes apart, sometimes hours, sometimes the same second.
      t += rnd() < 0.1 ? 0 : rnd() < 0.8 ? 60 + int(5400) : 3600 + int(10_000);
    }
  }
  return write(masterRows(passes, 900_000));
}
