/**
 * `traffic start --bus mqtt://…` against the machine's Mosquitto (1883): the one-process platform
 * with the stream on an MQTT topic. Every record the simulator sends is stored once; SIGKILLed
 * mid-stream and started again on the same topic and data dir, the consumers resume their
 * persistent sessions and the store still holds each record exactly once.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { mqttClientId } from '../../streaming/bus/index.ts';
import { forgetSession, mqttUri, uniqueMqttTopic } from '../helpers/mqtt.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(path.join(os.tmpdir(), 'traffic-start-mqtt-'));
const topic = uniqueMqttTopic('traffic-raw');
const GROUPS = ['traffic-sink', 'traffic-detect', 'traffic-congestion'];
const LIMIT = 3000;

afterAll(async () => {
  for (const g of GROUPS) await forgetSession(mqttClientId(g, topic));
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  child: ChildProcess;
  out: () => string;
  base: string;
  alive: () => boolean;
  exited: Promise<number | null>;
}

function startPlatform(extra: string[] = []): Run {
  const port = 5200 + Math.floor(Math.random() * 500);
  const env: NodeJS.ProcessEnv = { ...process.env, TRAFFIC_PORT: String(port) };
  for (const k of ['TRAFFIC_KAFKA', 'TRAFFIC_MYSQL', 'TRAFFIC_REDIS', 'TRAFFIC_DATA_DIR', 'TRAFFIC_API_KEY']) delete env[k];
  const args = [
    path.join(ROOT, 'bin/traffic.mjs'),
    'start',
    '--raw',
    path.join(dir, 'raw'),
    '--data-dir',
    path.join(dir, 'out'),
    '--bus',
    mqttUri(topic),
    '--limit',
    String(LIMIT),
    ...extra,
  ];
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, out: () => out, base: `http://127.0.0.1:${port}`, alive: () => child.exitCode === null && child.signalCode === null, exited };
}

/** The log without the per-request lines. */
function logLines(run: Run): string {
  return run
    .out()
    .split('\n')
    .filter((l) => !l.includes('"msg":"request"'))
    .join('\n')
    .slice(-4000);
}

async function total(run: Run): Promise<number | null> {
  const r = await fetch(run.base + '/api/stats/overview').catch(() => null);
  if (!r?.ok) return null;
  return ((await r.json()) as { data: { total: number } }).data.total;
}

async function until<T>(run: Run, what: string, ms: number, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (!run.alive()) throw new Error(`traffic start exited while waiting for ${what}:\n${logLines(run)}`);
    const v = await probe().catch(() => null);
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (store total ${await total(run)}):\n${logLines(run)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('traffic start --bus mqtt://', () => {
  it('refuses a topic filter and a bus it cannot share, naming --bus', () => {
    for (const bad of [mqttUri('city/+/raw'), 'file:/tmp/x.log']) {
      const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/traffic.mjs'), 'start', '--bus', bad, '--data-dir', path.join(dir, 'none')], {
        encoding: 'utf8',
      });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/INVALID_OPTION.*--bus/);
    }
  });

  it('stores every record once, and again after a SIGKILL and a restart on the same sessions', async () => {
    // A small sample (12 days) so the ETL and training take seconds.
    const gen = spawnSync(
      process.execPath,
      [path.join(ROOT, 'bin/traffic.mjs'), 'data:sample', '--out', path.join(dir, 'raw'), '--days', '12', '--passes-per-day', '2000'],
      { encoding: 'utf8' },
    );
    expect(gen.status, gen.stderr).toBe(0);

    // 1. Killed mid-stream: the simulator, the consumers and the store all die at once.
    const first = startPlatform(['--rate', '200', '--inject-clones', '0']);
    try {
      await until(first, 'the API', 240_000, async () => (await fetch(first.base + '/api/health')).ok || null);
      expect(first.out()).toMatch(/bus=mqtt:\/\//);
      await until(first, 'some stored records', 60_000, async () => ((await total(first)) ?? 0) > 300 || null);
      first.child.kill('SIGKILL');
      await first.exited;
    } finally {
      if (first.alive()) first.child.kill('SIGKILL');
    }
    for (const g of GROUPS) expect(first.out()).toContain(`consumer ${mqttClientId(g, topic)} subscribed to ${topic} (new session)`);

    // 2. Restarted: the sessions resume (what was published and not acknowledged comes again),
    // the simulator replays from the start, and the store keeps each GCXH once.
    const second = startPlatform(['--rate', '2000', '--inject-clones', '0']);
    try {
      await until(second, 'the simulator to finish', 120_000, async () => /simulator finished: 3,000 records sent/.test(second.out()) || null);
      const stored = await until(second, `${LIMIT} stored records`, 60_000, async () => ((await total(second)) === LIMIT ? LIMIT : null));
      expect(stored).toBe(LIMIT);
      for (const g of GROUPS) expect(second.out()).toContain(`consumer ${mqttClientId(g, topic)} subscribed to ${topic} (session resumed)`);
      // Nothing more arrives later (no doubles waiting in a session).
      await new Promise((r) => setTimeout(r, 2000));
      expect(await total(second)).toBe(LIMIT);
      second.child.kill('SIGINT');
      const code = await Promise.race([second.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
      expect(code).toBe(0);
      expect(second.out()).toMatch(/summary: sent 3,000, stored [\d,]+, .*stopped cleanly/);
    } finally {
      if (second.alive()) second.child.kill('SIGKILL');
    }
  }, 480_000);
});
