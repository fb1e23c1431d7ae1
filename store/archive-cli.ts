/**
 * `traffic archive --in master.csv --out DIR` or `traffic archive --from-store --before YYYY-MM-DD
 * --out DIR`: pass records → Parquet partitioned by day (store/archive.ts).
 */
import { existsSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { int, optStr, parseFlags } from '../core/args.ts';
import type { Command } from '../core/command.ts';
import { readEnv } from '../core/config.ts';
import { TrafficError } from '../core/errors.ts';
import { TextFileWriter } from '../core/io.ts';
import { fmtInt, fmtRate } from '../core/progress.ts';
import { FILES, REJECT_COLUMNS } from '../core/schema.ts';
import { DEFAULT_ROW_GROUP_SIZE, archiveToParquet, dumpShardsToCsv, normalizeDay, type ArchiveResult } from './archive.ts';
import { EMBEDDED_DB_FILE } from './duckdb-store.ts';
import { ShardedStore } from './mysql.ts';
import { STORE_FLAGS, STORE_USAGE, normalizeStoreOptions } from './options.ts';

const usage = `usage: traffic archive --in master.csv --out DIR [--row-group-size N] [--rejects FILE]
       traffic archive --from-store --before YYYY-MM-DD --out DIR [--mysql URL,… | --mycat URL]

Writes pass records as Parquet partitioned Hive-style by day: DIR/day=YYYY-MM-DD/part-0.parquet
(ZSTD, the 12 master columns, GCSJ a TIMESTAMP holding China local time). Each day present in the
input replaces that day's partition atomically; other days in DIR are left alone.
  --in FILE              a master CSV (default: ${FILES.master} in the data dir)
  --from-store           archive the store instead: the MySQL shards when --mysql / --mycat /
                         TRAFFIC_MYSQL is given, else the embedded store <data dir>/${EMBEDDED_DB_FILE}
                         (stop the API first: DuckDB lets one process use the file)
  --before YYYY-MM-DD    with --from-store: the days before this date (required)
  --out DIR              the archive root (default <data dir>/archive)
  --row-group-size N     rows per Parquet row group (default ${fmtInt(DEFAULT_ROW_GROUP_SIZE)})
  --rejects FILE         where master rows that cannot be archived go (default archive_rejects.csv
                         beside --in; written only when there are some)
From the store, a day whose archive already holds more rows than the store (retention deleted part
of it) is kept as it is. Then \`traffic ttl --archive DIR\` deletes from the store only the days the
archive holds whole.
${STORE_USAGE}`;

export const command: Command = {
  name: 'archive',
  summary: 'archive pass records as Parquet partitioned by day',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, {
      ...STORE_FLAGS,
      in: { type: 'string' },
      out: { type: 'string' },
      'from-store': { type: 'boolean' },
      before: { type: 'string' },
      'row-group-size': { type: 'string' },
      rejects: { type: 'string' },
    });
    const env = readEnv();
    const fromStore = values['from-store'] === true;
    const inFlag = optStr(values.in, 'in');
    if (fromStore && inFlag) throw new TrafficError('INVALID_OPTION', 'give --in (a master CSV) or --from-store, not both', { option: '--from-store' });
    const beforeFlag = optStr(values.before, 'before');
    if (!fromStore && beforeFlag) throw new TrafficError('INVALID_OPTION', '--before goes with --from-store', { option: '--before' });
    if (fromStore && !beforeFlag)
      throw new TrafficError('INVALID_OPTION', '--from-store needs --before YYYY-MM-DD (the days before it are archived)', { option: '--before' });
    const out = path.resolve(optStr(values.out, 'out') ?? path.join(env.dataDir, 'archive'));
    const rowGroupSize = int(values['row-group-size'], 'row-group-size', DEFAULT_ROW_GROUP_SIZE, { min: 2048, max: 100_000_000 });
    const useMysql = values.mysql !== undefined || values.mycat !== undefined || env.mysql !== undefined;

    let result: ArchiveResult;
    let what: string;
    let inputBytes: number | null = null;
    if (!fromStore) {
      const input = path.resolve(inFlag ?? path.join(env.dataDir, FILES.master));
      if (!existsSync(input)) throw new TrafficError('INPUT_NOT_FOUND', `master CSV not found: ${input} (run etl:all or pass --in)`, { file: input });
      inputBytes = statSync(input).size;
      what = input;
      result = await archiveToParquet({ kind: 'csv', file: input }, out, { rowGroupSize });
      const rejectsFile = path.resolve(optStr(values.rejects, 'rejects') ?? path.join(path.dirname(input), 'archive_rejects.csv'));
      if (result.rejects.length) {
        const w = await TextFileWriter.open(rejectsFile);
        w.writeCsv(REJECT_COLUMNS);
        for (const r of result.rejects) w.writeCsv([input, String(r.line), 'archive', `${r.column}: ${r.reason}`, r.raw]);
        await w.close();
        process.stderr.write(`archive: ${fmtInt(result.rejects.length)} rows rejected → ${rejectsFile}\n`);
      }
    } else {
      const before = normalizeDay(beforeFlag!, 'before');
      if (useMysql) {
        const store = ShardedStore.open(normalizeStoreOptions(values, env));
        const dump = path.join(path.dirname(out), `.${path.basename(out)}.dump-${process.pid}.csv`);
        try {
          const n = await dumpShardsToCsv(store, before, dump);
          what = `${store.shards.map((s) => s.url.label).join(', ')} (${fmtInt(n)} rows before ${before})`;
          result = await archiveToParquet({ kind: 'csv', file: dump }, out, { rowGroupSize, keepLargerDays: true });
        } finally {
          await store.close();
          await rm(dump, { force: true });
        }
      } else {
        const file = path.join(env.dataDir, EMBEDDED_DB_FILE);
        if (!existsSync(file)) throw new TrafficError('INPUT_NOT_FOUND', `embedded store not found: ${file} (run \`traffic load\` or give --mysql)`, { file });
        what = `${file} (before ${before})`;
        result = await archiveToParquet({ kind: 'duckdb', file, before }, out, { rowGroupSize });
      }
    }
    report(result, what, out, inputBytes);
    return 0;
  },
};

