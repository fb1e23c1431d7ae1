import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseEtlArgs } from '../../etl/cli.ts';

describe('etl:all options', () => {
  it('defaults: raw data/raw (generated when missing), out TRAFFIC_DATA_DIR else data/out, all stages, fill on', () => {
    const o = parseEtlArgs([], {});
    expect(o).toMatchObject({ raw: path.resolve('data/raw'), rawExplicit: false, out: path.resolve('data/out'), from: 1, to: 5, fill: true, seed: 42 });
    expect(parseEtlArgs([], { TRAFFIC_DATA_DIR: '/tmp/x' }).out).toBe('/tmp/x');
    expect(parseEtlArgs(['--out', 'o'], { TRAFFIC_DATA_DIR: '/tmp/x' }).out).toBe(path.resolve('o'));
  });

  it('reads --raw, --from, --only, --no-fill and --seed', () => {
    expect(parseEtlArgs(['--raw', 'r', '--from', '3'], {})).toMatchObject({ raw: path.resolve('r'), rawExplicit: true, from: 3, to: 5 });
    expect(parseEtlArgs(['--only', '4', '--no-fill', '--seed', '9'], {})).toMatchObject({ from: 4, to: 4, fill: false, seed: 9 });
  });

  it('reads --readers (0 = the main thread) and leaves the default to the machine', () => {
    expect(parseEtlArgs(['--readers', '0'], {}).readers).toBe(0);
    expect(parseEtlArgs(['--readers', '3'], {}).readers).toBe(3);
    expect(parseEtlArgs([], {}).readers).toBeUndefined();
    expect(() => parseEtlArgs(['--readers=-1'], {})).toThrow(/--readers must be in/);
  });

  it('rejects bad values naming the option', () => {
    expect(() => parseEtlArgs(['--from', '0'], {})).toThrow(/--from must be in \[1, 5\], got 0/);
    expect(() => parseEtlArgs(['--only', 'two'], {})).toThrow(/--only must be a whole number, got "two"/);
    expect(() => parseEtlArgs(['--from', '2', '--only', '3'], {})).toThrow(/--from and --only cannot be used together/);
    expect(() => parseEtlArgs(['--raw'], {})).toThrow(/raw/);
    expect(() => parseEtlArgs(['--bogus'], {})).toThrow(/bogus/);
    expect(() => parseEtlArgs(['--seed=-1'], {})).toThrow(/--seed must be in/);
  });

  it('checks that --geo and --overrides files exist before any work', () => {
    expect(() => parseEtlArgs(['--geo', '/nonexistent/geo.csv'], {})).toThrow(/--geo file not found: \/nonexistent\/geo.csv/);
    expect(() => parseEtlArgs(['--overrides', '/nonexistent/o.csv'], {})).toThrow(/--overrides file not found/);
  });
});
