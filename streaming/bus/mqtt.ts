/**
 * MQTT adapters (MQTT.js 5, protocol MQTT 5, QoS 1) for checkpoint cameras and gateways that publish
 * over MQTT: a producer sink, and a source with a persistent session per consumer that sends each
 * PUBACK only after the handler resolved (the records are stored), so a crash leaves the records
 * unacknowledged in the broker's session and they are delivered again on the next start.
 *
 * - Client id of a consumer: `traffic-<groupId>-<8 hex of sha1(topic filter)>` (mqttClientId): fixed
 *   across restarts, so the broker finds the session; the filter is part of it because a session
 *   keeps its subscriptions, and a group reading another topic must not be fed the old one too.
 * - Session: Clean Start 0, Session Expiry Interval 7 days (Kafka's default offset retention): the
 *   broker queues QoS 1 messages for a stopped consumer up to its `max_queued_messages` (Mosquitto
 *   default 1000! see docs/streaming.md) and redelivers unacknowledged ones on reconnect.
 * - Acks after the side effect: MQTT.js hands a client's QoS 1 messages to `handleMessage` one at a
 *   time and sends the PUBACK when its callback succeeds; the callback with an error lets the next
 *   packet in WITHOUT a PUBACK (publish.js: `if (err) return done(err)`). The source uses that to
 *   collect a batch, runs the handler, then writes the PUBACKs itself, in arrival order as MQTT
 *   requires, through the client's packet writer (`_sendPacket(…, noStore)`: MQTT.js has no public
 *   manual ack; checked at start so an MQTT.js upgrade that drops it fails loudly). The broker keeps
 *   at most Receive Maximum (= maxBatch) unacknowledged messages in flight to us.
 * - A PUBACK is only ever sent on the connection the message came on; after a reconnect the broker
 *   redelivers what was not acknowledged (DUP), and the handler is idempotent.
 * - Reconnects: jittered exponential backoff (200 ms … 10 s), forever once connected; the first
 *   connection must succeed within 10 s (CONNECTION_FAILED otherwise).
 * - Malformed payloads are published (QoS 1, acknowledged) to `<message topic>-dlq`, payload = the
 *   original, MQTT 5 user properties reason/source/offset, before their PUBACK.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import { F } from '../../core/schema.ts';
import { TrafficError } from '../../core/errors.ts';
import { createLogger, logFn } from '../../core/log.ts';
import { encodeRecord } from '../record.ts';
import { checkSourceOptions, countReject, decodeRecord, deliverWithRetry, newStats, stopSignal } from './decode.ts';
import type { Sink, SinkOptions, Source, SourceOptions, SourceStats, StreamItem } from './types.ts';
import { mqttIsFilter } from './uri.ts';

/** How long a consumer's session outlives its connection (s): 7 days, like Kafka's offset retention. */
export const MQTT_SESSION_EXPIRY_S = 7 * 86_400;
/** How long the first connection may take before CONNECTION_FAILED (ms). */
const FIRST_CONNECT_MS = 10_000;
const BACKOFF = { initial: 200, max: 10_000 };
/** QoS 1 publishes in flight per producer when the broker does not say (its Receive Maximum). */
const DEFAULT_WINDOW = 1000;

/**
 * MQTT.js, loaded on first use: it is an optional peer dependency (package.json), installed by
 * those who ingest over MQTT (`npm install mqtt`), so a Kafka-only install does not carry its ~40
 * packages. Without it an mqtt:// address fails with DEPENDENCY_MISSING and the install command.
 */
let mqttModule: Promise<typeof import('mqtt')> | undefined;
export function loadMqtt(): Promise<typeof import('mqtt')> {
  mqttModule ??= import('mqtt').catch((err: NodeJS.ErrnoException) => {
    mqttModule = undefined;
    if (err.code === 'ERR_MODULE_NOT_FOUND' && /['"]mqtt['"]/.test(err.message)) {
      throw new TrafficError('DEPENDENCY_MISSING', 'mqtt:// addresses need the MQTT client: run `npm install mqtt` beside the toolkit', {
        value: 'mqtt',
      });
    }
    throw err;
  });
  return mqttModule;
}

/** The fixed client id of a consumer group on a topic filter (see the module comment). */
export function mqttClientId(groupId: string, topic: string): string {
  return `traffic-${groupId}-${createHash('sha1').update(topic).digest('hex').slice(0, 8)}`;
}

/** Jittered exponential delay for reconnect attempt n (1-based). */
function backoffMs(attempt: number): number {
  const base = Math.min(BACKOFF.max, BACKOFF.initial * 2 ** Math.min(attempt - 1, 20));
  return Math.round(base / 2 + Math.random() * (base / 2));
}

/**
 * Reconnects a client (created with reconnectPeriod 0) after each lost connection, with backoff;
 * returns a function that stops it. MQTT.js's own reconnect uses a fixed period.
 */
function keepReconnecting(client: MqttClient, what: string, log: (m: string) => void): () => void {
  let attempt = 0;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  client.on('connect', () => {
    if (attempt > 0) log(`mqtt: ${what}: reconnected after ${attempt} attempt(s)`);
    attempt = 0;
  });
  client.on('close', () => {
    if (stopped || timer || client.disconnecting) return;
    attempt++;
    const delay = backoffMs(attempt);
    if (attempt === 1 || attempt % 10 === 0) log(`mqtt: ${what}: connection lost; reconnect attempt ${attempt} in ${delay} ms`);
    timer = setTimeout(() => {
      timer = null;
      if (!stopped && !client.disconnecting && !client.connected) client.reconnect();
    }, delay);
  });
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    timer = null;
  };
}

