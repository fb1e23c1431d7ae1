/**
 * The detector as a service: source (bus) → CloneDetector → alert sink, committing only after the
 * sink has stored the batch's alerts (the bus commits when the handler resolves). Used by the
 * `detect` command, the tests and the one-process platform.
 */
import { kafkaBrokers, openSource, type Source, type StreamItem } from '../bus/index.ts';
import { Progress, fmtInt } from '../../core/progress.ts';
import type { Alert, RuleName } from './alert.ts';
import { CloneDetector, type PlateFns } from './core.ts';
import { distanceLookup, emptyDimension, loadDimension, type Dimension } from './geo.ts';
import { ETL_PLATES } from './plates.ts';
import { QualityTally, readTruthPairs, summarize, type RuleQuality } from './quality.ts';
import { openAlertSinkWaiting, type AlertSink, type SinkOptions } from './sinks.ts';
import { warmUp, type WarmUpResult } from './warmup.ts';
import { alertsRaised } from '../../core/metrics.ts';
import { createLogger } from '../../core/log.ts';

export interface DetectRunOptions {
  from: string;
  /** Sink URI, or a sink the caller owns (then it is not closed here). */
  to: string | AlertSink;
  groupId: string;
  rule: RuleName;
  windowS: number;
  speedKmh: number;
  latenessS: number;
  /** Resolved dimension file (null: distances unknown), or an already loaded dimension. */
  dim: string | null | Dimension;
  sink?: SinkOptions;
  fromBeginning?: boolean;
  /** file: keep reading appends (default false: offline replay to the end). */
  follow?: boolean;
  /** file: persist the read position per group (default: when following). */
  commit?: boolean;
  maxBatch?: number;
  signal?: AbortSignal;
  /** Truth CSV of injected clones: also run the other rule and report quality. */
  truthFile?: string;
  /** Compare both rules even without a truth file. */
  compare?: boolean;
  plates?: PlateFns;
  now?: () => number;
  /** Called after each batch's alerts are stored (tests, the platform). */
  onAlerts?: (alerts: readonly Alert[]) => void;
  /** Called once the source is open (e.g. to stop it from outside). */
  onSource?: (source: Source) => void;
  /**
   * Kafka: records per partition re-read before the committed offsets into the state at start
   * (no alerts), so pairs spanning a restart are found. 0 turns it off. Default 20000.
   */
  warmUpRecords?: number;
  /** Live progress line (default: when stderr is a TTY). */
  progress?: boolean;
  /** No progress and no summary line (tests, embedding). */
  quiet?: boolean;
  /** Seconds to wait for the alert store (Redis) at start before giving up (default 60). */
  connectWaitS?: number;
}

export interface DetectSummary {
  records: number;
  alerts: number;
  stored: number;
  late: number;
  duplicates: number;
  invalidPlate: number;
  badRecord: number;
  deadLettered: number;
  deadLetterReasons: Record<string, number>;
  state: ReturnType<CloneDetector['stateSize']>;
  seconds: number;
  dimension: { file: string | null; checkpoints: number; withCoordinates: number };
  quality: RuleQuality[] | null;
  /** Kafka: what the start-up warm-up re-read (null when none ran). */
  warmUp: WarmUpResult | null;
}

