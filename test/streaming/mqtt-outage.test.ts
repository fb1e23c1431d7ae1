/**
 * What a long outage of a consumer costs on MQTT, on a Mosquitto of the test's own (a free loopback
 * port, its own config file; the machine's broker and its config are left alone): the broker
 * queues at most `max_queued_messages` QoS 1 messages per offline session (default 1000) and drops
 * the rest silently; raised, nothing is lost. docs/streaming.md gives the operator settings.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { F } from '../../core/schema.ts';
import { openSink } from '../../streaming/bus/index.ts';
import { MqttSource } from '../../streaming/bus/mqtt.ts';
import { mosquittoAnswers } from '../../scripts/services/mosquitto.ts';
import { waitUntil } from '../helpers/mqtt.ts';
import { masterRows, tmpDir } from './fixtures.ts';

const hasMosquitto = spawnSync('mosquitto', ['-h']).status !== null;
const brokers: ChildProcess[] = [];
afterAll(() => {
  for (const b of brokers) b.kill('SIGKILL');
});

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

/** A private broker; `extra` = config lines (e.g. max_queued_messages); `port` to restart one. */
async function ownMosquitto(extra: string[], port?: number, dir = tmpDir('traffic-mosquitto-')): Promise<string> {
  port ??= await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [`listener ${port} 127.0.0.1`, 'allow_anonymous true', ...(extra.some((l) => l.startsWith('persistence')) ? [] : ['persistence false']), ...extra, ''].join(
      '\n',
    ),
  );
  const p = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  brokers.push(p);
  const t0 = Date.now();
  while (!(await mosquittoAnswers(port))) {
    if (Date.now() - t0 > 10_000) throw new Error(`own mosquitto on ${port} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return `127.0.0.1:${port}`;
}

/** Subscribes (creating the session), stops, publishes `n` records, restarts: what arrives. */
async function outage(host: string, n: number): Promise<string[]> {
  const topic = 'traffic-raw';
  const mk = (): MqttSource => new MqttSource(`mqtt://${host}`, topic, { groupId: 'outage', log: () => undefined });
  const first = mk();
  const run1 = first.run(async () => undefined);
  await first.ready;
  await first.stop();
  await run1;
  const rows = masterRows(n);
  const sink = await openSink(`mqtt://${host}/${topic}`);
  await sink.send(rows);
  await sink.close();
  const got: string[] = [];
  const again = mk();
  const run2 = again.run(async (b) => void got.push(...b.map((i) => i.row[F.GCXH]!)));
  await again.ready;
  // Everything the broker kept arrives at once; then nothing more for a while.
  let last = -1;
  await waitUntil(
    () => {
      const settled = got.length === last;
      last = got.length;
      return settled && got.length > 0;
    },
    20_000,
    'the backlog',
  );
  await again.stop();
  await run2;
  return got;
}

describe.skipIf(!hasMosquitto)('MQTT consumer back after a long outage (own Mosquitto)', () => {
  it('loses all but about max_queued_messages (default 1000) of what was published while it was away', async () => {
    const host = await ownMosquitto([]);
    const got = await outage(host, 3000);
    // The oldest are kept, the newest dropped: what arrives is the first records, in order.
    expect(got.length).toBeGreaterThanOrEqual(1000);
    expect(got.length).toBeLessThan(3000);
    expect(got).toEqual(masterRows(got.length).map((r) => r[F.GCXH]));
    process.stderr.write(`mqtt outage, default config: ${got.length} of 3000 records kept\n`);
  }, 60_000);

  it('loses nothing once max_queued_messages is raised above the outage', async () => {
    const host = await ownMosquitto(['max_queued_messages 100000', 'max_queued_bytes 0']);
    const got = await outage(host, 3000);
    expect(got).toEqual(masterRows(3000).map((r) => r[F.GCXH]));
  }, 60_000);

  it('reconnects with backoff after a broker restart and resumes its session: nothing published before or after is lost', async () => {
    const dir = tmpDir('traffic-mosquitto-restart-');
    // Mosquitto started as root drops to its own user, which must be able to write its database.
    chmodSync(dir, 0o777);
    const persist = ['persistence true', `persistence_location ${dir}/`, 'max_queued_messages 100000'];
    const host = await ownMosquitto(persist, undefined, dir);
    const port = Number(host.split(':')[1]);
    const logs: string[] = [];
    const got: string[] = [];
    const src = new MqttSource(`mqtt://${host}`, 'traffic-raw', { groupId: 'restart', log: (m) => logs.push(m) });
    const run = src.run(async (b) => void got.push(...b.map((i) => i.row[F.GCXH]!)));
    await src.ready;
    const rows = masterRows(300);
    const publish = async (part: string[][]): Promise<void> => {
      const sink = await openSink(`mqtt://${host}/traffic-raw`);
      await sink.send(part);
      await sink.close();
    };
    await publish(rows.slice(0, 100));
    await waitUntil(() => got.length === 100, 10_000, 'the first 100');
    // SIGTERM: Mosquitto saves its persistence file (sessions, subscriptions) on the way out.
    const broker = brokers[brokers.length - 1]!;
    broker.kill('SIGTERM');
    await new Promise((r) => broker.once('exit', r));
    await new Promise((r) => setTimeout(r, 1500)); // the consumer retries meanwhile
    await ownMosquitto(persist, port, dir);
    await publish(rows.slice(100));
    await waitUntil(() => got.length === 300, 20_000, 'all 300 after the restart').catch((e) => {
      throw new Error(`${e.message}; got ${got.length}; log:\n${logs.join('\n')}`);
    });
    await src.stop();
    await run;
    expect(got).toEqual(rows.map((r) => r[F.GCXH]));
    expect(logs.join('\n')).toMatch(/connection lost; reconnect attempt 1/);
    expect(logs.join('\n')).toMatch(/reconnected after \d+ attempt/);
    expect(logs.join('\n')).not.toMatch(/had no session/);
  }, 60_000);
});
