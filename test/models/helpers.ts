import { HourlyGridBuilder, type HourlyGrid } from '../../models/grid.ts';
import { syntheticMasterRows, type SyntheticOptions } from '../../models/synthetic-master.ts';

/** One master row with the fields the grid reads (the rest are plausible fillers). */
export function row(gcxh: string, kkmc: string, gcsj: string): string[] {
  return [gcxh, '睢宁县', kkmc, '1', gcsj, '02', '苏C12***', '-', '江苏', '0', '0', '小型汽车'];
}

/** A grid built in memory from a synthetic master (no CSV round trip). */
export function syntheticGrid(opts: SyntheticOptions): HourlyGrid {
  const b = new HourlyGridBuilder();
  for (const r of syntheticMasterRows(opts)) b.add(r);
  return b.finish();
}
