/**
 * The cloned-plate detector core: keyed state (plate → recent sightings) per partition, driven
 * by event time (GCSJ). Pure and synchronous: no IO, clock injected, so tests feed literal
 * sequences and the CLI, the benchmark and the one-process platform share it.
 *
 * Event time and lateness, per partition p:
 *   maxT(p) = newest event time seen; watermark W(p) = maxT(p) − lateness.
 *   A record with t < W(p) is LATE: counted, neither paired nor stored (the result then depends
 *   only on records within the lateness bound, whatever their arrival order).
 *   A sighting with t < W(p) − window can no longer pair with any non-late record and is evicted,
 *   so state holds about (window + lateness) × rate sightings whatever the stream's length.
 * Every pair of non-late records is examined exactly once, when its second record arrives;
 * duplicates (same GCXH) are ignored. Watermarks are per partition because a plate's records share
 * a partition (key = HPHM): alerts then depend only on each partition's own order, so any split of
 * partitions over instances raises the same alerts.
 */
import type { PlateClass } from '../../core/plates.ts';
import { F } from '../../core/schema.ts';
import { chinaIso, EpochSeconds } from '../../core/time.ts';
import { alertId, type Alert, type RuleName } from './alert.ts';
import type { DistanceFn } from './geo.ts';
import { evaluatePair, type RuleParams, type Sighting } from './rules.ts';

export interface PlateFns {
  normalize(hphm: string): string;
  classify(hphm: string): PlateClass;
}

export interface DetectorOptions extends RuleParams {
  latenessS: number;
  distance: DistanceFn;
  plates: PlateFns;
  /** Wall clock for `detected_at` (ms); injected so tests are deterministic. */
  now?: () => number;
}

export const DEFAULT_PARAMS = { rule: 'default' as RuleName, windowS: 300, speedKmh: 150, latenessS: 60 };

export interface DetectorStats {
  records: number;
  duplicates: number;
  late: number;
  invalidPlate: number;
  badRecord: number;
  pairsChecked: number;
  alerts: number;
  evicted: number;
}

interface PlateState {
  /** Normalized plate. */
  key: string;
  masked: boolean;
  /** Sorted by event time. Short: the sightings of one plate within window + lateness. */
  list: Sighting[];
}

// Field indexes as plain constants: the hot loop should not go through a module binding per field.
const I_GCXH: number = F.GCXH;
const I_KKMC: number = F.KKMC;
const I_GCSJ: number = F.GCSJ;
const I_HPZL: number = F.HPZL;
const I_HPHM: number = F.HPHM;
const I_CLPPXH: number = F.CLPPXH;

/** Eviction buckets: plates with sightings in each minute of event time. */
const BUCKET_S = 60;

class PartitionState {
  maxT = -Infinity;
  /**
   * Normalized plate → state. Looked up first with the HPHM as carried: the master's plates are
   * already normalized (normalizePlate is idempotent), so that is usually the only lookup.
   */
  readonly plates = new Map<string, PlateState>();
  readonly buckets = new Map<number, PlateState[]>();
  /** The bucket written last (records arrive nearly in time order: usually the same one). */
  lastBucketId = NaN;
  lastBucket: PlateState[] | null = null;
  /** Every bucket below this has been evicted. */
  evictedBucket = -Infinity;
  sightings = 0;
}

interface PlateInfo {
  key: string;
  cls: PlateClass;
}

export class CloneDetector {
  readonly stats: DetectorStats = {
    records: 0,
    duplicates: 0,
    late: 0,
    invalidPlate: 0,
    badRecord: 0,
    pairsChecked: 0,
    alerts: 0,
    evicted: 0,
  };
  readonly params: Readonly<RuleParams & { latenessS: number }>;
  private readonly partitions = new Map<number, PartitionState>();
  private lastPartition = NaN;
  private lastPartitionState: PartitionState | null = null;
  private readonly plateCache = new Map<string, PlateInfo>();
  private readonly epochs = new EpochSeconds();
  private lastSec = NaN;
  private lastIso = '';
  private readonly distance: DistanceFn;
  private readonly plates: PlateFns;
  private readonly now: () => number;

