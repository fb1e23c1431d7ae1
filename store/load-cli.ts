/**
 * `traffic load [--in master.csv] [--dim kkmc_dimension.csv | --no-dim] [--method infile|insert]`
 * bulk-loads history into the MySQL shards (creating databases and tables when missing) and
 * replaces kkmc_info on every shard from the dimension file beside the master.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { int, optStr, parseFlags } from '../core/args.ts';
import type { Command } from '../core/command.ts';
import { readEnv } from '../core/config.ts';
import { TrafficError } from '../core/errors.ts';
import { TextFileWriter } from '../core/io.ts';
import { Progress, fmtInt, fmtRate } from '../core/progress.ts';
import { FILES, REJECT_COLUMNS } from '../core/schema.ts';
import { EmbeddedStore, EMBEDDED_DB_FILE } from './duckdb-store.ts';
import { loadMaster, readDimension, type LoadMethod } from './load.ts';
import { ShardedStore } from './mysql.ts';
import { STORE_FLAGS, STORE_USAGE, normalizeStoreOptions } from './options.ts';

const usage = `usage: traffic load [--in master.csv] [--dim FILE | --no-dim] [--method infile|insert]
                    [--chunk-rows N] [--rejects FILE] [--mysql URL,… | --mycat URL] [--weights 0:1,1:2]

Bulk-loads a master CSV (default: ${FILES.master} in the data dir) into the store: the MySQL
shards when --mysql / --mycat / TRAFFIC_MYSQL is given (each row on the shard MyCat murmur(kkmc)
names), else the embedded DuckDB store <data dir>/${EMBEDDED_DB_FILE}. Idempotent (rows already
stored are skipped); never deletes. Also replaces kkmc_info from ${FILES.dimension} beside the
master (or --dim), on every shard.
  --in FILE            master CSV (12 columns, header)
  --dim FILE           checkpoint dimension CSV; --no-dim skips kkmc_info
  --method M           infile (LOAD DATA LOCAL INFILE, default) or insert (multi-row INSERT)
  --chunk-rows N       rows per statement per shard (default 10000 infile, 2000 insert)
  --rejects FILE       where rows that cannot be stored go (default load_rejects.csv beside --in)
${STORE_USAGE}`;

export const command: Command = {
  name: 'load',
  summary: 'bulk-load a master CSV into the store',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, {
      ...STORE_FLAGS,
      in: { type: 'string' },
      dim: { type: 'string' },
      'no-dim': { type: 'boolean' },
      method: { type: 'string' },
      'chunk-rows': { type: 'string' },
      rejects: { type: 'string' },
    });
    const env = readEnv();
    const input = path.resolve(optStr(values.in, 'in') ?? path.join(env.dataDir, FILES.master));
    if (!existsSync(input)) throw new TrafficError('INPUT_NOT_FOUND', `master CSV not found: ${input} (run etl:all or pass --in)`, { file: input });
    const method = (optStr(values.method, 'method') ?? 'infile') as LoadMethod;
    if (method !== 'infile' && method !== 'insert') {
      throw new TrafficError('INVALID_OPTION', `--method must be infile or insert, got "${method}"`, { option: '--method' });
    }
    const chunkRows = int(values['chunk-rows'], 'chunk-rows', method === 'infile' ? 10_000 : 2000, { min: 1, max: 1_000_000 });
    if (values['no-dim'] && values.dim !== undefined) {
      throw new TrafficError('INVALID_OPTION', 'give --dim or --no-dim, not both', { option: '--no-dim' });
    }
    const dimFlag = optStr(values.dim, 'dim');
    const dim = values['no-dim'] ? undefined : path.resolve(dimFlag ?? path.join(path.dirname(input), FILES.dimension));
    if (dimFlag && !existsSync(dim!)) throw new TrafficError('INPUT_NOT_FOUND', `dimension CSV not found: ${dim}`, { file: dim });
    const rejectsFile = path.resolve(optStr(values.rejects, 'rejects') ?? path.join(path.dirname(input), 'load_rejects.csv'));
    if (values.mysql === undefined && values.mycat === undefined && !env.mysql) {
      return loadEmbedded(input, dim, path.join(env.dataDir, EMBEDDED_DB_FILE), rejectsFile);
    }
    const storeOpts = normalizeStoreOptions(values, env);

    const store = ShardedStore.open(storeOpts);
    // Opened up front (writes need no await per row) and removed again when nothing was rejected.
    const rejects = await TextFileWriter.open(rejectsFile);
    rejects.writeCsv(REJECT_COLUMNS);
    let rejected = 0;
    try {
      await store.ensureSchema();
      const labels = store.shards.map((s) => s.url.label).join(', ');
      process.stderr.write(`load: ${input} → ${store.mycat ? 'MyCat ' : ''}${labels} (${method}, ${fmtInt(chunkRows)} rows/statement)\n`);
      const progress = new Progress({ label: 'load' });
      const res = await loadMaster(store, input, {
        method,
        chunkRows,
        onRows: (n) => progress.add(n),
        onReject: (r) => void rejects.writeCsv([r.sourceFile, String(r.line), r.stage, r.reason, r.raw]),
      });
      rejected = res.rejected;
      let dimNote = 'kkmc_info not loaded (--no-dim)';
      if (dim && existsSync(dim)) {
        const rows = await readDimension(dim);
        await store.replaceKkmcInfo(rows);
        dimNote = `kkmc_info ${rows.length} rows on every shard`;
      } else if (dim) {
        dimNote = `kkmc_info not loaded (no ${path.basename(dim)} beside the master)`;
      }
      const ins = res.inserted.reduce((a, b) => a + b, 0);
      const stored = res.routed.reduce((a, b) => a + b, 0);
      const perShard = store.shards.map((s, i) => `${s.url.label} ${fmtInt(res.routed[i]!)} (${fmtInt(res.inserted[i]!)} new)`).join(', ');
      progress.done(
        `load: ${fmtInt(res.read)} rows read, ${fmtInt(ins)} inserted, ${fmtInt(stored - ins)} already present, ` +
          `${fmtInt(res.rejected)} rejected${res.rejected ? ` ${JSON.stringify(res.rejectReasons)} → ${rejectsFile}` : ''}; ` +
          `${perShard}; ${dimNote}; ${res.seconds.toFixed(1)} s, ${fmtRate(res.read, res.seconds)}`,
      );
      return 0;
    } finally {
      await rejects.close();
      if (rejected === 0) await rm(rejectsFile, { force: true });
      await store.close();
    }
  },
};

/**
 * No MySQL configured: the embedded store. Rows are checked with the same rule as for the shards
 * (bad ones → the rejects file with line and reason); DuckDB then reads the good rows in one
 * INSERT OR IGNORE … SELECT FROM read_csv.
 */
