#!/usr/bin/env node
// `npm run build`: type-checks and compiles the shipped code (tsconfig.build.json) into a fresh
// dist/, mirroring the source folders (dist/core, dist/etl, …). Relative `.ts` imports become
// `.js`; nothing is bundled, so dist/ reads like the sources. Fails on any type error.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const t0 = performance.now();
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit', cwd: new URL('..', import.meta.url) });
if (r.status !== 0) {
  console.error('build: type errors above; dist/ not written');
  process.exit(r.status ?? 1);
}
// The stamp's time is when dist/ was made: `npm test` rebuilds when a source is newer.
writeFileSync(new URL('../dist/.stamp', import.meta.url), new Date().toISOString() + '\n');
console.log(`build: dist/ compiled in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
