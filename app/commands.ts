/**
 * The command table: name → module that exports `command: Command`. Modules load lazily so
 * `traffic shard` does not pay for Kafka or DuckDB. npm scripts of the same names call these.
 */
export const COMMANDS: Record<string, { module: string; summary: string }> = {
  'data:sample': { module: '../etl/sample/cli.ts', summary: 'write realistic raw sample files (+ truth)' },
  'etl:all': { module: '../etl/cli.ts', summary: 'raw files → master CSV + checkpoint dimension (stages 01–05)' },
  train: { module: '../models/train-cli.ts', summary: 'fit the hourly flow model → traffic_flow_model.json' },
  predict: { module: '../models/predict-cli.ts', summary: 'predict hourly flow from the model JSON' },
  report: { module: '../notebooks/report-cli.ts', summary: 'render the analysis report (self-contained HTML)' },
  'services:up': { module: '../scripts/services-up.ts', summary: 'start Kafka, the second MariaDB; check MariaDB and Redis' },
  'services:down': { module: '../scripts/services-down.ts', summary: 'stop the services this project started' },
  simulate: { module: '../streaming/simulate-cli.ts', summary: 'replay the master at N records/s to Kafka, a log file or stdout' },
  sink: { module: '../streaming/sink-cli.ts', summary: 'consume the stream into the MySQL shards' },
  detect: { module: '../streaming/detect-cli.ts', summary: 'cloned-plate detector → Redis or JSONL alerts' },
  thresholds: { module: '../streaming/thresholds-cli.ts', summary: 'derive per-checkpoint congestion thresholds from history' },
  congestion: { module: '../streaming/congestion-cli.ts', summary: 'live flow windows and congestion level changes' },
  load: { module: '../store/load-cli.ts', summary: 'bulk-load a master CSV into the store' },
  ttl: { module: '../store/ttl-cli.ts', summary: 'apply retention (TRAFFIC_TTL_DAYS) to the shards' },
  shard: { module: '../store/shard/cli.ts', summary: 'print the MyCat murmur shard of each key' },
  'mycat-config': { module: '../store/shard/mycat-config-cli.ts', summary: 'write MyCat 1.6 schema.xml, rule.xml, server.xml' },
  api: { module: '../api/cli.ts', summary: 'HTTP API and dashboard' },
  start: { module: './start-cli.ts', summary: 'the whole platform in one process' },
  drill: { module: '../bench/drill.ts', summary: 'reliability drill: crashes and outages against real services' },
  bench: { module: '../bench/all.ts', summary: 'run every benchmark and write bench/RESULTS.md' },
  'bench:etl': { module: '../bench/etl.ts', summary: 'benchmark the ETL against a plain read+write pass' },
  'bench:model': { module: '../bench/model.ts', summary: 'benchmark training and prediction' },
  'bench:stream': { module: '../bench/stream.ts', summary: 'benchmark the simulator and consumers against Kafka tools' },
  'bench:sink': { module: '../bench/sink.ts', summary: 'benchmark the sink and bulk load against LOAD DATA' },
  'bench:api': { module: '../bench/api.ts', summary: 'benchmark the API (predictions/s, stats p95) on both stores' },
  'bench:detect': { module: '../bench/detect.ts', summary: 'benchmark the detector' },
};
