/**
 * GET /metrics: what an operator's Prometheus scrapes. Requests by route and status, a stream
 * consumer's records in/out/rejected by its group id, store write latency, process memory; and the
 * access log `traffic api` writes (method, path without the query, status, ms).
 */
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAlertFeed } from '../../api/alerts.ts';
import { createApiApp, type ApiApp } from '../../api/app.ts';
import { EmbeddedStore } from '../../store/duckdb-store.ts';
import { memoryPublish, openSource } from '../../streaming/bus/index.ts';
import { encodeRecord } from '../../streaming/record.ts';
import { makeApiFixture } from './fixture.ts';

let app: ApiApp;
let base: string;
let store: EmbeddedStore;
const fx = makeApiFixture();

/** The value of one sample line `name{labels} value` in the exposition text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (ok) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

beforeAll(async () => {
  store = await EmbeddedStore.open(':memory:');
  await store.loadMasterCsv(fx.master);
  await store.loadDimensionCsv(fx.dimension);
  app = createApiApp({ store, alerts: new MemoryAlertFeed(), predictor: null, cors: { origins: [] }, bodyLimit: 1024 });
  await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app.shutdown();
  await store.close();
});

describe('GET /metrics', () => {
  it('counts requests by route and status, with bounded route labels', async () => {
    await fetch(`${base}/api/health`);
    await fetch(`${base}/api/health`);
    await fetch(`${base}/api/stats/kkmc_count?limit=999999`);
    await fetch(`${base}/no/such/path/${'x'.repeat(50)}`);
    const r = await fetch(`${base}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    expect(sample(text, 'traffic_http_requests_total', { method: 'GET', route: '/api/health', status: '200' })).toBe(2);
    expect(sample(text, 'traffic_http_requests_total', { route: '/api/stats/kkmc_count', status: '400' })).toBe(1);
    expect(sample(text, 'traffic_http_requests_total', { route: 'other', status: '404' })).toBe(1);
    expect(text).not.toContain('xxxxxxxx');
    expect(sample(text, 'traffic_http_request_duration_seconds_count', { route: '/api/health' })).toBe(2);
    expect(sample(text, 'traffic_process_resident_memory_bytes', {})).toBeGreaterThan(10_000_000);
  });

  it("reports a consumer's records in, out and rejected by reason, and the store's write latency", async () => {
    const bus = `metrics-${process.pid}-${Date.now()}`;
    const good = fx.rows.slice(0, 7).map((r) => ({ key: r[6] ?? null, raw: encodeRecord(r.map((v, i) => (i === 0 ? `M${v}` : v))) }));
    memoryPublish(bus, [...good, { key: null, raw: 'not\ta\trecord' }, { key: null, raw: '' }]);
    const source = await openSource(`memory:${bus}`, { groupId: 'metrics-test-sink' });
    const running = source.run(async (batch) => void (await store.insert(batch.map((i) => i.row))));
    for (let i = 0; i < 100 && source.stats.delivered + source.stats.deadLettered < 9; i++) await new Promise((r) => setTimeout(r, 50));
    await source.stop();
    await running;
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(sample(text, 'traffic_records_in_total', { consumer: 'metrics-test-sink' })).toBe(9);
    expect(sample(text, 'traffic_records_out_total', { consumer: 'metrics-test-sink' })).toBe(7);
    expect(sample(text, 'traffic_records_rejected_total', { consumer: 'metrics-test-sink', reason: 'empty record' })).toBe(1);
    expect(sample(text, 'traffic_store_write_seconds_count', { store: 'duckdb' })).toBeGreaterThanOrEqual(1);
  });
});

describe('the access log of `traffic api`', () => {
  it('logs method, path without the query string, status and milliseconds as JSON off a terminal', async () => {
    const port = 5900 + Math.floor(Math.random() * 90);
    const child = spawn(process.execPath, ['bin/traffic.mjs', 'api', '--port', String(port), '--data-dir', fx.dir], {
      env: { ...process.env, TZ: 'UTC', TRAFFIC_LOG_FORMAT: 'json', TRAFFIC_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    try {
      const deadline = Date.now() + 60_000;
      while (
        Date.now() < deadline &&
        !(await fetch(`http://127.0.0.1:${port}/api/health`)
          .then((r) => r.ok)
          .catch(() => false))
      ) {
        await new Promise((r) => setTimeout(r, 200));
      }
      await fetch(`http://127.0.0.1:${port}/api/stats/overview?secret=s3cr3t`);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    const lines = err
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const access = lines.find((l) => l.path === '/api/stats/overview');
    expect(access, err).toMatchObject({ component: 'api', method: 'GET', status: 200, msg: 'request' });
    expect(typeof access!.ms).toBe('number');
    expect(String(access!.time)).toMatch(/\+08:00$/);
    expect(err).not.toContain('s3cr3t');
    expect(lines.some((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('listening on http://127.0.0.1:'))).toBe(true);
  });
});

describe('the Grafana dashboard shipped in infra/grafana', () => {
  it('only charts metrics the process exposes', async () => {
    const { readFileSync } = await import('node:fs');
    const dash = JSON.parse(readFileSync('infra/grafana/traffic-dashboard.json', 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const text = await (await fetch(`${base}/metrics`)).text();
    const exposed = new Set(
      text
        .split('\n')
        .filter((l) => l.startsWith('# TYPE '))
        .map((l) => l.split(' ')[2]!),
    );
    const used = new Set<string>();
    for (const p of dash.panels) for (const t of p.targets) for (const m of t.expr.matchAll(/\btraffic_[a-z0-9_]+/g)) used.add(m[0]);
    expect(used.size).toBeGreaterThan(8);
    for (const m of used) {
      const family = m.replace(/_(bucket|count|sum)$/, '');
      expect(exposed.has(family) || exposed.has(m), `${m} is exposed`).toBe(true);
    }
  });
});
