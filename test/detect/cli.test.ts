import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readEnv } from '../../core/config.ts';
import { csvText } from '../../core/io.ts';
import { DIMENSION_COLUMNS, MASTER_COLUMNS } from '../../core/schema.ts';
import { command, normalizeDetectOptions } from '../../streaming/detect-cli.ts';
import { parseAlert } from '../../streaming/detect/alert.ts';
import { runDetect } from '../../streaming/detect/run.ts';
import { CP, rec } from './fixtures.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'detect-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const env = { ...readEnv({}), dataDir: path.join(dir, 'nodata') };

describe('detect options', () => {
  it('applies the documented defaults', () => {
    const o = normalizeDetectOptions(['--from', 'file:x.csv'], env);
    expect(o).toMatchObject({
      from: 'file:x.csv',
      to: `jsonl:${path.join(env.dataDir, 'alerts.jsonl')}`,
      group: 'traffic-detect',
      rule: 'default',
      windowS: 300,
      speedKmh: 150,
      latenessS: 60,
      key: 'traffic:warnings',
      max: 1000,
      dim: null,
      fromBeginning: true,
      follow: false,
      warmUpRecords: 20_000,
    });
  });

  it('takes Kafka and Redis from the environment when no flag says otherwise', () => {
    const o = normalizeDetectOptions([], { ...env, kafka: '127.0.0.1:9092', redis: 'redis://127.0.0.1:6379' });
    expect(o.from).toBe('kafka://127.0.0.1:9092/traffic-raw');
    expect(o.to).toBe('redis://127.0.0.1:6379');
  });

  it('reads from an MQTT topic, its address checked at the edge', () => {
    expect(normalizeDetectOptions(['--from', 'mqtt://127.0.0.1:1883/city/+/raw'], env).from).toBe('mqtt://127.0.0.1:1883/city/+/raw');
    expect(() => normalizeDetectOptions(['--from', 'mqtt://127.0.0.1:1883/a/#/b'], env)).toThrow(/# must be the whole last level/);
  });

  it.each([
    [[], /--from is required/],
    [['--from', 'http://x'], /--from must be/],
    [['--from', 'file:x', '--to', 'mysql://x'], /--to must be/],
    [['--from', 'file:x', '--rule', 'speed'], /--rule must be one of default, window/],
    [['--from', 'file:x', '--window-s', '5m'], /--window-s must be a whole number/],
    [['--from', 'file:x', '--lateness=-1'], /--lateness must be in/],
    [['--from', 'file:x', '--speed-kmh', 'fast'], /--speed-kmh must be a number/],
    [['--from', 'file:x', '--bogus'], /bogus/],
  ])('rejects %j with INVALID_OPTION', (argv, msg) => {
    expect(() => normalizeDetectOptions(argv as string[], env)).toThrow(msg);
    try {
      normalizeDetectOptions(argv as string[], env);
    } catch (e) {
      expect((e as { code: string }).code).toBe('INVALID_OPTION');
    }
  });

  it('finds kkmc_dimension.csv beside a file input', () => {
    const sub = path.join(dir, 'beside');
    writeFileSync(path.join(dir, 'kkmc_dimension.csv'), 'x');
    expect(normalizeDetectOptions(['--from', `file:${path.join(dir, 'm.csv')}`], env).dim).toBe(path.join(dir, 'kkmc_dimension.csv'));
    expect(normalizeDetectOptions(['--from', `file:${path.join(sub, 'm.csv')}`], env).dim).toBeNull();
  });
});

describe('detect on a master CSV (offline replay)', () => {
  const base = path.join(dir, 'replay');
  const master = path.join(base, 'master_data_expanded.csv');
  const rows = [
    rec('9001', 'G104_Suining_K873', '2024-01-01 10:00:00', '苏C12345'), // far pair with 9002: alert
    rec('INJ9002', 'G310_Tongshan_K310', '2024-01-01 10:03:00', '苏C12345'),
    rec('9003', 'G104_Suining_K873', '2024-01-01 11:00:00', '苏CD7***', { clppxh: '-' }), // masked, unknown brand
    rec('9004', 'G310_Tongshan_K310', '2024-01-01 11:02:00', '苏CD7***', { clppxh: '-' }),
    rec('9005', 'G104_Suining_K873', '2024-01-02 09:00:00', '苏A99999'), // near, legal speed
    rec('9006', 'S252_Suining_K56', '2024-01-02 09:05:00', '苏A99999'),
  ];

  it('writes alerts as JSONL, uses the dimension beside the input and prints quality for both rules', async () => {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(base, { recursive: true });
    writeFileSync(master, csvText(MASTER_COLUMNS, rows));
    writeFileSync(
      path.join(base, 'kkmc_dimension.csv'),
      csvText(
        DIMENSION_COLUMNS,
        Object.entries(CP).map(([k, p]) => [k, k, '', '', '', '', '', '', String(p.lon), String(p.lat), '0']),
      ),
    );
    const truth = path.join(base, 'truth.csv');
    writeFileSync(truth, 'GCXH_A,GCXH_B,HPHM,KKMC_A,KKMC_B,GCSJ_A,GCSJ_B\n9001,INJ9002,苏C12345,,,,\n');
    const o = normalizeDetectOptions(['--from', `file:${master}`, '--to', `jsonl:${path.join(base, 'alerts.jsonl')}`, '--truth', truth], env);
    expect(o.dim).toBe(path.join(base, 'kkmc_dimension.csv'));
    const s = await runDetect({ ...o, groupId: o.group, truthFile: o.truth, quiet: true });
    expect(s).toMatchObject({ records: 6, alerts: 1, stored: 1, late: 0 });
    const q = Object.fromEntries(s.quality!.map((r) => [r.rule, r]));
    expect(q.default).toMatchObject({ recall: 1, truthFound: 1, backgroundAlerts: 0, days: 2 });
    // The window rule also flags the masked pair and the near pair: 2 background alerts over 2 days.
    expect(q.window).toMatchObject({ recall: 1, backgroundAlerts: 2, backgroundPerDayMean: 1, backgroundPerDayMax: 1 });
    const lines = readFileSync(path.join(base, 'alerts.jsonl'), 'utf8').trim().split('\n');
    expect(lines.map((l) => parseAlert(l)?.curr.gcxh)).toEqual(['INJ9002']);
  });

  it('is idempotent on the JSONL file and exits 0 from the command', async () => {
    const out = path.join(base, 'alerts.jsonl');
    const code = await command.run(['--from', `file:${master}`, '--to', `jsonl:${out}`]);
    expect(code).toBe(0);
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(1);
    await command.run(['--from', `file:${master}`, '--to', `jsonl:${out}`, '--rule', 'window', '--truncate']);
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(3);
  });
});
