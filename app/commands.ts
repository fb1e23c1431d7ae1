/**
 * The command table: every `traffic <command>`, its summary and how to load it. Each entry imports
 * its module by a literal path (a reader and the compiler follow it; the module must export
 * `command: Command`), lazily, so that `traffic shard` does not pay for Kafka or DuckDB. npm
 * scripts of the same names call these. Development-only commands (services, benchmarks, the
 * drill) are not shipped in the package: there they answer "not available in this build".
 */
import type { Command } from '../core/command.ts';

export interface CommandEntry {
  summary: string;
  /** Development-only: needs the checkout (infra/, bench/) and the dev dependencies. */
  dev?: true;
  load(): Promise<{ command: Command }>;
}

export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  'data:sample': { summary: 'write realistic raw sample files (+ truth)', load: () => import('../etl/sample/cli.ts') },
  'etl:all': { summary: 'raw files → master CSV + checkpoint dimension (stages 01–05)', load: () => import('../etl/cli.ts') },
  train: { summary: 'fit the hourly flow model → traffic_flow_model.json', load: () => import('../models/train-cli.ts') },
  predict: { summary: 'predict hourly flow from the model JSON', load: () => import('../models/predict-cli.ts') },
  forecast: { summary: 'short-term flow forecast per checkpoint-hour (rolling origin) → CSV', load: () => import('../models/forecast-cli.ts') },
  report: { summary: 'render the analysis report (self-contained HTML)', load: () => import('../notebooks/report-cli.ts') },
  'services:up': { summary: 'start Kafka, the second MariaDB; check MariaDB, Redis and Mosquitto', dev: true, load: () => import('../scripts/services-up.ts') },
  'services:down': { summary: 'stop the services this project started', dev: true, load: () => import('../scripts/services-down.ts') },
  simulate: { summary: 'replay the master at N records/s to Kafka, a log file or stdout', load: () => import('../streaming/simulate-cli.ts') },
  sink: { summary: 'consume the stream into the MySQL shards', load: () => import('../streaming/sink-cli.ts') },
  detect: { summary: 'cloned-plate detector → Redis or JSONL alerts', load: () => import('../streaming/detect-cli.ts') },
  thresholds: { summary: 'derive per-checkpoint congestion thresholds from history', load: () => import('../streaming/thresholds-cli.ts') },
  congestion: { summary: 'live flow windows and congestion level changes', load: () => import('../streaming/congestion-cli.ts') },
  load: { summary: 'bulk-load a master CSV into the store', load: () => import('../store/load-cli.ts') },
  archive: { summary: 'archive pass records as Parquet partitioned by day', load: () => import('../store/archive-cli.ts') },
  ttl: { summary: 'apply retention (TRAFFIC_TTL_DAYS) to the shards', load: () => import('../store/ttl-cli.ts') },
  shard: { summary: 'print the MyCat murmur shard of each key', load: () => import('../store/shard/cli.ts') },
  'mycat-config': { summary: 'write MyCat 1.6 schema.xml, rule.xml, server.xml', load: () => import('../store/shard/mycat-config-cli.ts') },
  api: { summary: 'HTTP API and dashboard', load: () => import('../api/cli.ts') },
  start: { summary: 'the whole platform in one process', load: () => import('./start-cli.ts') },
  drill: { summary: 'reliability drill: crashes and outages against real services', dev: true, load: () => import('../bench/drill.ts') },
  bench: { summary: 'run every benchmark and write bench/RESULTS.md', dev: true, load: () => import('../bench/all.ts') },
  'bench:etl': { summary: 'benchmark the ETL against a plain read+write pass', dev: true, load: () => import('../bench/etl.ts') },
  'bench:model': { summary: 'benchmark training and prediction', dev: true, load: () => import('../bench/model.ts') },
  'bench:stream': { summary: 'benchmark the simulator and consumers against Kafka tools', dev: true, load: () => import('../bench/stream.ts') },
  'bench:sink': { summary: 'benchmark the sink and bulk load against LOAD DATA', dev: true, load: () => import('../bench/sink.ts') },
  'bench:api': { summary: 'benchmark the API (predictions/s, stats p95) on both stores', dev: true, load: () => import('../bench/api.ts') },
  'bench:detect': { summary: 'benchmark the detector', dev: true, load: () => import('../bench/detect.ts') },
  'bench:scale': {
    summary: 'benchmark 1 vs 2 instances of sink, detect and congestion on one Kafka topic',
    dev: true,
    load: () => import('../bench/scale.ts'),
  },
  'bench:routes': {
    summary: "score the routes' masked-plate vehicle identity on the sample generator",
    dev: true,
    load: () => import('../bench/routes.ts'),
  },
};
