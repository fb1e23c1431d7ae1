/** The machine's Redis on 6379: checked with PING, started if installed but down; never stopped. */
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import { run, waitFor, which } from './proc.ts';
import type { ServiceResult } from './result.ts';

export function redisAnswers(port = 6379): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean): void => {
      sock.removeAllListeners();
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

export async function redisUp(): Promise<ServiceResult> {
  const name = 'redis';
  const where = '127.0.0.1:6379';
  if (await redisAnswers()) return { name, where, ok: true, note: 'running' };
  const bin = which('redis-server');
  if (!bin) return { name, where, ok: false, note: 'not answering and not installed: apt-get install -y redis-server' };
  mkdirSync('/var/lib/redis', { recursive: true });
  mkdirSync('/var/log/redis', { recursive: true });
  const r = await run(
    bin,
    [
      '--daemonize',
      'yes',
      '--bind',
      '127.0.0.1',
      '-::1',
      '--port',
      '6379',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      '/var/lib/redis',
      '--logfile',
      '/var/log/redis/ci.log',
    ],
    { timeoutMs: 15_000 },
  );
  if (!r.ok) return { name, where, ok: false, note: `could not be started: ${r.output.trim()}` };
  const ready = await waitFor(() => redisAnswers(), { timeoutMs: 15_000, intervalMs: 200 });
  return ready.ok
    ? { name, where, ok: true, note: 'started (machine service)' }
    : { name, where, ok: false, note: `started but ${ready.reason}; see /var/log/redis/ci.log` };
}
