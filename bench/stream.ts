/**
 * `npm run bench:stream`: the streaming backbone against Kafka's own tools on the same broker.
 *  1. pacing: the simulator at 50 records/s for --pacing-seconds (default 60) into Kafka; lateness
 *     per record and the drift of the whole run vs the schedule.
 *  2. producer: the simulator at full speed (CSV read + encode + kafkajs) vs
 *     org.apache.kafka.tools.ProducerPerformance with the same record count and size.
 *  3. consumer: our Kafka source (decode + validate + commit) vs ConsumerPerformance.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from '../core/command.ts';
import { int, num, parseFlags, str } from '../core/args.ts';
import { readEnv } from '../core/config.ts';
import { TrafficError } from '../core/errors.ts';
import { openCsvTable, TextFileWriter } from '../core/io.ts';
import { encodeRecord } from '../streaming/record.ts';
import { FILES, MASTER_COLUMNS } from '../core/schema.ts';
import { formatChinaTime, toEpochSeconds } from '../core/time.ts';
import { ensureTopic, openSink, openSource } from '../streaming/bus/index.ts';
import { kafkaClient } from '../streaming/bus/kafka.ts';
import { simulate } from '../streaming/simulate.ts';
import { ROOT, kafkaClasspath } from '../scripts/services/paths.ts';
import { benchMqtt } from './stream-mqtt.ts';

const usage = `usage: traffic bench:stream [--records N] [--pacing-seconds S] [--rate R] [--rounds N] [--in master.csv] [--kafka host:port]

  --records N          records for the throughput runs (default 200000)
  --pacing-seconds S   length of the pacing run (default 60)
  --rate R             pacing rate, records/s (default 50)
  --in FILE            master CSV to replay (default: <data dir>/${FILES.master} when it has enough
                       rows, else a synthetic master written to bench/out/)
  --rounds N           interleaved producer rounds, best of each side compared (default 2)
  --kafka BROKERS      default TRAFFIC_KAFKA or 127.0.0.1:9092 (start it with services:up)
  --mqtt-records N     records for the MQTT runs [4] (default 50000)
  --only kafka|mqtt    run only the Kafka parts [1]-[3] or only the MQTT part [4]`;

function pct(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A synthetic master shaped like the real one (19 checkpoints, masked plates, brand strings). */
async function syntheticMaster(file: string, n: number): Promise<void> {
  mkdirSync(path.dirname(file), { recursive: true });
  const w = await TextFileWriter.open(file);
  w.writeCsv(MASTER_COLUMNS);
  const t0 = toEpochSeconds('2024-01-01 00:00:00');
  const brands = ['五菱牌-五菱宏光-2013_2014_2016', '福田牌', '-', '大众牌-朗逸-2018', '解放牌-J6P-2015'];
  for (let i = 0; i < n; i++) {
    const gcsj = formatChinaTime((t0 + Math.floor(i * 3.4)) * 1000);
    const h = +gcsj.slice(11, 13);
    const p = w.writeCsv([
      String(330000000000 + i),
      '徐州市',
      `S${300 + (i % 19)}_Tongshan_K${i % 97}`,
      String(1 + (i % 2)),
      gcsj,
      i % 5 ? '02' : '01',
      `苏C${String.fromCharCode(65 + (i % 23))}${i % 10}***`,
      brands[i % brands.length]!,
      '江苏',
      '0',
      h === 7 || h === 8 || h === 17 || h === 18 ? '1' : '0',
      i % 5 ? '小型汽车' : '大型汽车',
    ]);
    if (p) await p;
  }
  await w.close();
}

