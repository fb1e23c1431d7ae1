/**
 * `traffic mycat-config --out DIR [--mysql URL,…] [--weights 0:1,1:2] [--port 8066] [--user root]`
 * writes schema.xml, rule.xml and server.xml (and the weight file when weights are given) for a
 * MyCat 1.6 that fronts the shards in TRAFFIC_MYSQL order.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { int, optStr, parseFlags, str } from '../../core/args.ts';
import type { Command } from '../../core/command.ts';
import { DEFAULTS, readEnv } from '../../core/config.ts';
import { TrafficError } from '../../core/errors.ts';
import { parseMysqlUrl } from '../mysql.ts';
import { mycatFiles, type MycatConfigOptions } from './mycat-config.ts';
import { parseWeights } from './options.ts';

const usage = `usage: traffic mycat-config --out DIR [--mysql URL[,URL…]] [--weights 0:1,1:2]
                            [--schema NAME] [--port 8066] [--user root] [--password ""]

Writes schema.xml, rule.xml and server.xml for a MyCat 1.6 that fronts the shards in the given
order (default TRAFFIC_MYSQL, else ${DEFAULTS.mysql.join(',')}): traffic_data sharded on kkmc by
io.mycat.route.function.PartitionByMurmurHash (seed 0, count = shards, virtualBucketTimes 160),
kkmc_info a global table. With --weights also ${'murmur-kkmc-weights.properties'} (MyCat weightMapFile).
Backend credentials come from the URLs; --user/--password are what clients give MyCat.`;

export function normalizeMycatConfigOptions(argv: string[], env = readEnv()): { out: string; config: MycatConfigOptions } {
  const { values } = parseFlags(argv, {
    out: { type: 'string' },
    mysql: { type: 'string' },
    weights: { type: 'string' },
    schema: { type: 'string' },
    port: { type: 'string' },
    user: { type: 'string' },
    password: { type: 'string' },
  });
  const out = path.resolve(str(values.out, 'out'));
  const flag = optStr(values.mysql, 'mysql');
  const urls = flag
    ? flag
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : (env.mysql ?? [...DEFAULTS.mysql]);
  if (urls.length === 0) throw new TrafficError('INVALID_OPTION', '--mysql needs at least one URL', { option: '--mysql' });
  const backends = urls.map((u) => {
    try {
      return parseMysqlUrl(u);
    } catch (err) {
      throw new TrafficError('INVALID_OPTION', (err as Error).message, { option: '--mysql' });
    }
  });
  const w = parseWeights(optStr(values.weights, 'weights'), urls.length);
  const schema = optStr(values.schema, 'schema');
  if (schema !== undefined && !/^[A-Za-z0-9_]{1,64}$/.test(schema)) {
    throw new TrafficError('INVALID_OPTION', `--schema must be [A-Za-z0-9_]{1,64}, got "${schema}"`, { option: '--schema' });
  }
  const user = optStr(values.user, 'user') ?? 'root';
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(user)) {
    throw new TrafficError('INVALID_OPTION', `--user must be a plain name, got "${user}"`, { option: '--user' });
  }
  const config: MycatConfigOptions = {
    backends,
    seed: 0,
    virtualBucketTimes: 160,
    weights: backends.map((_, i) => w?.get(i) ?? 1),
    serverPort: int(values.port, 'port', 8066, { min: 1, max: 65535 }),
    user,
    password: typeof values.password === 'string' ? values.password : '',
  };
  if (schema !== undefined) config.schema = schema;
  return { out, config };
}

export const command: Command = {
  name: 'mycat-config',
  summary: 'write MyCat 1.6 schema.xml, rule.xml, server.xml',
  usage,
  async run(argv) {
    const { out, config } = normalizeMycatConfigOptions(argv);
    await mkdir(out, { recursive: true });
    const files = mycatFiles(config);
    for (const [name, text] of Object.entries(files)) await writeFile(path.join(out, name), text);
    const nodes = config.backends.map((b, i) => `dn${i}=${b.host}:${b.port}/${b.database}`).join(', ');
    process.stderr.write(`mycat-config: wrote ${Object.keys(files).join(', ')} to ${out} (${nodes})\n`);
    return 0;
  },
};
