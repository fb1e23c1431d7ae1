/** Bus addresses: `kafka://host:port[,host:port]/topic`, `file:PATH`, `stdout`, `memory:NAME`. */
import path from 'node:path';
import { TrafficError } from '../../core/errors.ts';
import type { BusUri } from './types.ts';

const HOST_PORT = /^[A-Za-z0-9.\-_]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$/;
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

export function parseBusUri(uri: string): BusUri {
  const bad = (why: string): TrafficError =>
    new TrafficError('INVALID_OPTION', `bad bus address "${uri}": ${why} (expected kafka://host:port/topic, file:PATH, stdout or memory:NAME)`);
  if (uri === 'stdout' || uri === '-') return { kind: 'stdout' };
  if (uri.startsWith('kafka://')) {
    const rest = uri.slice('kafka://'.length);
    const slash = rest.indexOf('/');
    if (slash < 0) throw bad('no topic');
    const brokers = rest.slice(0, slash).split(',').map((s) => s.trim()).filter(Boolean);
    const topic = decodeURIComponent(rest.slice(slash + 1));
    if (brokers.length === 0) throw bad('no broker');
    for (const b of brokers) if (!HOST_PORT.test(b)) throw bad(`broker "${b}" is not host:port`);
    if (!TOPIC.test(topic)) throw bad(`topic "${topic}" is not a valid Kafka topic name`);
    return { kind: 'kafka', brokers, topic };
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
