import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { hasChromium, launchBrowser, ARTIFACTS } from '../helpers/browser.ts';

// `traffic start` as a newcomer runs it, in an empty directory: sample data, ETL, training, then
// the one-process platform (simulator → in-process bus → embedded store + detector → API).
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(path.join(os.tmpdir(), 'traffic-start-'));
const port = 5200 + Math.floor(Math.random() * 500);
const base = `http://127.0.0.1:${port}`;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function json(p: string): Promise<any> {
  const r = await fetch(base + p);
  return (await r.json()).data;
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | null>, alive: () => boolean): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (!alive()) throw new Error(`traffic start exited while waiting for ${what}`);
    const v = await probe().catch(() => null);
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('traffic start (the whole platform in one process)', () => {
  it('generates data, runs ETL and training, streams, stores, alerts, serves the dashboard, and stops cleanly on SIGINT', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, TRAFFIC_PORT: String(port) };
    for (const k of ['TRAFFIC_KAFKA', 'TRAFFIC_MYSQL', 'TRAFFIC_REDIS', 'TRAFFIC_DATA_DIR', 'TRAFFIC_API_KEY']) delete env[k];
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/traffic.mjs'), 'start'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const alive = (): boolean => child.exitCode === null && child.signalCode === null;
    try {
      await until('the API', 240_000, async () => (await fetch(base + '/api/health')).ok || null, alive);
      expect(out).toMatch(/no raw data in .*generating the sample/);
      expect(out).toMatch(/05-features/);
      expect(out).toMatch(/model written/);
      const overview = await until(
        'stored records and an alert',
        90_000,
        async () => {
          const o = await json('/api/stats/overview');
          return o.total > 0 && o.warnings >= 1 ? o : null;
        },
        alive,
      );
      expect(overview.checkpoints).toBeGreaterThan(0);
      expect(overview.latest_gcsj).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
      const alerts = await json('/api/warnings/realtime?limit=5');
      expect(alerts[0]).toMatchObject({ id: expect.any(String), hphm: expect.any(String), rule: expect.any(String) });
      const predicted = await json('/api/stats/flow_24h');
      expect(predicted.some((h: { predicted: number | null }) => (h.predicted ?? 0) > 0)).toBe(true);

      if (hasChromium || process.env.CI === 'true') {
        const browser = await launchBrowser();
        try {
          const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
          await page.goto(base + '/');
          await page.waitForFunction(
            () => {
              const d = (window as any).__dashboard?.drawn ?? {};
              return d.top10 > 0 && d.map > 0 && d.flow_24h > 0;
            },
            null,
            { timeout: 20_000 },
          );
          await page.waitForSelector('#alerts li[data-id]', { timeout: 10_000 });
          await page.screenshot({ path: path.join(ARTIFACTS, 'start-dashboard.png') });
        } finally {
          await browser.close();
        }
      }

      child.kill('SIGINT');
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
      expect(code).toBe(0);
      expect(out).toMatch(/"component":"start".*summary: sent [\d,]+, stored [\d,]+, alerts [\d,]+, level changes [\d,]+, stream clock .*stopped cleanly/);
    } finally {
      if (alive()) child.kill('SIGKILL');
    }
  }, 420_000);
});