  constructor(opts: DetectorOptions) {
    this.params = { rule: opts.rule, windowS: opts.windowS, speedKmh: opts.speedKmh, latenessS: opts.latenessS };
    this.distance = opts.distance;
    this.plates = opts.plates;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Offers one record (12 master fields, or at least the first 8) from a partition; alerts found
   * are appended to `out`. Returns the number of alerts appended.
   */
  push(row: readonly string[], partition: number, out: Alert[]): number {
    const st = this.stats;
    st.records++;
    const gcxh = row[I_GCXH];
    const kkmc = row[I_KKMC];
    const gcsj = row[I_GCSJ];
    const hphm = row[I_HPHM];
    if (!gcxh || !kkmc || gcsj === undefined || hphm === undefined) {
      st.badRecord++;
      return 0;
    }
    const ps = this.partition(partition);
    let state = ps.plates.get(hphm);
    if (state === undefined) {
      const plate = this.plate(hphm);
      if (plate.cls === 'INVALID') {
        st.invalidPlate++;
        return 0;
      }
      if (plate.key !== hphm) state = ps.plates.get(plate.key);
      if (state === undefined) {
        // Registered now; dropped again below if this record turns out late or bad.
        state = { key: plate.key, masked: plate.cls === 'MASKED', list: [] };
        ps.plates.set(plate.key, state);
      }
    }
    const t = this.epochs.of(gcsj);
    if (Number.isNaN(t)) {
      st.badRecord++;
      this.dropIfEmpty(ps, state);
      return 0;
    }
    if (t < ps.maxT - this.params.latenessS) {
      st.late++;
      this.dropIfEmpty(ps, state);
      return 0;
    }
    const list = state.list;
    for (let i = 0; i < list.length; i++) {
      if (list[i]!.gcxh === gcxh) {
        st.duplicates++;
        return 0;
      }
    }
    const s: Sighting = {
      gcxh,
      kkmc,
      t,
      gcsj,
      hpzl: row[I_HPZL] ?? '',
      clppxh: row[I_CLPPXH] ?? '',
    };
    let found = 0;
    for (let i = 0; i < list.length; i++) {
      const other = list[i]!;
      st.pairsChecked++;
      const v = evaluatePair(other, s, state.masked, this.params, this.distance);
      if (v === null) continue;
      const first = other.t < t || (other.t === t && other.gcxh < gcxh);
      out.push(this.alert(state.key, state.masked, first ? other : s, first ? s : other, v.distanceKm, v.speedKmh));
      found++;
    }
    st.alerts += found;
    // Keep the list sorted by time (arrivals are nearly in order: usually a push).
    let pos = list.length;
    while (pos > 0 && list[pos - 1]!.t > t) pos--;
    if (pos === list.length) list.push(s);
    else list.splice(pos, 0, s);
    ps.sightings++;
    const b = Math.floor(t / BUCKET_S);
    let bucket = b === ps.lastBucketId ? ps.lastBucket : ps.buckets.get(b);
    if (bucket === undefined || bucket === null) {
      bucket = [state];
      ps.buckets.set(b, bucket);
    } else if (bucket[bucket.length - 1] !== state) bucket.push(state);
    ps.lastBucketId = b;
    ps.lastBucket = bucket;
    if (t > ps.maxT) {
      ps.maxT = t;
      this.evict(ps);
    }
    return found;
  }

  /**
   * Moves a partition's event-time clock forward as if a record at `t` (epoch s) had been seen,
   * e.g. from a processing-time idle timeout. Never moves it back.
   */
  advance(partition: number, t: number): void {
    const ps = this.partition(partition);
    if (t > ps.maxT) {
      ps.maxT = t;
      this.evict(ps);
    }
  }

  /** Forgets a partition (e.g. revoked by a rebalance: its new owner builds its own state). */
  dropPartition(partition: number): void {
    this.partitions.delete(partition);
    this.lastPartition = NaN;
    this.lastPartitionState = null;
  }

  /** Watermark of a partition (epoch s), -Infinity before its first record. */
  watermark(partition: number): number {
    const ps = this.partitions.get(partition);
    return ps ? ps.maxT - this.params.latenessS : -Infinity;
  }

  /** Current state size: what must stay flat on an endless stream. */
  stateSize(): { partitions: number; plates: number; sightings: number; buckets: number } {
    let plates = 0;
    let sightings = 0;
    let buckets = 0;
    for (const ps of this.partitions.values()) {
      plates += ps.plates.size;
      sightings += ps.sightings;
      buckets += ps.buckets.size;
    }
    return { partitions: this.partitions.size, plates, sightings, buckets };
  }

  private partition(p: number): PartitionState {
    if (p === this.lastPartition && this.lastPartitionState !== null) return this.lastPartitionState;
    let ps = this.partitions.get(p);
    if (ps === undefined) {
      ps = new PartitionState();
      this.partitions.set(p, ps);
    }
    this.lastPartition = p;
    this.lastPartitionState = ps;
    return ps;
  }

  private plate(hphm: string): PlateInfo {
    let info = this.plateCache.get(hphm);
    if (info === undefined) {
      // Bounded: plates are reused heavily (masked to 4 characters), full plates are not.
      if (this.plateCache.size >= 100_000) this.plateCache.clear();
      const key = this.plates.normalize(hphm);
      info = { key, cls: this.plates.classify(key) };
      this.plateCache.set(hphm, info);
    }
    return info;
  }

  private evict(ps: PartitionState): void {
    const limit = ps.maxT - this.params.latenessS - this.params.windowS;
    // Buckets entirely below the limit; the bucket holding the limit is pruned next time.
    const upTo = Math.floor(limit / BUCKET_S);
    if (upTo <= ps.evictedBucket) return;
    const from = ps.evictedBucket;
    ps.evictedBucket = upTo;
    if (from === -Infinity || upTo - from > ps.buckets.size) {
      for (const [b, states] of ps.buckets) {
        if (b < upTo) this.evictBucket(ps, b, states, limit);
      }
    } else {
      for (let b = from; b < upTo; b++) {
        const states = ps.buckets.get(b);
        if (states !== undefined) this.evictBucket(ps, b, states, limit);
      }
    }
  }

  private evictBucket(ps: PartitionState, b: number, states: PlateState[], limit: number): void {
    ps.buckets.delete(b);
    if (ps.lastBucketId === b) {
      ps.lastBucketId = NaN;
      ps.lastBucket = null;
    }
    for (const state of states) {
      const list = state.list;
      let n = 0;
      while (n < list.length && list[n]!.t < limit) n++;
      if (n === 0) continue;
      this.stats.evicted += n;
      ps.sightings -= n;
      if (n === list.length) list.length = 0;
      else list.splice(0, n);
      this.dropIfEmpty(ps, state);
    }
  }

  /** Forgets a plate with no sightings left. */
  private dropIfEmpty(ps: PartitionState, state: PlateState): void {
    if (state.list.length > 0 || ps.plates.get(state.key) !== state) return;
    ps.plates.delete(state.key);
  }

  /** Formatting a time is costly and alerts come in bursts on a replay: once per second. */
  private detectedAt(): string {
    const sec = Math.floor(this.now() / 1000);
    if (sec !== this.lastSec) {
      this.lastSec = sec;
      this.lastIso = chinaIso(sec * 1000);
    }
    return this.lastIso;
  }

  private alert(hphm: string, masked: boolean, prev: Sighting, curr: Sighting, distanceKm: number | null, speedKmh: number | null): Alert {
    return {
      id: alertId(prev.gcxh, curr.gcxh),
      hphm,
      masked,
      prev: { gcxh: prev.gcxh, kkmc: prev.kkmc, gcsj: prev.gcsj },
      curr: { gcxh: curr.gcxh, kkmc: curr.kkmc, gcsj: curr.gcsj },
      interval_s: curr.t - prev.t,
      distance_km: distanceKm === null ? null : round(distanceKm, 2),
      speed_kmh: speedKmh === null ? null : round(speedKmh, 1),
      rule: this.params.rule,
      detected_at: this.detectedAt(),
    };
  }
}

function round(x: number, digits: number): number {
  const k = 10 ** digits;
  return Math.round(x * k) / k;
}