/** Waits for the first CONNACK (or fails after FIRST_CONNECT_MS, reconnect attempts included). */
function firstConnect(client: MqttClient, url: string, what: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    let lastError = 'no answer';
    const onError = (err: Error): void => void (lastError = err.message);
    const timer = setTimeout(() => {
      client.off('connect', onConnect);
      client.off('error', onError);
      reject(new TrafficError('CONNECTION_FAILED', `MQTT ${url}: cannot connect ${what} within ${FIRST_CONNECT_MS / 1000} s: ${lastError}`));
    }, FIRST_CONNECT_MS);
    const onConnect = (connack: { sessionPresent: boolean }): void => {
      clearTimeout(timer);
      client.off('error', onError);
      resolve(connack.sessionPresent);
    };
    client.once('connect', onConnect);
    client.on('error', onError);
  });
}

function baseOptions(clientId: string): IClientOptions {
  return {
    clientId,
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    keepalive: 30,
    // Subscriptions live in the broker's session; the source subscribes itself on every connect.
    resubscribe: false,
  };
}

/**
 * QoS 1 producer: one record per message (the stream record), at most the broker's Receive
 * Maximum (Mosquitto: max_inflight_messages, default 20) unacknowledged at a time, as MQTT 5
 * requires; MQTT.js resends unacknowledged publishes after a reconnect. `sent` = acknowledged.
 */
export class MqttSink implements Sink {
  private acked = 0;
  private inFlight = 0;
  private error: unknown = null;
  private waiters: (() => void)[] = [];
  private readonly window: number;
  private corked = false;

  private constructor(
    private readonly client: MqttClient,
    private readonly topic: string,
    private readonly stopReconnect: () => void,
  ) {
    const max = client.options.properties?.receiveMaximum;
    const server = (client as unknown as { _serverProperties?: { receiveMaximum?: number } })._serverProperties?.receiveMaximum;
    this.window = Math.max(1, server ?? max ?? DEFAULT_WINDOW);
  }

  static async open(url: string, topic: string, opts: SinkOptions = {}): Promise<MqttSink> {
    if (mqttIsFilter(topic)) {
      throw new TrafficError('INVALID_OPTION', `MQTT: cannot publish to the filter "${topic}" (+ and # are for subscribers)`, { option: '--to' });
    }
    const clientId = `${opts.clientId ?? 'traffic-producer'}-${randomBytes(4).toString('hex')}`;
    const client = (await loadMqtt()).connect(url, { ...baseOptions(clientId), clean: true });
    const stop = keepReconnecting(client, `producer ${clientId}`, logFn(createLogger('bus'), 'warn'));
    try {
      await firstConnect(client, url, `producer ${clientId}`);
    } catch (err) {
      stop();
      client.end(true);
      throw err;
    }
    return new MqttSink(client, topic, stop);
  }

  get sent(): number {
    return this.acked;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private next(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }

  async send(rows: string[][]): Promise<void> {
    for (const row of rows) {
      while (this.inFlight >= this.window && !this.error) await this.next();
      if (this.error) throw this.error;
      this.cork();
      this.inFlight++;
      this.client.publish(this.topic, encodeRecord(row), { qos: 1 }, (err) => {
        this.inFlight--;
        if (err && !this.error) {
          this.error = new TrafficError('SERVICE_UNAVAILABLE', `MQTT: publishing to ${this.topic} failed: ${err.message}`, {}, { cause: err });
        } else if (!err) this.acked++;
        this.wake();
      });
    }
    if (this.error) throw this.error;
  }

  /**
   * MQTT.js writes each packet with several small socket writes; corking until the next tick sends
   * a burst of publishes in one write (measured: ~35% more records/s).
   */
  private cork(): void {
    const stream = this.client.stream;
    if (this.corked || !stream?.writable) return;
    this.corked = true;
    stream.cork();
    process.nextTick(() => {
      this.corked = false;
      stream.uncork();
    });
  }

  async flush(): Promise<void> {
    while (this.inFlight > 0 && !this.error) await this.next();
    if (this.error) throw this.error;
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      this.stopReconnect();
      await this.client.endAsync().catch(() => undefined);
    }
  }
}

