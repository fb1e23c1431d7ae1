/**
 * Congestion levels per checkpoint from closed 5-minute windows (summed over directions), with
 * escalation and an optional hysteresis. Pure and synchronous (no IO, no clock).
 *
 *   passes > ALERT    → 红色警戒      passes > WARNING → 黄色拥堵      else → 舒适
 *
 * Escalation needs `riseWindows` consecutive windows above the current level (default 2: a
 * level is sustained traffic, not one busy 5 minutes); de-escalation needs `holdWindows`
 * consecutive windows under the lower boundary scaled by `clearRatio` (default 6 windows = 30
 * min under 0.8 × the boundary). Defaults chosen on the real data (docs/congestion.md). Every level change is
 * one alert; its id is derived from checkpoint, window and level, so a replay re-creates no alert.
 * A checkpoint's windows with no passes count as 0 (quiet traffic is a reason to calm down), so
 * every 5-minute window from the checkpoint's first pass up to the watermark is evaluated.
 */
import { createHash } from 'node:crypto';
import { formatChinaTime, hourOf, isWeekend, toEpochSeconds } from '../../core/time.ts';
import type { FlowWindow } from '../windows/core.ts';
import type { ThresholdTable } from './thresholds.ts';

export const LEVELS = ['舒适', '黄色拥堵', '红色警戒'] as const;
export type Level = (typeof LEVELS)[number];

export interface CongestionAlert {
  id: string;
  kkmc: string;
  level: Level;
  /** Passes in the 5-minute window (both directions). */
  passes: number;
  /** The boundary crossed: WARNING for 舒适 ↔ 黄色拥堵, ALERT for 黄色拥堵 ↔ 红色警戒 (unscaled). */
  threshold: number;
  window_start: string;
  previous_level: Level;
}

export interface CheckpointLevel {
  kkmc: string;
  level: Level;
  /** Passes of the latest evaluated window, with its thresholds (null: no thresholds known). */
  passes: number;
  warning: number | null;
  alert: number | null;
  window_start: string;
}

export interface LevelOptions {
  /** Window length the thresholds are for (s). Default 300. */
  windowS?: number;
  /** Consecutive windows above a higher level before escalating (default 1). */
  riseWindows?: number;
  /** Consecutive windows under a lower level before de-escalating (default 1). */
  holdWindows?: number;
  /** De-escalate only at or below boundary × clearRatio (0 < r ≤ 1; 1 = no band). Default 0.8. */
  clearRatio?: number;
}

export const DEFAULT_LEVEL_OPTIONS = { windowS: 300, riseWindows: 2, holdWindows: 6, clearRatio: 0.8 } as const;

interface KkState {
  level: number;
  /** First window start not evaluated yet (epoch s). */
  next: number;
  up: number;
  down: number;
  last: CheckpointLevel | null;
}

export interface LevelsSnapshot {
  checkpoints: [string, KkState][];
}

export interface LevelStats {
  windows: number;
  /** Windows of checkpoints with no threshold for that day type and hour (level left as is). */
  noThreshold: number;
  changes: number;
}

/** Id of a level change: 16 hex of sha1("kkmc|window_start|level"). */
export function congestionId(kkmc: string, windowStart: string, level: Level): string {
  return createHash('sha1').update(`${kkmc}|${windowStart}|${level}`).digest('hex').slice(0, 16);
}

export class CongestionLevels {
  readonly opts: Required<LevelOptions>;
  readonly stats: LevelStats = { windows: 0, noThreshold: 0, changes: 0 };
  private readonly state = new Map<string, KkState>();

  constructor(
    private thresholds: ThresholdTable,
    opts: LevelOptions = {},
  ) {
    this.opts = { ...DEFAULT_LEVEL_OPTIONS, ...stripUndefined(opts) };
    const o = this.opts;
    if (!(o.clearRatio > 0 && o.clearRatio <= 1)) throw new RangeError(`clearRatio must be in (0, 1], got ${o.clearRatio}`);
    if (!(o.riseWindows >= 1 && o.holdWindows >= 1)) throw new RangeError('riseWindows and holdWindows must be ≥ 1');
  }

