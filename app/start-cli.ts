/**
 * `traffic start`: the whole platform in one process on embedded defaults.
 *
 *   raw files (sample generated if none) ─ETL (if stale)→ master ─train (if stale)→ model
 *   master ─thresholds (if missing)→ kkmc_thresholds.csv
 *   master ─simulate (replay, 50/s, injected clones)→ bus ─┬─ sink → store ──────────────┐
 *                                                          ├─ detect → alerts ────────────┤
 *                                                          └─ congestion → levels (+ windows → store) ┴→ API + dashboard
 *
 * Each part swaps for the real service independently: TRAFFIC_KAFKA (bus = Kafka topic) or
 * `--bus mqtt://…` (bus = an MQTT topic, e.g. the one the camera gateways publish to),
 * TRAFFIC_MYSQL (store = MySQL shards), TRAFFIC_REDIS (alerts = Redis list; congestion changes
 * also go to Redis traffic:congestion). Ctrl-C stops the simulator, lets the sink, detector and
 * congestion engine drain what was sent, stops the API and prints a summary.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { InProcessAlertFeed, RedisAlertFeed, type AlertFeed } from '../api/alerts.ts';
import { createApiApp } from '../api/app.ts';
import { InProcessCongestionFeed, ThresholdsFile } from '../api/congestion.ts';
import { loadFlowPredictor } from '../api/compose.ts';
import { appSecurityDeps, readApiServerOptions } from '../api/options.ts';
import { DEFAULT_RAW_DIR } from '../etl/cli.ts';
import { listRawFiles } from '../etl/read/raw.ts';
import { runEtl } from '../etl/runner.ts';
import { trainModelFile } from '../models/train-cli.ts';
import { ensureTopic, openSink, openSource, type Sink, type Source } from '../streaming/bus/index.ts';
import { MqttSource } from '../streaming/bus/mqtt.ts';
import { mqttIsFilter, parseBusUri } from '../streaming/bus/uri.ts';
import { runCongestion } from '../streaming/congestion/run.ts';
import { FileSnapshotStore, RedisSnapshotStore, type SnapshotStore } from '../streaming/congestion/snapshot.ts';
import { getCongestionState } from '../streaming/congestion/state.ts';
import { deriveThresholdsFile, readThresholds, THRESHOLDS_FILE } from '../streaming/congestion/thresholds.ts';
import type { WindowStore } from '../streaming/congestion/window-store.ts';
import { runDetect } from '../streaming/detect/run.ts';
import { getMemoryAlertSink, openAlertSink, type AlertSink } from '../streaming/detect/sinks.ts';
import { loadDimension as loadInjectDimension } from '../streaming/inject.ts';
import { simulate } from '../streaming/simulate.ts';
import { runSink } from '../streaming/sink.ts';
import { int, num, optStr, parseFlags } from '../core/args.ts';
import type { Command } from '../core/command.ts';
import { readEnv } from '../core/config.ts';
import { EmbeddedStore, EMBEDDED_DB_FILE } from '../store/duckdb-store.ts';
import { TrafficError } from '../core/errors.ts';
import { fmtInt } from '../core/progress.ts';
import { FILES } from '../core/schema.ts';
import { MysqlApiStore } from '../store/api-store.ts';
import { ensureFlowWindowTable, ensureFlowWindowTableDuckDB, upsertFlowWindows, upsertFlowWindowsDuckDB } from '../store/flow-window.ts';
import { readDimension } from '../store/load.ts';
import { ShardedStore } from '../store/mysql.ts';
import type { TrafficStore } from '../store/store-api.ts';
import { createLogger, logFn } from '../core/log.ts';

const usage = `usage: traffic start [--raw DIR] [--data-dir DIR] [--port N] [--rate R] [--inject-clones P] [--limit N] [--seed S] [--bus URI]

Runs the whole platform in one process: sample data if there is none, ETL and training when their
outputs are missing or older than their inputs, congestion thresholds when missing, then the
simulator (replay at --rate records/s with injected cloned-plate pairs), the sink into the store,
the detector, the congestion engine and the API with the dashboard.

  --raw DIR            raw month folders (default ${DEFAULT_RAW_DIR}; generated when empty)
  --data-dir DIR       ETL outputs, model and embedded store (TRAFFIC_DATA_DIR, default data/out)
  --port N             API and dashboard (TRAFFIC_PORT, default 5000)
  --rate R             simulator records/s (default 50)
  --inject-clones P    probability per record of an injected cloned-plate pair (default 0.005)
  --limit N            stop the simulator after N master records (the rest keeps serving)
  --seed S             seed of the generated sample and of the injection (default 42)
  --bus URI            the stream bus: mqtt://host:port/topic (MQTT 5, QoS 1, a persistent session per
                       consumer: a restart resumes where it stopped) or kafka://host:port/topic
                       (default: TRAFFIC_KAFKA's topic, else in-process)
  Services: TRAFFIC_KAFKA (or --bus), TRAFFIC_MYSQL, TRAFFIC_REDIS swap in the real bus, store and alert list
  (with TRAFFIC_REDIS congestion level changes also go to Redis traffic:congestion).`;

function mtime(file: string): number {
  return existsSync(file) ? statSync(file).mtimeMs : 0;
}

/** Newest modification time among the raw files; 0 when there are none (the ETL generates them). */
async function newestRaw(raw: string): Promise<number> {
  try {
    return Math.max(0, ...(await listRawFiles(raw)).map(mtime));
  } catch (err) {
    if (err instanceof TrafficError && (err.code === 'INPUT_NOT_FOUND' || err.code === 'INPUT_EMPTY')) return 0;
    throw err;
  }
}