async function loadEmbedded(input: string, dim: string | undefined, dbFile: string, rejectsFile: string): Promise<number> {
  const t0 = performance.now();
  process.stderr.write(`load: ${input} → embedded store ${dbFile}\n`);
  const store = await EmbeddedStore.open(dbFile);
  const rejects = await TextFileWriter.open(rejectsFile);
  rejects.writeCsv(REJECT_COLUMNS);
  const reasons: Record<string, number> = {};
  let rejected = 0;
  try {
    const before = await store.total();
    const added = await store.loadMasterCsv(input, {
      onReject: (r) => {
        rejected++;
        const reason = r.reason.replace(/: ".*$/, '');
        reasons[reason] = (reasons[reason] ?? 0) + 1;
        void rejects.writeCsv([r.sourceFile, String(r.line), r.stage, r.reason, r.raw]);
      },
    });
    const after = await store.total();
    let dimNote = 'kkmc_info not loaded (--no-dim)';
    if (dim && existsSync(dim)) dimNote = `kkmc_info ${await store.loadDimensionCsv(dim)} rows`;
    else if (dim) dimNote = `kkmc_info not loaded (no ${path.basename(dim)} beside the master)`;
    const seconds = (performance.now() - t0) / 1000;
    process.stderr.write(
      `load: ${fmtInt(added)} inserted, ${fmtInt(before)} were already stored (${fmtInt(after)} rows now), ` +
        `${fmtInt(rejected)} rejected${rejected ? ` ${JSON.stringify(reasons)} → ${rejectsFile}` : ''}; ${dimNote}; ` +
        `${seconds.toFixed(1)} s, ${fmtRate(added, seconds)}\n`,
    );
    return 0;
  } finally {
    await rejects.close();
    if (rejected === 0) await rm(rejectsFile, { force: true });
    await store.close();
  }
}
