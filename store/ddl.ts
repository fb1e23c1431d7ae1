/**
 * The MySQL store schema (DESIGN.md "Store: MySQL shards") and the row checks that keep bad data
 * out of it. Both tables exist on every shard; `kkmc_info` holds the same rows everywhere (a MyCat
 * global table). Column widths are generous for the real exports and enforced before writing, so
 * a bad value is rejected with its reason instead of truncated or coerced by the server.
 *
 * gcxh and kkmc are identifiers compared byte for byte (utf8mb4_bin): under utf8mb4_general_ci
 * `g1` would collide with `G1` as a primary key, and every character outside the BMP compares
 * equal to every other, so GROUP BY kkmc would merge distinct checkpoints. Text columns people
 * search (plates, names) keep the case-insensitive default.
 */
import { checkpointCodeProblem } from '../core/checkpoint-code.ts';
import { DIMENSION_COLUMNS, F, MASTER_COLUMNS } from '../core/schema.ts';

export const TRAFFIC_TABLE = 'traffic_data';
export const KKMC_TABLE = 'kkmc_info';

/** traffic_data columns = the 12 master columns, lower-case, in master order. */
export const TRAFFIC_COLUMNS = MASTER_COLUMNS.map((c) => c.toLowerCase());
/** kkmc_info columns = kkmc_dimension.csv columns, lower-case. */
export const KKMC_COLUMNS = DIMENSION_COLUMNS.map((c) => c.toLowerCase());

/** Max characters per master field (index = master field), matching the DDL below. */
export const FIELD_MAX = [64, 128, 64, 16, 19, 16, 32, 255, 32, 1, 1, 64] as const;

export const CREATE_TRAFFIC_DATA = `CREATE TABLE IF NOT EXISTS ${TRAFFIC_TABLE} (
  gcxh VARCHAR(64) COLLATE utf8mb4_bin NOT NULL,
  xzqhmc VARCHAR(128) NOT NULL DEFAULT '',
  kkmc VARCHAR(64) COLLATE utf8mb4_bin NOT NULL,
  fxlx VARCHAR(16) NOT NULL DEFAULT '',
  gcsj DATETIME NOT NULL,
  hpzl VARCHAR(16) NOT NULL DEFAULT '',
  hphm VARCHAR(32) NOT NULL DEFAULT '',
  clppxh VARCHAR(255) NOT NULL DEFAULT '',
  province VARCHAR(32) NOT NULL DEFAULT '',
  is_weekend TINYINT NOT NULL DEFAULT 0,
  is_peak_hour TINYINT NOT NULL DEFAULT 0,
  vehicle_type_name VARCHAR(64) NOT NULL DEFAULT '',
  PRIMARY KEY (gcxh),
  KEY idx_gcsj (gcsj),
  KEY idx_kkmc_gcsj (kkmc, gcsj),
  KEY idx_hphm_gcsj (hphm, gcsj)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`;

export const PLATE_TABLE = 'plate_stats';

/**
 * Passes per plate on this shard: the plate dimension behind the plate search (store/plate-search.ts).
 * Kept exact by every writer of traffic_data in this module's ShardedStore (insert, LOAD DATA,
 * retention), in the same transaction as the rows. hphm is VARBINARY: compared byte for byte with
 * no trailing-space padding, so `LIKE` over it matches exactly what `hphm COLLATE utf8mb4_bin LIKE`
 * matches over traffic_data (a literal UTF-8 substring is a byte substring).
 */
export const CREATE_PLATE_STATS = `CREATE TABLE IF NOT EXISTS ${PLATE_TABLE} (
  hphm VARBINARY(128) NOT NULL,
  passes BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (hphm)
) ENGINE=InnoDB`;

export const PLATE_VERSION_TABLE = 'plate_stats_version';

/**
 * One row (id 1): a counter every writer of plate_stats bumps in the same transaction, as its
 * last statement (after the plate rows, so writers lock in one order). A reader that holds a copy
 * of plate_stats (the API's plate list, store/plate-list.ts) knows the copy is still exact while the
 * counter is unchanged. It starts at a random value, so a database dropped and made again does
 * not repeat an old one.
 */
