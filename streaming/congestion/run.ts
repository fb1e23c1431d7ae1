/**
 * Live flow monitoring as a service: bus source → FlowWindows (1- and 5-minute event-time windows)
 * → window store + CongestionLevels → change sink, committing only after windows, changes and the
 * restart snapshot are stored (the bus commits when the handler resolves). Used by the
 * `congestion` command, the tests and the one-process platform.
 *
 * One instance per consumer group: a checkpoint's passes are spread over every partition (the
 * key is HPHM), so its windows need all of them.
 */
import { ensureTopic, kafkaBrokers, openSource, type Source, type StreamItem } from '../bus/index.ts';
import { kafkaClient } from '../bus/kafka.ts';
import { Progress, fmtInt } from '../../core/progress.ts';
import { FlowWindows, type FlowWindow, type FlowWindowOptions } from '../windows/core.ts';
import { CongestionLevels, type CongestionAlert, type LevelOptions } from './levels.ts';
import { openCongestionSink, type CongestionSink, type CongestionSinkOptions } from './sinks.ts';
import type { CongestionSnapshot, SnapshotStore } from './snapshot.ts';
import type { CongestionState } from './state.ts';
import type { ThresholdTable } from './thresholds.ts';
import type { WindowStore } from './window-store.ts';
import { levelChanges } from '../../core/metrics.ts';

export interface CongestionRunOptions {
  from: string;
  /** Sink URI, or a sink the caller owns (not closed here). */
  to: string | CongestionSink;
  groupId: string;
  thresholds: ThresholdTable;
  windows?: FlowWindowOptions;
  levels?: LevelOptions;
  /** Closed windows go here (not closed here); null: not stored. */
  windowStore?: WindowStore | null;
  /** Restart state (not closed here); null: none (offline replays). */
  snapshot?: SnapshotStore | null;
  /** In-process view fed with levels, changes and windows (the API's). */
  state?: CongestionState;
  sink?: CongestionSinkOptions;
  fromBeginning?: boolean;
  follow?: boolean;
  commit?: boolean;
  maxBatch?: number;
  signal?: AbortSignal;
  /**
   * A partition that delivered nothing for this long (processing time, ms) stops holding the
   * watermark back (default 10 000), so an empty or stalled partition cannot freeze the windows.
   */
  idleMs?: number;
  onSource?: (source: Source) => void;
  onChanges?: (changes: readonly CongestionAlert[]) => void;
  onWindows?: (windows: readonly FlowWindow[]) => void;
  progress?: boolean;
  quiet?: boolean;
}

export interface CongestionSummary {
  records: number;
  skippedReplay: number;
  bad: number;
  late: number;
  lateExpired: number;
  lateByKkmc: Record<string, number>;
  windowsClosed: number;
  windowsUpdated: number;
  levelWindows: number;
  noThreshold: number;
  changes: number;
  stored: number;
  /** day → kkmc → level changes that day. */
  changesPerDay: Record<string, Record<string, number>>;
  /** Days with closed windows, and the checkpoints seen, sorted. */
  days: string[];
  checkpoints: string[];
  deadLettered: number;
  deadLetterReasons: Record<string, number>;
  restoredFrom: string | null;
  seconds: number;
}

