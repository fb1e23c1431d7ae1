/**
 * The package as an operator installs it: `npm pack` of the checkout (dist/ built by `npm test`),
 * then `npm install --omit=dev` of the tarball into an empty folder. Without tsx, TypeScript or any
 * other dev dependency, `traffic --version`, `data:sample`, `etl:all`, `train`, `api` and `start`
 * work, and nothing is written into node_modules while they run.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(path.join(os.tmpdir(), 'traffic-pkg-'));
const app = path.join(dir, 'app');
const work = path.join(dir, 'work');
const bin = (): string => path.join(app, 'node_modules', '.bin', 'traffic');
let installedAt = 0;

function traffic(args: string[], timeout = 180_000): { status: number | null; out: string } {
  const r = spawnSync(bin(), args, { cwd: work, encoding: 'utf8', timeout, env: { ...process.env, TZ: 'UTC', TRAFFIC_PORT: '' } });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Files under `root` modified after `since` (ms). */
function modifiedSince(root: string, since: number): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && statSync(p).mtimeMs > since) out.push(p);
    }
  };
  walk(root);
  return out;
}

beforeAll(() => {
  execFileSync('mkdir', ['-p', app, work]);
  const packed = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' })
    .trim()
    .split('\n')
    .pop()!;
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'operator', private: true }));
  execFileSync('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', path.join(dir, packed)], {
    cwd: app,
    stdio: 'pipe',
    timeout: 300_000,
  });
  installedAt = Date.now();
}, 360_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the npm package installed without dev dependencies', () => {
  it('has no dev tool in its installation and ships the compiled code', () => {
    const nm = path.join(app, 'node_modules');
    for (const dev of ['tsx', 'typescript', 'esbuild', 'vitest', 'exceljs', 'echarts']) expect(existsSync(path.join(nm, dev)), dev).toBe(false);
    const pkg = path.join(nm, 'traffic-checkpoint-toolkit');
    expect(existsSync(path.join(pkg, 'dist', 'app', 'main.js'))).toBe(true);
    expect(existsSync(path.join(pkg, 'dist', 'etl', 'merge-worker.js'))).toBe(true);
    expect(existsSync(path.join(pkg, 'api', 'public', 'vendor', 'china.json'))).toBe(true);
    // No TypeScript source and no test or benchmark code in the package.
    expect(existsSync(path.join(pkg, 'core'))).toBe(false);
    expect(existsSync(path.join(pkg, 'dist', 'bench'))).toBe(false);
    expect(existsSync(path.join(pkg, 'dist', 'test'))).toBe(false);
  });

  it('serves the same ECharts build the echarts dev dependency ships', () => {
    const vendored = readFileSync(path.join(ROOT, 'api', 'public', 'vendor', 'echarts.min.js'));
    expect(vendored.equals(readFileSync(path.join(ROOT, 'node_modules', 'echarts', 'dist', 'echarts.min.js')))).toBe(true);
  });

  it('runs --version, data:sample, etl:all, train, api and start, writing nothing into node_modules', async () => {
    const v = traffic(['--version']);
    expect(v.status).toBe(0);
    expect(v.out).toMatch(/^traffic-checkpoint-toolkit \d+\.\d+\.\d+\n$/);

    expect(traffic(['data:sample', '--days', '5', '--passes-per-day', '2000', '--seed', '7']).status).toBe(0);
    const etl = traffic(['etl:all']);
    expect(etl.status, etl.out).toBe(0);
    expect(etl.out).toMatch(/etl:all done/);
    expect(existsSync(path.join(work, 'data', 'out', 'master_data_expanded.csv'))).toBe(true);
    const train = traffic(['train', '--holdout-days', '1']);
    expect(train.status, train.out).toBe(0);
    expect(existsSync(path.join(work, 'data', 'out', 'traffic_flow_model.json'))).toBe(true);

    // `api` on the embedded store, then `start` reusing the ETL outputs and the model.
    for (const [cmd, extra] of [
      ['api', []],
      ['start', ['--limit', '200', '--rate', '200']],
    ] as const) {
      const port = 5700 + Math.floor(Math.random() * 200);
      const child = spawn(bin(), [cmd, '--port', String(port), ...extra], { cwd: work, env: { ...process.env, TZ: 'UTC' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      try {
        const deadline = Date.now() + 120_000;
        let health: { code: number } | null = null;
        while (!health && Date.now() < deadline && child.exitCode === null) {
          health = await fetch(`http://127.0.0.1:${port}/api/health`)
            .then((r) => r.json() as Promise<{ code: number }>)
            .catch(() => null);
          if (!health) await new Promise((r) => setTimeout(r, 300));
        }
        expect(health, `${cmd} answered /api/health\n${out}`).not.toBeNull();
        expect(health!.code).toBe(0);
        const page = await fetch(`http://127.0.0.1:${port}/`);
        expect(page.status).toBe(200);
        expect((await fetch(`http://127.0.0.1:${port}/vendor/echarts.min.js`)).status).toBe(200);
      } finally {
        child.kill('SIGINT');
        await new Promise((r) => child.once('exit', r));
      }
    }
    expect(modifiedSince(path.join(app, 'node_modules'), installedAt)).toEqual([]);
  }, 400_000);

  it('leaves out the optional MQTT client and says how to add it when an mqtt:// address is used', () => {
    expect(existsSync(path.join(app, 'node_modules', 'mqtt'))).toBe(false);
    const master = path.join(work, 'data', 'out', 'master_data_expanded.csv');
    const r = traffic(['simulate', '--in', master, '--to', 'mqtt://127.0.0.1:1883/traffic-raw', '--rate', '0', '--limit', '1']);
    expect(r.status, r.out).toBe(2);
    expect(r.out).toContain('DEPENDENCY_MISSING');
    expect(r.out).toContain('npm install mqtt');
  });
});
