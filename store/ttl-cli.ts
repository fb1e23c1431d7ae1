/**
 * `traffic ttl [--ttl-days N] [--chunk-rows N] [--archive DIR] [--embedded | --mysql URL,… | --mycat URL]`
 * applies retention once: deletes traffic_data rows more than N days (TRAFFIC_TTL_DAYS, default 3;
 * 0 = keep all) older than the newest gcsj across all shards, in LIMIT-bounded chunks. With
 * --archive, only whole days whose Parquet archive holds the same row count (store/archive.ts).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { int, optStr, parseFlags } from '../core/args.ts';
import type { Command } from '../core/command.ts';
import { readEnv } from '../core/config.ts';
import { TrafficError } from '../core/errors.ts';
import { fmtInt } from '../core/progress.ts';
import { applyTtlWithArchive, type GuardedTtlResult } from './archive.ts';
import { retentionCutoff } from './store-api.ts';
import { EMBEDDED_DB_FILE, EmbeddedStore } from './duckdb-store.ts';
import { ShardedStore } from './mysql.ts';
import { STORE_FLAGS, STORE_USAGE, normalizeStoreOptions, normalizeTtlDays } from './options.ts';

const usage = `usage: traffic ttl [--ttl-days N] [--chunk-rows 5000] [--archive DIR] [--embedded | --mysql URL,… | --mycat URL]

Deletes traffic_data rows older than N days before the newest gcsj across all shards
(N = --ttl-days, else TRAFFIC_TTL_DAYS, else 3; 0 keeps everything), in chunks of
--chunk-rows per DELETE so no statement holds locks for long.
  --archive DIR   delete only whole days (older than the cutoff) whose archive partition
                  DIR/day=YYYY-MM-DD holds the same row count as the store (\`traffic archive\`);
                  other days are kept and listed, so nothing is lost
  --embedded      the embedded store <data dir>/${EMBEDDED_DB_FILE} instead of the MySQL shards
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
      archive: { type: 'string' },
      embedded: { type: 'boolean' },
    });
    const env = readEnv();
    const days = normalizeTtlDays(values['ttl-days'], env);
    const chunk = int(values['chunk-rows'], 'chunk-rows', 5000, { min: 1, max: 1_000_000 });
    const archiveFlag = optStr(values.archive, 'archive');
    const archive = archiveFlag === undefined ? undefined : path.resolve(archiveFlag);
    if (archive !== undefined && !existsSync(archive)) {
      throw new TrafficError('INPUT_NOT_FOUND', `archive folder not found: ${archive} (run \`traffic archive\` first)`, { option: '--archive' });
    }
    if (values.embedded && (values.mysql !== undefined || values.mycat !== undefined)) {
      throw new TrafficError('INVALID_OPTION', 'give --embedded or --mysql / --mycat, not both', { option: '--embedded' });
    }
    if (values.embedded) {
      const file = path.join(env.dataDir, EMBEDDED_DB_FILE);
      if (!existsSync(file)) throw new TrafficError('INPUT_NOT_FOUND', `embedded store not found: ${file}`, { file });
      const store = await EmbeddedStore.open(file);
      try {
        if (archive === undefined) {
          const newest = await store.latestGcsj();
          const cutoff = newest === null ? null : retentionCutoff(newest, days);
          const deleted = cutoff === null || days <= 0 ? 0 : await store.deleteBefore(cutoff);
          process.stderr.write(
            days <= 0
              ? 'ttl: retention off (0 days): nothing deleted\n'
              : newest === null
                ? 'ttl: traffic_data is empty: nothing to delete\n'
                : `ttl: newest gcsj ${newest}, keeping gcsj ≥ ${cutoff} (${days} days): deleted ${fmtInt(deleted)} rows from ${store.file}\n`,
          );
        } else {
          reportGuarded(
            await applyTtlWithArchive(
              { newestGcsj: () => store.latestGcsj(), dayCounts: (b) => store.dayCounts(b), deleteDay: (d, expected) => store.deleteDay(d, expected) },
              days,
              archive,
            ),
            days,
            archive,
          );
        }
        return 0;
      } finally {
        await store.close();
      }
    }
    const store = ShardedStore.open(normalizeStoreOptions(values, env));
    try {
      if (archive !== undefined) {
        await store.ensureSchema();
        reportGuarded(
          await applyTtlWithArchive(
            {
              newestGcsj: () => store.newestGcsj(),
              dayCounts: (b) => store.dayCounts(b),
              deleteDay: async (d, _expected, archived) => store.deleteDay(d, chunk, await archived()),
            },
            days,
            archive,
          ),
          days,
          archive,
        );
        return 0;
      }
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
        process.stderr.write(`ttl: newest gcsj ${r.newest}, keeping gcsj ≥ ${r.cutoff} (${days} days): deleted ${fmtInt(total)} rows (${per}) in ${s} s\n`);
      }
      return 0;
    } finally {
      await store.close();
    }
  },
};

function reportGuarded(r: GuardedTtlResult, days: number, archive: string | null): void {
  if (days === 0) {
    process.stderr.write('ttl: retention off (0 days): nothing deleted\n');
    return;
  }
  if (r.newest === null) {
    process.stderr.write('ttl: traffic_data is empty: nothing to delete\n');
    return;
  }
  for (const k of r.kept) {
    process.stderr.write(
      `  kept day ${k.day} (${fmtInt(k.rows)} rows): ${k.archived === null ? 'no archive partition' : `the archive holds ${fmtInt(k.archived)} rows`}\n`,
    );
  }
  const total = r.deleted.reduce((s, d) => s + d.rows, 0);
  process.stderr.write(
    `ttl: newest gcsj ${r.newest}, cutoff ${r.cutoff} (${days} days)${archive ? `, archive ${archive}` : ''}: ` +
      `deleted ${r.deleted.length} whole days (${fmtInt(total)} rows)` +
      `${r.kept.length ? `; kept ${r.kept.length} days past retention that the archive does not hold whole` : ''}\n`,
  );
}
