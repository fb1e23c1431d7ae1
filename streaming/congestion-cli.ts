/**
 * `traffic congestion`: live flow windows and congestion levels (舒适 / 黄色拥堵 / 红色警戒).
 * Options are normalized here once; the loop lives in streaming/congestion/run.ts.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { int, num, optStr, parseFlags, str } from '../core/args.ts';
import type { Command } from '../core/command.ts';
import { readEnv } from '../core/config.ts';
import { TrafficError } from '../core/errors.ts';
import { STORE_FLAGS, STORE_USAGE, normalizeStoreOptions } from '../store/options.ts';
import type { StoreOptions } from '../store/mysql.ts';
import { parseBusUri } from './bus/uri.ts';
import { DEFAULT_LEVEL_OPTIONS } from './congestion/levels.ts';
import { changesTable, runCongestion } from './congestion/run.ts';
import { CONGESTION_KEY, CONGESTION_MAX } from './congestion/sinks.ts';
import { FileSnapshotStore, RedisSnapshotStore, type SnapshotStore } from './congestion/snapshot.ts';
import { readThresholds, THRESHOLDS_FILE } from './congestion/thresholds.ts';
import { openDuckdbWindowStore, openMysqlWindowStore, type WindowStore } from './congestion/window-store.ts';
import { DEFAULT_LATENESS_S, DEFAULT_RETAIN_S } from './windows/core.ts';
import { createLogger } from '../core/log.ts';
import { serveMetricsFromEnv } from '../core/metrics.ts';

const usage = `usage: traffic congestion [--from URI] [--to URI] [options]

Counts passes per checkpoint and direction in 1- and 5-minute event-time windows (GCSJ), closed
by a watermark (newest event time − lateness; late records are counted, never dropped), writes
closed windows to the store and raises one record per congestion level change of a checkpoint
(5-minute passes, both directions, against kkmc_thresholds.csv). See docs/congestion.md.

  --from URI        kafka://BROKERS/TOPIC, mqtt://HOST:PORT/TOPIC, file:PATH (master CSV or stream
                    log, replayed offline) or memory:NAME (default kafka://$TRAFFIC_KAFKA/$TRAFFIC_TOPIC when set)
  --to URI          redis://HOST:PORT (LPUSH/LTRIM/PUBLISH ${CONGESTION_KEY}, idempotent by id),
                    jsonl:PATH, stdout or memory:NAME
                    (default $TRAFFIC_REDIS when set, else jsonl:<data dir>/congestion.jsonl)
  --thresholds FILE kkmc_thresholds.csv (default: beside a file input, else the data dir)
  --group ID        Kafka consumer group / MQTT session (default traffic-congestion)
  --lateness N      seconds behind the newest event time a record may come (default ${DEFAULT_LATENESS_S})
  --retain-s N      how long closed windows still take late records (default ${DEFAULT_RETAIN_S})
  --rise N          windows above a higher level before escalating (default ${DEFAULT_LEVEL_OPTIONS.riseWindows})
  --hold N          windows below a lower level before de-escalating (default ${DEFAULT_LEVEL_OPTIONS.holdWindows})
  --clear-ratio R   de-escalate only at or below threshold × R, 0 < R ≤ 1 (default ${DEFAULT_LEVEL_OPTIONS.clearRatio})
  --store KIND      where closed windows go: none | mysql | duckdb:PATH
                    (default: mysql when TRAFFIC_MYSQL is set, else none)
${STORE_USAGE}
  --state WHERE     restart snapshot: redis (key traffic:congestion:state:<group>), file:PATH or
                    none (default: redis with a Redis --to, else a file beside a jsonl --to, when
                    the source commits; none for offline replays)
  --key NAME        Redis list and channel (default ${CONGESTION_KEY})
  --max N           Redis list length kept (default ${CONGESTION_MAX})
  --truncate        jsonl: start from an empty file
  --latest          kafka: a new consumer group starts at the end (default: the beginning)
  --follow          file: keep reading appended lines (and commit the position)
`;

const FLAGS = {
  from: { type: 'string' },
  to: { type: 'string' },
  thresholds: { type: 'string' },
  group: { type: 'string' },
  lateness: { type: 'string' },
  'retain-s': { type: 'string' },
  rise: { type: 'string' },
  hold: { type: 'string' },
  'clear-ratio': { type: 'string' },
  store: { type: 'string' },
  state: { type: 'string' },
  key: { type: 'string' },
  max: { type: 'string' },
  truncate: { type: 'boolean' },
  latest: { type: 'boolean' },
  follow: { type: 'boolean' },
  ...STORE_FLAGS,
} as const;

export interface CongestionCliOptions {
  from: string;
  to: string;
  thresholds: string;
  group: string;
  latenessS: number;
  retainS: number;
  riseWindows: number;
  holdWindows: number;
  clearRatio: number;
  store: { kind: 'none' } | { kind: 'mysql'; opts: StoreOptions } | { kind: 'duckdb'; file: string };
  state: { kind: 'none' } | { kind: 'redis'; uri: string } | { kind: 'file'; file: string };
  key: string;
  max: number;
  truncate: boolean;
  fromBeginning: boolean;
  follow: boolean;
}

export function normalizeCongestionOptions(argv: string[], env = readEnv()): CongestionCliOptions {
  const { values: v } = parseFlags(argv, FLAGS);
  const from = str(v.from, 'from', env.kafka ? `kafka://${env.kafka}/${env.topic}` : undefined);
  if (!/^(kafka:\/\/|mqtt:\/\/|file:.|memory:)/.test(from)) {
    throw new TrafficError('INVALID_OPTION', `--from must be kafka://…, mqtt://…, file:PATH or memory:NAME, got "${from}"`, { option: '--from' });
  }
  if (from.startsWith('mqtt://')) parseBusUri(from);
  const to = str(v.to, 'to', env.redis ?? `jsonl:${path.join(env.dataDir, 'congestion.jsonl')}`);
  if (!/^(rediss?:\/\/|jsonl:.|stdout$|memory:)/.test(to)) {
    throw new TrafficError('INVALID_OPTION', `--to must be redis://HOST:PORT, jsonl:PATH, stdout or memory:NAME, got "${to}"`, {
      option: '--to',
    });
  }
  const inputFile = from.startsWith('file:') ? from.slice('file:'.length) : undefined;
  let thresholds = optStr(v.thresholds, 'thresholds');
  if (thresholds === undefined) {
    const beside = inputFile ? path.join(path.dirname(inputFile), THRESHOLDS_FILE) : undefined;
    thresholds = beside && existsSync(beside) ? beside : path.join(env.dataDir, THRESHOLDS_FILE);
  }
  if (!existsSync(thresholds)) {
    throw new TrafficError('INVALID_OPTION', `no thresholds file ${thresholds}: run \`traffic thresholds\` first or give --thresholds`, {
      option: '--thresholds',
    });
  }
  const follow = v.follow === true;
  const group = str(v.group, 'group', 'traffic-congestion');
  const storeKind = str(v.store, 'store', env.mysql ? 'mysql' : 'none');
  let store: CongestionCliOptions['store'];
  if (storeKind === 'none') store = { kind: 'none' };
  else if (storeKind === 'mysql') store = { kind: 'mysql', opts: normalizeStoreOptions(v, env) };
  else if (storeKind.startsWith('duckdb:') && storeKind.length > 7) store = { kind: 'duckdb', file: storeKind.slice(7) };
  else throw new TrafficError('INVALID_OPTION', `--store must be none, mysql or duckdb:PATH, got "${storeKind}"`, { option: '--store' });
  const commits = from.startsWith('kafka://') || from.startsWith('mqtt://') || follow;
  const stateFlag = optStr(v.state, 'state');
  let state: CongestionCliOptions['state'];
  if (stateFlag === 'none' || (stateFlag === undefined && !commits)) state = { kind: 'none' };
  else if (stateFlag === 'redis' || (stateFlag === undefined && /^rediss?:\/\//.test(to))) {
    const uri = /^rediss?:\/\//.test(to) ? to : (env.redis ?? 'redis://127.0.0.1:6379');
    state = { kind: 'redis', uri };
  } else if (stateFlag?.startsWith('file:') && stateFlag.length > 5) state = { kind: 'file', file: stateFlag.slice(5) };
  else if (stateFlag === undefined) {
    const base = to.startsWith('jsonl:') && to !== 'jsonl:-' ? to.slice(6) : path.join(env.dataDir, 'congestion');
    state = { kind: 'file', file: `${base}.state.${group.replace(/[^A-Za-z0-9._-]/g, '_')}.json` };
  } else throw new TrafficError('INVALID_OPTION', `--state must be redis, file:PATH or none, got "${stateFlag}"`, { option: '--state' });
  return {
    from,
    to,
    thresholds,
    group,
    latenessS: int(v.lateness, 'lateness', DEFAULT_LATENESS_S, { min: 0, max: 86_400 }),
    retainS: int(v['retain-s'], 'retain-s', DEFAULT_RETAIN_S, { min: 0, max: 30 * 86_400 }),
    riseWindows: int(v.rise, 'rise', DEFAULT_LEVEL_OPTIONS.riseWindows, { min: 1, max: 288 }),
    holdWindows: int(v.hold, 'hold', DEFAULT_LEVEL_OPTIONS.holdWindows, { min: 1, max: 288 }),
    clearRatio: num(v['clear-ratio'], 'clear-ratio', DEFAULT_LEVEL_OPTIONS.clearRatio, { min: 0.01, max: 1 }),
    store,
    state,
    key: str(v.key, 'key', CONGESTION_KEY),
    max: int(v.max, 'max', CONGESTION_MAX, { min: 1 }),
    truncate: v.truncate === true,
    fromBeginning: v.latest !== true,
    follow,
  };
}

export const command: Command = {
  name: 'congestion',
  summary: 'live flow windows and congestion level changes → store + Redis or JSONL',
  usage,
  async run(argv) {
    const o = normalizeCongestionOptions(argv);
    await serveMetricsFromEnv();
    const thresholds = await readThresholds(o.thresholds);
    const ac = new AbortController();
    const stop = (): void => ac.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    let windowStore: WindowStore | null = null;
    let snapshot: SnapshotStore | null = null;
    try {
      if (o.store.kind === 'mysql') windowStore = await openMysqlWindowStore(o.store.opts);
      else if (o.store.kind === 'duckdb') windowStore = await openDuckdbWindowStore(o.store.file);
      if (o.state.kind === 'redis') snapshot = await RedisSnapshotStore.open(o.state.uri, `${o.key}:state:${o.group}`);
      else if (o.state.kind === 'file') snapshot = new FileSnapshotStore(o.state.file);
      const s = await runCongestion({
        from: o.from,
        to: o.to,
        groupId: o.group,
        thresholds,
        windows: { latenessS: o.latenessS, retainS: o.retainS },
        levels: { riseWindows: o.riseWindows, holdWindows: o.holdWindows, clearRatio: o.clearRatio },
        windowStore,
        snapshot,
        sink: { key: o.key, max: o.max, truncate: o.truncate },
        fromBeginning: o.fromBeginning,
        follow: o.follow,
        signal: ac.signal,
      });
      const out = o.to === 'stdout' || o.to === 'jsonl:-' ? process.stderr : process.stdout;
      const kk = [...new Set([...s.checkpoints, ...thresholds.rows.map((r) => r.kkmc)])].sort();
      out.write(changesTable(s.changesPerDay, kk, s.days));
      const late = Object.entries(s.lateByKkmc).sort((a, b) => b[1] - a[1]);
      if (late.length) out.write(`late records per checkpoint: ${late.map(([k, n]) => `${k} ${n}`).join(', ')}\n`);
      if (windowStore) createLogger('congestion').info(`windows written to ${windowStore.where}`);
      if (s.restoredFrom) createLogger('congestion').info(`resumed from snapshot ${s.restoredFrom}`);
      return 0;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await windowStore?.close().catch(() => undefined);
      await snapshot?.close().catch(() => undefined);
    }
  },
};
