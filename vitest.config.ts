import { defineConfig } from 'vitest/config';

// Times are China local time whatever the machine's zone; tests run under TZ=UTC to prove it.
process.env.TZ = 'UTC';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests share real services (Kafka, MariaDB, Redis); files run in parallel but each
    // test owns its topic / database / key prefix.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
