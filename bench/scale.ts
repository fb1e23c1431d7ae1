/**
 * `npm run bench:scale`: 1 vs 2 instances of each stream consumer (sink, detect, congestion) on one
 * Kafka topic, as separate processes in one consumer group: throughput and whether the results are
 * the same. See docs/scale.md.
 *
 * A topic with --partitions (default 4), keyed by HPHM as the simulator keys it, is filled once with
 * --records synthetic passes (known plates, 2% injected clones, up to 20 s out of order). For each
 * consumer and instance count a fresh group drains that backlog; throughput counts the records
 * committed from the moment the group is Stable with all its members (startup and join excluded)
 * until its offsets reach the end of every partition. A third run starts 2 instances on an empty
 * topic and produces only then, so no partition changes hands mid-stream. Results compared:
 * sink = row count and an XOR of CRC32 over every column of every row across the shards;
 * detect = the set of alert ids of all instances; congestion = the set of level-change ids.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { int, parseFlags, str } from '../core/args.ts';
import type { Command } from '../core/command.ts';
import { readEnv } from '../core/config.ts';
import { TextFileWriter } from '../core/io.ts';
import { DIMENSION_COLUMNS, MASTER_COLUMNS } from '../core/schema.ts';
import { ensureTopic, openSink } from '../streaming/bus/index.ts';
import { kafkaClient } from '../streaming/bus/kafka.ts';
import { deriveThresholdsFile } from '../streaming/congestion/thresholds.ts';
import { syntheticCoords, syntheticStream } from '../streaming/detect/synthetic.ts';
import { ROOT } from '../scripts/services/paths.ts';

const usage = `usage: traffic bench:scale [--records N] [--partitions P] [--only sink,detect,congestion] [--kafka host:port]

  --records N      passes in the topic (default 200000)
  --partitions P   partitions of the topic (default 4)
  --only LIST      consumers to measure (default sink,detect,congestion)
  --kafka BROKERS  default TRAFFIC_KAFKA or 127.0.0.1:9092
  MySQL shards for the sink: TRAFFIC_MYSQL hosts (default 3306 and 3307 on 127.0.0.1), one fresh
  database per run, dropped afterwards.`;

type Kind = 'sink' | 'detect' | 'congestion';
const KINDS: Kind[] = ['sink', 'detect', 'congestion'];

interface RunResult {
  kind: Kind;
  instances: number;
  wallS: number;
  steadyS: number;
  /** Records/s committed while the group was Stable with all its members. */
  rate: number;
  perInstance: number[];
  fingerprint: string;
}

const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

function spawnTraffic(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; exited: Promise<number | null>; log: () => string } {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/traffic.mjs'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, exited, log: () => log };
}