export async function runCongestion(o: CongestionRunOptions): Promise<CongestionSummary> {
  const windows = new FlowWindows(o.windows);
  const levels = new CongestionLevels(o.thresholds, o.levels);
  const offsets = new Map<number, bigint>();
  let restored: Map<number, bigint> | null = null;
  let restoredFrom: string | null = null;
  // Kafka: every partition of the topic holds the watermark back until it has delivered (or idled).
  const kafka = kafkaBrokers(o.from);
  const expected = kafka ? await topicPartitions(kafka.brokers, kafka.topic) : [];
  windows.expectPartitions(expected);
  const snap = await o.snapshot?.load();
  if (snap) {
    windows.restore(snap.windows);
    levels.restore(snap.levels);
    // Kafka offsets and file positions name the same record across runs; an MQTT item's offset
    // counts arrivals in this run, so its snapshot skips nothing (what was not acknowledged comes again).
    if (!o.from.startsWith('mqtt://')) {
      restored = new Map(Object.entries(snap.offsets).map(([p, off]) => [Number(p), BigInt(off)]));
      for (const [p, off] of restored) offsets.set(p, off);
    }
    restoredFrom = o.snapshot!.where;
  }
  const idleMs = o.idleMs ?? 10_000;
  const lastDelivered = new Map<number, number>();
  const startedMs = Date.now();
  const ownSink = typeof o.to === 'string';
  const sink = typeof o.to === 'string' ? await openCongestionSink(o.to, o.sink) : o.to;
  const progress = new Progress({ label: 'congestion', unit: 'records', tty: o.quiet ? false : o.progress });
  const perDay: Record<string, Record<string, number>> = {};
  const days = new Set<string>();
  const checkpoints = new Set<string>();
  let stored = 0;
  let skippedReplay = 0;
  let closedCount = 0;
  let updatedCount = 0;
  let source: Source | undefined;

  const pendingWindows: FlowWindow[] = [];
  const pendingChanges: CongestionAlert[] = [];
  const collect = (r: { closed: FlowWindow[]; updated: FlowWindow[] }): void => {
    closedCount += r.closed.length;
    updatedCount += r.updated.length;
    pendingWindows.push(...r.closed, ...r.updated);
    for (const w of r.closed) {
      days.add(w.window_start.slice(0, 10));
      checkpoints.add(w.kkmc);
    }
    const changes = levels.onClosed(r.closed, windows.watermark);
    for (const c of changes) {
      const day = c.window_start.slice(0, 10);
      const d = (perDay[day] ??= {});
      d[c.kkmc] = (d[c.kkmc] ?? 0) + 1;
    }
    pendingChanges.push(...changes);
  };
  // An offline replay commits nothing, so windows may be written in large batches (an embedded
  // store pays per statement); a committing source stores every batch before its commit.
  const isKafka = o.from.startsWith('kafka://');
  // A broker (Kafka, MQTT) never ends: windows stay open in the snapshot at stop.
  const isLive = isKafka || o.from.startsWith('mqtt://');
  const commits = isLive || o.from.startsWith('memory:') || (o.commit ?? o.follow ?? false);
  const windowBatch = commits ? 0 : 20_000;
  let unwritten: FlowWindow[] = [];
  let queued = false;
  /** Stores what is pending, then the snapshot: only then may the source commit. */
  const store = async (final = false): Promise<void> => {
    // Queued once even when a failed store step is retried.
    if (o.windowStore && !queued) {
      unwritten.push(...pendingWindows);
      queued = true;
    }
    if (o.windowStore && unwritten.length && (final || unwritten.length >= windowBatch)) {
      await o.windowStore.write(unwritten);
      unwritten = [];
    }
    if (pendingChanges.length) stored += await sink.write(pendingChanges);
    if (o.snapshot) await o.snapshot.save(snapshotOf(windows, levels, offsets));
    if (o.state) {
      o.state.setLevels(levels.current());
      if (sink.uri !== `memory:${o.state.name}`) o.state.add(pendingChanges);
      o.state.publishWindows(pendingWindows);
    }
    for (const c of pendingChanges) levelChanges.inc({ level: c.level });
    if (pendingChanges.length) o.onChanges?.(pendingChanges);
    if (pendingWindows.length) o.onWindows?.(pendingWindows);
    pendingWindows.length = 0;
    pendingChanges.length = 0;
    queued = false;
  };

  try {
    source = await openSource(o.from, {
      groupId: o.groupId,
      fromBeginning: o.fromBeginning ?? true,
      follow: o.follow ?? false,
      commit: o.commit ?? o.follow ?? false,
      maxBatch: o.maxBatch,
      signal: o.signal,
    });
    o.onSource?.(source);
    // A batch whose store step failed is retried by the bus with the same array: its records are
    // already counted, so only the store step runs again.
    let unstored: StreamItem[] | null = null;
    await source.run(async (batch: StreamItem[]) => {
      if (batch !== unstored) {
        const now = Date.now();
        for (const item of batch) {
          lastDelivered.set(item.partition, now);
          const off = BigInt(item.offset);
          const seen = restored?.get(item.partition);
          if (seen !== undefined && off <= seen) {
            skippedReplay++;
            continue;
          }
          windows.push(item.row, item.partition);
          offsets.set(item.partition, off);
        }
        for (const p of expected) {
          if (now - (lastDelivered.get(p) ?? startedMs) > idleMs) windows.setIdle(p, true);
        }
        progress.add(batch.length);
        collect(windows.drain());
      }
      unstored = batch;
      await store();
      unstored = null;
    });
    // A finite input (offline replay) ends every window; a stopped live source keeps them open
    // in the snapshot for the next start.
    if (!isLive && !o.from.startsWith('memory:') && !(o.follow ?? false)) {
      collect(windows.closeAll());
      await store(true);
    }
  } finally {
    await source?.stop().catch(() => {});
    if (ownSink) await sink.close();
  }
  const ws = windows.stats;
  const summary: CongestionSummary = {
    records: ws.records,
    skippedReplay,
    bad: ws.bad,
    late: ws.late,
    lateExpired: ws.lateExpired,
    lateByKkmc: ws.lateByKkmc,
    windowsClosed: closedCount,
    windowsUpdated: updatedCount,
    levelWindows: levels.stats.windows,
    noThreshold: levels.stats.noThreshold,
    changes: levels.stats.changes,
    stored,
    changesPerDay: perDay,
    days: [...days].sort(),
    checkpoints: [...checkpoints].sort(),
    deadLettered: source?.stats.deadLettered ?? 0,
    deadLetterReasons: source?.stats.deadLetterReasons ?? {},
    restoredFrom,
    seconds: progress.seconds,
  };
  if (!o.quiet) progress.done(summaryLine(summary));
  return summary;
}

