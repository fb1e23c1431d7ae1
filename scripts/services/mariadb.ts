/**
 * MariaDB: the machine's own server on 3306 (checked, started if installed but down) and the
 * project's second instance on 3307 (shard 2) with its data dir under .state/. See SERVICES.md.
 */
import { existsSync, mkdirSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { SHARD2, STATE_DIR } from './paths.ts';
import { ownedPid, portOpen, removeFile, run, spawnDaemon, stopPid, tail, waitFor, which } from './proc.ts';
import type { ServiceResult } from './result.ts';

export async function mariadbAnswers(port: number): Promise<boolean> {
  if (!(await portOpen('127.0.0.1', port))) return false;
  let conn: mysql.Connection | undefined;
  try {
    conn = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', connectTimeout: 1500 });
    await conn.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await conn?.end().catch(() => undefined);
  }
}

/** The machine's MariaDB on 3306: shared, never stopped by services:down. */
export async function mariadbMainUp(): Promise<ServiceResult> {
  const name = 'mariadb';
  const where = '127.0.0.1:3306';
  if (await mariadbAnswers(3306)) return { name, where, ok: true, note: 'running' };
  if (!existsSync('/usr/sbin/mariadbd')) {
    return { name, where, ok: false, note: 'not answering and not installed: apt-get install -y mariadb-server' };
  }
  const r = await run('start-stop-daemon', ['--start', '--oknodo', '--background', '--exec', '/usr/sbin/mariadbd'], { timeoutMs: 30_000 });
  if (!r.ok) return { name, where, ok: false, note: `could not be started: ${r.output.trim()}` };
  const ready = await waitFor(() => mariadbAnswers(3306), { timeoutMs: 30_000 });
  return ready.ok
    ? { name, where, ok: true, note: 'started (machine service; root without password)' }
    : { name, where, ok: false, note: `started but ${ready.reason}; check /var/log/mysql or journal` };
}

/** The project's second instance on 3307 (shard 2). */
export async function shard2Up(): Promise<ServiceResult> {
  const name = 'mariadb-3307';
  const where = `${SHARD2.host}:${SHARD2.port}`;
  const started = Date.now();
  const mine = ownedPid(SHARD2.pidFile, SHARD2.datadir);
  if (await mariadbAnswers(SHARD2.port)) {
    return { name, where, ok: true, note: mine ? `running (started by this project, pid ${mine})` : 'running (not started by this project)' };
  }
  if (!mine && (await portOpen(SHARD2.host, SHARD2.port))) {
    const later = await waitFor(() => mariadbAnswers(SHARD2.port), { timeoutMs: 30_000 });
    if (later.ok) return { name, where, ok: true, note: 'running (not started by this project)' };
    return { name, where, ok: false, note: `port ${SHARD2.port} is taken by a process that does not answer as MariaDB root@127.0.0.1` };
  }
  let exited: () => string | undefined = () => undefined;
  let pid = mine;
  if (!mine) {
    const mariadbd = which('mariadbd');
    const installDb = which('mariadb-install-db');
    if (!mariadbd || !installDb) {
      return { name, where, ok: false, note: 'mariadbd / mariadb-install-db not installed: apt-get update && apt-get install -y mariadb-server' };
    }
    mkdirSync(STATE_DIR, { recursive: true });
    if (!existsSync(`${SHARD2.datadir}/mysql`)) {
      const r = await run(
        installDb,
        ['--no-defaults', '--user=root', `--datadir=${SHARD2.datadir}`, '--auth-root-authentication-method=normal', '--skip-test-db'],
        { timeoutMs: 120_000 },
      );
      if (!r.ok) return { name, where, ok: false, note: `mariadb-install-db failed:\n${r.output.slice(-2000)}` };
    }
    removeFile(SHARD2.pidFile);
    const d = spawnDaemon(
      mariadbd,
      [
        '--no-defaults',
        '--user=root',
        `--datadir=${SHARD2.datadir}`,
        `--port=${SHARD2.port}`,
        `--bind-address=${SHARD2.host}`,
        `--socket=${SHARD2.socket}`,
        `--pid-file=${SHARD2.pidFile}`,
        `--log-error=${SHARD2.errLog}`,
        '--skip-log-bin',
      ],
      { outFile: SHARD2.stdout },
    );
    pid = d.pid;
    exited = d.exited;
  }
  const ready = await waitFor(() => mariadbAnswers(SHARD2.port), { timeoutMs: 60_000, abort: exited });
  if (!ready.ok) return { name, where, ok: false, note: `${ready.reason}\n--- ${SHARD2.errLog}:\n${tail(SHARD2.errLog)}` };
  return { name, where, ok: true, note: `started (pid ${pid}, ${((Date.now() - started) / 1000).toFixed(1)} s)` };
}

export async function shard2Down(): Promise<string> {
  const pid = ownedPid(SHARD2.pidFile, SHARD2.datadir);
  if (!pid) return 'mariadb-3307: not running (nothing started by this project)';
  const how = await stopPid(pid, 30_000);
  return `mariadb-3307: ${how} (pid ${pid})`;
}
