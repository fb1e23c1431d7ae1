#!/usr/bin/env node
// `npm test`: start the services the integration tests need (idempotent), run vitest under
// TZ=UTC (times must not depend on the machine's zone), and end with the plain line
// `N passed, N failed` that CI reads.
//
// Two passes: every test file in parallel, then the `*.serial.test.ts` files alone — they stop a
// shared service (the second MariaDB) on purpose, which must not overlap other files using it.
// Extra args go to vitest as one pass (e.g. `npm test -- test/etl`).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const env = { ...process.env, TZ: 'UTC' };

// Commands the tests start (bin/traffic.mjs) run the compiled dist/, as an installed package does:
// build it when it is missing or older than a source file.
const SOURCE_DIRS = ['core', 'store', 'etl', 'models', 'streaming', 'api', 'app', 'notebooks', 'bench', 'scripts'];
function newestSource() {
  let newest = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const d of SOURCE_DIRS) if (existsSync(d)) walk(d);
  return Math.max(newest, statSync('tsconfig.build.json').mtimeMs);
}
if (!existsSync('dist/.stamp') || statSync('dist/.stamp').mtimeMs < newestSource()) {
  const build = spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit', env });
  if (build.status !== 0) {
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}

if (!process.env.TRAFFIC_SKIP_SERVICES && existsSync('scripts/services-up.ts')) {
  const up = spawnSync(process.execPath, ['bin/traffic.mjs', 'services:up'], { stdio: 'inherit', env });
  if (up.status !== 0) {
    console.error('npm test: services:up failed; integration tests would fail. See the message above.');
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}

mkdirSync('.tmp', { recursive: true });
const passes = args.length
  ? [{ name: 'selected', args }]
  : [
      { name: 'parallel', args: ['--exclude', '**/*.serial.test.ts'] },
      { name: 'serial', args: ['--no-file-parallelism', 'serial.test'] },
    ];

const total = { passed: 0, failed: 0, skipped: 0 };
let ok = true;
for (const [i, pass] of passes.entries()) {
  const report = `.tmp/vitest-report-${i}.json`;
  rmSync(report, { force: true });
  const run = spawnSync(
    process.execPath,
    ['node_modules/vitest/vitest.mjs', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...pass.args],
    { stdio: 'inherit', env },
  );
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  if (existsSync(report)) {
    const r = JSON.parse(readFileSync(report, 'utf8'));
    passed = r.numPassedTests ?? 0;
    failed = (r.numFailedTests ?? 0) + (r.numRuntimeErrorTestSuites ?? 0);
    skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    // A test file that fails to load has no tests but is a failure.
    for (const f of r.testResults ?? []) if (f.status === 'failed' && (f.assertionResults ?? []).length === 0) failed++;
  } else {
    failed = 1;
  }
  if (run.status !== 0 && failed === 0) failed = 1;
  if (passes.length > 1) console.log(`npm test (${pass.name} pass): ${passed} passed, ${failed} failed`);
  total.passed += passed;
  total.failed += failed;
  total.skipped += skipped;
  if (run.status !== 0 || failed > 0) ok = false;
}
console.log(`${total.passed} passed, ${total.failed} failed` + (total.skipped ? `, ${total.skipped} skipped` : ''));
process.exit(ok ? 0 : 1);
