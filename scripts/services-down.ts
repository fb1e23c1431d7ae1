/**
 * `traffic services:down`: stops only what services:up started (Kafka and the 3307 MariaDB, found by
 * their pid files under .state/ and checked to be ours). The machine's MariaDB 3306 and Redis are
 * shared and left running. State (topics, databases) stays in .state/ for the next start.
 */
import type { Command } from '../core/command.ts';
import { parseFlags } from '../core/args.ts';
import { kafkaDown } from './services/kafka.ts';
import { withServicesLock } from './services/lock.ts';
import { shard2Down } from './services/mariadb.ts';

export const command: Command = {
  name: 'services:down',
  summary: 'stop the services this project started',
  usage: `usage: traffic services:down

Stops the Kafka broker and the 3307 MariaDB started by \`traffic services:up\` (pid files in .state/).
The machine's MariaDB (3306) and Redis (6379) are shared and keep running. Data stays in .state/;
delete that directory for a clean slate.`,
  async run(argv) {
    parseFlags(argv, {});
    const lines = await withServicesLock(
      () => Promise.all([kafkaDown(), shard2Down()]),
      (s) => void process.stderr.write(s + '\n'),
    );
    for (const l of lines) process.stdout.write(l + '\n');
    return 0;
  },
};
