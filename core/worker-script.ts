/**
 * The script a worker thread runs. Workers do not inherit the main thread's TypeScript loader:
 * their `.mjs` entries register tsx again, which costs ~0.3 s of CPU per thread (a loader thread
 * of its own, every module resolved and compiled through it) against ~0.06 s for the same code
 * as one plain JS file. A full ETL run starts five threads while stage 01's readers need both
 * cores, so the entries are bundled with esbuild (the compiler tsx itself uses) into
 * node_modules/.cache/traffic-workers and rebuilt when a file they include changes.
 *
 * Bundling keeps each module's meaning: `import.meta.url` is replaced, module by module, by the
 * URL of the module's own source file (a bundle elsewhere would otherwise resolve a module's
 * relative data files from the cache dir). When esbuild is missing or fails, or
 * TRAFFIC_WORKER_BUNDLE=0, workers run the tsx entries as before.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'traffic-workers');

/** Bundles ready for this process, by the tsx entry's URL. */
const ready = new Map<string, URL>();

interface Meta {
  key: string;
  /** Every file in the bundle: path, mtime, size (a change in any rebuilds it). */
  inputs: [string, number, number][];
}

/** The worker entry to start: the bundle of `source` when prepared, else the tsx `entry`. */
export function workerScript(entry: URL): URL {
  if (process.env.TRAFFIC_WORKER_BUNDLE === '0') return entry;
  return ready.get(entry.href) ?? entry;
}

/**
 * Makes the bundles of these workers (TypeScript source → tsx entry) ready, from the cache when
 * no file changed. Never throws: a worker without a bundle runs its tsx entry.
 */
export async function prepareWorkerScripts(workers: { source: URL; entry: URL }[]): Promise<void> {
  if (process.env.TRAFFIC_WORKER_BUNDLE === '0') return;
  await Promise.all(
    workers.map(async (w) => {
      try {
        // Checked on every call (a stat per file): a long-lived process may see the code change.
        const url = await bundle(fileURLToPath(w.source));
        if (url) ready.set(w.entry.href, url);
        else ready.delete(w.entry.href);
      } catch {
        ready.delete(w.entry.href);
        // The tsx entry works everywhere; the bundle only makes threads start faster.
      }
    }),
  );
}

function cacheKey(source: string): string {
  return createHash('sha1').update(`${source}\0${process.version}`).digest('hex').slice(0, 16);
}

function fresh(metaFile: string, key: string): boolean {
  let meta: Meta;
  try {
    meta = JSON.parse(readFileSync(metaFile, 'utf8')) as Meta;
  } catch {
    return false;
  }
  if (meta.key !== key) return false;
  for (const [file, mtime, size] of meta.inputs) {
    try {
      const s = statSync(file);
      if (s.mtimeMs !== mtime || s.size !== size) return false;
    } catch {
      return false;
    }
  }
  return true;
}

async function bundle(source: string): Promise<URL | undefined> {
  const name = `${path.basename(source, '.ts')}-${cacheKey(source)}`;
  const out = path.join(CACHE, `${name}.mjs`);
  const metaFile = path.join(CACHE, `${name}.json`);
  const key = 'v1';
  // Checked before loading esbuild: a thread that starts threads of its own pays only the stats.
  if (fresh(metaFile, key)) return pathToFileURL(out);
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [source],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    metafile: true,
    logLevel: 'silent',
    // Loaded only to build bundles, never inside one.
    external: ['esbuild'],
    // Bundled CommonJS dependencies may call require(): give the ES module one.
    // (The text is split so that this file, bundled into the readers itself, keeps its meaning.)
    banner: { js: "import { createRequire as __trafficRequire } from 'node:module'; const require = __trafficRequire(import.meta" + '.url);' },
    plugins: [
      {
        name: 'own-import-meta-url',
        setup(build) {
          build.onLoad({ filter: /\.[cm]?[jt]s$/ }, async (args) => {
            const text = await readFile(args.path, 'utf8');
            if (!text.includes('import.meta.url')) return undefined;
            const ext = path.extname(args.path);
            return {
              contents: text.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)),
              loader: ext === '.ts' || ext === '.mts' || ext === '.cts' ? 'ts' : 'js',
            };
          });
        },
      },
    ],
  });
  const code = result.outputFiles[0]?.text;
  if (!code) return undefined;
  // The bundler itself is an input too: another esbuild version may bundle differently.
  const files = [...Object.keys(result.metafile.inputs).map((rel) => path.resolve(rel)), path.join(ROOT, 'node_modules', 'esbuild', 'package.json')];
  const inputs: Meta['inputs'] = files.map((file) => {
    const s = statSync(file);
    return [file, s.mtimeMs, s.size];
  });
  mkdirSync(CACHE, { recursive: true });
  // Write-then-rename: a process reading the cache never sees half a file.
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, code);
  renameSync(tmp, out);
  const metaTmp = `${metaFile}.${process.pid}.tmp`;
  writeFileSync(metaTmp, JSON.stringify({ key, inputs } satisfies Meta));
  renameSync(metaTmp, metaFile);
  return pathToFileURL(out);
}
