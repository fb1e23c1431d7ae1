#!/usr/bin/env node
// `traffic <command>`: runs the compiled JavaScript in dist/ (what the package ships; `npm run
// build` makes it, and `npm ci` in a checkout runs the build). A checkout without dist/, or
// TRAFFIC_FROM_SOURCE=1, runs the TypeScript sources through tsx (a dev dependency) instead.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/app/main.js', import.meta.url);
let main;
if (process.env.TRAFFIC_FROM_SOURCE !== '1' && existsSync(compiled)) {
  ({ main } = await import(compiled.href));
} else {
  try {
    const { register } = await import('tsx/esm/api');
    register();
  } catch {
    process.stderr.write('traffic: no compiled code (dist/) and no tsx to run the sources: run `npm run build` in the checkout\n');
    process.exit(1);
  }
  ({ main } = await import('../app/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
