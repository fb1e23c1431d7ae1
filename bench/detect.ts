/**
 * `npm run bench:detect`: the cloned-plate detector.
 *
 * 1. Offline throughput on one core: N synthetic stream records (held in memory as stream-record
 *    lines) decoded and pushed through the detector, per rule, against the named baseline
 *    "decode only" (decodeRecord on the same lines) measured in the same run. Best of 3 rounds,
 *    wall time and CPU time (the machine may be shared: CPU-seconds are the fairer figure).
 * 2. End-to-end file replay: the same records in a log file through the bus file source, against
 *    the baseline "file source with a no-op handler".
 * 3. Latency through real Kafka and Redis (when the broker answers): this process sends synthetic
 *    records at --rate (default 50/s, event time = now) with injected clones through the bus Kafka
 *    sink (the simulator's sink), a `traffic detect` child consumes them and writes Redis; latency
 *    = receipt of the alert on the Redis channel − the send of the pair's second record.
 * 4. With --rss N: only the memory run of bench/detect-rss.ts (RSS every 1M records).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { Redis } from 'ioredis';
import { int, parseFlags } from '../core/args.ts';
import type { Command } from '../core/command.ts';
import { readEnv } from '../core/config.ts';
import { csvText } from '../core/io.ts';
import { DIMENSION_COLUMNS } from '../core/schema.ts';
import { ensureTopic, openSink, openSource } from '../streaming/bus/index.ts';
import { decodeRecord, encodeRecord } from '../streaming/record.ts';
import type { Alert, RuleName } from '../streaming/detect/alert.ts';
import { CloneDetector, DEFAULT_PARAMS } from '../streaming/detect/core.ts';
import { distanceLookup, type Dimension } from '../streaming/detect/geo.ts';
import { ETL_PLATES } from '../streaming/detect/plates.ts';
import { runDetect } from '../streaming/detect/run.ts';
import { MemoryAlertSink } from '../streaming/detect/sinks.ts';
import { SYNTHETIC_CHECKPOINTS, syntheticCoords, syntheticStream, type SyntheticOptions } from '../streaming/detect/synthetic.ts';
import { runRss } from './detect-rss.ts';
import { PACKAGE_ROOT } from '../core/paths.ts';

const usage = `usage: traffic bench:detect [--records N] [--latency-s S] [--rate R] [--rss N]

  --records N    records for the throughput runs (default 1000000)
  --latency-s S  seconds of live sending for the Kafka latency run; 0 skips it (default 40)
  --rate R       records/s sent in the latency run (default 50)
  --rss N        only the memory run: N records, RSS every 1M (e.g. 10000000)`;

const ROOT = PACKAGE_ROOT;
/** Stream density of the throughput runs: ~3% of records pair under the window rule (real: ~4%). */
const OFFLINE: SyntheticOptions = { seed: 42, rate: 2, plates: 200_000, maskedShare: 0.9, jitterS: 30, injectClones: 0.01 };
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function makeDetector(rule: RuleName): CloneDetector {
  return new CloneDetector({ ...DEFAULT_PARAMS, rule, distance: distanceLookup(syntheticCoords()), plates: ETL_PLATES });
}

interface Timing {
  /** Wall seconds. */
  s: number;
  /** CPU seconds of this process (user + system): on a shared, loaded machine the fairer figure. */
  cpu: number;
}

