/**
 * `traffic services:up`: the services tests and local runs need, idempotent and quick when all is
 * up. Starts (detached, pid files under .state/) a Kafka 3.9 KRaft broker on 127.0.0.1:9092 and a
 * second MariaDB on 127.0.0.1:3307; checks the machine's MariaDB 3306, Redis 6379 and Mosquitto 1883
 * and starts them if they are installed but down. Exit 0 only when every service answers.
 */
import type { Command } from '../core/command.ts';
import { parseFlags } from '../core/args.ts';
import { kafkaAnswers, kafkaUp } from './services/kafka.ts';
import { mariadbAnswers, mariadbMainUp, shard2Up } from './services/mariadb.ts';
import { redisAnswers, redisUp } from './services/redis.ts';
import { mosquittoAnswers, mosquittoUp } from './services/mosquitto.ts';
import { withServicesLock } from './services/lock.ts';
import type { ServiceResult } from './services/result.ts';

const usage = `usage: traffic services:up [--check]

Starts what the project runs itself (state in .state/):
  kafka         Apache Kafka 3.9 (KRaft) on 127.0.0.1:9092, jars from Maven Central (infra/kafka)
  mariadb-3307  second MariaDB instance (shard 2), data dir .state/mariadb-3307
and checks the machine's services, starting them when installed but down:
  mariadb       127.0.0.1:3306 (root, no password)
  redis         127.0.0.1:6379
  mosquitto     127.0.0.1:1883 (MQTT; mosquitto -d -c /etc/mosquitto/mosquitto.conf)
Idempotent: what already answers is left alone. Stop with \`traffic services:down\`.
  --check   only report whether each service answers; start nothing (exit 4 if one does not)`;

/** --check: the same report, nothing started. */
async function checkOnly(): Promise<ServiceResult[]> {
  const probe = async (name: string, where: string, answers: Promise<boolean>): Promise<ServiceResult> =>
    (await answers) ? { name, where, ok: true, note: 'answers' } : { name, where, ok: false, note: 'does not answer' };
  return Promise.all([
    probe('mariadb', '127.0.0.1:3306', mariadbAnswers(3306)),
    probe('redis', '127.0.0.1:6379', redisAnswers()),
    probe('mosquitto', '127.0.0.1:1883', mosquittoAnswers()),
    probe('mariadb-3307', '127.0.0.1:3307', mariadbAnswers(3307)),
    probe('kafka', '127.0.0.1:9092', kafkaAnswers()),
  ]);
}

export const command: Command = {
  name: 'services:up',
  summary: 'start Kafka, the second MariaDB; check MariaDB, Redis and Mosquitto',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, { check: { type: 'boolean' } });
    const t0 = Date.now();
    const log = (s: string): void => void process.stderr.write(s + '\n');
    const results: ServiceResult[] = values.check
      ? await checkOnly()
      : await withServicesLock(
          () =>
            Promise.all([
              mariadbMainUp(),
              redisUp(),
              mosquittoUp(),
              shard2Up(),
              kafkaUp(log).catch(
                (err: unknown): ServiceResult => ({ name: 'kafka', where: '127.0.0.1:9092', ok: false, note: String((err as Error).message ?? err) }),
              ),
            ]),
          log,
        );
    const w = Math.max(...results.map((r) => r.name.length));
    for (const r of results) {
      process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name.padEnd(w)}  ${r.where.padEnd(15)}  ${r.note}\n`);
    }
    const failed = results.filter((r) => !r.ok);
    process.stdout.write(
      failed.length
        ? `services:up: ${failed.length} service(s) not available: ${failed.map((r) => r.name).join(', ')}\n`
        : `services:up: all services answer (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`,
    );
    return failed.length ? 4 : 0;
  },
};
