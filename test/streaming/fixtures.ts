/** Small literal master CSVs and dimension tables for the streaming tests (known content, any size). */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { csvLine } from '../../core/csv.ts';
import { DIMENSION_COLUMNS, MASTER_COLUMNS } from '../../core/schema.ts';
import { formatChinaTime, toEpochSeconds } from '../../core/time.ts';

/** Four checkpoints with real approximate coordinates (Xuzhou border checkpoints). */
export const CHECKPOINTS = [
  { kkmc: 'G3_Tongshan_K731', xzqhmc: '高速五大队', lon: 117.396433, lat: 34.487818 },
  { kkmc: 'G237_Fengxian_K148', xzqhmc: '丰县', lon: 116.493658, lat: 34.593566 },
  { kkmc: 'S325_Suining_K63', xzqhmc: '睢宁县', lon: 117.94, lat: 33.91 },
  { kkmc: 'G206_Tongshan_K1', xzqhmc: '铜山区', lon: 117.2, lat: 34.3 },
] as const;

export function tmpDir(prefix = 'traffic-stream-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * n master rows, one every `stepS` seconds from 2024-01-06 07:59:00 (a Saturday), 20 plates
 * cycling, GCXH = 1000+i. Deterministic, so expected content is known.
 */
export function masterRows(n: number, stepS = 3): string[][] {
  const t0 = toEpochSeconds('2024-01-06 07:59:00');
  const rows: string[][] = [];
  for (let i = 0; i < n; i++) {
    const cp = CHECKPOINTS[i % CHECKPOINTS.length]!;
    const gcsj = formatChinaTime((t0 + i * stepS) * 1000);
    const h = +gcsj.slice(11, 13);
    rows.push([
      String(1000 + i),
      cp.xzqhmc,
      cp.kkmc,
      String(1 + (i % 2)),
      gcsj,
      i % 5 === 0 ? '01' : '02',
      `苏C${String.fromCharCode(65 + (i % 20))}${i % 10}***`,
      i % 3 === 0 ? '-' : '五菱牌-五菱宏光-2016',
      '江苏',
      '1',
      h === 7 || h === 8 ? '1' : '0',
      i % 5 === 0 ? '大型汽车' : '小型汽车',
    ]);
  }
  return rows;
}

export function writeMaster(dir: string, rows: string[][], name = 'master_data_expanded.csv'): string {
  const file = path.join(dir, name);
  writeFileSync(file, csvLine(MASTER_COLUMNS) + rows.map((r) => csvLine(r)).join(''));
  return file;
}

export function writeDimension(dir: string): string {
  const file = path.join(dir, 'kkmc_dimension.csv');
  const rows = CHECKPOINTS.map((c) => [c.kkmc, c.kkmc, '', '', '', '', '省际', c.xzqhmc, String(c.lon), String(c.lat), '100']);
  writeFileSync(file, csvLine(DIMENSION_COLUMNS) + rows.map((r) => csvLine(r)).join(''));
  return file;
}
