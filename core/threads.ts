/**
 * Worker threads start one way: from the compiled JavaScript beside the module that starts them
 * (dist/, what the package ships and CI tests). In development the sources run through tsx, whose
 * loader a worker thread does not inherit; a `.ts` entry is then started through a two-line ES
 * module that registers tsx in the thread first. Nothing is bundled or written at run time.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * The module `name` (no extension) beside the module whose `import.meta.url` is `callerUrl`:
 * `name.js` beside compiled code, `name.ts` beside a TypeScript source.
 */
export function siblingModule(callerUrl: string, name: string): URL {
  return new URL(`./${name}${callerUrl.endsWith('.ts') ? '.ts' : '.js'}`, callerUrl);
}

/** Starts a worker thread on `entry` (from `siblingModule`). */
export function startWorker(entry: URL, options: WorkerOptions = {}): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, options);
  const tsx = import.meta.resolve('tsx/esm/api');
  const shim = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(entry.href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(shim)}`), options);
}