/** kkmc_thresholds.csv from the master, exactly as `traffic thresholds` does with its defaults. */
async function deriveThresholds(master: string, out: string): Promise<{ rows: number; days: number; checkpoints: number }> {
  const { rows, summary } = await deriveThresholdsFile(master, out);
  return { rows: rows.length, days: summary.days.used.length, checkpoints: summary.checkpoints };
}

type StartBus = { uri: string } & ({ kind: 'memory' | 'mqtt' } | { kind: 'kafka'; brokers: string[]; topic: string });

/** The bus of `start`: --bus (mqtt:// or kafka://), else TRAFFIC_KAFKA's topic, else in-process. */
function startBus(given: string | undefined, env: ReturnType<typeof readEnv>): StartBus {
  if (given === undefined) {
    if (!env.kafka) return { kind: 'memory', uri: 'memory:traffic-raw' };
    return { kind: 'kafka', uri: `kafka://${env.kafka}/${env.topic}`, brokers: env.kafka.split(','), topic: env.topic };
  }
  const parsed = parseBusUri(given);
  if (parsed.kind === 'mqtt') {
    if (mqttIsFilter(parsed.topic)) {
      throw new TrafficError('INVALID_OPTION', `--bus: "${parsed.topic}" is an MQTT topic filter (+ or #); start publishes to the topic, so give one topic`, {
        option: '--bus',
      });
    }
    return { kind: 'mqtt', uri: given };
  }
  if (parsed.kind === 'kafka') return { kind: 'kafka', uri: given, brokers: parsed.brokers, topic: parsed.topic };
  throw new TrafficError('INVALID_OPTION', `--bus must be mqtt://host:port/topic or kafka://host:port/topic, got "${given}"`, { option: '--bus' });
}

/**
 * Records the simulator may be ahead of the slowest consumer on MQTT. A broker drops what a
 * consumer's session queue cannot hold, also while the consumer is connected but behind
 * (Mosquitto: max_queued_messages, default 1000, dropped silently); in one process the simulator
 * can wait for its consumers instead, so no broker setting is needed.
 */
const MQTT_AHEAD = 300;

/** A sink that sends only while every consumer is fewer than MQTT_AHEAD records behind. */
function pacedToConsumers(sink: Sink, sources: readonly Source[], signal: AbortSignal): Sink {
  let given = 0;
  // Counted from now: a resumed session may first bring records of the previous run.
  const start = sources.map((s) => s.stats.delivered + s.stats.deadLettered);
  const behind = (): number => given - Math.min(...sources.map((s, i) => s.stats.delivered + s.stats.deadLettered - start[i]!));
  return {
    async send(rows) {
      for (let i = 0; i < rows.length; i += 100) {
        while (behind() >= MQTT_AHEAD && !signal.aborted) await new Promise((r) => setTimeout(r, 10));
        const part = rows.slice(i, i + 100);
        given += part.length;
        await sink.send(part);
      }
    },
    flush: () => sink.flush(),
    close: () => sink.close(),
    get sent() {
      return sink.sent;
    },
  };
}

