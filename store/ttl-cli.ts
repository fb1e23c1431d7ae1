/**
 * `traffic ttl [--ttl-days N] [--chunk-rows N] [--mysql URL,… | --mycat URL]` applies retention
 * once: deletes traffic_data rows more than N days (TRAFFIC_TTL_DAYS, default 3; 0 = keep all)
 * older than the newest gcsj across all shards, in LIMIT-bounded chunks.
 */
import { int, parseFlags } from '../core/args.ts';
import type { Command } from '../core/command.ts';
import { readEnv } from '../core/config.ts';
import { fmtInt } from '../core/progress.ts';
import { ShardedStore } from './mysql.ts';
import { STORE_FLAGS, STORE_USAGE, normalizeStoreOptions, normalizeTtlDays } from './options.ts';

const usage = `usage: traffic ttl [--ttl-days N] [--chunk-rows 5000] [--mysql URL,… | --mycat URL]

Deletes traffic_data rows older than N days before the newest gcsj across all shards
(N = --ttl-days, else TRAFFIC_TTL_DAYS, else 3; 0 keeps everything), in chunks of
--chunk-rows per DELETE so no statement holds locks for long.
${STORE_USAGE}`;

export const command: Command = {
  name: 'ttl',
  summary: 'apply retention (TRAFFIC_TTL_DAYS) to the shards',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, {
      ...STORE_FLAGS,
      'ttl-days': { type: 'string' },
      'chunk-rows': { type: 'string' },
    });
    const env = readEnv();
    const days = normalizeTtlDays(values['ttl-days'], env);
    const chunk = int(values['chunk-rows'], 'chunk-rows', 5000, { min: 1, max: 1_000_000 });
    const store = ShardedStore.open(normalizeStoreOptions(values, env));
    try {
      await store.ensureSchema();
      const t0 = performance.now();
      const r = await store.applyTtl(days, chunk);
      const s = ((performance.now() - t0) / 1000).toFixed(1);
      if (days === 0) {
        process.stderr.write('ttl: retention off (0 days): nothing deleted\n');
      } else if (r.newest === null) {
        process.stderr.write('ttl: traffic_data is empty on every shard: nothing to delete\n');
      } else {
        const per = store.shards.map((sh, i) => `${sh.url.label} ${fmtInt(r.deleted[i]!)}`).join(', ');
        const total = r.deleted.reduce((a, b) => a + b, 0);
        process.stderr.write(
          `ttl: newest gcsj ${r.newest}, keeping gcsj ≥ ${r.cutoff} (${days} days): deleted ${fmtInt(total)} rows (${per}) in ${s} s\n`,
        );
      }
      return 0;
    } finally {
      await store.close();
    }
  },
};
