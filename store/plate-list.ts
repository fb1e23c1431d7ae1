/**
 * The API's copy of one shard's plate dimension (`plate_stats`: plate → passes), so a plate search
 * matches its substring over ~50k strings in memory (~1 ms) instead of scanning the table on the
 * server each request (~12 ms of a shard's CPU, the larger part of a fragment search such as `D7`).
 *
 * Exact, not a cache with a lifetime: every writer of plate_stats bumps `plate_stats_version` in the
 * same transaction (store/mysql.ts), and each search first reads that counter (one primary-key
 * read). The copy is used only while the counter is the one it was read under; otherwise the
 * search takes the SQL path, as without a copy, and a fresh copy is read in the background, at
 * most once per PLATE_LIST_REFRESH_MS (and at most 5 % of the time for a table slow to read). So
 * a store under live writes (the sink commits every second or so) costs one full read of the
 * table per refresh interval at most and answers from SQL between them; a quiet store answers
 * from the copy.
 *
 * Why the copy read after the counter is safe: a write that commits between the two reads is in
 * the copy but not in the counter read, so the next search sees a newer counter and reads again;
 * a copy older than its counter cannot happen.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { PLATE_TABLE, PLATE_VERSION_TABLE } from './ddl.ts';

/** The least time between two background reads of the whole table for one shard (default). */
export const PLATE_LIST_REFRESH_MS = 1000;

/**
 * Largest table copied (plates per shard): ~100 bytes each in memory. Beyond it (a city network's
 * shard) every search takes the SQL path; the size is checked again after TOO_LARGE_RETRY_MS.
 */
export const MAX_COPIED_PLATES = 1_000_000;
const TOO_LARGE_RETRY_MS = 10 * 60_000;

/**
 * Background reads take at most this share of the time: a shard whose table takes 200 ms to read
 * (a few hundred thousand plates) is read again at most every 4 s under live writes, not every
 * second.
 */
const LOAD_SHARE = 0.05;

/** What a plate search needs from plate_stats for one substring. */
export interface PlateMatch {
  /** Passes of the matching plates. */
  hit: number;
  /** How many plates match. */
  plateCount: number;
  /** The matching plates when at most `listLimit` match, else null. */
  plates: string[] | null;
  /** Passes of all plates (the shard's rows). */
  total: number;
}

interface Copy {
  version: string;
  plates: string[];
  passes: number[];
  total: number;
}

/** Runs one read on the shard (the API store's bounded read). */
export type ShardRead = (sql: string, params: unknown[]) => Promise<RowDataPacket[]>;

export class ShardPlateList {
  private copy: Copy | null = null;
  private loading: Promise<void> | null = null;
  private lastLoadAt = Number.NEGATIVE_INFINITY;
  /** How long the last read of the table took (ms): background reads keep LOAD_SHARE of the time. */
  private lastLoadMs = 0;
  private tooLargeUntil = 0;

  constructor(
    private readonly read: ShardRead,
    private readonly refreshMs = PLATE_LIST_REFRESH_MS,
  ) {}

  /**
   * The match over the copy when it is exact now, else null (the caller takes the SQL path; a
   * fresh copy is on its way unless one was read within the refresh interval or the table is too large).
   */
  async match(fragment: string, listLimit: number): Promise<PlateMatch | null> {
    const version = await this.version();
    if (version === null) return null;
    const copy = this.copy;
    if (copy !== null && copy.version === version) return matchCopy(copy, fragment, listLimit);
    this.refresh();
    return null;
  }

  /** The counter now; null when the table or its row is missing (a store from before it). */
  private async version(): Promise<string | null> {
    try {
      const rows = await this.read(`SELECT CAST(version AS CHAR) AS v FROM ${PLATE_VERSION_TABLE} WHERE id = 1`, []);
      return rows[0]?.v == null ? null : String(rows[0].v);
    } catch (err) {
      if ((err as { errno?: number }).errno === 1146) return null; // ER_NO_SUCH_TABLE
      throw err;
    }
  }

  private refresh(): void {
    const now = Date.now();
    const gap = Math.max(this.refreshMs, this.lastLoadMs / LOAD_SHARE);
    if (this.loading !== null || now - this.lastLoadAt < gap || now < this.tooLargeUntil) return;
    void this.reload().catch(() => {
      // A failed read leaves the old copy unused (its counter no longer matches); the next
      // search after the refresh interval tries again.
    });
  }

  /** Reads the copy now (or waits for the read in flight). */
  reload(): Promise<void> {
    this.loading ??= this.load().finally(() => {
      this.loading = null;
    });
    this.lastLoadAt = Date.now();
    return this.loading;
  }

  private async load(): Promise<void> {
    const t0 = performance.now();
    try {
      await this.readCopy();
    } finally {
      this.lastLoadMs = performance.now() - t0;
    }
  }

  private async readCopy(): Promise<void> {
    // The counter first, then the rows: see the module comment.
    const version = await this.version();
    if (version === null) return;
    const rows = await this.read(`SELECT CAST(hphm AS CHAR CHARACTER SET utf8mb4) AS h, passes AS n FROM ${PLATE_TABLE} WHERE passes > 0 LIMIT ?`, [
      MAX_COPIED_PLATES + 1,
    ]);
    if (rows.length > MAX_COPIED_PLATES) {
      this.copy = null;
      this.tooLargeUntil = Date.now() + TOO_LARGE_RETRY_MS;
      return;
    }
    const plates = new Array<string>(rows.length);
    const passes = new Array<number>(rows.length);
    let total = 0;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      plates[i] = String(r.h);
      passes[i] = Number(r.n);
      total += passes[i]!;
    }
    this.copy = { version, plates, passes, total };
  }
}

/** The plates holding `fragment` (a literal, case-sensitive substring, as `LIKE` on the binary plate). */
export function matchCopy(copy: Pick<Copy, 'plates' | 'passes' | 'total'>, fragment: string, listLimit: number): PlateMatch {
  let hit = 0;
  let plateCount = 0;
  const listed: string[] = [];
  const { plates, passes } = copy;
  for (let i = 0; i < plates.length; i++) {
    const h = plates[i]!;
    if (!h.includes(fragment)) continue;
    hit += passes[i]!;
    if (++plateCount <= listLimit) listed.push(h);
  }
  return { hit, plateCount, plates: plateCount <= listLimit ? listed : null, total: copy.total };
}
