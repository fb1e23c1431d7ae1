/**
 * bench:stream part 4, MQTT: our producer (the simulator at full speed into mqtt://) vs `mosquitto_pub
 * -l -q 1` publishing the same records, and our consumer (MqttSource: decode + validate + PUBACK after
 * the no-op handler) vs `mosquitto_sub -q 1 -C N` draining the same backlog, all MQTT 5 on one broker.
 *
 * The broker is a private Mosquitto (the machine's binary, a free loopback port, persistence off) with
 * max_queued_messages raised: the consumers drain a backlog queued for their offline sessions, which
 * the default (1000) would cut (see docs/streaming.md), and the shared broker is left to the tests.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { openCsvTable } from '../core/io.ts';
import { MASTER_COLUMNS } from '../core/schema.ts';
import { openSink } from '../streaming/bus/index.ts';
import { MqttSource } from '../streaming/bus/mqtt.ts';
import { encodeRecord } from '../streaming/record.ts';
import { simulate } from '../streaming/simulate.ts';
import { mosquittoAnswers } from '../scripts/services/mosquitto.ts';

const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 0 });

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function timed(cmd: string, args: string[], stdinFile?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: [stdinFile ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    if (stdinFile) createReadStream(stdinFile).pipe(child.stdin!);
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve((performance.now() - t0) / 1000) : reject(new Error(`${cmd} exited ${code}: ${err.slice(-500)}`))));
  });
}

/** Creates the persistent sessions (subscribed, then offline) so the broker queues a backlog for them. */
async function createSessions(host: string, port: number, topic: string, ours: MqttSource, subId: string): Promise<void> {
  const run = ours.run(async () => undefined);
  await ours.ready;
  await ours.stop();
  await run;
  // mosquitto_sub: subscribe with a persistent session, leave at once (-W 1: quit after 1 s idle).
  spawnSync('mosquitto_sub', ['-h', host, '-p', String(port), '-t', topic, '-q', '1', '-c', '-i', subId, '-V', '5', '-x', '3600', '-W', '1'], {
    stdio: 'ignore',
  });
}

export async function benchMqtt(input: string, records: number, out: (s: string) => void): Promise<{ producer: number; consumer: number } | null> {
  if (spawnSync('mosquitto', ['-h']).error || spawnSync('mosquitto_pub', ['--help']).error) {
    out('\n[4] mqtt: skipped (mosquitto / mosquitto-clients not installed)');
    return null;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'traffic-bench-mqtt-'));
  const port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'max_queued_messages 0', 'max_queued_bytes 0', ''].join('\n'),
  );
  const broker = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  try {
    const t0 = Date.now();
    while (!(await mosquittoAnswers(port))) {
      if (Date.now() - t0 > 10_000) throw new Error('private mosquitto did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    const host = '127.0.0.1';
    const uri = (t: string): string => `mqtt://${host}:${port}/${t}`;
    // The same records for mosquitto_pub: one stream record per line.
    const lines = path.join(dir, 'records.tsv');
    {
      const ws = createWriteStream(lines);
      const t = await openCsvTable(input, MASTER_COLUMNS);
      let n = 0;
      for await (const r of t.rows) {
        if (!ws.write(encodeRecord(r.fields) + '\n')) await new Promise<void>((res) => ws.once('drain', () => res()));
        if (++n >= records) break;
      }
      await t.rows.return(undefined);
      await new Promise<void>((res) => ws.end(() => res()));
      if (n < records) records = n;
    }
    out(
      `\n[4] mqtt: ${fmt(records)} records, QoS 1, MQTT 5, private Mosquitto ${spawnSync('mosquitto', ['-h']).stdout?.toString().split('\n')[0]?.trim() ?? ''} on ${host}:${port} (max_queued_messages 0)`,
    );

    // Producer, into a topic with no subscribers (the publish path only), ours then theirs, twice.
    const oursP: number[] = [];
    const theirsP: number[] = [];
    for (let r = 0; r < 2; r++) {
      const sink = await openSink(uri(`bench/pub-${r}`), { clientId: 'bench-sim' });
      const sum = await simulate({ input, sink, rate: Infinity, mode: 'replay', limit: records, loop: true });
      await sink.close();
      oursP.push(sum.sent / sum.seconds);
      const s = await timed('mosquitto_pub', ['-h', host, '-p', String(port), '-t', `bench/pub-${r}`, '-q', '1', '-V', '5', '-l'], lines);
      theirsP.push(records / s);
      out(`  producer round ${r + 1}: simulator ${fmt(oursP[r]!)} rec/s, mosquitto_pub -l ${fmt(theirsP[r]!)} rec/s`);
    }
    const producer = Math.max(...oursP) / Math.max(...theirsP);
    out(`  producer ratio simulator / mosquitto_pub (best of each) = ${producer.toFixed(2)}`);

    // Consumer: both sessions get the same backlog, then each drains it alone.
    const topic = 'bench/raw';
    const ours = new MqttSource(`mqtt://${host}:${port}`, topic, { groupId: 'bench', maxBatch: 500, log: () => undefined });
    await createSessions(host, port, topic, ours, 'bench-mosquitto-sub');
    {
      const sink = await openSink(uri(topic), { clientId: 'bench-fill' });
      await simulate({ input, sink, rate: Infinity, mode: 'replay', limit: records, loop: true });
      await sink.close();
    }
    const again = new MqttSource(`mqtt://${host}:${port}`, topic, { groupId: 'bench', maxBatch: 500, log: () => undefined });
    let n = 0;
    const c0 = performance.now();
    await again.run(async (b) => {
      n += b.length;
      if (n >= records) void again.stop();
    });
    const oursC = n / ((performance.now() - c0) / 1000);
    const s = await timed('mosquitto_sub', [
      '-h',
      host,
      '-p',
      String(port),
      '-t',
      topic,
      '-q',
      '1',
      '-c',
      '-i',
      'bench-mosquitto-sub',
      '-V',
      '5',
      '-x',
      '3600',
      '-C',
      String(records),
    ]);
    const theirsC = records / s;
    const consumer = oursC / theirsC;
    out(
      `  consumer: MqttSource (decode + validate + PUBACK after the handler, Receive Maximum 500) ${fmt(oursC)} rec/s; mosquitto_sub -q 1 -C N ${fmt(theirsC)} rec/s (both connect included)`,
    );
    out(`  consumer ratio MqttSource / mosquitto_sub = ${consumer.toFixed(2)}`);
    return { producer, consumer };
  } finally {
    broker.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}
