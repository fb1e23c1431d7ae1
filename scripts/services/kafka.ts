/**
 * A real Apache Kafka 3.9 broker in KRaft mode (broker + controller in one JVM) on 127.0.0.1:9092,
 * run from Maven Central jars (infra/kafka/pom.xml) with its config, logs and data under
 * .state/kafka/. See docs/streaming.md.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { KAFKA, kafkaClasspath } from './paths.ts';
import { ownedPid, portOpen, removeFile, run, spawnDaemon, stopPid, tail, waitFor, which } from './proc.ts';
import type { ServiceResult } from './result.ts';

/** Topics the platform uses, created up front (kafkajs cannot subscribe to a topic being auto-created). */
export const PLATFORM_TOPICS = ['traffic-raw', 'traffic-raw-dlq'];

function jarsPresent(): boolean {
  if (!existsSync(KAFKA.lib)) return false;
  const jars = readdirSync(KAFKA.lib);
  return jars.some((j) => j.startsWith('kafka_2.13-')) && jars.some((j) => j.startsWith('kafka-tools-'));
}

async function fetchJars(log: (s: string) => void): Promise<string | undefined> {
  if (jarsPresent()) return undefined;
  if (!which('mvn')) return 'Kafka jars missing (infra/kafka/lib) and `mvn` is not installed: apt-get install -y maven';
  log('kafka: fetching broker jars from Maven Central (once) …');
  const r = await run('mvn', ['-q', '-B', '-f', KAFKA.pom, 'dependency:copy-dependencies', `-DoutputDirectory=${KAFKA.lib}`, '-DincludeScope=runtime']);
  if (!r.ok || !jarsPresent()) return `mvn could not fetch the Kafka jars:\n${r.output.slice(-2000)}`;
  return undefined;
}