export async function runDetect(o: DetectRunOptions): Promise<DetectSummary> {
  const dimension = o.dim === null ? emptyDimension() : typeof o.dim === 'string' ? await loadDimension(o.dim) : o.dim;
  const distance = distanceLookup(dimension.coords);
  const plates = o.plates ?? ETL_PLATES;
  const base = { windowS: o.windowS, speedKmh: o.speedKmh, latenessS: o.latenessS, distance, plates, now: o.now };
  const detector = new CloneDetector({ ...base, rule: o.rule });
  const wantQuality = o.truthFile !== undefined || o.compare === true;
  const other: RuleName = o.rule === 'default' ? 'window' : 'default';
  const shadow = wantQuality ? new CloneDetector({ ...base, rule: other }) : null;
  const truth = o.truthFile ? await readTruthPairs(o.truthFile) : null;
  const tally = wantQuality ? new QualityTally(o.rule) : null;
  const shadowTally = wantQuality ? new QualityTally(other) : null;
  const days = new Set<string>();

  const ownSink = typeof o.to === 'string';
  const sink =
    typeof o.to === 'string'
      ? await openAlertSinkWaiting(o.to, o.sink ?? {}, o.connectWaitS ?? 60, (m) => {
          if (!o.quiet) createLogger('detect').info(m);
        })
      : o.to;
  const progress = new Progress({ label: 'detect', unit: 'records', tty: o.quiet ? false : o.progress });
  let stored = 0;
  let source: Source | undefined;
  let warmed: WarmUpResult | null = null;
  try {
    const kafka = kafkaBrokers(o.from);
    if (kafka && (o.warmUpRecords ?? 20_000) > 0) {
      warmed = await warmUp(detector, kafka.brokers, kafka.topic, o.groupId, { maxRecords: o.warmUpRecords ?? 20_000 });
      if (shadow) await warmUp(shadow, kafka.brokers, kafka.topic, o.groupId, { maxRecords: o.warmUpRecords ?? 20_000 });
      if (warmed.short.length && !o.quiet) {
        createLogger('detect').warn(
          `warm-up of partitions ${warmed.short.join(',')} covers less than window + lateness of event time; ` +
            `raise --warmup to find pairs spanning the restart`,
        );
      }
    }
    source = await openSource(o.from, {
      groupId: o.groupId,
      fromBeginning: o.fromBeginning ?? true,
      follow: o.follow ?? false,
      // A followed log resumes from its committed position; an offline replay reads it whole.
      commit: o.commit ?? o.follow ?? false,
      maxBatch: o.maxBatch,
      signal: o.signal,
    });
    o.onSource?.(source);
    const out: Alert[] = [];
    const shadowOut: Alert[] = [];
    let lastDay = '';
    // The bus retries a batch whose handler failed (e.g. Redis down) with the same array: its
    // records are already in the detector's state, so only the alerts still unstored are retried.
    let unstored: StreamItem[] | null = null;
    await source.run(async (batch: StreamItem[]) => {
      if (batch !== unstored) {
        for (const item of batch) {
          // Read once: a Kafka item decodes its row on each access (bus/kafka-item.ts).
          const row = item.row;
          detector.push(row, item.partition, out);
          if (shadow) {
            shadow.push(row, item.partition, shadowOut);
            const day = (row[4] ?? '').slice(0, 10);
            if (day !== lastDay) {
              days.add(day);
              lastDay = day;
            }
          }
        }
        if (shadowOut.length) {
          shadowTally!.add(shadowOut);
          shadowOut.length = 0;
        }
        progress.add(batch.length);
      }
      if (out.length) {
        unstored = batch;
        // Stored before the handler resolves: only then may the source commit these offsets.
        stored += await sink.write(out);
        tally?.add(out);
        alertsRaised.inc(out.length);
        o.onAlerts?.(out);
        out.length = 0;
      }
      unstored = null;
    });
  } finally {
    await source?.stop().catch(() => {});
    if (ownSink) await sink.close();
  }
  const st = detector.stats;
  const summary: DetectSummary = {
    records: st.records,
    alerts: st.alerts,
    stored,
    late: st.late,
    duplicates: st.duplicates,
    invalidPlate: st.invalidPlate,
    badRecord: st.badRecord,
    deadLettered: source?.stats.deadLettered ?? 0,
    deadLetterReasons: source?.stats.deadLetterReasons ?? {},
    state: detector.stateSize(),
    seconds: progress.seconds,
    warmUp: warmed,
    dimension: { file: dimension.file, checkpoints: dimension.checkpoints, withCoordinates: dimension.withCoordinates },
    quality:
      tally && shadowTally
        ? [tally, shadowTally].map((t) => summarize(t, truth, days)).sort((a, b) => (a.rule === 'default' ? -1 : b.rule === 'default' ? 1 : 0))
        : null,
  };
  if (!o.quiet) progress.done(summaryLine(summary, o.rule));
  return summary;
}

export function summaryLine(s: DetectSummary, rule: RuleName): string {
  const rate = s.seconds > 0 ? s.records / s.seconds : 0;
  return (
    `detect (${rule}): ${fmtInt(s.records)} records in ${s.seconds.toFixed(1)} s (${fmtInt(rate)}/s), ` +
    `${fmtInt(s.alerts)} alerts (${fmtInt(s.stored)} new in sink), late ${fmtInt(s.late)}, ` +
    `duplicates ${fmtInt(s.duplicates)}, invalid plates ${fmtInt(s.invalidPlate)}, bad ${fmtInt(s.badRecord)}, ` +
    `dead-lettered ${fmtInt(s.deadLettered)}; state ${fmtInt(s.state.sightings)} sightings` +
    (s.warmUp ? `; warm-up re-read ${fmtInt(s.warmUp.records)} records of ${s.warmUp.partitions} partitions` : '')
  );
}
