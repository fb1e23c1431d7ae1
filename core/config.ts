/**
 * Connection settings and paths from env vars, with safe loopback defaults. Flags win over env;
 * each command normalizes its own options once at its edge (see core/args.ts).
 * Unset Kafka / MySQL / Redis means the embedded default for that part.
 */
import path from 'node:path';

export interface TrafficEnv {
  kafka: string | undefined;
  topic: string;
  mysql: string[] | undefined;
  redis: string | undefined;
  port: number;
  dataDir: string;
  ttlDays: number;
  corsOrigins: string;
  apiKey: string | undefined;
  /** Reuse of stats aggregates in the API, ms (TRAFFIC_STATS_CACHE_MS, default 2000; 0 = off). */
  statsCacheMs: number;
}

export const DEFAULTS = {
  kafka: '127.0.0.1:9092',
  topic: 'traffic-raw',
  mysql: ['mysql://root@127.0.0.1:3306/traffic_db', 'mysql://root@127.0.0.1:3307/traffic_db'],
  redis: 'redis://127.0.0.1:6379',
  port: 5000,
  dataDir: 'data/out',
  ttlDays: 3,
} as const;

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

export function readEnv(env: NodeJS.ProcessEnv = process.env): TrafficEnv {
  const ttl = nonEmpty(env.TRAFFIC_TTL_DAYS);
  const port = nonEmpty(env.TRAFFIC_PORT);
  const mysql = nonEmpty(env.TRAFFIC_MYSQL);
  return {
    kafka: nonEmpty(env.TRAFFIC_KAFKA),
    topic: nonEmpty(env.TRAFFIC_TOPIC) ?? DEFAULTS.topic,
    mysql: mysql
      ? mysql
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : undefined,
    redis: nonEmpty(env.TRAFFIC_REDIS),
    port: port === undefined ? DEFAULTS.port : Number(port),
    dataDir: path.resolve(nonEmpty(env.TRAFFIC_DATA_DIR) ?? DEFAULTS.dataDir),
    ttlDays: ttl === undefined ? DEFAULTS.ttlDays : Number(ttl),
    // No cross-origin reader unless listed (the API's own options check the list: api/options.ts).
    corsOrigins: nonEmpty(env.TRAFFIC_CORS_ORIGINS) ?? '',
    apiKey: nonEmpty(env.TRAFFIC_API_KEY),
    statsCacheMs: nonEmpty(env.TRAFFIC_STATS_CACHE_MS) === undefined ? 2000 : Number(env.TRAFFIC_STATS_CACHE_MS),
  };
}