export const command: Command = {
  name: 'bench:scale',
  summary: 'benchmark 1 vs 2 instances of sink, detect and congestion on one Kafka topic',
  usage,
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      records: { type: 'string' },
      partitions: { type: 'string' },
      only: { type: 'string' },
      kafka: { type: 'string' },
    });
    const env = readEnv();
    const records = int(v.records, 'records', 200_000, { min: 1000 });
    const partitions = int(v.partitions, 'partitions', 4, { min: 2, max: 64 });
    const brokers = str(v.kafka, 'kafka', env.kafka ?? '127.0.0.1:9092').split(',');
    const only = str(v.only, 'only', KINDS.join(','))
      .split(',')
      .map((s) => s.trim()) as Kind[];
    for (const k of only) if (!KINDS.includes(k)) throw new Error(`--only: unknown consumer "${k}"`);
    const shardHosts = (env.mysql ?? ['mysql://root@127.0.0.1:3306/traffic_db', 'mysql://root@127.0.0.1:3307/traffic_db']).map((u) =>
      u.replace(/\/[^/]*$/, ''),
    );
    const out = (s: string): void => void process.stdout.write(s + '\n');
    const tag = `${Date.now().toString(36)}`;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'traffic-bench-scale-'));
    const topic = `bench-scale-${tag}`;
    const groups: string[] = [];
    const dbs: string[] = [];

    out('bench:scale');
    out(`  machine   ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), node ${process.version}; Kafka at ${brokers.join(',')} (1 broker)`);
    try {
      // The data: a master CSV (for the thresholds), the dimension (coordinates), the topic.
      const master = path.join(dir, 'master.csv');
      const rows: string[][] = [];
      for (const r of syntheticStream({ seed: 42, rate: 5, plates: 20_000, maskedShare: 0.2, jitterS: 20, injectClones: 0.02 })) {
        rows.push(r);
        if (rows.length >= records) break;
      }
      {
        const w = await TextFileWriter.open(master);
        w.writeCsv(MASTER_COLUMNS);
        for (const r of rows) {
          const p = w.writeCsv(r);
          if (p) await p;
        }
        await w.close();
        const d = await TextFileWriter.open(path.join(dir, 'kkmc_dimension.csv'));
        d.writeCsv(DIMENSION_COLUMNS);
        for (const [k, c] of syntheticCoords()) d.writeCsv([k, k, '', '', '', '', '', '', String(c.lon), String(c.lat), '0']);
        await d.close();
        // Low percentiles: synthetic traffic is even, and the comparison needs level changes to compare.
        await deriveThresholdsFile(master, path.join(dir, 'kkmc_thresholds.csv'), { warningPct: 50, alertPct: 80 });
      }
      await ensureTopic(brokers, topic, partitions);
      const p0 = performance.now();
      const sink = await openSink(`kafka://${brokers.join(',')}/${topic}`, { clientId: 'bench-scale' });
      await sink.send(rows);
      await sink.close();
      const prodS = (performance.now() - p0) / 1000;
      out(`  data      ${fmt(records)} synthetic passes (${fmt(new Set(rows.map((r) => r[2])).size)} checkpoints, 2% injected clones, ≤ 20 s out of order)`);
      out(`  topic     ${topic}: ${partitions} partitions, key HPHM; filled in ${prodS.toFixed(1)} s (${fmt(records / prodS)} rec/s)`);

      const admin = kafkaClient(brokers, 'bench-scale-admin').admin();
      await admin.connect();
      const topics = [topic];
      const results: RunResult[] = [];
      const from = (t: string): string => `kafka://${brokers.join(',')}/${t}`;
      const childEnv = { ...process.env, TRAFFIC_DATA_DIR: dir, TRAFFIC_TTL_DAYS: '0', TRAFFIC_KAFKA_LOG: 'nothing' };
      let runNo = 0;
      /** Starts `instances` processes of `kind` in a fresh group on `t`; returns their handles. */
      const launch = (kind: Kind, instances: number, t: string) => {
        const id = `${kind}-${instances}-${++runNo}`;
        const group = `bench-scale-${id}-${tag}`;
        groups.push(group);
        const db = `traffic_scale_${id.replace(/-/g, '_')}_${tag}`;
        if (kind === 'sink') dbs.push(db);
        const outputs: string[] = [];
        const procs: ReturnType<typeof spawnTraffic>[] = [];
        for (let i = 0; i < instances; i++) {
          const o = path.join(dir, `${id}-${i}.jsonl`);
          outputs.push(o);
          const args =
            kind === 'sink'
              ? [
                  'sink',
                  '--from',
                  from(t),
                  '--group',
                  group,
                  '--mysql',
                  shardHosts.map((h) => `${h}/${db}`).join(','),
                  '--ttl-days',
                  '0',
                  '--ttl-interval-s',
                  '0',
                  '--batch-size',
                  '1000',
                ]
              : kind === 'detect'
                ? ['detect', '--from', from(t), '--group', group, '--to', `jsonl:${o}`, '--dim', path.join(dir, 'kkmc_dimension.csv')]
                : [
                    'congestion',
                    '--from',
                    from(t),
                    '--group',
                    group,
                    '--to',
                    `jsonl:${o}`,
                    '--thresholds',
                    path.join(dir, 'kkmc_thresholds.csv'),
                    '--state',
                    'none',
                    '--store',
                    'none',
                  ];
          procs.push(spawnTraffic(args, childEnv));
        }
        return { group, db, outputs, procs };
      };
      const committedSum = async (group: string, t: string): Promise<number> =>
        ((await admin.fetchOffsets({ groupId: group, topics: [t] }))[0]?.partitions ?? []).reduce((a, p) => a + Math.max(0, Number(p.offset)), 0);
      const waitStable = async (group: string, n: number, procs: { child: ChildProcess; log: () => string }[]): Promise<void> => {
        const deadline = Date.now() + 120_000;
        for (;;) {
          const g = (await admin.describeGroups([group])).groups[0];
          if (g?.state === 'Stable' && g.members.length === n) return;
          if (Date.now() > deadline || procs.some((p) => p.child.exitCode !== null))
            throw new Error(`group ${group} never had ${n} members:\n${procs.map((p) => p.log().slice(-1500)).join('\n---\n')}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      const waitDone = async (group: string, t: string, total: number, procs: { child: ChildProcess; log: () => string }[]): Promise<void> => {
        const deadline = Date.now() + 15 * 60_000;
        for (;;) {
          const sum = await committedSum(group, t);
          if (sum >= total) return;
          if (Date.now() > deadline || procs.some((p) => p.child.exitCode !== null))
            throw new Error(`${group}: stopped at ${sum}/${total} committed:\n${procs.map((p) => p.log().slice(-1500)).join('\n---\n')}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      const finish = async (kind: Kind, run: ReturnType<typeof launch>): Promise<{ perInstance: number[]; fingerprint: string }> => {
        for (const p of run.procs) p.child.kill('SIGTERM');
        await Promise.all(run.procs.map((p) => p.exited));
        const perInstance = run.procs.map((p) => {
          const m = /(?:sink: |detect \(default\): |congestion: )([\d,]+) records/.exec(p.log());
          return m ? Number(m[1]!.replace(/,/g, '')) : NaN;
        });
        const fingerprint = kind === 'sink' ? await storeFingerprint(shardHosts, run.db) : idsFingerprint(run.outputs);
        return { perInstance, fingerprint };
      };
      try {
        for (const kind of only) {
          // Capacity: the backlog, measured from the moment all instances are in the group.
          for (const instances of [1, 2]) {
            const run = launch(kind, instances, topic);
            const t0 = performance.now();
            await waitStable(run.group, instances, run.procs);
            const ts = performance.now();
            const before = await committedSum(run.group, topic);
            await waitDone(run.group, topic, records, run.procs);
            const t1 = performance.now();
            const { perInstance, fingerprint } = await finish(kind, run);
            const steadyS = (t1 - ts) / 1000;
            const rate = (records - before) / steadyS;
            const r: RunResult = { kind, instances, wallS: (t1 - t0) / 1000, steadyS, rate, perInstance, fingerprint };
            results.push(r);
            out(
              `  ${kind.padEnd(10)} ×${instances}: ${fmt(rate)} rec/s with the group stable (${fmt(records - before)} records in ${r.steadyS.toFixed(1)} s; ` +
                `${r.wallS.toFixed(1)} s from spawn); records per instance ${perInstance.map((n) => fmt(n)).join(' + ')}; result ${fingerprint}` +
                (records - before < records / 2 ? ' [most records were done before the group was complete: raise --records]' : ''),
            );
          }
          // Same results: 2 instances whose group is stable before any record is produced (no
          // partition changes hands mid-stream), on a topic of their own.
          const t2 = `${topic}-eq-${kind}`;
          topics.push(t2);
          await ensureTopic(brokers, t2, partitions);
          const run = launch(kind, 2, t2);
          await waitStable(run.group, 2, run.procs);
          const s2 = await openSink(from(t2), { clientId: 'bench-scale' });
          await s2.send(rows);
          await s2.close();
          await waitDone(run.group, t2, records, run.procs);
          const eq = await finish(kind, run);
          const [one, two] = results.filter((r) => r.kind === kind);
          out(
            `  ${kind.padEnd(10)} ×2, group stable before the records: records per instance ${eq.perInstance.map((n) => fmt(n)).join(' + ')}; result ${eq.fingerprint}`,
          );
          if (one && two) {
            out(
              `  ${kind.padEnd(10)} 2 vs 1 instance: throughput ×${(two.rate / one.rate).toFixed(2)}; same result as 1 instance: ${eq.fingerprint === one.fingerprint ? 'yes' : 'NO'} ` +
                `(backlog run with a mid-stream join: ${two.fingerprint === one.fingerprint ? 'yes' : 'NO'})`,
            );
          }
        }
      } finally {
        await admin.deleteGroups(groups).catch(() => undefined);
        await admin.deleteTopics({ topics, timeout: 10_000 }).catch(() => undefined);
        await admin.disconnect();
      }
      return 0;
    } finally {
      for (const db of dbs) {
        for (const h of shardHosts) {
          const c = await mysql.createConnection(h.replace(/^mysql:\/\//, 'mysql://')).catch(() => null);
          await c?.query(`DROP DATABASE IF EXISTS \`${db}\``).catch(() => undefined);
          await c?.end();
        }
      }
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

/** Row count and an XOR of CRC32 of every row (all 12 columns) over all shards: equal tables, equal print. */
async function storeFingerprint(hosts: string[], db: string): Promise<string> {
  let n = 0;
  let x = 0n;
  for (const h of hosts) {
    const c = await mysql.createConnection(h);
    try {
      const [rows] = await c.query(
        `SELECT COUNT(*) AS n, BIT_XOR(CRC32(CONCAT_WS('|', gcxh, xzqhmc, kkmc, fxlx, gcsj, hpzl, hphm, clppxh, province, is_weekend, is_peak_hour, vehicle_type_name))) AS x FROM \`${db}\`.traffic_data`,
      );
      const r = (rows as { n: number; x: string | number }[])[0]!;
      n += Number(r.n);
      x ^= BigInt(r.x ?? 0);
    } finally {
      await c.end();
    }
  }
  return `${fmt(n)} rows, crc ${x.toString(16)}`;
}

/** The sorted set of `id`s in the JSONL outputs, as a count and a short hash. */
function idsFingerprint(files: string[]): string {
  const ids: string[] = [];
  for (const f of files) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      ids.push(String((JSON.parse(line) as { id: string }).id));
    }
  }
  ids.sort();
  let h = 0;
  for (const id of ids) for (let i = 0; i < id.length; i++) h = (Math.imul(h, 31) + id.charCodeAt(i)) | 0;
  return `${fmt(ids.length)} ids, hash ${(h >>> 0).toString(16)}`;
}
