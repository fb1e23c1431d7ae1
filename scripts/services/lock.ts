/**
 * One services:up / services:down at a time per checkout: concurrent `npm test` runs would
 * otherwise both start a broker on the same data dir, and the loser's pid file would hide the winner.
 */
import { mkdirSync, openSync, closeSync, writeSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { STATE_DIR } from './paths.ts';
import { alive, sleep } from './proc.ts';

const LOCK = path.join(STATE_DIR, 'services.lock');

export async function withServicesLock<T>(fn: () => Promise<T>, log: (s: string) => void, timeoutMs = 180_000): Promise<T> {
  mkdirSync(STATE_DIR, { recursive: true });
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      const fd = openSync(LOCK, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder = NaN;
      try {
        holder = Number(readFileSync(LOCK, 'utf8').trim());
      } catch {
        continue; // released meanwhile
      }
      if (!Number.isInteger(holder) || holder <= 0 || !alive(holder)) {
        rmSync(LOCK, { force: true }); // left by a process that died
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another services command (pid ${holder}) holds ${LOCK}`);
      if (!told) log(`services: waiting for another services command (pid ${holder}) …`);
      told = true;
      await sleep(300);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK, { force: true });
  }
}
