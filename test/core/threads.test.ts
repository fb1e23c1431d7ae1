import type { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { siblingModule, startWorker } from '../../core/threads.ts';

const FIXTURES = new URL('../fixtures/threads/', import.meta.url);

function reply(w: Worker): Promise<{ doubled: number; url: string }> {
  return new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  }).finally(() => void w.terminate()) as Promise<{ doubled: number; url: string }>;
}

describe('worker threads', () => {
  it('start from the compiled JavaScript beside compiled code, and from the source beside a source', () => {
    expect(siblingModule('file:///pkg/dist/etl/merge-source.js', 'merge-worker').href).toBe('file:///pkg/dist/etl/merge-worker.js');
    expect(siblingModule('file:///repo/etl/merge-source.ts', 'merge-worker').href).toBe('file:///repo/etl/merge-worker.ts');
  });

  it('run a compiled worker as it is', async () => {
    const r = await reply(startWorker(new URL('echo-worker.js', FIXTURES), { workerData: { n: 21 } }));
    expect(r.doubled).toBe(42);
    expect(r.url).toMatch(/echo-worker\.js$/);
  });

  it('give a TypeScript worker the TypeScript loader in development, imports included', async () => {
    const r = await reply(startWorker(siblingModule(new URL('echo-worker.ts', FIXTURES).href, 'echo-worker'), { workerData: { n: 5 } }));
    expect(r.doubled).toBe(10);
    // The worker keeps its own module URL (files beside it resolve as in the source tree).
    expect(r.url).toMatch(/fixtures\/threads\/echo-worker\.ts$/);
  });
});
