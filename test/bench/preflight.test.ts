import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { command as bench } from '../../bench/all.ts';

// Port 1 on loopback: nothing listens there.
describe('npm run bench without its servers', () => {
  let dir: string;
  const saved = { kafka: process.env.TRAFFIC_KAFKA, mysql: process.env.TRAFFIC_MYSQL };
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'bench-preflight-'));
  });
  afterAll(async () => {
    for (const [k, v] of [
      ['TRAFFIC_KAFKA', saved.kafka],
      ['TRAFFIC_MYSQL', saved.mysql],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses before running anything, names what does not answer, and leaves the results file alone', async () => {
    process.env.TRAFFIC_KAFKA = '127.0.0.1:1';
    process.env.TRAFFIC_MYSQL = 'mysql://root@127.0.0.1:3306/traffic_db,mysql://root@127.0.0.1:1/traffic_db';
    const out = path.join(dir, 'RESULTS.md');
    const err = await bench.run(['--only', 'stream,sink,api', '--out', out]).then(
      () => null,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err?.code).toBe('SERVICE_UNAVAILABLE');
    expect(err?.message).toContain('Kafka at 127.0.0.1:1 (TRAFFIC_KAFKA), for bench:stream, bench:sink');
    expect(err?.message).toContain('MySQL shard 127.0.0.1:1 (TRAFFIC_MYSQL), for bench:sink, bench:api');
    // The running MariaDB 3306 answers, so it is not listed.
    expect(err?.message).not.toContain('127.0.0.1:3306');
    expect(err?.message).toContain('npm run services:up');
    expect(existsSync(out)).toBe(false);
  });

  it('needs no server for the benchmarks that have none', async () => {
    process.env.TRAFFIC_KAFKA = '127.0.0.1:1';
    process.env.TRAFFIC_MYSQL = 'mysql://root@127.0.0.1:1/traffic_db';
    const { missingServicesFor } = await import('../../bench/all.ts');
    expect(await missingServicesFor(['bench:etl', 'bench:model', 'bench:detect'])).toEqual([]);
    expect(await missingServicesFor(['bench:api'])).toEqual(['MySQL shard 127.0.0.1:1 (TRAFFIC_MYSQL), for bench:api']);
  });
});
