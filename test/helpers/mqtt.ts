/**
 * MQTT test helpers: the machine's Mosquitto (TRAFFIC_MQTT, default 127.0.0.1:1883), a topic per
 * test, a plain MQTT.js subscriber for checks, and session cleanup (a persistent session left in a
 * broker with persistence would outlive the test run).
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';

export const MQTT_HOST = process.env.TRAFFIC_MQTT ?? '127.0.0.1:1883';

/** A topic no other test (or run) uses: `test/<time>-<random>/<leaf>`. */
export function uniqueMqttTopic(leaf = 'raw'): string {
  return `test/${Date.now().toString(36)}-${randomBytes(4).toString('hex')}/${leaf}`;
}

export function mqttUri(topic: string, host = MQTT_HOST): string {
  return `mqtt://${host}/${topic}`;
}

/** Ends a persistent session (connect with Clean Start and expiry 0, disconnect). */
export async function forgetSession(clientId: string, host = MQTT_HOST): Promise<void> {
  const c = await mqtt
    .connectAsync(`mqtt://${host}`, { clientId, clean: true, protocolVersion: 5, reconnectPeriod: 0, properties: { sessionExpiryInterval: 0 } })
    .catch(() => null);
  await c?.endAsync().catch(() => undefined);
}

/** A clean-session subscriber that records every message (payload text and MQTT 5 user properties). */
export async function listen(
  topic: string,
  host = MQTT_HOST,
): Promise<{ client: MqttClient; messages: { topic: string; payload: string; props: Record<string, unknown> }[] }> {
  const client = await mqtt.connectAsync(`mqtt://${host}`, {
    clientId: `test-listen-${randomBytes(4).toString('hex')}`,
    protocolVersion: 5,
    clean: true,
    reconnectPeriod: 0,
  });
  const messages: { topic: string; payload: string; props: Record<string, unknown> }[] = [];
  client.on('message', (t, payload, packet) =>
    messages.push({ topic: t, payload: payload.toString(), props: (packet.properties?.userProperties ?? {}) as Record<string, unknown> }),
  );
  await client.subscribeAsync(topic, { qos: 1 });
  return { client, messages };
}

/** Publishes raw payloads with QoS 1 and waits for every PUBACK. */
export async function publishRaw(topic: string, payloads: string[], host = MQTT_HOST): Promise<void> {
  const client = await mqtt.connectAsync(`mqtt://${host}`, {
    clientId: `test-pub-${randomBytes(4).toString('hex')}`,
    protocolVersion: 5,
    clean: true,
    reconnectPeriod: 0,
  });
  try {
    for (const p of payloads) await client.publishAsync(topic, p, { qos: 1 });
  } finally {
    await client.endAsync();
  }
}

export async function waitUntil(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
