/**
 * The acceptance test of the MQTT transport: `traffic simulate --to mqtt://…` feeds the machine's
 * Mosquitto while `traffic sink --from mqtt://…` (a real child process) stores into MariaDB 3306;
 * the sink is SIGKILLed mid-stream with rows received but not yet stored (--max-wait-ms holds them),
 * then restarted: every record ends in the store exactly once, none lost.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mqttClientId } from '../../streaming/bus/index.ts';
import { dropDb, q } from '../store/db.ts';
import { testDbName } from '../store/db.ts';
import { forgetSession, mqttUri, uniqueMqttTopic, waitUntil } from '../helpers/mqtt.ts';
import { masterRows, tmpDir, writeMaster } from './fixtures.ts';

const N = 2000;
/** Records/s: a restart takes a few seconds here, and Mosquitto's default session queue holds 1000. */
const RATE = 100;
const dir = tmpDir('traffic-mqtt-crash-');
const db = testDbName('traffic_mqtt');
const topic = uniqueMqttTopic();
const group = `crash-${path.basename(dir).slice(-6)}`;
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await forgetSession(mqttClientId(group, topic));
  await dropDb(db);
});

function traffic(args: string[]): { child: ChildProcess; stderr: () => string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, ['bin/traffic.mjs', ...args], {
    env: { ...process.env, TZ: 'UTC', TRAFFIC_DATA_DIR: dir, TRAFFIC_TTL_DAYS: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d) => (err += d.toString()));
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return { child, stderr: () => err, exited };
}

function startSink(): ReturnType<typeof traffic> {
  return traffic([
    'sink',
    '--from',
    mqttUri(topic),
    '--group',
    group,
    '--mysql',
    `mysql://root@127.0.0.1:3306/${db}`,
    '--batch-size',
    '200',
    '--max-wait-ms',
    '150',
    '--ttl-days',
    '0',
    '--ttl-interval-s',
    '0',
    '--rejects',
    path.join(dir, 'rejects.csv'),
  ]);
}

async function stored(): Promise<number> {
  const rows = await q<{ n: number }>(3306, `SELECT COUNT(*) AS n FROM \`${db}\`.traffic_data`).catch(() => [{ n: 0 }]);
  return Number(rows[0]?.n ?? 0);
}

describe('MQTT sink killed mid-stream (real processes, Mosquitto 1883, MariaDB 3306)', () => {
  it('stores every record exactly once after a SIGKILL and a restart', async () => {
    const rows = masterRows(N, 1);
    const master = writeMaster(dir, rows);
    const sink1 = startSink();
    // The session (and its subscription) must exist before records are published: MQTT keeps no history.
    await waitUntil(() => /subscribed to/.test(sink1.stderr()), 30_000, 'the first sink to subscribe');
    const sim = traffic(['simulate', '--in', master, '--to', mqttUri(topic), '--rate', String(RATE)]);

    let killedAt = 0;
    const t0 = Date.now();
    while ((killedAt = await stored()) < 500) {
      if (Date.now() - t0 > 30_000) throw new Error(`sink stored only ${killedAt} rows: ${sink1.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    sink1.child.kill('SIGKILL');
    expect((await sink1.exited).signal).toBe('SIGKILL');
    const atKill = await stored();
    // Down for a second (plus the restart, ~3 s on a loaded machine) while the simulator goes on:
    // ~400 records queue in the session, under Mosquitto's default max_queued_messages (1000).
    await new Promise((r) => setTimeout(r, 1000));
    const sink2 = startSink();
    expect(await sim.exited).toMatchObject({ code: 0 });
    const t1 = Date.now();
    while ((await stored()) < N && Date.now() - t1 < 60_000) await new Promise((r) => setTimeout(r, 200));
    sink2.child.kill('SIGTERM');
    expect((await sink2.exited).code).toBe(0);

    const ids = await q<{ gcxh: string }>(3306, `SELECT gcxh FROM \`${db}\`.traffic_data ORDER BY gcxh`);
    expect(ids.length).toBe(N);
    expect(ids.map((r) => r.gcxh)).toEqual(rows.map((r) => r[0]).sort());
    expect(atKill).toBeLessThan(N); // killed mid-stream, not after the end
    // The restarted sink resumed the same session and read records published while it was down.
    expect(sink2.stderr()).toMatch(/session resumed/);
    expect(sink2.stderr()).toMatch(/0 dead-lettered/);
  }, 120_000);
});