function clock(): () => Timing {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  return () => {
    const c = process.cpuUsage(c0);
    return { s: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
  };
}

function timeDecode(lines: string[]): Timing {
  const stop = clock();
  let ok = 0;
  for (const l of lines) if (decodeRecord(l).ok) ok++;
  if (ok !== lines.length) throw new Error('decode failed');
  return stop();
}

function timeDetect(lines: string[], rule: RuleName): Timing & { alerts: number } {
  const det = makeDetector(rule);
  const out: Alert[] = [];
  let alerts = 0;
  const stop = clock();
  for (const l of lines) {
    const d = decodeRecord(l);
    if (d.ok) det.push(d.row, 0, out);
    if (out.length >= 1024) {
      alerts += out.length;
      out.length = 0;
    }
  }
  return { ...stop(), alerts: alerts + out.length };
}

async function throughput(n: number, log: (s: string) => void): Promise<void> {
  const lines: string[] = [];
  for (const r of syntheticStream(OFFLINE)) {
    lines.push(encodeRecord(r));
    if (lines.length >= n) break;
  }
  log(
    `\n[1] offline, in memory, one core: ${fmt(n)} stream records (synthetic: ${OFFLINE.rate}/s event time, ` +
      `${fmt(OFFLINE.plates!)} vehicles, ${OFFLINE.maskedShare! * 100}% masked plates, 1% injected clones, ≤30 s out of order)`,
  );
  const inf = (): Timing => ({ s: Infinity, cpu: Infinity });
  const best = { decode: inf(), default: inf(), window: inf() };
  const alerts = { default: 0, window: 0 };
  const keep = (a: Timing, b: Timing): Timing => ({ s: Math.min(a.s, b.s), cpu: Math.min(a.cpu, b.cpu) });
  for (let round = 0; round < 3; round++) {
    best.decode = keep(best.decode, timeDecode(lines));
    for (const rule of ['default', 'window'] as const) {
      const r = timeDetect(lines, rule);
      best[rule] = keep(best[rule], r);
      alerts[rule] = r.alerts;
    }
  }
  const rates = (t: Timing): string => `${fmt(n / t.s).padStart(10)} records/s wall, ${fmt(n / t.cpu).padStart(10)} per CPU-second`;
  log(`  baseline decode only            ${rates(best.decode)}`);
  for (const rule of ['default', 'window'] as const) {
    log(
      `  decode + detect --rule ${rule.padEnd(8)} ${rates(best[rule])}  ` +
        `(${((100 * best.decode.cpu) / best[rule].cpu).toFixed(0)}% of baseline; ${fmt(alerts[rule])} alerts)`,
    );
  }

  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-detect-'));
  try {
    const log2 = path.join(dir, 'stream.log');
    writeFileSync(log2, lines.join('\n') + '\n');
    lines.length = 0;
    const t0 = performance.now();
    const src = await openSource(`file:${log2}`, { groupId: 'bench', follow: false, commit: false, maxBatch: 2000 });
    let seen = 0;
    await src.run(async (b) => {
      seen += b.length;
    });
    const base = (performance.now() - t0) / 1000;
    const coords = syntheticCoords();
    const dim: Dimension = { file: null, coords, checkpoints: coords.size, withCoordinates: coords.size };
    const s = await runDetect({
      from: `file:${log2}`,
      to: new MemoryAlertSink({ capacity: 1000 }),
      groupId: 'bench',
      ...DEFAULT_PARAMS,
      dim,
      maxBatch: 2000,
      quiet: true,
    });
    log(`\n[2] offline file replay through the bus file source (${fmt(seen)} records, log file ${((await fileSize(log2)) / 2 ** 20).toFixed(0)} MB)`);
    log(`  baseline file source, no-op handler ${fmt(seen / base).padStart(10)} records/s`);
    log(
      `  traffic detect (default rule)       ${fmt(s.records / s.seconds).padStart(10)} records/s  ` +
        `(${((100 * base) / s.seconds).toFixed(0)}% of baseline; ${fmt(s.alerts)} alerts, late ${s.late})`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function fileSize(f: string): Promise<number> {
  const { stat } = await import('node:fs/promises');
  return (await stat(f)).size;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function latency(seconds: number, rate: number, log: (s: string) => void): Promise<void> {
  const env = readEnv();
  const brokers = (env.kafka ?? '127.0.0.1:9092').split(',');
  const redisUrl = env.redis ?? 'redis://127.0.0.1:6379';
  const kafka = new Kafka({ clientId: 'bench-detect', brokers, logLevel: logLevel.NOTHING, retry: { retries: 1 } });
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch {
    log(`\n[3] latency: skipped (no Kafka broker at ${brokers.join(',')}; start it with \`npm run services:up\`)`);
    return;
  }
  const tag = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const topic = `bench-detect-${tag}`;
  const group = `bench-detect-${tag}`;
  const key = `bench:detect:${tag}:warnings`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-detect-'));
  const redis = new Redis(redisUrl);
  const sub = new Redis(redisUrl);
  let child: ChildProcess | undefined;
  try {
    await ensureTopic(brokers, topic, 4);
    const dimFile = path.join(dir, 'kkmc_dimension.csv');
    writeFileSync(
      dimFile,
      csvText(
        DIMENSION_COLUMNS,
        SYNTHETIC_CHECKPOINTS.map(([k, lon, lat]) => [k, k, '', '', '', '', '', '', String(lon), String(lat), '0']),
      ),
    );
    const sentAt = new Map<string, number>();
    const lat: number[] = [];
    let alerts = 0;
    await sub.subscribe(key);
    sub.on('message', (_ch: string, msg: string) => {
      const now = performance.now() + performance.timeOrigin;
      alerts++;
      const a = JSON.parse(msg) as Alert;
      const sent = sentAt.get(a.curr.gcxh);
      if (sent !== undefined) lat.push(now - sent);
    });
    child = spawn(
      process.execPath,
      [
        path.join(ROOT, 'bin/traffic.mjs'),
        'detect',
        '--from',
        `kafka://${brokers.join(',')}/${topic}`,
        '--to',
        redisUrl,
        '--key',
        key,
        '--group',
        group,
        '--dim',
        dimFile,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TRAFFIC_DATA_DIR: dir } },
    );
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const deadline = Date.now() + 60_000;
    for (;;) {
      const g = (await admin.describeGroups([group])).groups[0];
      if (g?.state === 'Stable' && g.members.length === 1) break;
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`detector did not join: ${err}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const sink = await openSink(`kafka://${brokers.join(',')}/${topic}`);
    const gen = syntheticStream({
      seed: 5,
      rate,
      plates: 200_000,
      maskedShare: 0.9,
      injectClones: 0.05,
      cloneDelayS: [2, 10],
      start: Math.floor(Date.now() / 1000),
    });
    const total = Math.round(seconds * rate);
    const t0 = Date.now();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * rate) + 1);
      const rows: string[][] = [];
      for (; sent < due; sent++) rows.push(gen.next().value as string[]);
      const now = performance.now() + performance.timeOrigin;
      for (const r of rows) if (r[0]!.startsWith('INJ')) sentAt.set(r[0]!, now);
      await sink.send(rows);
      await new Promise((r) => setTimeout(r, 1000 / rate));
    }
    await sink.close();
    await new Promise((r) => setTimeout(r, 3000));
    const sorted = [...lat].sort((a, b) => a - b);
    const listed = await redis.llen(key);
    log(
      `\n[3] latency through Kafka (4 partitions) → \`traffic detect\` (child process) → Redis, ` +
        `${fmt(sent)} records at ${rate}/s over ${seconds} s, 5% injected clones (2–10 s after their pair)`,
    );
    log(
      `  send of the pair's second record → alert on the Redis channel: n=${sorted.length} of ${sentAt.size} injected, ` +
        `p50 ${pct(sorted, 50).toFixed(0)} ms, p99 ${pct(sorted, 99).toFixed(0)} ms, max ${(sorted[sorted.length - 1] ?? NaN).toFixed(0)} ms ` +
        `(${alerts} alerts published, ${listed} in the list)`,
    );
  } finally {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
    await sub.quit().catch(() => undefined);
    const keys = await redis.keys(`bench:detect:${tag}*`).catch(() => [] as string[]);
    if (keys.length) await redis.del(...keys);
    await redis.quit().catch(() => undefined);
    await admin.deleteTopics({ topics: [topic, `${topic}-dlq`].filter(Boolean), timeout: 10_000 }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

export const command: Command = {
  name: 'bench:detect',
  summary: 'benchmark the detector',
  usage,
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      records: { type: 'string' },
      'latency-s': { type: 'string' },
      rate: { type: 'string' },
      rss: { type: 'string' },
    });
    const log = (s: string): void => void process.stdout.write(s + '\n');
    if (v.rss !== undefined) {
      await runRss(int(v.rss, 'rss', 10_000_000, { min: 1 }));
      return 0;
    }
    const n = int(v.records, 'records', 1_000_000, { min: 1000 });
    const seconds = int(v['latency-s'], 'latency-s', 40, { min: 0 });
    const rate = int(v.rate, 'rate', 50, { min: 1, max: 10_000 });
    log(
      `bench:detect — ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg()[0]!.toFixed(1)}, node ${process.version}; ` +
        `window ${DEFAULT_PARAMS.windowS} s, speed ${DEFAULT_PARAMS.speedKmh} km/h, lateness ${DEFAULT_PARAMS.latenessS} s`,
    );
    await throughput(n, log);
    if (seconds > 0) await latency(seconds, rate, log);
    return 0;
  },
};