function report(r: ArchiveResult, what: string, out: string, inputBytes: number | null): void {
  const written = r.days.filter((d) => d.action !== 'kept');
  for (const d of r.days) {
    const note =
      d.action === 'kept'
        ? `kept: the archive holds ${fmtInt(d.previousRows ?? 0)} rows, more than the store`
        : d.action === 'replaced'
          ? `replaced (was ${fmtInt(d.previousRows ?? 0)} rows)`
          : 'new';
    process.stderr.write(`  day=${d.day}  ${fmtInt(d.rows).padStart(10)} rows  ${(d.bytes / 2 ** 20).toFixed(2).padStart(8)} MiB  ${note}\n`);
  }
  const perRow = r.rows ? r.bytes / r.rows : 0;
  const csvNote = inputBytes !== null && r.rows ? `; the CSV ${(inputBytes / (r.rows + r.rejects.length)).toFixed(1)} bytes/row` : '';
  process.stderr.write(
    `archive: ${what} → ${out}: ${fmtInt(r.rows)} rows in ${written.length} days` +
      `${r.days.length > written.length ? ` (${r.days.length - written.length} kept)` : ''}, ` +
      `${(r.bytes / 2 ** 20).toFixed(1)} MiB, ${perRow.toFixed(1)} bytes/row${csvNote}; ` +
      `${r.rejects.length ? `${fmtInt(r.rejects.length)} rejected; ` : ''}${r.seconds.toFixed(1)} s (${fmtRate(r.rows, r.seconds)}; ` +
      `reading the source alone ${r.readSeconds.toFixed(1)} s, ${fmtRate(r.rows, r.readSeconds)}, so the archive takes ` +
      `${(r.seconds / Math.max(r.readSeconds, 1e-9)).toFixed(2)}× the read)\n`,
  );
}
