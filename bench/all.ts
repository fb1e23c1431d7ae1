/**
 * `npm run bench`: runs every `bench:*` (each in its own process, so one's memory or threads
 * cannot disturb the next) and writes bench/RESULTS.md: each benchmark's printed figures with
 * their baselines and ratios, the machine (cores, memory, load), the date and the commit.
 * `--quick` passes each benchmark its smaller settings (for a check that everything runs).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { optStr, parseFlags } from '../core/args.ts';
import type { Command } from '../core/command.ts';
import { DEFAULTS, readEnv } from '../core/config.ts';
import { TrafficError } from '../core/errors.ts';
import { chinaIso } from '../core/time.ts';
import { PACKAGE_ROOT } from '../core/paths.ts';
import { parseMysqlUrl } from '../store/mysql.ts';
import { portOpen } from '../scripts/services/proc.ts';

const ROOT = PACKAGE_ROOT;

/** A server a benchmark cannot run without (bench:detect only skips its latency run without Kafka). */
type Service = 'kafka' | 'mysql';

const BENCHES: Array<{ name: string; full: string[]; quick: string[]; needs: string; services: Service[] }> = [
  { name: 'bench:etl', full: [], quick: ['--rows', '1000000'], needs: 'nothing (generates its sample)', services: [] },
  { name: 'bench:model', full: [], quick: ['--predictions', '1000000'], needs: 'nothing (synthetic masters)', services: [] },
  {
    name: 'bench:stream',
    full: [],
    quick: ['--pacing-seconds', '10', '--records', '100000', '--rounds', '1'],
    needs: 'Kafka (services:up)',
    services: ['kafka'],
  },
  { name: 'bench:sink', full: ['--repeat', '2'], quick: ['--rows', '100000'], needs: 'Kafka + MariaDB 3306/3307', services: ['kafka', 'mysql'] },
  { name: 'bench:detect', full: [], quick: ['--latency-s', '15'], needs: 'Kafka + Redis for the latency run', services: [] },
  {
    name: 'bench:api',
    full: [],
    quick: ['--seconds', '5'],
    needs: 'a master and model in the data dir + MariaDB 3306/3307',
    services: ['mysql'],
  },
];

/** `host:port` of a broker list entry. */
function brokerAddress(broker: string): { host: string; port: number } {
  const at = broker.lastIndexOf(':');
  return { host: broker.slice(0, at), port: Number(broker.slice(at + 1)) };
}

/**
 * What the selected benchmarks need and does not answer, one line each; addresses resolved as
 * the benchmarks resolve them (TRAFFIC_KAFKA / TRAFFIC_MYSQL, else the loopback defaults). A TCP
 * connect is the probe: enough to tell a stopped service from a running one.
 */
async function missingServices(benches: readonly { name: string; services: Service[] }[]): Promise<string[]> {
  const env = readEnv();
  const users = (s: Service): string =>
    benches
      .filter((b) => b.services.includes(s))
      .map((b) => b.name)
      .join(', ');
  const missing: string[] = [];
  if (users('kafka')) {
    const brokers = (env.kafka ?? DEFAULTS.kafka).split(',').map((b) => b.trim());
    const up = await Promise.all(
      brokers.map((b) => {
        const { host, port } = brokerAddress(b);
        return portOpen(host, port);
      }),
    );
    if (!up.includes(true)) missing.push(`Kafka at ${brokers.join(',')} (TRAFFIC_KAFKA), for ${users('kafka')}`);
  }
  if (users('mysql')) {
    for (const url of env.mysql ?? DEFAULTS.mysql) {
      const { host, port } = parseMysqlUrl(url);
      if (!(await portOpen(host, port))) missing.push(`MySQL shard ${host}:${port} (TRAFFIC_MYSQL), for ${users('mysql')}`);
    }
  }
  return missing;
}

const usage = `usage: traffic bench [--quick] [--only a,b] [--out FILE]

Runs ${BENCHES.map((b) => b.name).join(', ')} and writes the figures to bench/RESULTS.md.
  --quick      smaller settings for each benchmark
  --only LIST  only these (e.g. etl,model)
  --out FILE   default bench/RESULTS.md`;

/**
 * The ETL allocates millions of short-lived strings: a 64 MB young generation (V8's default is
 * 16 MB) lets most die there instead of being copied into the old generation (~7% of a run).
 */
const ETL_NODE_FLAG = '--max-semi-space-size=64';

