/**
 * A private redis-server for the drill's detector, so the drill can stop "Redis" without touching
 * the machine's shared Redis on 6379 (other programs use it). Same approach as
 * test/detect/redis-outage.test.ts, with one difference: the drill compares the alert list after
 * the outage, so this server keeps an append-only file fsynced on every write
 * (`--appendonly yes --appendfsync always`): a write Redis acknowledged survives a SIGKILL, as it
 * would on a production Redis with AOF; without it the restart would come back empty.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { redisAnswers } from '../../scripts/services/redis.ts';
import { sleep, which } from '../../scripts/services/proc.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.once('error', reject);
  });
}

export class PrivateRedis {
  private proc: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly bin: string,
  ) {}

  static async start(dir: string): Promise<PrivateRedis> {
    const bin = which('redis-server');
    if (!bin) throw new Error('redis-server is not installed (apt-get install -y redis-server)');
    mkdirSync(dir, { recursive: true });
    const r = new PrivateRedis(await freePort(), dir, bin);
    await r.up();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async up(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--dir',
      this.dir,
      '--logfile',
      path.join(this.dir, 'redis.log'),
    ];
    const p = spawn(this.bin, args, { stdio: 'ignore' });
    this.proc = p;
    for (let i = 0; i < 100; i++) {
      if (p.exitCode !== null) throw new Error(`private redis-server exited (code ${p.exitCode}); see ${path.join(this.dir, 'redis.log')}`);
      if (await redisAnswers(this.port)) return;
      await sleep(100);
    }
    throw new Error(`private redis-server on ${this.port} did not answer within 10 s`);
  }

  /** Kills the server (SIGKILL: a crash) and waits until it is gone. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await gone;
    this.proc = null;
  }
}