interface Received {
  packet: IPublishPacket;
  /** The connection it came on: a PUBACK goes back on that connection only. */
  conn: number;
}

/** The error handleMessage returns to let the next packet in without a PUBACK. */
const DEFERRED = new Error('traffic: PUBACK deferred until the batch is stored');

/** Persistent-session consumer; see the module comment. Item partition 0, offset = arrival count in this run. */
export class MqttSource implements Source {
  readonly stats: SourceStats = newStats();
  private readonly o: ReturnType<typeof checkSourceOptions>;
  private readonly stopper = stopSignal();
  private readonly log: (m: string) => void;
  readonly clientId: string;
  private client: MqttClient | null = null;
  private stopReconnect: () => void = () => undefined;
  private queue: Received[] = [];
  private conn = 0;
  private seq = 0n;
  private pumping: Promise<void> | null = null;
  private settle: { resolve: () => void; reject: (e: unknown) => void } | null = null;
  private fatal: unknown = null;
  private shuttingDown: Promise<void> | null = null;
  /** Whether this process already had the session (a later CONNACK without it lost records). */
  private hadSession = false;
  private markReady!: () => void;
  /**
   * Resolves at the first SUBACK: from then on the broker keeps what is published for this consumer,
   * stopped or not (MQTT keeps no history before a session's subscription).
   */
  readonly ready: Promise<void> = new Promise((r) => (this.markReady = r));

  constructor(
    private readonly url: string,
    private readonly topic: string,
    private readonly opts: SourceOptions,
  ) {
    this.o = checkSourceOptions(opts);
    this.clientId = mqttClientId(opts.groupId, topic);
    this.log = opts.log ?? logFn(createLogger('bus'));
    opts.signal?.addEventListener('abort', () => void this.stop(), { once: true });
  }

  async run(handler: (batch: StreamItem[]) => Promise<void>): Promise<void> {
    if (this.stopper.fired()) return;
    const done = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    const client = (await loadMqtt()).connect(this.url, {
      ...baseOptions(this.clientId),
      clean: false,
      properties: { sessionExpiryInterval: MQTT_SESSION_EXPIRY_S, receiveMaximum: Math.min(65_535, this.o.maxBatch) },
    });
    this.client = client;
    if (typeof (client as unknown as { _sendPacket?: unknown })._sendPacket !== 'function') {
      client.end(true);
      throw new TrafficError('INTERNAL', 'MQTT.js no longer has _sendPacket: the deferred PUBACK needs adapting to this MQTT.js version');
    }
    client.handleMessage = (packet, callback) => {
      if (this.stopper.fired()) return callback(DEFERRED);
      this.queue.push({ packet, conn: this.conn });
      this.kick(handler);
      callback(DEFERRED);
    };
    client.on('connect', (connack) => {
      this.conn++;
      // Records of the previous connection not yet acknowledged come again (DUP): drop our copies.
      this.queue = this.queue.filter((r) => r.conn === this.conn);
      if (!connack.sessionPresent && this.hadSession) {
        this.log(
          `mqtt: ${this.clientId}: the broker had no session for us (expired or broker restarted without persistence): records published meanwhile are lost`,
        );
      }
      this.hadSession = true;
      // Also on a resumed session: cheap, and repairs a session created by a crash before SUBACK.
      const resumed = connack.sessionPresent;
      client.subscribe(this.topic, { qos: 1, rh: 1 }, (err, granted) => {
        const code = granted?.[0]?.qos;
        if (err || code === undefined || code >= 0x80) {
          // Refused (e.g. by an ACL): nothing would ever arrive, so run() fails rather than wait.
          const why = err ? err.message : `SUBACK reason code ${code ?? 'missing'}`;
          if (!this.stopper.fired()) this.fail(new TrafficError('CONNECTION_FAILED', `MQTT ${this.url}: cannot subscribe to ${this.topic}: ${why}`));
          return;
        }
        if (this.conn === 1) this.log(`mqtt: consumer ${this.clientId} subscribed to ${this.topic} (${resumed ? 'session resumed' : 'new session'})`);
        this.markReady();
      });
    });
    client.on('disconnect', (packet) => {
      // 0x8E Session taken over: another consumer runs with the same group id on this topic.
      if (packet.reasonCode === 0x8e) {
        this.fail(
          new TrafficError(
            'INVALID_OPTION',
            `MQTT: another consumer took over session ${this.clientId} (same --group on ${this.topic}); one consumer per group`,
            { option: '--group' },
          ),
        );
      }
    });
    client.on('error', (err) => {
      if (this.client?.connected === false) return; // a failed connect: keepReconnecting retries
      this.log(`mqtt: ${this.clientId}: ${err.message}`);
    });
    this.stopReconnect = keepReconnecting(client, `consumer ${this.clientId}`, this.log);
    try {
      await firstConnect(client, this.url, `consumer ${this.clientId}`);
    } catch (err) {
      const stopRequested = this.stopper.fired();
      await this.shutdown();
      if (stopRequested) return done; // stop() during the first connect: run() just ends
      throw err;
    }
    return done;
  }