function run(name: string, args: string[]): Promise<{ code: number | null; out: string; seconds: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    // The same V8 flags as the npm script of the benchmark (package.json), e.g. the ETL's young generation.
    const flags = name === 'bench:etl' ? [ETL_NODE_FLAG] : [];
    const child = spawn(process.execPath, [...flags, path.join(ROOT, 'bin/traffic.mjs'), name, ...args], {
      cwd: ROOT,
      env: { ...process.env, CI: process.env.CI ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const take = (d: Buffer): void => {
      out += d.toString();
      process.stderr.write(d);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('exit', (code) => resolve({ code, out, seconds: (performance.now() - t0) / 1000 }));
  });
}

/** Drops live progress lines (carriage-return redraws) from captured output. */
function clean(text: string): string {
  return text
    .split('\n')
    .map((l) => (l.includes('\r') ? l.slice(l.lastIndexOf('\r') + 1) : l))
    .map((l) => l.replace(/\x1b\[[0-9;]*[A-Za-z]/g, ''))
    .filter((l) => l.trim() !== '')
    .join('\n');
}

/** missingServices of the benchmarks named (`bench:etl` …). */
export function missingServicesFor(names: readonly string[]): Promise<string[]> {
  return missingServices(BENCHES.filter((b) => names.includes(b.name)));
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  } catch {
    return 'unknown';
  }
}

export const command: Command = {
  name: 'bench',
  summary: 'run every benchmark and write bench/RESULTS.md',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, { quick: { type: 'boolean' }, only: { type: 'string' }, out: { type: 'string' } });
    const only = optStr(values.only, 'only')
      ?.split(',')
      .map((s) => (s.startsWith('bench:') ? s : `bench:${s}`));
    const out = path.resolve(optStr(values.out, 'out') ?? path.join(ROOT, 'bench', 'RESULTS.md'));
    const selected = BENCHES.filter((b) => !only || only.includes(b.name));
    // Before anything runs: a benchmark without its servers would only fail after the others'
    // minutes and leave its failure in RESULTS.md in place of the last good figures.
    const missing = await missingServices(selected);
    if (missing.length) {
      throw new TrafficError(
        'SERVICE_UNAVAILABLE',
        `not answering: ${missing.join('; ')}. Start them with \`npm run services:up\` ` +
          `(or run the others: --only etl,model,detect); ${path.relative(process.cwd(), out) || out} is left as it was`,
      );
    }
    const started = chinaIso();
    const sections: string[] = [];
    let failed = 0;
    for (const b of selected) {
      const args = values.quick ? b.quick : b.full;
      process.stderr.write(`\n=== ${b.name} ${args.join(' ')}\n`);
      const r = await run(b.name, args);
      if (r.code !== 0) failed++;
      sections.push(
        `## ${b.name}${args.length ? ' `' + args.join(' ') + '`' : ''}\n\n` +
          `Needs: ${b.needs}. Exit ${r.code}, ${r.seconds.toFixed(0)} s; run ${chinaIso()} at commit ${commit()}.\n\n` +
          '```\n' +
          clean(r.out) +
          '\n```\n',
      );
    }
    const load = os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' / ');
    const header =
      `# Benchmark results\n\n` +
      `Written by \`npm run bench${values.quick ? ' -- --quick' : ''}\`. Every figure is printed by the benchmark ` +
      `itself, next to the baseline it was measured against in the same run and the ratio.\n\n` +
      `| | |\n|---|---|\n` +
      `| date | ${started} (China time) |\n` +
      `| commit | ${commit()} |\n` +
      `| machine | ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()} |\n` +
      `| node | ${process.version} |\n` +
      `| load average at the end (1/5/15 min) | ${load} |\n\n` +
      `A shared or loaded machine inflates wall-clock figures; several benchmarks also print CPU seconds.\n\n`;
    // With --only, the other benchmarks' sections of an existing file are kept (each section
    // says its own commit/time through the header lines it carries).
    let body = sections;
    if (only && existsSync(out)) {
      const old = readFileSync(out, 'utf8')
        .split(/\n(?=## bench:)/)
        .slice(1);
      const fresh = new Map(sections.map((sec) => [sec.slice(3, sec.indexOf(' ', 3)).replace(/\n.*/s, ''), sec]));
      body = BENCHES.map(
        (b) => fresh.get(b.name) ?? old.find((o) => o.startsWith(`## ${b.name}`) && /^## bench:\S+( |\n)/.test(o) && o.slice(3).split(/[ \n]/)[0] === b.name),
      ).filter((x): x is string => x !== undefined);
    }
    writeFileSync(out, header + body.join('\n'));
    process.stderr.write(`\nbench: ${selected.length - failed}/${selected.length} benchmarks ran; results in ${out}\n`);
    return failed ? 1 : 0;
  },
};
