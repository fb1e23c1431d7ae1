/**
 * Store options shared by `load`, `ttl` and `sink`: which shards (flag > TRAFFIC_MYSQL > the two
 * loopback shards), MyCat mode, ring weights, retention days. Normalized once at the edge.
 */
import { optStr, type ParsedFlags, type FlagSpec } from '../core/args.ts';
import { DEFAULTS, readEnv } from '../core/config.ts';
import { TrafficError } from '../core/errors.ts';
import { parseWeights } from './shard/options.ts';
import { parseMysqlUrl } from './mysql.ts';
import type { StoreOptions } from './mysql.ts';

export const STORE_FLAGS: FlagSpec = {
  mysql: { type: 'string' },
  mycat: { type: 'string' },
  weights: { type: 'string' },
};

export const STORE_USAGE = `  --mysql URL[,URL…]   shard URLs in order (default TRAFFIC_MYSQL, else
                       ${DEFAULTS.mysql.join(',')})
  --mycat URL          write through one MyCat server instead (MyCat routes; no client routing)
  --weights 0:1,1:2    murmur ring weights per shard (every writer must use the same)`;

export function normalizeStoreOptions(values: ParsedFlags['values'], env = readEnv()): StoreOptions {
  const mysqlFlag = optStr(values.mysql, 'mysql');
  const mycat = optStr(values.mycat, 'mycat');
  if (mysqlFlag && mycat) {
    throw new TrafficError('INVALID_OPTION', 'give --mysql (shards) or --mycat (one MyCat URL), not both', { option: '--mycat' });
  }
  if (mycat) {
    if (values.weights !== undefined) {
      throw new TrafficError('INVALID_OPTION', '--weights belongs in MyCat rule.xml when writing through --mycat', { option: '--weights' });
    }
    checkUrl(mycat, 'mycat');
    return { urls: [mycat], mycat: true };
  }
  const urls = mysqlFlag ? splitUrls(mysqlFlag) : (env.mysql ?? [...DEFAULTS.mysql]);
  for (const u of urls) checkUrl(u, mysqlFlag ? 'mysql' : 'mysql');
  const weights = parseWeights(optStr(values.weights, 'weights'), urls.length);
  return weights ? { urls, weights } : { urls };
}

function splitUrls(s: string): string[] {
  const urls = s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (urls.length === 0) throw new TrafficError('INVALID_OPTION', '--mysql needs at least one URL', { option: '--mysql' });
  return urls;
}

function checkUrl(u: string, option: string): void {
  try {
    parseMysqlUrl(u);
  } catch (err) {
    throw new TrafficError('INVALID_OPTION', (err as Error).message, { option: `--${option}` });
  }
}

/** Retention days: --ttl-days > TRAFFIC_TTL_DAYS > 3. 0 keeps everything. */
export function normalizeTtlDays(v: unknown, env = readEnv()): number {
  // The raw env text, so a bad value is quoted as the user wrote it.
  const raw = v === undefined ? process.env.TRAFFIC_TTL_DAYS?.trim() || String(env.ttlDays) : v;
  const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if (!Number.isFinite(n) || n < 0 || n > 36500) {
    throw new TrafficError(
      'INVALID_OPTION',
      `retention days must be a number ≥ 0 (0 = keep all), got "${String(raw)}"${v === undefined ? ' from TRAFFIC_TTL_DAYS' : ''}`,
      { option: v === undefined ? 'TRAFFIC_TTL_DAYS' : '--ttl-days' },
    );
  }
  return n;
}
