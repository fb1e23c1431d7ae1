/**
 * Worker threads start from esbuild bundles of their TypeScript (core/worker-script.ts). A
 * bundle must behave as the source does (a module's import.meta.url is still its own file), be
 * rebuilt when a file it includes changes, and give way to the tsx entry when switched off.
 */
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareWorkerScripts, workerScript } from '../../core/worker-script.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let dir: string;
let w: { source: URL; entry: URL };

function run(url: URL): Promise<{ own: string; data: string; greeting: string }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(url);
    worker.once('message', (m) => {
      resolve(m as { own: string; data: string; greeting: string });
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

beforeAll(async () => {
  // A copy inside the repo (node_modules must resolve from it), so the test can edit it.
  await mkdir(path.join(ROOT, '.tmp'), { recursive: true });
  dir = await mkdtemp(path.join(ROOT, '.tmp', 'worker-script-'));
  await cp(path.join(ROOT, 'test', 'fixtures', 'worker-script'), dir, { recursive: true });
  w = { source: pathToFileURL(path.join(dir, 'meta-worker.ts')), entry: pathToFileURL(path.join(dir, 'meta-worker.mjs')) };
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  // This test's bundles (named after their entry) are of no use to a later run.
  const cache = path.join(ROOT, 'node_modules', '.cache', 'traffic-workers');
  for (const n of await readdir(cache).catch(() => [] as string[])) if (n.startsWith('meta-worker-')) await rm(path.join(cache, n), { force: true });
});

describe('worker scripts', () => {
  it('runs a bundle from the cache whose modules still find files beside their source', async () => {
    await prepareWorkerScripts([w]);
    const url = workerScript(w.entry);
    expect(url.href).toContain('node_modules/.cache/traffic-workers/');
    const m = await run(url);
    expect(m.own).toBe(pathToFileURL(path.join(dir, 'data.txt')).href);
    expect(m.data).toBe('beside the source');
    expect(m.greeting).toBe('hello');
  });

  it('rebuilds the bundle when a file it includes changes', async () => {
    await prepareWorkerScripts([w]);
    const before = workerScript(w.entry);
    await writeFile(path.join(dir, 'greeting.ts'), "export const GREETING = 'changed, and longer';\n");
    await prepareWorkerScripts([w]);
    expect(workerScript(w.entry).href).toBe(before.href);
    expect((await run(workerScript(w.entry))).greeting).toBe('changed, and longer');
  });

  it('runs the tsx entry when bundles are switched off', async () => {
    process.env.TRAFFIC_WORKER_BUNDLE = '0';
    try {
      expect(workerScript(w.entry).href).toBe(w.entry.href);
      expect((await run(workerScript(w.entry))).data).toBe('beside the source');
    } finally {
      delete process.env.TRAFFIC_WORKER_BUNDLE;
    }
  });
});
