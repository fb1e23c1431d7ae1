/**
 * Builds the API's dependencies from configuration: which store, which alert feed, which model.
 * Shared by `traffic api` and the one-process platform.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { EmbeddedStore, EMBEDDED_DB_FILE } from '../store/duckdb-store.ts';
import { TrafficError } from '../core/errors.ts';
import { FILES } from '../core/schema.ts';
import type { TrafficStore } from '../store/store-api.ts';
import { THRESHOLDS_FILE } from '../streaming/congestion/thresholds.ts';
import { MemoryAlertFeed, RedisAlertFeed, type AlertFeed } from './alerts.ts';
import type { FlowPredictor, ThresholdSource } from './app.ts';
import { RedisCongestionFeed, ThresholdsFile, type CongestionFeed } from './congestion.ts';

export interface ApiDepsOptions {
  dataDir: string;
  model?: string | undefined;
  redis?: string | undefined;
  mysql?: string[] | undefined;
  /** Longest a store query may run (ms, 0 = no limit); beyond it the API answers 503. */
  queryTimeoutMs?: number | undefined;
  /** An already open store / feed (one-process platform). */
  store?: TrafficStore;
  alerts?: AlertFeed;
  /** An in-process congestion feed; else Redis `traffic:congestion` when `redis` is set, else none. */
  congestion?: CongestionFeed;
}

export interface ApiDeps {
  store: TrafficStore;
  alerts: AlertFeed;
  predictor: FlowPredictor | null;
  congestion?: CongestionFeed;
  thresholds: () => Promise<ThresholdSource | null>;
  close(): Promise<void>;
}

export async function openStore(opts: { dataDir: string; mysql?: string[] | undefined; queryTimeoutMs?: number | undefined }): Promise<TrafficStore> {
  const timeout = opts.queryTimeoutMs === undefined ? {} : { queryTimeoutMs: opts.queryTimeoutMs };
  if (opts.mysql && opts.mysql.length) {
    // Loaded only when asked for: the embedded platform never pays for mysql2.
    const { openMysqlApiStore } = await import('../store/api-store.ts');
    return openMysqlApiStore(opts.mysql, timeout);
  }
  return EmbeddedStore.open(path.join(opts.dataDir, EMBEDDED_DB_FILE), timeout);
}

export async function loadFlowPredictor(file: string): Promise<FlowPredictor> {
  const json: unknown = JSON.parse(await readFile(file, 'utf8'));
  const spec = '../models/predictor.ts';
  const mod = (await import(spec)) as {
    loadPredictor: (j: unknown) => {
      checkpoints: readonly string[];
      predict(kkmc: string, hour: number, isWeekend: never): number;
      forecaster: FlowPredictor['forecaster'];
    };
  };
  const p = mod.loadPredictor(json);
  return {
    checkpoints: p.checkpoints,
    predict: (kkmc, hour, w) => p.predict(kkmc, hour, w as never),
    forecaster: p.forecaster,
  };
}

export async function openApiDeps(opts: ApiDepsOptions): Promise<ApiDeps> {
  const ownStore = !opts.store;
  const store = opts.store ?? (await openStore(opts));
  const ownAlerts = !opts.alerts;
  const alerts = opts.alerts ?? (opts.redis ? new RedisAlertFeed(opts.redis) : new MemoryAlertFeed());
  // kkmc_thresholds.csv in the data dir, re-read when edited: the series' threshold lines and
  // the WARNING/ALERT of levels read back from Redis.
  const thresholdsFile = new ThresholdsFile(path.join(opts.dataDir, THRESHOLDS_FILE));
  const ownCongestion = !opts.congestion && !!opts.redis;
  const congestion = opts.congestion ?? (opts.redis ? new RedisCongestionFeed(opts.redis, undefined, () => thresholdsFile.lookup()) : undefined);
  const modelFile = opts.model ?? path.join(opts.dataDir, FILES.model);
  let predictor: FlowPredictor | null = null;
  if (existsSync(modelFile)) predictor = await loadFlowPredictor(modelFile);
  else if (opts.model) throw new TrafficError('INPUT_NOT_FOUND', `no such model file: ${opts.model}`, { file: opts.model });
  return {
    store,
    alerts,
    predictor,
    ...(congestion ? { congestion } : {}),
    thresholds: () => thresholdsFile.get(),
    async close() {
      if (ownAlerts) await alerts.close();
      if (ownCongestion) await congestion?.close();
      if (ownStore) await store.close();
    },
  };
}
