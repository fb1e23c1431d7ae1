/** Literal records and checkpoints for the detector tests (coordinates from data/ref/kkmc_geo.csv). */
import type { Alert } from '../../streaming/detect/alert.ts';
import { CloneDetector, DEFAULT_PARAMS } from '../../streaming/detect/core.ts';
import { distanceLookup, type LonLat } from '../../streaming/detect/geo.ts';
import { ETL_PLATES } from '../../streaming/detect/plates.ts';
import type { RuleName } from '../../streaming/detect/alert.ts';

export const CP: Record<string, LonLat> = {
  // 徐州市睢宁县G104北京-福州K873 … 苏皖界省际卡口
  G104_Suining_K873: { lon: 117.895947, lat: 33.912474 },
  // 徐州市睢宁县S252塔双线K56 …: 6.6 km north of G104 K873
  S252_Suining_K56: { lon: 117.893307, lat: 33.972047 },
  // 徐州市铜山县G310连云港-天水K310 …: ~90 km west
  G310_Tongshan_K310: { lon: 117.013287, lat: 34.286473 },
  // 徐州市新沂市S323连徐线K10 阿湖卡口: ~110 km north-east
  S323_Xinyi_K10: { lon: 118.616398, lat: 34.403239 },
};

const distance = distanceLookup(new Map(Object.entries(CP)));

export interface RecOpts {
  hpzl?: string;
  clppxh?: string;
}

/** A 12-field master row. */
export function rec(gcxh: string, kkmc: string, gcsj: string, hphm: string, o: RecOpts = {}): string[] {
  return [gcxh, '睢宁县', kkmc, '1', gcsj, o.hpzl ?? '02', hphm, o.clppxh ?? '大众牌-朗逸-2019', '江苏', '0', '0', '小型汽车'];
}

export function detector(opts: Partial<{ rule: RuleName; windowS: number; speedKmh: number; latenessS: number }> = {}): CloneDetector {
  return new CloneDetector({
    ...DEFAULT_PARAMS,
    ...opts,
    distance,
    plates: ETL_PLATES,
    now: () => Date.UTC(2024, 0, 1, 4, 0, 0),
  });
}

/** Feeds rows (all partition 0 unless given) and returns every alert raised. */
export function run(det: CloneDetector, rows: (string[] | [string[], number])[]): Alert[] {
  const out: Alert[] = [];
  for (const r of rows) {
    if (typeof r[1] === 'number') det.push(r[0] as string[], r[1], out);
    else det.push(r as string[], 0, out);
  }
  return out;
}
