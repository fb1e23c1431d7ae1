/**
 * `traffic api [--port N] [--data-dir DIR] [--model FILE] [--redis URL] [--mysql URLS]`
 * Serves the API and dashboard over the store (embedded DuckDB in the data dir, or the MySQL
 * shards when TRAFFIC_MYSQL / --mysql is set), alerts (Redis when TRAFFIC_REDIS / --redis is set,
 * else in-process), congestion levels (Redis traffic:congestion when set) and the flow model (when
 * its JSON exists).
 */
import { readEnv } from '../core/config.ts';
import { int, optStr, parseFlags } from '../core/args.ts';
import type { Command } from '../core/command.ts';
import { openApiDeps, type ApiDepsOptions } from './compose.ts';
import { createApiApp } from './app.ts';
import { appSecurityDeps, readApiServerOptions } from './options.ts';
import { createLogger } from '../core/log.ts';

const log = createLogger('api');

const usage = `usage: traffic api [--port N] [--host H] [--data-dir DIR] [--model FILE] [--redis URL] [--mysql URL[,URL…]]

  --port N        listen port (TRAFFIC_PORT, default 5000)
  --host H        listen address (default 127.0.0.1; listening wider, list the names clients
                  use in TRAFFIC_ALLOWED_HOSTS, or they get 421)
  --data-dir DIR  data dir with the embedded store and model (TRAFFIC_DATA_DIR, default data/out)
  --model FILE    flow model JSON (default <data-dir>/traffic_flow_model.json when present)
  --redis URL     read alerts from Redis list traffic:warnings and congestion level changes from
                  traffic:congestion (TRAFFIC_REDIS; default in-process alerts, no congestion)
  --mysql URLS    query the MySQL shards (TRAFFIC_MYSQL; default the embedded store)

  Safety settings (env; SECURITY.md): TRAFFIC_API_KEY (header X-API-Key), TRAFFIC_CORS_ORIGINS
  (default none), TRAFFIC_ALLOWED_HOSTS (default loopback only), TRAFFIC_SSE_MAX,
  TRAFFIC_QUERY_TIMEOUT_MS, TRAFFIC_HEADERS_TIMEOUT_MS, TRAFFIC_REQUEST_TIMEOUT_MS,
  TRAFFIC_KEEPALIVE_TIMEOUT_MS, TRAFFIC_MAX_CONNECTIONS`;

export const command: Command = {
  name: 'api',
  summary: 'HTTP API and dashboard',
  usage,
  async run(argv) {
    const env = readEnv();
    const server = readApiServerOptions();
    const { values } = parseFlags(argv, {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      model: { type: 'string' },
      redis: { type: 'string' },
      mysql: { type: 'string' },
    });
    const port = int(values.port, 'port', env.port, { min: 0, max: 65535 });
    const host = optStr(values.host, 'host') ?? '127.0.0.1';
    const opts: ApiDepsOptions = {
      dataDir: optStr(values['data-dir'], 'data-dir') ?? env.dataDir,
      model: optStr(values.model, 'model'),
      redis: optStr(values.redis, 'redis') ?? env.redis,
      mysql: optStr(values.mysql, 'mysql')?.split(',') ?? env.mysql,
      queryTimeoutMs: server.queryTimeoutMs,
    };
    const deps = await openApiDeps(opts);
    const app = createApiApp({
      ...deps,
      ...appSecurityDeps(server),
      statsCacheMs: env.statsCacheMs,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        app.server.once('error', reject);
        app.server.listen(port, host, () => resolve());
      });
      const addr = app.server.address();
      const bound = typeof addr === 'object' && addr ? addr.port : port;
      log.info(
        `listening on http://${host}:${bound}  store=${deps.store.kind} alerts=${deps.alerts.kind} congestion=${deps.congestion?.kind ?? 'none'} model=${deps.predictor ? 'loaded' : 'none'}`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      log.info('shutting down');
      await app.shutdown();
      return 0;
    } finally {
      await deps.close();
    }
  },
};
