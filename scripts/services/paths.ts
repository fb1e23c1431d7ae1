/**
 * Where the local services keep their state: one ignored project dir, `.state/`, so that
 * `services:down` and a fresh clone know exactly what belongs to the project.
 */
import path from 'node:path';
import { PACKAGE_ROOT } from '../../core/paths.ts';

export const ROOT = PACKAGE_ROOT;
export const STATE_DIR = path.join(ROOT, '.state');

export const KAFKA = {
  host: '127.0.0.1',
  port: 9092,
  controllerPort: 9093,
  pom: path.join(ROOT, 'infra/kafka/pom.xml'),
  lib: path.join(ROOT, 'infra/kafka/lib'),
  dir: path.join(STATE_DIR, 'kafka'),
  get data(): string {
    return path.join(this.dir, 'data');
  },
  get logs(): string {
    return path.join(this.dir, 'logs');
  },
  get config(): string {
    return path.join(this.dir, 'server.properties');
  },
  get log4j(): string {
    return path.join(this.dir, 'log4j.properties');
  },
  get pidFile(): string {
    return path.join(this.dir, 'kafka.pid');
  },
  get stdout(): string {
    return path.join(this.logs, 'stdout.log');
  },
  get serverLog(): string {
    return path.join(this.logs, 'server.log');
  },
  get clusterIdFile(): string {
    return path.join(this.dir, 'cluster.id');
  },
};

export const SHARD2 = {
  host: '127.0.0.1',
  port: 3307,
  datadir: path.join(STATE_DIR, 'mariadb-3307'),
  socket: path.join(STATE_DIR, 'mariadb-3307.sock'),
  pidFile: path.join(STATE_DIR, 'mariadb-3307.pid'),
  errLog: path.join(STATE_DIR, 'mariadb-3307.err'),
  stdout: path.join(STATE_DIR, 'mariadb-3307.out'),
};

/** Java classpath of the broker jars (a wildcard entry: the JVM expands it). */
export function kafkaClasspath(): string {
  return path.join(KAFKA.lib, '*');
}
