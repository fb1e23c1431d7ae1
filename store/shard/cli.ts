/**
 * `traffic shard --count N [--seed S] [--weights 0:1,1:2] [--virtual-bucket-times V] [--] KEY…`
 * prints `KEY<TAB>INDEX` per key, in argument order. `--` ends the options so keys may start
 * with `-` (e.g. `-- -1`). `--stdin` reads one key per line instead.
 */
import { createInterface } from 'node:readline';
import { int, optStr, parseFlags } from '../../core/args.ts';
import type { Command } from '../../core/command.ts';
import { TrafficError } from '../../core/errors.ts';
import { parseWeights } from './options.ts';
import { MurmurShardRouter } from './router.ts';

const usage = `usage: traffic shard --count N [--seed S] [--weights 0:1,1:2] [--virtual-bucket-times 160] [--] KEY…
       traffic shard --count N [...] --stdin          (one key per line on stdin)

Prints KEY<TAB>INDEX for every key: the 0-based shard MyCat 1.6 PartitionByMurmurHash
(seed S, default 0; 160 virtual nodes per unit of weight) assigns to it. Use -- before keys
that start with "-".`;

export interface ShardOptions {
  count: number;
  seed: number;
  virtualBucketTimes: number;
  weights: Map<number, number> | undefined;
  stdin: boolean;
  keys: string[];
}

export function normalizeShardOptions(argv: string[]): ShardOptions {
  const { values, positionals } = parseFlags(
    argv,
    {
      count: { type: 'string' },
      seed: { type: 'string' },
      weights: { type: 'string' },
      'virtual-bucket-times': { type: 'string' },
      stdin: { type: 'boolean' },
    },
    true,
  );
  if (values.count === undefined) {
    throw new TrafficError('INVALID_OPTION', '--count is required', { option: '--count' });
  }
  const count = int(values.count, 'count', 0, { min: 1, max: 1024 });
  const seed = int(values.seed, 'seed', 0, { min: -2147483648, max: 2147483647 });
  const virtualBucketTimes = int(values['virtual-bucket-times'], 'virtual-bucket-times', 160, { min: 1, max: 10_000 });
  const weights = parseWeights(optStr(values.weights, 'weights'), count);
  const stdin = values.stdin === true;
  if (stdin && positionals.length) {
    throw new TrafficError('INVALID_OPTION', 'give keys as arguments or --stdin, not both', { option: '--stdin' });
  }
  if (!stdin && positionals.length === 0) {
    throw new TrafficError('INVALID_OPTION', 'no keys given (pass KEY… or --stdin)');
  }
  return { count, seed, virtualBucketTimes, weights, stdin, keys: positionals };
}

export const command: Command = {
  name: 'shard',
  summary: 'print the MyCat murmur shard of each key',
  usage,
  async run(argv) {
    const o = normalizeShardOptions(argv);
    const router = new MurmurShardRouter(o);
    let out = '';
    const emit = (key: string): void => {
      out += `${key}\t${router.shardOf(key)}\n`;
      if (out.length > 1 << 16) {
        process.stdout.write(out);
        out = '';
      }
    };
    if (o.stdin) {
      for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) emit(line);
    } else {
      for (const k of o.keys) emit(k);
    }
    process.stdout.write(out);
    return 0;
  },
};