/** Resolves once `count` MQTT consumers have registered and each has its subscription (SUBACK). */
async function consumersSubscribed(sources: readonly Source[], count: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (sources.length < count && !signal.aborted) {
    if (Date.now() > deadline) throw new TrafficError('CONNECTION_FAILED', `MQTT: only ${sources.length} of ${count} consumers connected within 30 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await Promise.race([
    Promise.all(sources.map((s) => (s instanceof MqttSource ? s.ready : undefined))),
    new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })),
  ]);
}

export const command: Command = {
  name: 'start',
  summary: 'the whole platform in one process',
  usage,
  async run(argv) {
    const env = readEnv();
    const apiOptions = readApiServerOptions();
    const { values } = parseFlags(argv, {
      raw: { type: 'string' },
      'data-dir': { type: 'string' },
      port: { type: 'string' },
      rate: { type: 'string' },
      'inject-clones': { type: 'string' },
      limit: { type: 'string' },
      seed: { type: 'string' },
      bus: { type: 'string' },
    });
    const dataDir = path.resolve(optStr(values['data-dir'], 'data-dir') ?? env.dataDir);
    const rawGiven = optStr(values.raw, 'raw');
    const raw = path.resolve(rawGiven ?? DEFAULT_RAW_DIR);
    const port = int(values.port, 'port', env.port, { min: 0, max: 65535 });
    const rate = num(values.rate, 'rate', 50, { min: 0.1 });
    const inject = num(values['inject-clones'], 'inject-clones', 0.005, { min: 0, max: 1 });
    const limit = values.limit === undefined ? undefined : int(values.limit, 'limit', 0, { min: 1 });
    const seed = int(values.seed, 'seed', 42, { min: 0 });
    const bus = startBus(optStr(values.bus, 'bus'), env);
    const log = logFn(createLogger('start'));

    // 1. Batch: ETL and training only when their outputs are missing or older than their inputs.
    const master = path.join(dataDir, FILES.master);
    const dimFile = path.join(dataDir, FILES.dimension);
    const modelFile = path.join(dataDir, FILES.model);
    const rawNewest = await newestRaw(raw);
    if (!existsSync(master) || (rawNewest > 0 && rawNewest > mtime(master))) {
      log(rawNewest === 0 ? `no raw data in ${raw}: generating the sample, then ETL` : 'running the ETL (master missing or older than the raw files)');
      // start always generates into an empty raw dir (given or default): the log line above says so.
      await runEtl({ raw, rawExplicit: false, out: dataDir, from: 1, to: 5, fill: true, seed });
    } else log(`ETL up to date (${master})`);
    if (!existsSync(modelFile) || mtime(modelFile) < mtime(master)) {
      log('training the flow model');
      const { result } = await trainModelFile(master, modelFile);
      log(`model written: ${modelFile} (hold-out R² ${result.model.metrics.model.r2.toFixed(3)})`);
    } else log(`model up to date (${modelFile})`);
    // Thresholds only when missing: users edit this file by hand, a newer master must not undo that.
    const thresholdsFile = path.join(dataDir, THRESHOLDS_FILE);
    if (!existsSync(thresholdsFile)) {
      const t = await deriveThresholds(master, thresholdsFile);
      log(`congestion thresholds written: ${thresholdsFile} (${fmtInt(t.rows)} rows, ${t.checkpoints} checkpoints, ${t.days} days)`);
    } else log(`congestion thresholds: ${thresholdsFile}`);
    const thresholds = await readThresholds(thresholdsFile);

    // 2. The parts, each embedded unless its service is configured.
    const busUri = bus.uri;
    if (bus.kind === 'kafka') await ensureTopic(bus.brokers, bus.topic, 3);
    let store: TrafficStore;
    let sharded: ShardedStore | null = null;
    // Closed 1- and 5-minute flow windows go to the same store (traffic_flow_window).
    let windowStore: WindowStore;
    if (env.mysql) {
      const shards = ShardedStore.open({ urls: env.mysql });
      sharded = shards;
      await shards.ensureSchema();
      if (existsSync(dimFile)) await shards.replaceKkmcInfo(await readDimension(dimFile));
      await ensureFlowWindowTable(shards);
      store = new MysqlApiStore(shards, { queryTimeoutMs: apiOptions.queryTimeoutMs });
      windowStore = {
        where: 'mysql',
        write: async (rows) => void (rows.length && (await upsertFlowWindows(shards, rows))),
        close: async () => {},
      };
    } else {
      const embedded = await EmbeddedStore.open(path.join(dataDir, EMBEDDED_DB_FILE), { queryTimeoutMs: apiOptions.queryTimeoutMs });
      if (existsSync(dimFile)) await embedded.loadDimensionCsv(dimFile);
      // Through the store's own connection: DuckDB allows one writer process per file.
      await ensureFlowWindowTableDuckDB(embedded);
      store = embedded;
      windowStore = {
        where: 'embedded',
        write: async (rows) => {
          if (rows.length) await upsertFlowWindowsDuckDB(embedded, rows);
        },
        close: async () => {},
      };
    }
    const memoryAlerts = getMemoryAlertSink('platform');
    const alertSink: AlertSink = env.redis ? await openAlertSink(env.redis) : memoryAlerts;
    const feed: AlertFeed = env.redis ? new RedisAlertFeed(env.redis) : new InProcessAlertFeed(memoryAlerts);
    const predictor = await loadFlowPredictor(modelFile);
    // Congestion levels live in this process (shared with the API); with Redis they also go to
    // traffic:congestion for other readers (`traffic api`).
    const congestionState = getCongestionState('platform');
    const congestionTo = env.redis ?? `memory:${congestionState.name}`;
    // A restart snapshot only makes sense on a bus that outlives the process (Kafka); it holds
    // partition offsets, so it is per topic.
    let snapshot: SnapshotStore | null = null;
    if (bus.kind === 'kafka') {
      const tag = `traffic-congestion.${bus.topic.replace(/[^A-Za-z0-9._-]/g, '_')}`;
      snapshot = env.redis
        ? await RedisSnapshotStore.open(env.redis, `traffic:congestion:state:${tag}`)
        : new FileSnapshotStore(path.join(dataDir, `congestion.state.${tag}.json`));
    }
    const sources: Source[] = [];
    const counts = { sent: 0, stored: 0, alerts: 0, congestion: 0 };
    const health = async (): Promise<Record<string, { ok: boolean; detail: string }>> => ({
      bus: { ok: true, detail: `${busUri}; sent ${counts.sent}, stored ${counts.stored}` },
    });
    const thresholdsView = new ThresholdsFile(thresholdsFile);
    const app = createApiApp({
      store,
      alerts: feed,
      predictor,
      congestion: new InProcessCongestionFeed(congestionState),
      thresholds: () => thresholdsView.get(),
      health,
      ...appSecurityDeps(apiOptions),
      statsCacheMs: env.statsCacheMs,
    });
    await new Promise<void>((resolve, reject) => {
      app.server.once('error', (err) => reject(new TrafficError('SERVICE_UNAVAILABLE', `cannot listen on port ${port}: ${(err as Error).message}`)));
      app.server.listen(port, '127.0.0.1', () => resolve());
    });
    const bound = (app.server.address() as { port: number }).port;
    log(
      `dashboard http://127.0.0.1:${bound}/  bus=${busUri} store=${store.kind} alerts=${env.redis ? 'redis' : 'in-process'} congestion=in-process${env.redis ? '+redis' : ''}`,
    );

    const stop = new AbortController();
    const onSignal = (): void => {
      if (stop.signal.aborted) process.exit(130);
      if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
      log('stopping (Ctrl-C again to quit at once) …');
      stop.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    // Consumers first, so nothing sent is missed (the memory bus also keeps unread records).
    const sinkDone = sharded
      ? runSink(sharded, {
          from: busUri,
          groupId: 'traffic-sink',
          batchSize: 500,
          maxWaitMs: 0,
          ttlDays: 0,
          ttlIntervalS: 0,
          follow: true,
          fromBeginning: true,
          onStored: (n) => (counts.stored += n),
          onReady: (s) => sources.push(s),
          log,
        }).then(() => undefined)
      : (async () => {
          const source = await openSource(busUri, { groupId: 'traffic-sink', fromBeginning: true, follow: true, maxBatch: 500 });
          sources.push(source);
          await source.run(async (batch) => {
            await store.insert(batch.map((i) => i.row));
            counts.stored += batch.length;
          });
        })();
    const detectDone = runDetect({
      from: busUri,
      to: alertSink,
      groupId: 'traffic-detect',
      rule: 'default',
      windowS: 300,
      speedKmh: 150,
      latenessS: 60,
      dim: existsSync(dimFile) ? dimFile : null,
      follow: true,
      fromBeginning: true,
      quiet: true,
      onSource: (s) => sources.push(s),
      onAlerts: (a) => (counts.alerts += a.length),
    });
    const congestionDone = runCongestion({
      from: busUri,
      to: congestionTo,
      groupId: 'traffic-congestion',
      thresholds,
      state: congestionState,
      windowStore,
      snapshot,
      follow: true,
      fromBeginning: true,
      quiet: true,
      onSource: (s) => sources.push(s),
      onChanges: (c) => (counts.congestion += c.length),
    });

    let simError: unknown = null;
    const failed = Promise.race([sinkDone, detectDone, congestionDone]).then(
      () => undefined,
      (err: unknown) => {
        simError ??= err;
        stop.abort();
      },
    );
    // MQTT keeps nothing for a subscription that does not exist yet: the simulator waits until
    // every consumer's session is subscribed (from then on the broker queues for it).
    const giveUp = (err: unknown): null => {
      simError ??= err;
      stop.abort();
      return null;
    };
    if (bus.kind === 'mqtt') await consumersSubscribed(sources, 3, stop.signal).catch(giveUp);
    const opened = stop.signal.aborted ? null : await openSink(busUri, { clientId: 'traffic-start' }).catch(giveUp);
    const busSink = opened && bus.kind === 'mqtt' ? pacedToConsumers(opened, sources, stop.signal) : opened;
    const dimension = inject > 0 && existsSync(dimFile) ? await loadInjectDimension(dimFile) : null;
    const tty = Boolean(process.stderr.isTTY) && !process.env.CI;
    const status = async (): Promise<string> => {
      const clock = await store.latestGcsj().catch(() => null);
      return `sent ${fmtInt(counts.sent)}, stored ${fmtInt(counts.stored)}, alerts ${fmtInt(counts.alerts)}, level changes ${fmtInt(counts.congestion)}, stream clock ${clock ?? '—'}`;
    };
    let lastPlain = 0;
    const ticker = setInterval(() => {
      void status().then((s) => {
        if (tty) process.stderr.write(`\r\x1b[Kstart: ${s}`);
        else if (Date.now() - lastPlain >= 10_000) {
          lastPlain = Date.now();
          log(s);
        }
      });
    }, 1000);

    const simDone = !busSink
      ? Promise.resolve(null)
      : simulate({
          input: master,
          sink: busSink,
          rate,
          mode: 'replay',
          limit,
          inject: inject > 0 ? { probability: inject, truthFile: path.join(dataDir, 'injected_truth.csv'), seed, dimension } : undefined,
          signal: stop.signal,
          onProgress: (p) => (counts.sent = p.sent),
          // Every record (a counter store at 50/s): a 250 ms lag made the log read `sent 40,
          // stored 50`, more stored than sent.
          progressMs: 0,
        }).then(
          (s) => {
            counts.sent = s.sent;
            if (!stop.signal.aborted) log(`simulator finished: ${fmtInt(s.sent)} records sent; still serving (Ctrl-C to stop)`);
            return s;
          },
          (err: unknown) => {
            simError = err;
            stop.abort();
            return null;
          },
        );

    await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
    void failed;
    const sim = await simDone;
    await busSink?.flush().catch(() => undefined);
    // Let the consumers take in what was sent before stopping them (bounded wait).
    const deadline = Date.now() + 5000;
    while (counts.stored < counts.sent && Date.now() < deadline && !simError) await new Promise((r) => setTimeout(r, 100));
    for (const s of sources) await s.stop().catch(() => undefined);
    await Promise.allSettled([sinkDone, detectDone, congestionDone]);
    clearInterval(ticker);
    if (tty) process.stderr.write('\r\x1b[K');
    const final = await status();
    await app.shutdown();
    await busSink?.close().catch(() => undefined);
    await feed.close();
    if (env.redis) await alertSink.close();
    await snapshot?.close().catch(() => undefined);
    await store.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    log(`summary: ${final}; injected pairs ${fmtInt(sim?.injectedPairs ?? 0)}; stopped cleanly`);
    if (simError) throw simError;
    return 0;
  },
};