function writeConfig(): void {
  mkdirSync(KAFKA.data, { recursive: true });
  mkdirSync(KAFKA.logs, { recursive: true });
  const props = [
    '# Written by `traffic services:up`; regenerated on every start.',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${KAFKA.host}:${KAFKA.controllerPort}`,
    `listeners=PLAINTEXT://${KAFKA.host}:${KAFKA.port},CONTROLLER://${KAFKA.host}:${KAFKA.controllerPort}`,
    `advertised.listeners=PLAINTEXT://${KAFKA.host}:${KAFKA.port}`,
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${KAFKA.data}`,
    'num.partitions=3',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    // A development broker: keep the disk small even when benchmarks write millions of records.
    'log.retention.hours=24',
    'log.retention.bytes=268435456',
    'log.segment.bytes=67108864',
    '',
  ].join('\n');
  writeFileSync(KAFKA.config, props);
  const log4j = [
    'log4j.rootLogger=WARN, file',
    'log4j.appender.file=org.apache.log4j.RollingFileAppender',
    `log4j.appender.file.File=${KAFKA.serverLog}`,
    'log4j.appender.file.MaxFileSize=10MB',
    'log4j.appender.file.MaxBackupIndex=2',
    'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
    // The one INFO line worth keeping: "Kafka Server started".
    'log4j.logger.kafka.server.KafkaRaftServer=INFO',
    '',
  ].join('\n');
  writeFileSync(KAFKA.log4j, log4j);
}

/**
 * A KRaft cluster id: 16 random bytes in URL-safe base64, as Kafka's own `Uuid.randomUuid`. Like it,
 * never one that starts with `-`: the storage tool's argument parser would read such an id as an
 * option ("argument --cluster-id/-t: expected one argument"), which failed 1 start in 64.
 */
export function newClusterId(random: (n: number) => Buffer = randomBytes): string {
  for (;;) {
    const id = random(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function clusterId(): string {
  if (existsSync(KAFKA.clusterIdFile)) {
    const kept = readFileSync(KAFKA.clusterIdFile, 'utf8').trim();
    // A file left by an older build may hold an id the parser refuses; its storage was never formatted.
    if (kept && !kept.startsWith('-')) return kept;
  }
  const id = newClusterId();
  writeFileSync(KAFKA.clusterIdFile, id + '\n');
  return id;
}

async function format(): Promise<string | undefined> {
  if (existsSync(path.join(KAFKA.data, 'meta.properties'))) return undefined;
  const r = await run(
    'java',
    [
      '-cp',
      kafkaClasspath(),
      `-Dlog4j.configuration=file:${KAFKA.log4j}`,
      'kafka.tools.StorageTool',
      'format',
      // The `=` form too, so that no value is ever taken for an option.
      `--cluster-id=${clusterId()}`,
      '-c',
      KAFKA.config,
      '--ignore-formatted',
    ],
    { timeoutMs: 120_000 },
  );
  return r.ok ? undefined : `Kafka storage format failed:\n${r.output.slice(-2000)}`;
}

/** A client that fails fast: used to probe whether the broker answers. */
function probeAdmin() {
  return new Kafka({
    clientId: 'traffic-services',
    brokers: [`${KAFKA.host}:${KAFKA.port}`],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    retry: { retries: 0 },
  }).admin();
}

/** True when the broker answers a metadata request (not only that the port is open). */
export async function kafkaAnswers(): Promise<boolean> {
  if (!(await portOpen(KAFKA.host, KAFKA.port))) return false;
  const a = probeAdmin();
  try {
    await a.connect();
    const c = await a.describeCluster();
    return c.brokers.length > 0 && c.controller !== null && c.controller >= 0;
  } catch {
    return false;
  } finally {
    await a.disconnect().catch(() => undefined);
  }
}

async function createPlatformTopics(): Promise<void> {
  const a = new Kafka({ clientId: 'traffic-services', brokers: [`${KAFKA.host}:${KAFKA.port}`], logLevel: logLevel.NOTHING }).admin();
  try {
    await a.connect();
    const existing = new Set(await a.listTopics());
    const missing = PLATFORM_TOPICS.filter((t) => !existing.has(t));
    if (missing.length) {
      await a.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: 3, replicationFactor: 1 })), waitForLeaders: true });
    }
  } finally {
    await a.disconnect().catch(() => undefined);
  }
}

export async function kafkaUp(log: (s: string) => void): Promise<ServiceResult> {
  const name = 'kafka';
  const where = `${KAFKA.host}:${KAFKA.port}`;
  const started = Date.now();
  const mine = ownedPid(KAFKA.pidFile, KAFKA.dir);
  if (await kafkaAnswers()) {
    await createPlatformTopics();
    return { name, where, ok: true, note: mine ? `running (started by this project, pid ${mine})` : 'running (not started by this project)' };
  }
  if (!mine && (await portOpen(KAFKA.host, KAFKA.port))) {
    // Maybe a broker still starting (another services:up, another checkout): give it time.
    const later = await waitFor(kafkaAnswers, { timeoutMs: 30_000 });
    if (later.ok) {
      await createPlatformTopics();
      return { name, where, ok: true, note: 'running (not started by this project)' };
    }
    return { name, where, ok: false, note: `port ${KAFKA.port} is taken by a process that does not answer as a Kafka broker` };
  }
  let exited: () => string | undefined = () => undefined;
  let pid = mine;
  if (!mine) {
    if (!which('java')) return { name, where, ok: false, note: 'java is not installed: apt-get install -y openjdk-17-jre-headless' };
    const jarErr = await fetchJars(log);
    if (jarErr) return { name, where, ok: false, note: jarErr };
    writeConfig();
    const fmtErr = await format();
    if (fmtErr) return { name, where, ok: false, note: fmtErr };
    const d = spawnDaemon(
      'java',
      [
        '-Xms256m',
        '-Xmx512m',
        '-XX:+UseG1GC',
        '-Djava.awt.headless=true',
        `-Dlog4j.configuration=file:${KAFKA.log4j}`,
        `-Dkafka.logs.dir=${KAFKA.logs}`,
        '-cp',
        kafkaClasspath(),
        'kafka.Kafka',
        KAFKA.config,
      ],
      { outFile: KAFKA.stdout, pidFile: KAFKA.pidFile, cwd: KAFKA.dir },
    );
    pid = d.pid;
    exited = d.exited;
  }
  const ready = await waitFor(kafkaAnswers, { timeoutMs: 90_000, intervalMs: 500, abort: exited });
  if (!ready.ok) {
    return {
      name,
      where,
      ok: false,
      note: `broker ${ready.reason}\n--- ${KAFKA.serverLog}:\n${tail(KAFKA.serverLog)}\n--- ${KAFKA.stdout}:\n${tail(KAFKA.stdout)}`,
    };
  }
  await createPlatformTopics();
  return { name, where, ok: true, note: `started (pid ${pid}, ${((Date.now() - started) / 1000).toFixed(1)} s)` };
}

export async function kafkaDown(): Promise<string> {
  const pid = ownedPid(KAFKA.pidFile, KAFKA.dir);
  if (!pid) {
    removeFile(KAFKA.pidFile);
    return 'kafka: not running (nothing started by this project)';
  }
  const how = await stopPid(pid, 30_000);
  removeFile(KAFKA.pidFile);
  return `kafka: ${how} (pid ${pid})`;
}
