/**
 * The shard router against the MyCat 1.6 PartitionByMurmurHash vectors (../shared/vectors): all
 * four configurations, every key, the raw hashes, the ring ends, and the `traffic shard` CLI.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MurmurShardRouter, murmur3HashUnencodedChars } from '../../store/shard/router.ts';
import { normalizeShardOptions } from '../../store/shard/cli.ts';

interface Vector {
  key: string;
  shard: number;
  hash: number;
}
interface Config {
  id: string;
  count: number;
  seed: number;
  virtualBucketTimes: number;
  weights: Record<string, number> | null;
  ring_size: number;
  ring_entries_per_node: number[];
  ring_first5: [number, number][];
  ring_last5: [number, number][];
  virtual_node_name_samples: { name: string; hash: number }[];
  vectors: Vector[];
}

const VECTORS = [path.resolve('../shared/vectors/mycat_murmur.json'), '/work/shared/vectors/mycat_murmur.json'].find((p) => existsSync(p))!;
const data = JSON.parse(readFileSync(VECTORS, 'utf8')) as {
  count2_seed0_hash_checks: { key: string; murmur3_32_seed0_hashUnencodedChars: number }[];
  configs: Config[];
};

function routerFor(c: Config): MurmurShardRouter {
  const weights = c.weights ? new Map(Object.entries(c.weights).map(([k, v]) => [Number(k), v])) : undefined;
  return new MurmurShardRouter({ count: c.count, seed: c.seed, virtualBucketTimes: c.virtualBucketTimes, weights });
}

describe('murmur3_32 over UTF-16 code units (Guava hashUnencodedChars)', () => {
  it('matches every hash check, including surrogate pairs and the empty string', () => {
    expect(data.count2_seed0_hash_checks.length).toBeGreaterThan(10);
    for (const c of data.count2_seed0_hash_checks) {
      expect([c.key, murmur3HashUnencodedChars(c.key, 0)]).toEqual([c.key, c.murmur3_32_seed0_hashUnencodedChars]);
    }
  });

  it('hashes the accumulating virtual node names like MyCat', () => {
    for (const c of data.configs) {
      for (const s of c.virtual_node_name_samples) expect(murmur3HashUnencodedChars(s.name, c.seed)).toBe(s.hash);
    }
  });
});

describe('MyCat PartitionByMurmurHash ring', () => {
  it('covers the four published configurations', () => {
    expect(data.configs.map((c) => c.id)).toEqual(['count2_seed0_vbt160', 'count3_seed0_vbt160', 'count2_seed0_vbt160_weights0-1_1-2', 'count4_seed42_vbt160']);
  });

  for (const c of data.configs) {
    it(`${c.id}: ring size, per-shard entries and both ends match`, () => {
      const r = routerFor(c);
      const ring = r.ringEntries();
      expect(ring.length).toBe(c.ring_size);
      const per = new Array<number>(c.count).fill(0);
      for (const [, s] of ring) per[s]!++;
      expect(per).toEqual(c.ring_entries_per_node);
      expect(ring.slice(0, 5)).toEqual(c.ring_first5);
      expect(ring.slice(-5)).toEqual(c.ring_last5);
    });

    it(`${c.id}: every key goes to the vector's shard with the vector's hash`, () => {
      const r = routerFor(c);
      expect(c.vectors.length).toBe(80);
      const got = c.vectors.map((v) => ({ key: v.key, shard: r.shardOf(v.key), hash: r.hash(v.key) }));
      expect(got).toEqual(c.vectors.map((v) => ({ key: v.key, shard: v.shard, hash: v.hash })));
    });
  }

  it('a hash equal to a ring key goes to that node (inclusive lookup); above the last key wraps to the first', () => {
    const c = data.configs[0]!;
    const r = routerFor(c);
    const [firstKey, firstShard] = c.ring_first5[0]!;
    const [lastKey, lastShard] = c.ring_last5[4]!;
    expect(r.shardOfHash(lastKey)).toBe(lastShard);
    expect(r.shardOfHash(lastKey + 1)).toBe(firstShard);
    expect(r.shardOfHash(2147483647)).toBe(firstShard);
    expect(r.shardOfHash(-2147483648)).toBe(firstShard);
    expect(r.shardOfHash(firstKey)).toBe(firstShard);
    const [secondKey, secondShard] = c.ring_first5[1]!;
    expect(r.shardOfHash(firstKey + 1)).toBe(secondShard);
    expect(r.shardOfHash(secondKey)).toBe(secondShard);
  });

  it('treats a missing or non-positive weight as 1, like MyCat', () => {
    const base = new MurmurShardRouter({ count: 2 });
    const zero = new MurmurShardRouter({
      count: 2,
      weights: new Map([
        [0, 0],
        [1, -3],
      ]),
    });
    expect(zero.weights).toEqual([1, 1]);
    expect(zero.ringEntries()).toEqual(base.ringEntries());
  });
});

describe('traffic shard', () => {
  const run = (args: string[]) => spawnSync(process.execPath, ['bin/traffic.mjs', 'shard', ...args], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });

  it('prints KEY<TAB>INDEX per key in order; -- lets keys start with "-"', () => {
    const c = data.configs[2]!; // weighted
    const keys = ['-1', 'wrap-77', '', '遂宁', '𠀀abc', 'S325_Suining_K12'];
    const r = run(['--count', '2', '--weights', '0:1,1:2', '--', ...keys]);
    expect(r.status).toBe(0);
    const want = keys.map((k) => `${k}\t${c.vectors.find((v) => v.key === k)!.shard}`).join('\n') + '\n';
    expect(r.stdout).toBe(want);
  });

  it('uses the seed (count 4, seed 42)', () => {
    const c = data.configs[3]!;
    const keys = c.vectors
      .slice(0, 20)
      .map((v) => v.key)
      .filter((k) => !k.startsWith('-'));
    const r = run(['--count', '4', '--seed', '42', ...keys]);
    expect(r.status).toBe(0);
    expect(
      r.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => Number(l.split('\t').pop())),
    ).toEqual(keys.map((k) => c.vectors.find((v) => v.key === k)!.shard));
  });

  it('rejects bad options with a usage message and exit 2', () => {
    const r = run(['--count', '2', '--weights', '2:1', 'a']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('INVALID_OPTION');
    expect(r.stderr).toContain('usage: traffic shard');
    for (const args of [
      ['a'],
      ['--count', '0', 'a'],
      ['--count', 'x', 'a'],
      ['--count', '2', '--weights', '0-1', 'a'],
      ['--count', '2', '--weights', '0:0', 'a'],
      ['--count', '2'],
    ]) {
      expect(() => normalizeShardOptions(args), args.join(' ')).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    }
  });

  it('normalizes options once: defaults seed 0 and 160 virtual nodes', () => {
    const o = normalizeShardOptions(['--count', '3', 'x', 'y']);
    expect(o).toMatchObject({ count: 3, seed: 0, virtualBucketTimes: 160, weights: undefined, keys: ['x', 'y'] });
    expect(normalizeShardOptions(['--count', '2', '--weights', '1:3', '--', '--x']).weights).toEqual(new Map([[1, 3]]));
  });
});
