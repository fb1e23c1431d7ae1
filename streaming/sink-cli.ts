/**
 * `traffic sink --from kafka://127.0.0.1:9092/traffic-raw [--mysql URL,… | --mycat URL]`: consume
 * the stream into the MySQL shards until interrupted (SIGINT/SIGTERM stop it cleanly).
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { int, optStr, parseFlags, str } from '../core/args.ts';
import type { Command } from '../core/command.ts';
import { DEFAULTS, readEnv } from '../core/config.ts';
import { TrafficError } from '../core/errors.ts';
import { TextFileWriter } from '../core/io.ts';
import { Progress, fmtInt, fmtRate } from '../core/progress.ts';
import { REJECT_COLUMNS } from '../core/schema.ts';
import { readDimension } from '../store/load.ts';
import { ShardedStore } from '../store/mysql.ts';
import { STORE_FLAGS, STORE_USAGE, normalizeStoreOptions, normalizeTtlDays } from '../store/options.ts';
import { parseBusUri } from './bus/index.ts';
import { DEFAULT_SINK_BATCH, DEFAULT_SINK_CONCURRENCY, MAX_SINK_BATCH, runSink, type SinkRunOptions } from './sink.ts';
import { createLogger } from '../core/log.ts';
import { serveMetricsFromEnv } from '../core/metrics.ts';

const usage = `usage: traffic sink [--from kafka://host:port/topic | mqtt://host:port/topic | file:PATH | memory:NAME]
                   [--mysql URL[,URL…] | --mycat URL] [--weights 0:1,1:2] [--group traffic-sink]
                   [--batch-size ${DEFAULT_SINK_BATCH}] [--max-wait-ms 0] [--concurrency ${DEFAULT_SINK_CONCURRENCY}] [--ttl-days N] [--ttl-interval-s 300]
                   [--no-follow] [--rejects FILE] [--dim kkmc_dimension.csv]

Consumes stream records into traffic_data, each row on the shard MyCat murmur(kkmc) names
(or through one MyCat server with --mycat). Offsets are committed (MQTT: PUBACKs sent) only after the rows
are stored; writes are idempotent on gcxh (a restart replays, never duplicates).
  --from URI           default kafka://$TRAFFIC_KAFKA/$TRAFFIC_TOPIC (${DEFAULTS.kafka}, ${DEFAULTS.topic})
  --group ID           consumer group / MQTT persistent session (default traffic-sink)
  --batch-size N       most rows per statement per shard (default ${DEFAULT_SINK_BATCH}); a bus delivery is up to N × shards
  --max-wait-ms N      let queued rows wait up to N ms for more to fill a statement (default 0: write when a statement is free)
  --concurrency N      statements running at once per shard (default ${DEFAULT_SINK_CONCURRENCY}); Kafka offsets are
                       committed in order, each only once every row before it is stored
  --ttl-days N         retention (default TRAFFIC_TTL_DAYS, else 3; 0 = keep all)
  --ttl-interval-s N   seconds between retention runs (default 300; 0 = off)
  --no-follow          file: sources stop at end of file
  --rejects FILE       rows the store refuses (default sink_rejects.csv in the data dir)
  --dim FILE           also put this kkmc_dimension.csv into kkmc_info on every shard at start
${STORE_USAGE}`;

export function normalizeSinkOptions(argv: string[], env = readEnv()) {
  const { values } = parseFlags(argv, {
    ...STORE_FLAGS,
    from: { type: 'string' },
    group: { type: 'string' },
    'batch-size': { type: 'string' },
    'max-wait-ms': { type: 'string' },
    concurrency: { type: 'string' },
    'ttl-days': { type: 'string' },
    'ttl-interval-s': { type: 'string' },
    'no-follow': { type: 'boolean' },
    rejects: { type: 'string' },
    dim: { type: 'string' },
  });
  const from = str(values.from, 'from', `kafka://${env.kafka ?? DEFAULTS.kafka}/${env.topic}`);
  if (parseBusUri(from).kind === 'stdout') {
    throw new TrafficError('INVALID_OPTION', '--from stdout: stdout is a sink, not a source', { option: '--from' });
  }
  const group = str(values.group, 'group', 'traffic-sink');
  const sink: Omit<SinkRunOptions, 'log' | 'onStored' | 'onReject' | 'signal'> = {
    from,
    groupId: group,
    batchSize: int(values['batch-size'], 'batch-size', DEFAULT_SINK_BATCH, { min: 1, max: MAX_SINK_BATCH }),
    maxWaitMs: int(values['max-wait-ms'], 'max-wait-ms', 0, { min: 0, max: 60_000 }),
    concurrency: int(values.concurrency, 'concurrency', DEFAULT_SINK_CONCURRENCY, { min: 1, max: 16 }),
    ttlDays: normalizeTtlDays(values['ttl-days'], env),
    ttlIntervalS: int(values['ttl-interval-s'], 'ttl-interval-s', 300, { min: 0, max: 86_400 }),
  };
  if (values['no-follow']) sink.follow = false;
  const rejects = path.resolve(optStr(values.rejects, 'rejects') ?? path.join(env.dataDir, 'sink_rejects.csv'));
  const dimFlag = optStr(values.dim, 'dim');
  const dim = dimFlag === undefined ? undefined : path.resolve(dimFlag);
  if (dim !== undefined && !existsSync(dim)) throw new TrafficError('INPUT_NOT_FOUND', `dimension CSV not found: ${dim}`, { file: dim });
  return { sink, store: normalizeStoreOptions(values, env), rejects, dim };
}

export const command: Command = {
  name: 'sink',
  summary: 'consume the stream into the MySQL shards',
  usage,
  async run(argv) {
    const o = normalizeSinkOptions(argv);
    await serveMetricsFromEnv();
    // Each statement running at once holds a connection; retention wants one more.
    const store = ShardedStore.open({ ...o.store, connectionLimit: Math.max(4, (o.sink.concurrency ?? DEFAULT_SINK_CONCURRENCY) + 1) });
    const ac = new AbortController();
    const onSignal = (): void => ac.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    let rejects: TextFileWriter | undefined;
    const progress = new Progress({ label: 'sink' });
    try {
      const where = store.shards.map((s) => s.url.label).join(', ');
      createLogger('sink').info(
        `${o.sink.from} (group ${o.sink.groupId}) → ${store.mycat ? 'MyCat ' : ''}${where}; batch ${o.sink.batchSize}, concurrency ${o.sink.concurrency}, ` +
          `retention ${o.sink.ttlDays ? `${o.sink.ttlDays} days every ${o.sink.ttlIntervalS} s` : 'off'}`,
      );
      const stats = await runSink(store, {
        ...o.sink,
        ...(o.dim ? { dimension: await readDimension(o.dim) } : {}),
        signal: ac.signal,
        onStored: (n) => progress.add(n),
        onReject: async (r) => {
          if (!rejects) {
            const fresh = !existsSync(o.rejects) || statSync(o.rejects).size === 0;
            rejects = await TextFileWriter.open(o.rejects, { append: true });
            if (fresh) rejects.writeCsv(REJECT_COLUMNS);
          }
          await rejects.writeCsv([r.sourceFile, String(r.line), r.stage, r.reason, r.raw]);
        },
      });
      const inserted = stats.inserted.reduce((a, b) => a + b, 0);
      const per = store.shards.map((s, i) => `${s.url.label} +${fmtInt(stats.inserted[i]!)}`).join(', ');
      progress.done(
        `sink: ${fmtInt(stats.received)} records received, ${fmtInt(stats.stored)} stored (${fmtInt(inserted)} new, ` +
          `${fmtInt(stats.stored - inserted)} already present; ${per}), ${fmtInt(stats.rejected)} rejected` +
          `${stats.rejected ? ` ${JSON.stringify(stats.rejectReasons)} → ${o.rejects}` : ''}, ${fmtInt(stats.deadLettered)} dead-lettered` +
          `${stats.deadLettered ? ` ${JSON.stringify(stats.deadLetterReasons)}` : ''}, ${stats.retries} write retries, ` +
          `retention ${stats.ttlRuns} runs / ${fmtInt(stats.ttlDeleted)} deleted; ${stats.seconds.toFixed(1)} s, ${fmtRate(stats.stored, stats.seconds)}`,
      );
      return 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await rejects?.close();
      await store.close();
    }
  },
};
