/**
 * Redis going away mid-stream: the sink reports a retriable error (so the bus keeps the batch
 * uncommitted and retries) and works again once Redis is back. Uses a private redis-server on a
 * free port, so the machine's shared Redis is never touched.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isRetriable } from '../../core/errors.ts';
import { alertId, type Alert } from '../../streaming/detect/alert.ts';
import { openAlertSinkWaiting, RedisAlertSink } from '../../streaming/detect/sinks.ts';

const hasRedis = spawnSync('redis-server', ['--version']).status === 0;
const dir = mkdtempSync(path.join(tmpdir(), 'detect-redis-'));
let server: ChildProcess | undefined;

afterAll(() => {
  server?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startRedis(port: number): Promise<ChildProcess> {
  const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: 'ignore',
  });
  for (let i = 0; i < 50; i++) {
    if (
      spawnSync('redis-cli', ['-p', String(port), 'ping'])
        .stdout?.toString()
        .trim() === 'PONG'
    )
      return p;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('redis-server did not start');
}

function alert(a: string, b: string): Alert {
  return {
    id: alertId(a, b),
    hphm: '苏C12345',
    masked: false,
    prev: { gcxh: a, kkmc: 'A', gcsj: '2024-01-01 10:00:00' },
    curr: { gcxh: b, kkmc: 'B', gcsj: '2024-01-01 10:01:00' },
    interval_s: 60,
    distance_km: null,
    speed_kmh: null,
    rule: 'default',
    detected_at: '2024-01-01T12:00:00+08:00',
  };
}

describe.skipIf(!hasRedis)('Redis sink when Redis goes away (private redis-server)', () => {
  it('fails retriably while Redis is down and stores again once it is back', async () => {
    const port = await freePort();
    server = await startRedis(port);
    const sink = await RedisAlertSink.open(`redis://127.0.0.1:${port}`, { key: 'w' });
    try {
      expect(await sink.write([alert('1', '2')])).toBe(1);
      server.kill('SIGKILL');
      await new Promise((r) => server!.once('exit', r));
      const err = await sink.write([alert('1', '3')]).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(isRetriable(err)).toBe(true);
      server = await startRedis(port);
      // Data was not persisted: the restarted Redis is empty, so both alerts are new there.
      await expect(sink.write([alert('1', '3'), alert('1', '2')])).resolves.toBe(2);
    } finally {
      await sink.close();
    }
  });
});

describe.skipIf(!hasRedis)('detector start before Redis (private redis-server)', () => {
  it('waits for Redis to come up instead of exiting, then stores alerts', async () => {
    const port = await freePort();
    const logs: string[] = [];
    const opening = openAlertSinkWaiting(`redis://127.0.0.1:${port}`, { key: 'late:warnings' }, 20, (m) => logs.push(m));
    await new Promise((r) => setTimeout(r, 1500));
    const late = await startRedis(port);
    try {
      const sink = await opening;
      expect(logs.length).toBeGreaterThan(0);
      expect(logs[0]).toMatch(/cannot connect to Redis.*retrying/);
      expect(await sink.write([alert('L1', 'L2')])).toBe(1);
      await sink.close();
    } finally {
      late.kill('SIGKILL');
    }
  }, 30_000);

  it('still gives up with CONNECTION_FAILED once the wait is over', async () => {
    const port = await freePort();
    const t0 = Date.now();
    await expect(openAlertSinkWaiting(`redis://127.0.0.1:${port}`, {}, 1)).rejects.toMatchObject({ code: 'CONNECTION_FAILED' });
    expect(Date.now() - t0).toBeLessThan(6000);
  }, 15_000);
});
