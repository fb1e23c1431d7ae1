/**
 * The drill's input master: `--in FILE`, else the data dir's master, else a sample generated
 * once (etl/sample generator + the ETL) into a cache dir under the OS temp dir and reused by
 * later drills of the same size.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TrafficError } from '../../core/errors.ts';
import { FILES } from '../../core/schema.ts';
import { runEtl } from '../../etl/runner.ts';
import { findDimension } from '../../streaming/inject.ts';

export interface DrillInput {
  master: string;
  dim: string | undefined;
  note: string;
}

/** Sample days for `records` master rows: ~16k master rows a day after the ETL (measured), one spare day. */
export function sampleDays(records: number): number {
  return Math.min(400, Math.max(2, Math.ceil(records / 12_000) + 1));
}

export async function resolveInput(opts: { in?: string; dataDir: string; records: number; log: (s: string) => void }): Promise<DrillInput> {
  if (opts.in !== undefined) {
    const master = path.resolve(opts.in);
    if (!existsSync(master)) throw new TrafficError('INPUT_NOT_FOUND', `no such file: ${master}`, { file: master, option: '--in' });
    return { master, dim: findDimension(master, opts.dataDir), note: '--in' };
  }
  const inDataDir = path.join(opts.dataDir, FILES.master);
  if (existsSync(inDataDir)) return { master: inDataDir, dim: findDimension(inDataDir, opts.dataDir), note: 'data dir' };

  const days = sampleDays(opts.records);
  const root = path.join(os.tmpdir(), `traffic-drill-sample-${days}d`);
  const out = path.join(root, 'out');
  const master = path.join(out, FILES.master);
  if (!existsSync(master)) {
    opts.log(`drill: no master at ${inDataDir}; generating a ${days}-day sample and running the ETL into ${out} (once; reused later) …`);
    await runEtl({ raw: path.join(root, 'raw'), rawExplicit: false, out, from: 1, to: 5, fill: true, seed: 1, sample: { days }, tty: false });
  }
  if (!existsSync(master)) throw new TrafficError('INPUT_NOT_FOUND', `the ETL wrote no master at ${master}`, { file: master });
  return { master, dim: findDimension(master, opts.dataDir), note: `generated sample (${days} days, seed 1)` };
}
