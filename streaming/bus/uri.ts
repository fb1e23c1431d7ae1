/**
 * Bus addresses: `kafka://host:port[,host:port]/topic`, `mqtt://host:port/topic/path`, `file:PATH`,
 * `stdout`, `memory:NAME`.
 */
import path from 'node:path';
import { TrafficError } from '../../core/errors.ts';
import type { BusUri } from './types.ts';

const HOST_PORT = /^[A-Za-z0-9.\-_]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$/;
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

export function parseBusUri(uri: string): BusUri {
  const bad = (why: string): TrafficError =>
    new TrafficError(
      'INVALID_OPTION',
      `bad bus address "${uri}": ${why} (expected kafka://host:port/topic, mqtt://host:port/topic/path, file:PATH, stdout or memory:NAME)`,
    );
  if (uri === 'stdout' || uri === '-') return { kind: 'stdout' };
  if (uri.startsWith('kafka://')) {
    const rest = uri.slice('kafka://'.length);
    const slash = rest.indexOf('/');
    if (slash < 0) throw bad('no topic');
    const brokers = rest
      .slice(0, slash)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const topic = decodeURIComponent(rest.slice(slash + 1));
    if (brokers.length === 0) throw bad('no broker');
    for (const b of brokers) if (!HOST_PORT.test(b)) throw bad(`broker "${b}" is not host:port`);
    if (!TOPIC.test(topic)) throw bad(`topic "${topic}" is not a valid Kafka topic name`);
    return { kind: 'kafka', brokers, topic };
  }
  if (uri.startsWith('mqtt://')) {
    const rest = uri.slice('mqtt://'.length);
    const slash = rest.indexOf('/');
    if (slash < 0) throw bad('no topic');
    const host = rest.slice(0, slash);
    if (!HOST_PORT.test(host)) throw bad(`broker "${host}" is not host:port`);
    const topic = decodeURIComponent(rest.slice(slash + 1));
    const why = mqttTopicProblem(topic);
    if (why) throw bad(why);
    return { kind: 'mqtt', url: `mqtt://${host}`, topic };
  }
  if (uri.startsWith('file:')) {
    let p = uri.slice('file:'.length);
    if (p.startsWith('//')) p = p.slice(2); // file:///abs/path
    if (!p) throw bad('no path');
    return { kind: 'file', path: path.resolve(p) };
  }
  if (uri.startsWith('memory:')) {
    const name = uri.slice('memory:'.length);
    if (!name) throw bad('no name');
    return { kind: 'memory', name };
  }
  throw bad('unknown scheme');
}

/**
 * Why a topic filter is not a valid MQTT filter (MQTT 3.1.1 §4.7), or null: `#` only as the whole
 * last level, `+` only as a whole level; no empty filter, NUL, or `$share/` (one session per
 * consumer is the contract, shared subscriptions would split a plate's passes over consumers).
 */
export function mqttTopicProblem(topic: string): string | null {
  if (topic === '') return 'empty MQTT topic';
  if (topic.includes('\u0000')) return 'MQTT topic contains NUL';
  if (Buffer.byteLength(topic) > 65_535) return 'MQTT topic longer than 65535 bytes';
  if (topic.startsWith('$share/')) return `shared subscription "${topic}" is not supported (one persistent session per consumer)`;
  const levels = topic.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i]!;
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return `MQTT topic "${topic}": # must be the whole last level`;
    if (l.includes('+') && l !== '+') return `MQTT topic "${topic}": + must be a whole level`;
  }
  return null;
}

/** True when the MQTT topic has wildcards (a filter: fine to subscribe to, not to publish to). */
export function mqttIsFilter(topic: string): boolean {
  return /[+#]/.test(topic);
}
