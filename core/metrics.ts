/**
 * Prometheus metrics of a process (prom-client): one registry, served as text by the API's
 * `GET /metrics` (and by `--metrics-port` of the standalone consumers). Metric names are the
 * contract of the Grafana dashboard in infra/grafana/; docs/operations.md lists them.
 *
 * Counters that other modules already keep (a source's received/delivered/dead-lettered counts)
 * are read at scrape time through collectors, so the hot paths pay nothing for them.
 */
import { createServer } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { TrafficError } from './errors.ts';

export const registry = new Registry();
let defaults = false;

/** Process memory, CPU, event-loop lag and handles (prom-client's default set, prefix `traffic_`). */
export function enableProcessMetrics(): void {
  if (defaults) return;
  defaults = true;
  collectDefaultMetrics({ register: registry, prefix: 'traffic_' });
}

export const httpRequests = new Counter({
  name: 'traffic_http_requests_total',
  help: 'HTTP requests answered by the API, by route and status',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [registry],
});

export const httpDuration = new Histogram({
  name: 'traffic_http_request_duration_seconds',
  help: 'Time to answer an API request (until the response finished), by route',
  labelNames: ['method', 'route'] as const,
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});

export const storeWriteSeconds = new Histogram({
  name: 'traffic_store_write_seconds',
  help: 'Time of one batch write into the store (embedded DuckDB or the MySQL shards)',
  labelNames: ['store'] as const,
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
  registers: [registry],
});

export const alertsRaised = new Counter({
  name: 'traffic_alerts_total',
  help: 'Cloned-plate alerts raised by the detector',
  registers: [registry],
});

export const levelChanges = new Counter({
  name: 'traffic_congestion_level_changes_total',
  help: 'Congestion level changes, by the new level',
  labelNames: ['level'] as const,
  registers: [registry],
});

export const plateMatches = new Counter({
  name: 'traffic_plate_matches_total',
  help: "Plate searches' plate matches on a MySQL shard, by source: the API's copy of plate_stats or a scan of it on the server",
  labelNames: ['source'] as const,
  registers: [registry],
});

/** Times an async store write into storeWriteSeconds. */
export async function timeStoreWrite<T>(store: string, write: () => Promise<T>): Promise<T> {
  const end = storeWriteSeconds.startTimer({ store });
  try {
    return await write();
  } finally {
    end();
  }
}

/** What a stream consumer reports: counts it keeps itself, read when Prometheus scrapes. */
export interface ConsumerCounts {
  received: number;
  delivered: number;
  deadLettered: number;
  deadLetterReasons: Record<string, number>;
  /** Records behind the end of each partition, where the bus knows it (Kafka). */
  lag?: Record<number, number>;
}

const consumers = new Map<string, Set<() => ConsumerCounts>>();

function sum(consumer: string, pick: (c: ConsumerCounts) => number): number {
  let n = 0;
  for (const read of consumers.get(consumer) ?? []) n += pick(read());
  return n;
}

/** Counters read at scrape time: the values are the consumers' own counts (monotonic per process). */
function countFromConsumers(name: string, help: string, pick: (c: ConsumerCounts) => number): void {
  new Counter({
    name,
    help,
    labelNames: ['consumer'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const consumer of consumers.keys()) this.inc({ consumer }, sum(consumer, pick));
    },
  });
}

countFromConsumers('traffic_records_in_total', 'Stream records a consumer received (valid or not)', (c) => c.received);
countFromConsumers('traffic_records_out_total', 'Valid records a consumer processed and committed', (c) => c.delivered);

new Counter({
  name: 'traffic_records_rejected_total',
  help: 'Malformed stream records a consumer dead-lettered, by reason',
  labelNames: ['consumer', 'reason'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [consumer, reads] of consumers) {
      for (const read of reads) for (const [reason, n] of Object.entries(read().deadLetterReasons)) this.inc({ consumer, reason }, n);
    }
  },
});

new Gauge({
  name: 'traffic_consumer_lag_records',
  help: 'Records between a consumer group position and the end of each partition (Kafka only)',
  labelNames: ['consumer', 'partition'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [consumer, reads] of consumers) {
      for (const read of reads) for (const [partition, lag] of Object.entries(read().lag ?? {})) this.set({ consumer, partition }, lag);
    }
  },
});

/**
 * Makes a consumer's counts part of the metrics. A stopped source's counts stay: counters must not
 * go down while the process lives.
 */
export function trackConsumer(consumer: string, read: () => ConsumerCounts): void {
  let set = consumers.get(consumer);
  if (!set) consumers.set(consumer, (set = new Set()));
  set.add(read);
}

/** The Prometheus text exposition of every metric. */
export async function metricsText(): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}

/**
 * The standalone consumers (`sink`, `detect`, `congestion`) have no API server: with
 * TRAFFIC_METRICS_PORT set they serve `GET /metrics` on 127.0.0.1 (TRAFFIC_METRICS_HOST to change)
 * for Prometheus. Returns a close function (a no-op when the variable is unset).
 */
export async function serveMetricsFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<() => Promise<void>> {
  const raw = env.TRAFFIC_METRICS_PORT?.trim();
  if (!raw) return async () => undefined;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TrafficError('INVALID_OPTION', `TRAFFIC_METRICS_PORT must be a port number, got "${raw}"`, { option: 'TRAFFIC_METRICS_PORT' });
  }
  enableProcessMetrics();
  const server = createServer((req, res) => {
    if ((req.url ?? '/').split('?')[0] !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    void metricsText().then((m) => res.writeHead(200, { 'Content-Type': m.contentType }).end(req.method === 'HEAD' ? undefined : m.body));
  });
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, env.TRAFFIC_METRICS_HOST?.trim() || '127.0.0.1', () => resolve());
  });
  server.unref();
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
