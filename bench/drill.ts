/**
 * `npm run drill`: a reliability drill against the real services. Streams N records (with
 * injected cloned plates and a few malformed records) through Kafka into a `traffic sink` and a
 * `traffic detect`, both child processes, while it SIGKILLs each of them twice, stops the second
 * MariaDB (3307) for 20 s and a private Redis for 10 s; then checks that MySQL holds exactly the
 * records sent, once each, that the alerts equal those of an undisturbed offline run, and that
 * the dead-letter topic holds only the malformed records. See docs/drill.md.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes, randomInt } from 'node:crypto';
import { Redis } from 'ioredis';
import { int, num, optStr, parseFlags, str } from '../core/args.ts';
import type { Command } from '../core/command.ts';
import { DEFAULTS, readEnv } from '../core/config.ts';
import { TrafficError } from '../core/errors.ts';
import { fmtInt } from '../core/progress.ts';
import { F } from '../core/schema.ts';
import { ensureTopic } from '../streaming/bus/index.ts';
import { decodeRecord, encodeRecord } from '../streaming/record.ts';
import { mariadbAnswers, shard2Up } from '../scripts/services/mariadb.ts';
import { SHARD2 } from '../scripts/services/paths.ts';
import { ownedPid, sleep } from '../scripts/services/proc.ts';
import { TrafficProcess, runTraffic } from './drill/children.ts';
import { resolveInput } from './drill/input.ts';
import { cleanupKafka, drillKafka, groupLag, malformedRecords, produceRaw, readTopic, topicSize, withAdmin } from './drill/kafka.ts';
import { PrivateRedis } from './drill/redis.ts';
import { dropDatabases, readStore, shardUrls } from './drill/store.ts';

const usage = `usage: traffic drill [--records 100000] [--rate 2000] [--in master.csv] [--inject-clones 0.01]
                    [--malformed 7] [--kafka host:port] [--seed N] [--catchup-timeout-s 300] [--keep]

Reliability drill against real Kafka, both MariaDB shards (3306 + 3307) and a private Redis.
Streams --records master records (plus injected clone pairs and --malformed bad records) into a
fresh 4-partition topic at --rate records/s, with \`traffic sink\` and \`traffic detect\` running as
child processes, and during the stream:
  SIGKILL the sink twice and the detector twice (each restarted ~2 s later),
  stops the second MariaDB (127.0.0.1:3307) for 20 s (restarted as services:up does),
  stops the detector's Redis for 10 s (a PRIVATE redis-server on a free port; the machine's
  shared Redis on 6379 is never touched).
Then waits for both consumers to catch up and checks: rows in MySQL = records sent, no
duplicates, alerts = those of an undisturbed offline run, dead-letter topic = the malformed
records. Prints a PASS/FAIL line per check; exit 1 on any FAIL.

WARNING: stopping 3307 disturbs anything else using it (tests of other areas). Run by hand.

  --records N          master records to stream (default 100000)
  --rate N             records/s of the simulator (default 2000)
  --in FILE            master CSV (default: the data dir's; if absent a sample is generated once)
  --inject-clones P    probability per record of an injected cloned-plate pair (default 0.01)
  --malformed N        malformed records sent into the topic during the stream (default 7)
  --kafka BROKERS      default TRAFFIC_KAFKA, else ${DEFAULTS.kafka}
  --seed N             injection seed (default random, printed)
  --catchup-timeout-s  how long to wait for the consumers after the stream (default 300)
  --keep               keep the topic, consumer groups, databases and the work dir`;

interface Options {
  records: number;
  rate: number;
  in: string | undefined;
  inject: number;
  malformed: number;
  brokers: string[];
  seed: number;
  catchupS: number;
  keep: boolean;
}

function normalize(argv: string[]): Options {
  const { values: v } = parseFlags(argv, {
    records: { type: 'string' },
    rate: { type: 'string' },
    in: { type: 'string' },
    'inject-clones': { type: 'string' },
    malformed: { type: 'string' },
    kafka: { type: 'string' },
    seed: { type: 'string' },
    'catchup-timeout-s': { type: 'string' },
    keep: { type: 'boolean' },
  });
  const env = readEnv();
  return {
    records: int(v.records, 'records', 100_000, { min: 100, max: 10_000_000 }),
    rate: num(v.rate, 'rate', 2000, { min: 10, max: 100_000 }),
    in: optStr(v.in, 'in'),
    inject: num(v['inject-clones'], 'inject-clones', 0.01, { min: 0, max: 0.5 }),
    malformed: int(v.malformed, 'malformed', 7, { min: 0, max: 1000 }),
    brokers: str(v.kafka, 'kafka', env.kafka ?? DEFAULTS.kafka)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    seed: int(v.seed, 'seed', randomInt(2 ** 31 - 1), { min: 0 }),
    catchupS: int(v['catchup-timeout-s'], 'catchup-timeout-s', 300, { min: 10 }),
    keep: v.keep === true,
  };
}

interface TimelineEntry {
  t: number;
  pct: number | null;
  what: string;
}

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

const out = (s = ''): void => void process.stdout.write(s + '\n');

export const command: Command = {
  name: 'drill',
  summary: 'reliability drill: crashes and outages against real services',
  usage,
  async run(argv) {
    const o = normalize(argv);
    const env = readEnv();
    const tStart = performance.now();
    const tag = randomBytes(4).toString('hex');
    const topic = `traffic-drill-${tag}`;
    const dlq = `${topic}-dlq`;
    const groupPrefix = `traffic-drill-${tag}`;
    const sinkGroup = `${groupPrefix}-sink`;
    const detectGroup = `${groupPrefix}-detect`;
    const db = `traffic_drill_${tag}`;
    const redisKey = `traffic:drill:${tag}:warnings`;
    const work = mkdtempSync(path.join(os.tmpdir(), `traffic-drill-${tag}-`));
    const kafka = drillKafka(o.brokers);
    const kafkaUri = `kafka://${o.brokers.join(',')}/${topic}`;

    out('traffic drill — WARNING: this stops the second MariaDB (127.0.0.1:3307) for 20 s; anything else');
    out('using it (other tests, a running platform) will see errors meanwhile. Run it by hand, not in CI.');
    out(`  Redis outages hit a PRIVATE redis-server started for the drill; the shared Redis on 6379 is not touched.`);

    // ---- preflight: the services must already answer (services:up), 3307 must be ours to stop.
    const problems: string[] = [];
    if (!(await mariadbAnswers(3306))) problems.push('MariaDB 127.0.0.1:3306 does not answer');
    if (!(await mariadbAnswers(3307))) problems.push('MariaDB 127.0.0.1:3307 does not answer');
    else if (!ownedPid(SHARD2.pidFile, SHARD2.datadir))
      problems.push(`MariaDB 3307 was not started by this project (no live pid in ${SHARD2.pidFile}), so the drill cannot stop and restart it`);
    const kafkaOk = await withAdmin(kafka, async (a) => (await a.describeCluster()).brokers.length > 0).catch(() => false);
    if (!kafkaOk) problems.push(`Kafka ${o.brokers.join(',')} does not answer`);
    if (problems.length) {
      throw new TrafficError('SERVICE_UNAVAILABLE', `drill cannot start: ${problems.join('; ')}. Run \`npm run services:up\` first.`);
    }

    const input = await resolveInput({ in: o.in, dataDir: env.dataDir, records: o.records, log: (s) => out(s) });
    const timeline: TimelineEntry[] = [];
    let streamT0 = 0;
    let progressPct: number | null = null;
    const note = (what: string): void => {
      const t = streamT0 ? (performance.now() - streamT0) / 1000 : 0;
      timeline.push({ t, pct: progressPct, what });
      out(`  [${t.toFixed(1).padStart(6)} s${progressPct === null ? '' : ` ${progressPct.toFixed(0).padStart(3)}%`}] ${what}`);
    };

    let redis: PrivateRedis | null = null;
    const sink = new TrafficProcess('sink', [], work);
    const detect = new TrafficProcess('detect', [], work);
    const simulate = new TrafficProcess('simulate', [], work);
    const checks: Check[] = [];
    let interrupted = false;
    const onInt = (): void => {
      interrupted = true;
      out('\ndrill: interrupted; stopping children and cleaning up …');
    };
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onInt);
    const aborted = (): boolean => interrupted;
    let shardDown = false;

    try {
      redis = await PrivateRedis.start(path.join(work, 'redis'));
      out('');
      out('setup');
      out(`  input        ${input.master} (${input.note}); dimension ${input.dim ?? 'none'}`);
      out(`  stream       ${fmtInt(o.records)} master records at ${fmtInt(o.rate)}/s, clones p=${o.inject} (seed ${o.seed}), ${o.malformed} malformed`);
      out(`  kafka        ${kafkaUri} (4 partitions), groups ${sinkGroup} / ${detectGroup}`);
      out(`  mysql        ${shardUrls(db).join(', ')}`);
      out(`  redis        private redis-server ${redis.url} (pid ${redis.pid}, AOF fsync always), key ${redisKey}`);
      out(`  work dir     ${work}`);

      await ensureTopic(o.brokers, topic, 4);
      const sinkArgs = [
        'sink',
        '--from',
        kafkaUri,
        '--group',
        sinkGroup,
        '--mysql',
        shardUrls(db).join(','),
        '--ttl-days',
        '0',
        '--rejects',
        path.join(work, 'sink_rejects.csv'),
      ];
      const detectArgs = ['detect', '--from', kafkaUri, '--group', detectGroup, '--to', redis.url, '--key', redisKey, '--max', '10000000'];
      if (input.dim) detectArgs.push('--dim', input.dim);
      sink.args = sinkArgs;
      detect.args = detectArgs;
      sink.start();
      detect.start();
      await waitGroupsStable(kafka, [sinkGroup, detectGroup], 90_000, aborted);

      // ---- the stream, with the disruptions scheduled on its progress.
      const truth = path.join(work, 'truth.csv');
      const simArgs = ['simulate', '--in', input.master, '--to', kafkaUri, '--rate', String(o.rate), '--limit', String(o.records), '--seed', String(o.seed)];
      if (o.inject > 0) simArgs.push('--inject-clones', String(o.inject), '--truth', truth);
      if (input.dim) simArgs.push('--dim', input.dim);
      simulate.args = simArgs;
      const expected = o.records * (1 + 2 * o.inject);
      out('');
      out('timeline (seconds since the stream started, % of the stream)');
      streamT0 = performance.now();
      const sim = simulate.start();
      note(`simulate started (pid ${sim.child.pid})`);

      const bad = malformedRecords(o.malformed, tag);
      const badAt = bad.map((_, i) => (i + 1) / (bad.length + 1));
      let badSent = 0;
      const planned = new Set<TrafficProcess>();
      const tasks: Promise<void>[] = [];
      const taskErrors: string[] = [];
      const track = (p: Promise<void>): void => {
        tasks.push(
          p.catch((err: unknown) => {
            taskErrors.push((err as Error).message);
            note(`disruption step failed: ${(err as Error).message}`);
          }),
        );
      };

      const restartLater = (p: TrafficProcess, label: string): Promise<void> =>
        sleep(2000).then(() => {
          if (aborted()) return;
          const inc = p.start();
          note(`${label} restarted (pid ${inc.child.pid}, incarnation ${inc.n})`);
        });
      const killProcess = async (p: TrafficProcess, label: string): Promise<void> => {
        const pid = p.current?.child.pid;
        if (!p.alive()) {
          note(`${label} was not running at its planned kill`);
          return;
        }
        planned.add(p);
        try {
          const r = await p.kill('SIGKILL');
          note(`SIGKILL ${label} (pid ${pid}) → exited by ${r?.signal ?? `code ${r?.code}`}`);
          await restartLater(p, label);
        } finally {
          planned.delete(p);
        }
      };
      const stopShard2 = async (holdMs: number): Promise<void> => {
        const pid = ownedPid(SHARD2.pidFile, SHARD2.datadir);
        if (!pid) {
          note('3307: no live pid in its pid file; outage skipped');
          return;
        }
        shardDown = true;
        process.kill(pid, 'SIGTERM');
        note(`MariaDB 3307 stopped (SIGTERM to pid ${pid} from ${path.basename(SHARD2.pidFile)})`);
        const t0 = performance.now();
        while ((await mariadbAnswers(3307)) && performance.now() - t0 < 30_000) await sleep(200);
        note(`MariaDB 3307 no longer answers`);
        await sleep(Math.max(0, holdMs - (performance.now() - t0)));
        const up = await shard2Up();
        shardDown = !up.ok;
        note(`MariaDB 3307 restarted with shard2Up: ${up.ok ? 'ok' : 'FAILED'} (${up.note.split('\n')[0]})`);
      };
      const stopRedis = async (holdMs: number): Promise<void> => {
        const pid = redis!.pid;
        await redis!.kill();
        note(`private Redis ${redis!.url} killed (SIGKILL pid ${pid})`);
        await sleep(holdMs);
        await redis!.up();
        note(`private Redis restarted (pid ${redis!.pid}) from its AOF`);
      };
      const events: { at: number; run: () => Promise<void> }[] = [
        { at: 0.15, run: () => killProcess(sink, 'sink') },
        { at: 0.25, run: () => killProcess(detect, 'detector') },
        { at: 0.35, run: () => stopShard2(20_000) },
        { at: 0.55, run: () => stopRedis(10_000) },
        { at: 0.65, run: () => killProcess(sink, 'sink') },
        { at: 0.8, run: () => killProcess(detect, 'detector') },
      ];

      // A supervisor's job: a consumer that exits on its own is noted (a finding) and restarted.
      const unplanned: string[] = [];
      const supervise = (p: TrafficProcess, label: string): void => {
        if (p.alive() || planned.has(p) || aborted() || !p.current) return;
        const c = p.current.child;
        if ((c.exitCode !== null || c.signalCode !== null) && !p.current.restarting) {
          p.current.restarting = true;
          const why = `${label} exited by itself (${c.signalCode ?? `code ${c.exitCode}`}; log ${p.current.log})`;
          unplanned.push(why);
          note(why);
          track(restartLater(p, label));
        }
      };

      let simExit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
      void sim.exit.then((r) => (simExit = r));
      while (!simExit && !aborted()) {
        const size = await withAdmin(kafka, (a) => topicSize(a, topic)).catch(() => null);
        if (size !== null) progressPct = Math.min(100, (100 * (size - badSent)) / expected);
        const frac = (progressPct ?? 0) / 100;
        while (badSent < bad.length && frac >= badAt[badSent]!) {
          await produceRaw(kafka, topic, [bad[badSent]!]);
          badSent++;
          note(`malformed record ${badSent}/${bad.length} sent`);
        }
        while (events.length && frac >= events[0]!.at) track(events.shift()!.run());
        supervise(sink, 'sink');
        supervise(detect, 'detector');
        await sleep(250);
      }
      if (aborted()) return 130;
      const simResult = simExit as { code: number | null; signal: NodeJS.Signals | null } | null;
      progressPct = 100;
      const simLog = simulate.logText(sim);
      const sentMatch = /simulate: ([\d,]+) records/.exec(simLog);
      const pairsMatch = /([\d,]+) injected pairs/.exec(simLog);
      const readMatch = /([\d,]+) master rows/.exec(simLog);
      const masterRows = readMatch ? Number(readMatch[1]!.replace(/,/g, '')) : NaN;
      const sent = sentMatch ? Number(sentMatch[1]!.replace(/,/g, '')) : NaN;
      const injectedPairs = pairsMatch ? Number(pairsMatch[1]!.replace(/,/g, '')) : 0;
      const streamSeconds = (performance.now() - streamT0) / 1000;
      note(`simulate finished (code ${simResult?.code}): ${sentMatch ? fmtInt(sent) : '?'} records sent in ${streamSeconds.toFixed(1)} s`);
      if (masterRows < o.records) note(`WARNING: the master had only ${fmtInt(masterRows)} rows (--records ${fmtInt(o.records)})`);
      if (simResult?.code !== 0 || !sentMatch) throw new TrafficError('INTERNAL', `simulate failed (code ${simResult?.code}); see ${sim.log}`);
      // Malformed records not yet sent (the stream ended first) go out now, so the count is known.
      while (badSent < bad.length) {
        await produceRaw(kafka, topic, [bad[badSent]!]);
        badSent++;
        note(`malformed record ${badSent}/${bad.length} sent (after the stream)`);
      }
      // Events the stream ended before reaching still run: every disruption must happen.
      for (const e of events.splice(0)) track(e.run());
      // Wait for the outages and restarts to finish, still supervising the consumers meanwhile.
      while (tasks.length && !aborted()) {
        let settled = false;
        void Promise.all(tasks.splice(0)).finally(() => (settled = true));
        while (!settled && !aborted()) {
          supervise(sink, 'sink');
          supervise(detect, 'detector');
          await sleep(250);
        }
      }

      // ---- catch-up: both groups committed up to the end of the topic, twice in a row.
      const tCatch = performance.now();
      let caught = false;
      let lags = { sink: -1, detect: -1 };
      let zeroes = 0;
      while (!aborted() && (performance.now() - tCatch) / 1000 < o.catchupS) {
        supervise(sink, 'sink');
        supervise(detect, 'detector');
        while (tasks.length) await Promise.all(tasks.splice(0));
        lags = await withAdmin(kafka, async (a) => ({ sink: await groupLag(a, topic, sinkGroup), detect: await groupLag(a, topic, detectGroup) })).catch(
          () => lags,
        );
        if (lags.sink === 0 && lags.detect === 0) {
          if (++zeroes >= 2) {
            caught = true;
            break;
          }
        } else zeroes = 0;
        await sleep(1000);
      }
      note(
        caught
          ? `sink and detector caught up (lag 0) ${((performance.now() - tCatch) / 1000).toFixed(1)} s after the stream`
          : `NOT caught up after ${o.catchupS} s: lag sink ${lags.sink}, detector ${lags.detect}`,
      );
      if (aborted()) return 130;
      const sinkEnd = await sink.kill('SIGTERM');
      const detectEnd = await detect.kill('SIGTERM');
      note(`sink and detector stopped (SIGTERM): exit ${sinkEnd?.code ?? sinkEnd?.signal}, ${detectEnd?.code ?? detectEnd?.signal}`);

      // ---- what actually happened, read back independently.
      const topicMsgs = await readTopic(kafka, topic);
      const dlqMsgs = await readTopic(kafka, dlq);
      const perPartition = new Map<number, string[][]>();
      const topicGcxh = new Set<string>();
      let topicValid = 0;
      let topicBad = 0;
      for (const m of topicMsgs) {
        const d = decodeRecord(m.value);
        if (!d.ok) {
          topicBad++;
          continue;
        }
        topicValid++;
        topicGcxh.add(d.row[F.GCXH]!);
        let l = perPartition.get(m.partition);
        if (!l) perPartition.set(m.partition, (l = []));
        l.push(d.row);
      }
      // The offline replay reads one file: the partitions merged by event time (each partition's
      // order kept), so every record sees the same "newer records" as it did in its partition.
      const dump = path.join(work, 'stream-dump.log');
      writeFileSync(
        dump,
        mergeByTime([...perPartition.values()])
          .map((r) => encodeRecord(r) + '\n')
          .join(''),
      );
      const expectedFile = path.join(work, 'alerts-offline.jsonl');
      const offArgs = ['detect', '--from', `file:${dump}`, '--to', `jsonl:${expectedFile}`, '--truncate'];
      if (input.dim) offArgs.push('--dim', input.dim);
      const off = await runTraffic(offArgs, path.join(work, 'detect-offline.log'));
      if (off.code !== 0) throw new TrafficError('INTERNAL', `offline detect failed (code ${off.code}): ${off.output.slice(-500)}`);
      const offline = await readJsonlIds(expectedFile);
      const offlineLine = /detect \(default\): .*/.exec(off.output)?.[0] ?? '';

      const r = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 2 });
      r.on('error', () => undefined);
      await r.connect();
      const list = await r.lrange(redisKey, 0, -1);
      const idKeys = await countKeys(r, `${redisKey}:id:*`);
      r.disconnect();
      writeFileSync(path.join(work, 'alerts-live.jsonl'), list.map((j) => j + '\n').join(''));
      const live: string[] = list.map((j) => (JSON.parse(j) as { id: string }).id);
      const liveSet = new Set(live);
      const missing = [...offline.ids].filter((id) => !liveSet.has(id));
      const extra = [...liveSet].filter((id) => !offline.ids.has(id));

      const truthIds = o.inject > 0 ? await readTruthIds(truth) : [];
      const liveGcxhPairs = new Set(
        list.map((j) => {
          const a = JSON.parse(j) as { prev: { gcxh: string }; curr: { gcxh: string } };
          return [a.prev.gcxh, a.curr.gcxh].sort().join('|');
        }),
      );
      const truthFound = truthIds.filter((p) => liveGcxhPairs.has(p)).length;

      const store = await readStore(db);
      const storeMissing = [...topicGcxh].filter((g) => !store.gcxh.has(g)).length;
      const storeExtra = [...store.gcxh].filter((g) => !topicGcxh.has(g)).length;

      const badValues = new Set(bad.map((b) => b.value));
      const dlqForeign = dlqMsgs.filter((m) => !badValues.has(m.value)).length;
      const dlqSources = new Set(dlqMsgs.map((m) => `${m.headers.partition}@${m.headers.offset}`));
      const dlqValues = new Set(dlqMsgs.map((m) => m.value));
      const badMissing = bad.filter((b) => !dlqValues.has(b.value)).length;

      // ---- figures
      out('');
      out('figures');
      out(
        `  records sent        ${fmtInt(sent)} (${fmtInt(masterRows)} master + ${fmtInt(sent - masterRows)} injected = ${fmtInt(injectedPairs)} pairs) at ${fmtInt(sent / streamSeconds)}/s; + ${badSent} malformed`,
      );
      out(
        `  topic               ${fmtInt(topicMsgs.length)} messages: ${fmtInt(topicValid)} valid (${fmtInt(topicGcxh.size)} distinct gcxh), ${topicBad} malformed`,
      );
      for (const s of store.shards) out(`  mysql ${s.url.padEnd(32)} ${fmtInt(s.rows)} rows, ${s.dupWithin} duplicate gcxh`);
      out(
        `  mysql total         ${fmtInt(store.total)} rows; gcxh on both shards ${store.dupAcross}; on the wrong shard ${store.misplaced}; missing vs topic ${storeMissing}, extra ${storeExtra}`,
      );
      out(`  alerts live         ${fmtInt(live.length)} in the Redis list (${fmtInt(liveSet.size)} distinct ids, ${fmtInt(idKeys)} id keys)`);
      out(`  alerts offline      ${fmtInt(offline.ids.size)} (${offlineLine})`);
      out(
        `  alerts compared     missing live ${missing.length}, extra live ${extra.length}${missing.length ? `; e.g. missing ${missing.slice(0, 3).join(',')}` : ''}${extra.length ? `; e.g. extra ${extra.slice(0, 3).join(',')}` : ''}`,
      );
      if (o.inject > 0) out(`  injected pairs      ${fmtInt(truthFound)}/${fmtInt(truthIds.length)} found live`);
      out(
        `  dead-letter topic   ${dlqMsgs.length} messages (${dlqSources.size} distinct source records; both consumer groups dead-letter each one, a replay after a kill may again); ${dlqForeign} not among the ${badSent} malformed sent; ${badMissing} malformed never dead-lettered`,
      );
      const summaries = [...sink.all, ...detect.all].map((inc) => ({
        inc,
        line: lastSummary(sink.all.includes(inc) ? sink.logText(inc) : detect.logText(inc), sink.all.includes(inc) ? 'sink:' : 'detect ('),
      }));
      for (const s of summaries) if (s.line) out(`  ${path.basename(s.inc.log).padEnd(18)}  ${s.line}`);
      const retryLines = [...sink.all].reduce((n, inc) => n + countMatches(sink.logText(inc), /retry \d+ in/g), 0);
      const detectRetries = [...detect.all].reduce((n, inc) => n + countMatches(detect.logText(inc), /retry \d+ in/g), 0);
      out(`  retries logged      sink ${retryLines}, detector ${detectRetries}; unplanned exits ${unplanned.length}`);
      out(`  time                stream ${streamSeconds.toFixed(1)} s; whole drill ${((performance.now() - tStart) / 1000).toFixed(1)} s`);

      const kills = timeline.filter((e) => e.what.startsWith('SIGKILL'));
      checks.push(
        {
          name: 'disruptions happened',
          ok:
            kills.filter((e) => e.what.includes('sink')).length === 2 &&
            kills.filter((e) => e.what.includes('detector')).length === 2 &&
            timeline.some((e) => /3307 restarted .*ok/.test(e.what)) &&
            timeline.some((e) => /Redis restarted/.test(e.what)),
          detail: `${kills.length} SIGKILLs, 3307 and Redis outages (see timeline)`,
        },
        { name: 'consumers caught up', ok: caught, detail: `lag sink ${lags.sink}, detector ${lags.detect}` },
        {
          name: 'topic holds what was sent',
          ok: topicValid === sent && topicGcxh.size === sent && topicBad === badSent,
          detail: `${fmtInt(topicValid)} valid / ${fmtInt(sent)} sent, ${topicBad}/${badSent} malformed`,
        },
        {
          name: 'rows in MySQL = records sent',
          ok: store.total === sent && storeMissing === 0 && storeExtra === 0,
          detail: `${fmtInt(store.total)} rows / ${fmtInt(sent)} sent; missing ${storeMissing}, extra ${storeExtra}`,
        },
        {
          name: 'no duplicate rows',
          ok: store.shards.every((s) => s.dupWithin === 0) && store.dupAcross === 0,
          detail: `within shards ${store.shards.map((s) => s.dupWithin).join('+')}, across shards ${store.dupAcross}`,
        },
        { name: 'rows on their murmur shard', ok: store.misplaced === 0, detail: `${store.misplaced} misplaced` },
        {
          name: 'alerts = undisturbed offline run',
          ok:
            missing.length === 0 &&
            extra.length === 0 &&
            live.length === liveSet.size &&
            liveSet.size === offline.ids.size &&
            offline.lines === offline.ids.size,
          detail: `live ${fmtInt(live.length)} (${fmtInt(liveSet.size)} ids), offline ${fmtInt(offline.ids.size)}; missing ${missing.length}, extra ${extra.length}`,
        },
        ...(o.inject > 0
          ? [
              {
                name: 'injected pairs all alerted',
                ok: truthFound === truthIds.length && truthIds.length === injectedPairs,
                detail: `${truthFound}/${truthIds.length}`,
              },
            ]
          : []),
        {
          name: 'dead-letter topic = malformed sent',
          ok: dlqForeign === 0 && badMissing === 0 && dlqSources.size === badSent,
          detail: `${dlqSources.size} distinct records dead-lettered / ${badSent} sent, ${dlqForeign} foreign`,
        },
        { name: 'every disruption step worked', ok: taskErrors.length === 0, detail: taskErrors.length ? taskErrors.join('; ') : 'yes' },
        { name: 'no unplanned exits', ok: unplanned.length === 0, detail: unplanned.length ? unplanned.join('; ') : 'none' },
      );
      out('');
      out('checks');
      for (const c of checks) out(`  ${c.ok ? 'PASS' : 'FAIL'}  ${c.name.padEnd(36)} ${c.detail}`);
      const failed = checks.filter((c) => !c.ok).length;
      out('');
      out(
        `drill: ${failed ? `FAIL (${failed} of ${checks.length} checks)` : `PASS (${checks.length} checks)`}; ${fmtInt(sent)} records, ${fmtInt(store.total)} rows, ${fmtInt(liveSet.size)} alerts, ${dlqSources.size} dead-lettered; ${((performance.now() - tStart) / 1000).toFixed(1)} s`,
      );
      return failed ? 1 : 0;
    } finally {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onInt);
      for (const p of [simulate, sink, detect]) await p.kill('SIGKILL', 5000).catch(() => null);
      if (shardDown) {
        const up = await shard2Up().catch((e: unknown) => ({ ok: false, note: String(e) }));
        out(`drill: MariaDB 3307 restarted in cleanup: ${up.ok ? 'ok' : up.note}`);
      }
      await redis?.kill().catch(() => undefined);
      if (o.keep) {
        out(`drill: kept topic ${topic} (+ -dlq), groups ${groupPrefix}-*, database ${db} on 3306 and 3307, work dir ${work}`);
      } else {
        const done = [
          ...(await cleanupKafka(kafka, [topic, dlq], [groupPrefix]).catch((e: unknown) => [`kafka cleanup failed: ${(e as Error).message}`])),
          ...(await dropDatabases(db)),
        ];
        rmSync(work, { recursive: true, force: true });
        out(`drill: cleaned up ${done.length} items (topics, consumer groups, databases) and the work dir`);
      }
    }
  },
};

