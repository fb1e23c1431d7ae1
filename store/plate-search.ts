/**
 * The plate search (`POST /api/query` with `hphm`) without scanning the history, on both stores.
 *
 * Each store keeps a plate dimension, `plate_stats` (plate → passes), exact under every write.
 * It is ~12× smaller than the passes on a two-month master and grows far slower than the history
 * (plates repeat), so a substring match over it is cheap:
 * - the total of a plate-only filter is the sum of the matching plates' passes;
 * - the share of passes that match says how many of the newest rows hold a page: the rows are
 *   read from that time window only (an index range on MySQL, zone-map pruned row groups on
 *   DuckDB), and from the whole table only when the window turns out short (then the answer is
 *   the same, just slower) or the match is rare.
 * A page taken from a window [T, newest] is the true page: every row outside it is older than
 * every row inside (gcsj < T), so when the window holds `need` matching rows, the newest `need`
 * of all matching rows are those.
 */
import type { QueryFilter } from './store-api.ts';

/** Passes of the matching plates and of all plates (in one store or shard). */
export interface PlateSelectivity {
  matching: number;
  total: number;
}

/** The filter is the plate alone: its total comes straight from plate_stats. */
export function plateOnly(f: QueryFilter): boolean {
  return f.hphm !== undefined && f.kkmc === undefined && f.start === undefined && f.end === undefined && f.hpzl === undefined && f.province === undefined;
}

/**
 * Worth a time window: a plate filter without a checkpoint or time range (those have indexes of
 * their own and bound the work already). hpzl/province only thin the matches: the window may come
 * back short, and the search falls back to the full query.
 */
export function plateWindowed(f: QueryFilter): boolean {
  return f.hphm !== undefined && f.kkmc === undefined && f.start === undefined && f.end === undefined;
}

/** Slack over the expected rows: matches cluster by time of day and by checkpoint. */
const WINDOW_SLACK = 1.5;
const WINDOW_EXTRA_ROWS = 200;

/**
 * How many of the newest rows (any plate) should hold `need` matching rows, or null when that is
 * a large part of the table (a rare match: read it all, or by the plate index).
 */
export function windowRows(need: number, sel: PlateSelectivity): number | null {
  if (sel.matching <= 0 || sel.total <= 0) return null;
  const rows = Math.ceil(((need * sel.total) / sel.matching) * WINDOW_SLACK) + WINDOW_EXTRA_ROWS;
  return rows >= sel.total / 4 ? null : rows;
}

/** At most this many matching plates are listed in an `IN (…)` for the plate index. */
export const MAX_LISTED_PLATES = 1000;