  /** Starts the delivery loop unless it runs. */
  private kick(handler: (batch: StreamItem[]) => Promise<void>): void {
    this.pumping ??= (async () => {
      try {
        // A tick lets the packets MQTT.js already parsed join the batch.
        await new Promise((r) => setImmediate(r));
        while (this.queue.length && !this.stopper.fired()) await this.deliver(handler);
      } catch (err) {
        this.fail(err);
      } finally {
        this.pumping = null;
      }
      if (this.queue.length && !this.stopper.fired()) this.kick(handler);
    })();
  }

  private async deliver(handler: (batch: StreamItem[]) => Promise<void>): Promise<void> {
    const batch = this.queue.splice(0, this.o.maxBatch);
    const items: StreamItem[] = [];
    const bad: { packet: IPublishPacket; reason: string; offset: string }[] = [];
    for (const { packet } of batch) {
      this.stats.received++;
      const offset = String(this.seq++);
      const raw = packet.payload.toString();
      const d = decodeRecord(raw);
      if (d.ok) items.push({ row: d.row, key: d.row[F.HPHM] ?? null, raw, source: packet.topic, partition: 0, offset });
      else bad.push({ packet, reason: d.reason, offset });
    }
    if (bad.length) await this.deadLetter(bad);
    if (items.length) {
      const ok = await deliverWithRetry(handler, items, { stop: this.stopper, opts: this.opts, what: `mqtt ${this.topic}@${items[0]!.offset}` });
      if (!ok) return; // stopped while retrying: not acknowledged, the broker keeps them
      this.stats.delivered += items.length;
    }
    this.ack(batch);
  }

  /** PUBACKs in arrival order, on the connection each message came on (else the broker resends it). */
  private ack(batch: Received[]): void {
    const client = this.client;
    if (!client) return;
    // One socket write for the batch's PUBACKs instead of one per message.
    const stream = client.stream;
    const corked = Boolean(stream?.writable);
    if (corked) stream.cork();
    for (const { packet, conn } of batch) {
      if (packet.qos === 0 || packet.messageId === undefined) continue;
      if (conn !== this.conn || !client.connected) continue;
      (client as unknown as { _sendPacket: (p: object, cb?: () => void, put?: () => void, noStore?: boolean) => void })._sendPacket(
        { cmd: 'puback', messageId: packet.messageId, reasonCode: 0 },
        undefined,
        undefined,
        true,
      );
    }
    if (corked) process.nextTick(() => stream.uncork());
  }

  private async deadLetter(bad: { packet: IPublishPacket; reason: string; offset: string }[]): Promise<void> {
    const client = this.client!;
    await Promise.all(
      bad.map(({ packet, reason, offset }) =>
        client.publishAsync(`${packet.topic}-dlq`, packet.payload as Buffer, {
          qos: 1,
          properties: { userProperties: { reason, source: packet.topic, offset, client: this.clientId } },
        }),
      ),
    ).catch((err: unknown) => {
      throw new TrafficError(
        'SERVICE_UNAVAILABLE',
        `MQTT: dead-lettering to ${bad[0]!.packet.topic}-dlq failed: ${(err as Error).message}`,
        {},
        { cause: err },
      );
    });
    for (const b of bad) countReject(this.stats, b.reason);
  }

  private fail(err: unknown): void {
    if (this.fatal) return;
    this.fatal = err;
    setImmediate(() => void this.shutdown().then(() => this.settle?.reject(err)));
  }

  private shutdown(): Promise<void> {
    this.shuttingDown ??= (async () => {
      this.stopper.fire();
      this.stopReconnect();
      await this.pumping?.catch(() => undefined);
      // A normal DISCONNECT keeps the session (expiry from CONNECT): unacknowledged records stay queued.
      const client = this.client;
      if (client?.connected) await client.endAsync(false).catch(() => undefined);
      else client?.end(true); // never connected or lost: nothing to say goodbye to
    })();
    return this.shuttingDown;
  }

  async stop(): Promise<void> {
    await this.shutdown();
    if (!this.fatal) this.settle?.resolve();
  }
}