function javaTool(cls: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'java',
      ['-Xmx512m', '-cp', kafkaClasspath(), `-Dlog4j.configuration=file:${path.join(ROOT, '.state/kafka/log4j.properties')}`, cls, ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cls} exited ${code}:\n${out.slice(-2000)}`))));
  });
}

const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

export const command: Command = {
  name: 'bench:stream',
  summary: 'benchmark the simulator and consumers against Kafka tools',
  usage,
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      records: { type: 'string' },
      'pacing-seconds': { type: 'string' },
      rate: { type: 'string' },
      in: { type: 'string' },
      kafka: { type: 'string' },
      rounds: { type: 'string' },
      'mqtt-records': { type: 'string' },
      only: { type: 'string' },
    });
    const env = readEnv();
    const records = int(v.records, 'records', 200_000, { min: 1000 });
    const pacingSeconds = num(v['pacing-seconds'], 'pacing-seconds', 60, { min: 1 });
    const rate = num(v.rate, 'rate', 50, { min: 1 });
    const rounds = int(v.rounds, 'rounds', 2, { min: 1, max: 10 });
    const brokers = str(v.kafka, 'kafka', env.kafka ?? '127.0.0.1:9092').split(',');
    const mqttRecords = int(v['mqtt-records'], 'mqtt-records', 50_000, { min: 1000 });
    const only = v.only === undefined ? 'all' : str(v.only, 'only');
    if (only !== 'all' && only !== 'kafka' && only !== 'mqtt')
      throw new TrafficError('INVALID_OPTION', `--only must be kafka or mqtt, got "${only}"`, { option: '--only' });
    if (only !== 'mqtt' && !existsSync(path.join(ROOT, 'infra/kafka/lib')))
      throw new TrafficError('SERVICE_UNAVAILABLE', 'Kafka jars missing: run `npm run services:up` first');

    const dataMaster = path.join(env.dataDir, FILES.master);
    let input = v.in === undefined ? undefined : path.resolve(str(v.in, 'in'));
    if (!input && existsSync(dataMaster) && statSync(dataMaster).size > records * 100) input = dataMaster;
    if (!input) {
      input = path.join(ROOT, 'bench/out', `stream-master-${records}.csv`);
      if (!existsSync(input)) await syntheticMaster(input, records);
    }
    if (only === 'mqtt') {
      process.stdout.write(
        `bench:stream (mqtt only)\n  machine   ${os.cpus().length} cores, node ${process.version}\n  input     ${path.relative(process.cwd(), input)}\n`,
      );
      const m = await benchMqtt(input, mqttRecords, (s) => void process.stdout.write(s + '\n'));
      if (m) process.stdout.write(`\nsummary\n  mqtt producer ratio ${m.producer.toFixed(2)}; mqtt consumer ratio ${m.consumer.toFixed(2)}\n`);
      return 0;
    }
    const tag = Date.now().toString(36);
    const topics = { pace: `bench-pace-${tag}`, prod: `bench-sim-${tag}`, java: `bench-java-${tag}` };
    for (const t of Object.values(topics)) await ensureTopic(brokers, t);
    const uri = (t: string): string => `kafka://${brokers.join(',')}/${t}`;
    const out = (s: string): void => void process.stdout.write(s + '\n');

    out('bench:stream');
    out(
      `  machine   ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), node ${process.version}, Kafka 3.9.1 KRaft at ${brokers.join(',')} (1 broker), topics with 3 partitions`,
    );
    out(`  input     ${path.relative(process.cwd(), input)}`);

    const extraTopics: string[] = [];
    // 1. Pacing.
    const pacingRecords = Math.round(pacingSeconds * rate);
    {
      const sink = await openSink(uri(topics.pace));
      const late: number[] = [];
      const sum = await simulate({ input, sink, rate, mode: 'replay', limit: pacingRecords, loop: true, onEmit: (_i, l) => late.push(l) });
      await sink.close();
      late.sort((a, b) => a - b);
      const expected = (pacingRecords - 1) / rate;
      out(`\n[1] pacing: ${fmt(pacingRecords)} records at ${rate}/s into Kafka (expected ${expected.toFixed(2)} s for the last record due)`);
      out(
        `  run time ${sum.seconds.toFixed(3)} s → drift ${((sum.seconds - expected) * 1000).toFixed(1)} ms over the run (${(((sum.seconds - expected) / expected) * 100).toFixed(3)}%)`,
      );
      out(
        `  lateness per record: median ${pct(late, 50).toFixed(2)} ms, p99 ${pct(late, 99).toFixed(2)} ms, max ${late[late.length - 1]!.toFixed(2)} ms; sent early: ${late.filter((l) => l < 0).length}`,
      );
    }

    // 2. Producer throughput: simulator at full speed vs ProducerPerformance, interleaved rounds
    // (the broker shares 2 cores with everything else; best of each side evens out load swings).
    const recordBytes = await averageRecordBytes(input);
    const ours: number[] = [];
    const theirs: number[] = [];
    let ppLine = '';
    out(`\n[2] producer: ${fmt(records)} records, ~${recordBytes} bytes each, ${rounds} interleaved round(s)`);
    for (let r = 0; r < rounds; r++) {
      const topic = r === 0 ? topics.prod : `${topics.prod}-r${r}`;
      if (r > 0) {
        await ensureTopic(brokers, topic);
        extraTopics.push(topic);
      }
      const sink = await openSink(uri(topic));
      const sum = await simulate({ input, sink, rate: Infinity, mode: 'replay', limit: records, loop: true });
      await sink.close();
      ours.push(sum.sent / sum.seconds);
      const jt = `${topics.java}-r${r}`;
      await ensureTopic(brokers, jt);
      extraTopics.push(jt);
      const pp = await javaTool('org.apache.kafka.tools.ProducerPerformance', [
        '--topic',
        jt,
        '--num-records',
        String(records),
        '--record-size',
        String(recordBytes),
        '--throughput',
        '-1',
        '--producer-props',
        `bootstrap.servers=${brokers.join(',')}`,
        'acks=all',
        'linger.ms=5',
      ]);
      ppLine =
        pp
          .trim()
          .split('\n')
          .filter((l) => /records sent/.test(l))
          .pop() ?? '';
      theirs.push(Number(/([\d.]+) records\/sec/.exec(ppLine)?.[1] ?? NaN));
      out(`  round ${r + 1}: simulator ${fmt(ours[r]!)} rec/s, ProducerPerformance ${fmt(theirs[r]!)} rec/s`);
    }
    const ourProd = Math.max(...ours);
    const javaProd = Math.max(...theirs);
    out(`  simulator → Kafka (CSV read + encode + kafkajs, acks=all), best: ${fmt(ourProd)} rec/s`);
    out(`  ProducerPerformance (Java client, acks=all like the simulator, linger.ms=5), best: ${fmt(javaProd)} rec/s   [last: ${ppLine.trim()}]`);
    out(`  ratio simulator / ProducerPerformance = ${(ourProd / javaProd).toFixed(2)} (goal ≥ 0.7)`);

    // 3. Consumer throughput on the topic the simulator filled.
    let ourCons = 0;
    {
      const source = await openSource(uri(topics.prod), { groupId: `bench-${tag}`, maxBatch: 5000 });
      let first = 0;
      let n = 0;
      const t0 = performance.now();
      await source.run(async (b) => {
        if (!first) first = performance.now();
        n += b.length;
        if (n >= records) void source.stop();
      });
      const end = performance.now();
      ourCons = n / ((end - first) / 1000);
      out(`\n[3] consumer: ${fmt(n)} records`);
      out(
        `  Kafka source (kafkajs eachBatch, decode + validate + commit per batch): ${fmt(ourCons)} rec/s from first batch (${((end - t0) / 1000).toFixed(2)} s incl. group join)`,
      );
    }
    const cp = await javaTool('org.apache.kafka.tools.ConsumerPerformance', [
      '--bootstrap-server',
      brokers.join(','),
      '--topic',
      topics.prod,
      '--messages',
      String(records),
      '--timeout',
      '30000',
    ]);
    const lines = cp.trim().split('\n');
    const hi = lines.findIndex((l) => l.startsWith('start.time'));
    const head = lines[hi]?.split(',').map((s) => s.trim()) ?? [];
    const vals = lines[hi + 1]?.split(',').map((s) => s.trim()) ?? [];
    const col = (name: string): number => Number(vals[head.indexOf(name)]);
    const javaCons = col('fetch.nMsg.sec');
    out(
      `  ConsumerPerformance (Java client): fetch ${fmt(javaCons)} rec/s, overall ${fmt(col('nMsg.sec'))} rec/s (rebalance ${fmt(col('rebalance.time.ms'))} ms)`,
    );
    out(`  ratio Kafka source / ConsumerPerformance (fetch rate) = ${(ourCons / javaCons).toFixed(2)}`);

    // Clean up the bench topics.
    const admin = kafkaClient(brokers, 'traffic-bench').admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [...Object.values(topics), ...extraTopics], timeout: 10_000 }).catch(() => undefined);
    await admin.disconnect();
    const m = only === 'all' ? await benchMqtt(input, mqttRecords, out) : null;
    out('\nsummary');
    out(
      `  pacing ${rate}/s over ${pacingSeconds} s: see [1]; producer ratio ${(ourProd / javaProd).toFixed(2)}; consumer ratio ${(ourCons / javaCons).toFixed(2)}`,
    );
    if (m) out(`  mqtt producer ratio ${m.producer.toFixed(2)}; mqtt consumer ratio ${m.consumer.toFixed(2)}`);
    return 0;
  },
};

/** Average size in bytes of the stream record (Kafka message value) over the first rows of the master. */
async function averageRecordBytes(file: string, rows = 10_000): Promise<number> {
  const t = await openCsvTable(file, MASTER_COLUMNS);
  let n = 0;
  let bytes = 0;
  for await (const r of t.rows) {
    bytes += Buffer.byteLength(encodeRecord(r.fields));
    if (++n >= rows) break;
  }
  await t.rows.return(undefined);
  return n ? Math.round(bytes / n) : 0;
}