/** Partition ids of a topic (created first when missing, as the bus does before subscribing). */
async function topicPartitions(brokers: string[], topic: string): Promise<number[]> {
  await ensureTopic(brokers, topic);
  const admin = kafkaClient(brokers, 'traffic-congestion-admin').admin();
  try {
    await admin.connect();
    const md = await admin.fetchTopicMetadata({ topics: [topic] });
    return (md.topics[0]?.partitions ?? []).map((p) => p.partitionId).sort((a, b) => a - b);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

function snapshotOf(w: FlowWindows, l: CongestionLevels, offsets: Map<number, bigint>): CongestionSnapshot {
  return {
    format: 'traffic-congestion-state/1',
    offsets: Object.fromEntries([...offsets].map(([p, off]) => [String(p), off.toString()])),
    windows: w.snapshot(),
    levels: l.snapshot(),
  };
}

export function summaryLine(s: CongestionSummary): string {
  const rate = s.seconds > 0 ? s.records / s.seconds : 0;
  return (
    `congestion: ${fmtInt(s.records)} records in ${s.seconds.toFixed(1)} s (${fmtInt(rate)}/s), ` +
    `${fmtInt(s.windowsClosed)} windows closed (${fmtInt(s.windowsUpdated)} re-emitted for late records), ` +
    `late ${fmtInt(s.late)} (+${fmtInt(s.lateExpired)} beyond retention), bad ${fmtInt(s.bad)}, ` +
    `dead-lettered ${fmtInt(s.deadLettered)}; ${fmtInt(s.changes)} level changes (${fmtInt(s.stored)} new in sink)` +
    (s.noThreshold ? `; ${fmtInt(s.noThreshold)} windows without thresholds` : '') +
    (s.skippedReplay ? `; ${fmtInt(s.skippedReplay)} replayed records skipped (restart snapshot)` : '')
  );
}

/** Per-checkpoint level changes per day: the figure that says whether the panel blinks. */
export function changesTable(perDay: Record<string, Record<string, number>>, checkpoints: readonly string[], days: readonly string[]): string {
  const lines: string[] = [];
  const all: number[] = [];
  lines.push(`level changes per day per checkpoint (${days.length} days, ${checkpoints.length} checkpoints)`);
  lines.push(`${'KKMC'.padEnd(28)} ${'mean/day'.padStart(8)} ${'max/day'.padStart(8)} ${'total'.padStart(7)}`);
  for (const k of checkpoints) {
    const per = days.map((d) => perDay[d]?.[k] ?? 0);
    all.push(...per);
    const total = per.reduce((a, b) => a + b, 0);
    lines.push(
      `${k.padEnd(28)} ${(total / Math.max(1, days.length)).toFixed(1).padStart(8)} ${String(Math.max(0, ...per)).padStart(8)} ${String(total).padStart(7)}`,
    );
  }
  all.sort((a, b) => a - b);
  const q = (p: number): number => (all.length ? all[Math.min(all.length - 1, Math.ceil((p / 100) * all.length) - 1)]! : 0);
  const mean = all.reduce((a, b) => a + b, 0) / Math.max(1, all.length);
  lines.push(`checkpoint-days: mean ${mean.toFixed(2)}, median ${q(50)}, p90 ${q(90)}, max ${q(100)}`);
  return lines.join('\n') + '\n';
}