  /** Swaps the thresholds (an edited file reloaded); levels carry over. */
  setThresholds(t: ThresholdTable): void {
    this.thresholds = t;
  }

  /**
   * Feeds windows the watermark has closed (only those of length windowS are used; directions are
   * summed) and the watermark itself: every window of every known checkpoint ending at or before
   * it is evaluated, in time order. Returns the level changes, by window then checkpoint.
   */
  onClosed(windows: readonly FlowWindow[], watermark: number): CongestionAlert[] {
    const len = this.opts.windowS;
    const sums = new Map<string, Map<number, number>>();
    for (const w of windows) {
      if (w.window_len_s !== len) continue;
      const start = toEpochSeconds(w.window_start);
      let st = this.state.get(w.kkmc);
      if (st === undefined) {
        st = { level: 0, next: start, up: 0, down: 0, last: null };
        this.state.set(w.kkmc, st);
      }
      let m = sums.get(w.kkmc);
      if (m === undefined) sums.set(w.kkmc, (m = new Map()));
      m.set(start, (m.get(start) ?? 0) + w.passes);
    }
    const out: CongestionAlert[] = [];
    for (const [kkmc, st] of this.state) {
      const m = sums.get(kkmc);
      for (; st.next + len <= watermark; st.next += len) {
        const a = this.evaluate(kkmc, st, st.next, m?.get(st.next) ?? 0);
        if (a) out.push(a);
      }
    }
    out.sort((a, b) => (a.window_start < b.window_start ? -1 : a.window_start > b.window_start ? 1 : a.kkmc < b.kkmc ? -1 : 1));
    return out;
  }

  /** Latest level of every checkpoint, by KKMC. */
  current(): CheckpointLevel[] {
    const out: CheckpointLevel[] = [];
    for (const [kkmc, st] of [...this.state].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      if (st.last) out.push({ ...st.last });
      else out.push({ kkmc, level: LEVELS[st.level]!, passes: 0, warning: null, alert: null, window_start: '' });
    }
    return out;
  }

  snapshot(): LevelsSnapshot {
    return { checkpoints: [...this.state].map(([k, s]) => [k, { ...s, last: s.last ? { ...s.last } : null }]) };
  }

  restore(s: LevelsSnapshot): void {
    this.state.clear();
    for (const [k, st] of s.checkpoints) this.state.set(k, { ...st });
  }

  private evaluate(kkmc: string, st: KkState, start: number, passes: number): CongestionAlert | null {
    this.stats.windows++;
    const windowStart = formatChinaTime(start * 1000);
    const th = this.thresholds.get(kkmc, isWeekend(windowStart) ? 'weekend' : 'weekday', hourOf(windowStart));
    const prev = st.level;
    if (th === undefined) {
      this.stats.noThreshold++;
      st.last = { kkmc, level: LEVELS[prev]!, passes, warning: null, alert: null, window_start: windowStart };
      return null;
    }
    const { warning, alert } = th;
    const target = passes > alert ? 2 : passes > warning ? 1 : 0;
    const r = this.opts.clearRatio;
    const calm = passes > alert * r ? 2 : passes > warning * r ? 1 : 0;
    if (target > prev) {
      st.down = 0;
      if (++st.up >= this.opts.riseWindows) {
        st.level = target;
        st.up = 0;
      }
    } else {
      st.up = 0;
      if (calm < prev) {
        if (++st.down >= this.opts.holdWindows) {
          st.level = calm;
          st.down = 0;
        }
      } else st.down = 0;
    }
    const level = LEVELS[st.level]!;
    st.last = { kkmc, level, passes, warning, alert, window_start: windowStart };
    if (st.level === prev) return null;
    this.stats.changes++;
    // The boundary crossed: ALERT into or out of red towards yellow, WARNING otherwise.
    const threshold = st.level === 2 || (st.level === 1 && prev === 2) ? alert : warning;
    return {
      id: congestionId(kkmc, windowStart, level),
      kkmc,
      level,
      passes,
      threshold,
      window_start: windowStart,
      previous_level: LEVELS[prev]!,
    };
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