/** Waits until every group is Stable with at least one member (the consumers have joined). */
async function waitGroupsStable(kafka: ReturnType<typeof drillKafka>, groups: string[], timeoutMs: number, aborted: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await withAdmin(kafka, async (a) => {
      const d = await a.describeGroups(groups);
      return d.groups.every((g) => g.state === 'Stable' && g.members.length > 0);
    }).catch(() => false);
    if (ok || aborted()) return;
    if (Date.now() > deadline)
      throw new TrafficError('SERVICE_UNAVAILABLE', `consumer groups ${groups.join(', ')} did not become stable within ${timeoutMs / 1000} s`);
    await sleep(500);
  }
}

/** k-way merge by GCSJ (ties: the lower partition), keeping each list's own order. */
export function mergeByTime(lists: string[][][]): string[][] {
  const pos = lists.map(() => 0);
  const outRows: string[][] = [];
  for (;;) {
    let best = -1;
    for (let i = 0; i < lists.length; i++) {
      const r = lists[i]![pos[i]!];
      if (r && (best < 0 || r[F.GCSJ]! < lists[best]![pos[best]!]![F.GCSJ]!)) best = i;
    }
    if (best < 0) return outRows;
    outRows.push(lists[best]![pos[best]!++]!);
  }
}

async function readJsonlIds(file: string): Promise<{ ids: Set<string>; lines: number }> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const lines = text.split('\n').filter(Boolean);
  return { ids: new Set(lines.map((l) => (JSON.parse(l) as { id: string }).id)), lines: lines.length };
}

/** Truth pairs as `<min gcxh>|<max gcxh>`. */
async function readTruthIds(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const lines = text.split(/\r?\n/).filter(Boolean);
  const head = (lines.shift() ?? '').split(',');
  const a = head.indexOf('GCXH_A');
  const b = head.indexOf('GCXH_B');
  return lines.map((l) => {
    const f = l.split(',');
    return [f[a]!, f[b]!].sort().join('|');
  });
}

async function countKeys(r: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    n += keys.length;
  } while (cursor !== '0');
  return n;
}

function lastSummary(text: string, prefix: string): string {
  const lines = text.split('\n').filter((l) => l.startsWith(prefix) && /records/.test(l));
  return lines[lines.length - 1] ?? '';
}

function countMatches(text: string, re: RegExp): number {
  return (text.match(re) ?? []).length;
}