export const CREATE_PLATE_STATS_VERSION = `CREATE TABLE IF NOT EXISTS ${PLATE_VERSION_TABLE} (
  id TINYINT NOT NULL,
  version BIGINT NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB`;

export const CREATE_KKMC_INFO = `CREATE TABLE IF NOT EXISTS ${KKMC_TABLE} (
  kkmc VARCHAR(64) COLLATE utf8mb4_bin NOT NULL,
  kkmc_name VARCHAR(255) NOT NULL DEFAULT '',
  aliases TEXT NULL,
  road VARCHAR(32) NOT NULL DEFAULT '',
  county VARCHAR(64) NOT NULL DEFAULT '',
  stake_km VARCHAR(32) NOT NULL DEFAULT '',
  border VARCHAR(32) NOT NULL DEFAULT '',
  xzqhmc VARCHAR(128) NOT NULL DEFAULT '',
  lon DOUBLE NULL,
  lat DOUBLE NULL,
  passes BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (kkmc)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`;

/**
 * Why a master row cannot be stored, or null when it can. Checks what the server would otherwise
 * coerce or truncate: field count, empty key fields, a KKMC that is not a checkpoint code (codes
 * reach pages, logs and exports), a GCSJ that is not a real calendar time, 0/1 flags, field widths.
 */
export function storeRowProblem(row: readonly string[]): string | null {
  if (row.length !== MASTER_COLUMNS.length) return `expected ${MASTER_COLUMNS.length} fields, got ${row.length}`;
  if (!row[F.GCXH]) return 'GCXH empty';
  const kkmc = checkpointCodeProblem(row[F.KKMC] ?? '');
  if (kkmc) return kkmc;
  const gcsj = row[F.GCSJ] ?? '';
  if (!isStoreTime(gcsj)) return `GCSJ not a valid YYYY-MM-DD HH:mm:ss time: "${gcsj}"`;
  for (const i of [F.IS_WEEKEND, F.IS_PEAK_HOUR]) {
    const v = row[i];
    if (v !== '0' && v !== '1') return `${MASTER_COLUMNS[i]} must be 0 or 1, got "${v}"`;
  }
  for (let i = 0; i < FIELD_MAX.length; i++) {
    // Length in code points, as VARCHAR(n) counts characters.
    const v = row[i] ?? '';
    if (v.length > FIELD_MAX[i]! && [...v].length > FIELD_MAX[i]!) {
      return `${MASTER_COLUMNS[i]} longer than ${FIELD_MAX[i]} characters`;
    }
  }
  return null;
}

const d = (s: string, i: number): number => s.charCodeAt(i) - 48;
const DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];

/**
 * `YYYY-MM-DD HH:mm:ss` naming a real calendar time within DATETIME's supported range
 * (years 1000–9999). Hand-rolled: it runs once per stored row, and a regex + parse costs more
 * than everything else the loader does to a row.
 */
export function isStoreTime(s: string): boolean {
  if (s.length !== 19) return false;
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 32 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) {
    return false;
  }
  for (const i of DIGITS) {
    const c = d(s, i);
    if (c < 0 || c > 9) return false;
  }
  const y = d(s, 0) * 1000 + d(s, 1) * 100 + d(s, 2) * 10 + d(s, 3);
  const mo = d(s, 5) * 10 + d(s, 6);
  const day = d(s, 8) * 10 + d(s, 9);
  if (y < 1000 || mo < 1 || mo > 12 || day < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const dim = mo === 2 ? (leap ? 29 : 28) : mo === 4 || mo === 6 || mo === 9 || mo === 11 ? 30 : 31;
  if (day > dim) return false;
  return d(s, 11) * 10 + d(s, 12) <= 23 && d(s, 14) * 10 + d(s, 15) <= 59 && d(s, 17) * 10 + d(s, 18) <= 59;
}
