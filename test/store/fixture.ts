/**
 * Deterministic master rows for store tests and the sink benchmark: known checkpoints, a fixed
 * pseudo-random sequence (seeded), times spread from a start time at a fixed step.
 */
import { writeFile } from 'node:fs/promises';
import { csvLine } from '../../core/csv.ts';
import { MASTER_COLUMNS, type MasterRow } from '../../core/schema.ts';
import { formatChinaTime, isWeekend, toEpochSeconds } from '../../core/time.ts';
import { passFromFields, type PassRecord, type QueryFilter } from '../../store/store-api.ts';

export const KKMCS = [
  'S325_Suining_K63',
  'G104_Tongshan_K832',
  'G206_Peixian_K12',
  'G237_Suining_K10',
  'S252_Pizhou_K5',
  'G311_Tongshan_K3',
  'S323_Xinyi_K40',
  'G310_Jiawang_K215',
] as const;

const PLATES = ['苏C', '苏A', '鲁Q', '皖L', '豫N', '京A', '-'];
const HPZL: Array<[string, string]> = [
  ['02', '小型汽车'],
  ['01', '大型汽车'],
  ['52', '小型新能源汽车'],
  ['-', '未知'],
];
const PROV: Record<string, string> = { 苏: '江苏', 鲁: '山东', 皖: '安徽', 豫: '河南', 京: '北京' };

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

export interface FixtureOptions {
  /** First GCSJ (China time). */
  start?: string;
  /** Seconds between consecutive rows. */
  stepS?: number;
  seed?: number;
  prefix?: string;
  /** Checkpoint codes to draw from (default KKMCS). */
  kkmcs?: readonly string[];
}

export function makeRows(n: number, o: FixtureOptions = {}): MasterRow[] {
  const r = rng(o.seed ?? 7);
  const t0 = toEpochSeconds(o.start ?? '2024-01-01 00:00:00');
  const step = o.stepS ?? 5;
  const out: MasterRow[] = [];
  for (let i = 0; i < n; i++) {
    const gcsj = formatChinaTime((t0 + i * step) * 1000);
    const pool = o.kkmcs ?? KKMCS;
    const kkmc = pool[Math.floor(r() * pool.length)]!;
    const pre = PLATES[Math.floor(r() * PLATES.length)]!;
    const hphm = pre === '-' ? '-***' : `${pre}${String.fromCharCode(65 + Math.floor(r() * 26))}${Math.floor(r() * 10)}***`;
    const [hpzl, vt] = HPZL[Math.floor(r() * HPZL.length)]!;
    const hour = Number(gcsj.slice(11, 13));
    out.push([
      `${o.prefix ?? 'T'}${String(1_000_000 + i)}`,
      '徐州市',
      kkmc,
      r() < 0.5 ? '1' : '2',
      gcsj,
      hpzl,
      hphm,
      r() < 0.2 ? '-' : '五菱牌-五菱宏光-2013',
      PROV[pre[0]!] ?? '未知',
      isWeekend(gcsj) ? '1' : '0',
      (hour >= 7 && hour < 9) || (hour >= 17 && hour < 19) ? '1' : '0',
      vt,
    ]);
  }
  return out;
}

export async function writeMasterCsv(file: string, rows: readonly MasterRow[]): Promise<void> {
  let s = csvLine(MASTER_COLUMNS);
  for (const row of rows) s += csvLine(row);
  await writeFile(file, s);
}

/** What a full scan answers: filter, gcsj desc then gcxh, one page. */
export function fullScanPage(all: MasterRow[], f: QueryFilter, page: number, size: number): { total: number; rows: PassRecord[] } {
  const hit = all.filter(
    (r) =>
      (f.hphm === undefined || r[6]!.includes(f.hphm)) &&
      (f.hpzl === undefined || r[5] === f.hpzl) &&
      (f.province === undefined || r[8] === f.province) &&
      (f.kkmc === undefined || r[2] === f.kkmc) &&
      (f.start === undefined || r[4]! >= f.start) &&
      (f.end === undefined || r[4]! <= f.end),
  );
  hit.sort((a, b) => (a[4] !== b[4] ? (a[4]! < b[4]! ? 1 : -1) : a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0));
  return { total: hit.length, rows: hit.slice((page - 1) * size, page * size).map(passFromFields) };
}
