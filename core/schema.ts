/**
 * The data contract (../shared/DESIGN.md) in one place. Every part imports column names and
 * row shapes from here; nothing else spells them.
 *
 * Rows travel as plain string arrays (fields in contract order): the ETL moves ~600k rows per run
 * and arrays of strings are the cheapest shape to parse into, transform and stringify.
 */

/** The 8 raw columns, by position. Header names vary across exports; positions never do. */
export const RAW_COLUMNS = ['GCXH', 'XZQHMC', 'KKMC', 'FXLX', 'GCSJ', 'HPZL', 'HPHM', 'CLPPXH'] as const;

/** The 12-column master (stage 05 output, stream record, store row), in order. */
export const MASTER_COLUMNS = [...RAW_COLUMNS, 'PROVINCE', 'IS_WEEKEND', 'IS_PEAK_HOUR', 'VEHICLE_TYPE_NAME'] as const;
export type MasterColumn = (typeof MASTER_COLUMNS)[number];

/** Field index by name, for both the 8-column and 12-column rows (the first 8 coincide). */
export const F = {
  GCXH: 0,
  XZQHMC: 1,
  KKMC: 2,
  FXLX: 3,
  GCSJ: 4,
  HPZL: 5,
  HPHM: 6,
  CLPPXH: 7,
  PROVINCE: 8,
  IS_WEEKEND: 9,
  IS_PEAK_HOUR: 10,
  VEHICLE_TYPE_NAME: 11,
} as const satisfies Record<MasterColumn, number>;

/** An 8-field pass row (stages 01–04). */
export type PassRow = string[];
/** A 12-field master row (stage 05 onwards). */
export type MasterRow = string[];

/** The placeholder the source systems use for "no value". */
export const MISSING = '-';

/** Prefix of GCXH for rows synthesized by the missing-day fill (stage 04). */
export const SYN_PREFIX = 'SYN';
/** Prefix of GCXH for cloned-plate pairs injected by the simulator. */
export const INJ_PREFIX = 'INJ';

/** A row that could not be used, with where it came from and why. Written to rejects.csv. */
export interface Reject {
  sourceFile: string;
  /** 1-based physical line (CSV) or row number (XLSX) in the source; 0 when not applicable. */
  line: number;
  stage: string;
  reason: string;
  raw: string;
}

export const REJECT_COLUMNS = ['SOURCE_FILE', 'LINE', 'STAGE', 'REASON', 'RAW'] as const;

/** Stage output file names (DESIGN.md "Stage outputs"). */
export const FILES = {
  merged: 'merged_data.csv',
  kkmcStatsTxt: 'kkmc_statistics.txt',
  kkmcStatsJson: 'kkmc_statistics.json',
  standardized: 'merged_data_standardized.csv',
  dimension: 'kkmc_dimension.csv',
  cleaned: 'master_data_cleaned.csv',
  repairLog: 'repair_log.csv',
  master: 'master_data_expanded.csv',
  rejects: 'rejects.csv',
  manifest: 'manifest.json',
  model: 'traffic_flow_model.json',
} as const;

export const DIMENSION_COLUMNS = ['KKMC', 'KKMC_NAME', 'ALIASES', 'ROAD', 'COUNTY', 'STAKE_KM', 'BORDER', 'XZQHMC', 'LON', 'LAT', 'PASSES'] as const;

export const REPAIR_LOG_COLUMNS = ['GCXH', 'FIELD', 'OLD', 'NEW', 'METHOD', 'CONFIDENCE'] as const;

export const STREAM = {
  topic: 'traffic-raw',
  deadLetterTopic: 'traffic-raw-dlq',
  warningsKey: 'traffic:warnings',
  warningsMax: 1000,
} as const;
