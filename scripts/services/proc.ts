/**
 * Process and port helpers for the local services: start a daemon detached (own process group,
 * output to a file, pid file) so it outlives `npm test`, probe ports, and stop only processes whose
 * command line points into the project's state dir (a pid file can outlive its process and the pid
 * be reused by something else).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** True when something accepts TCP connections on host:port within timeoutMs. */
export function portOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok: boolean): void => {
      sock.removeAllListeners();
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every intervalMs until it returns true, `abort` returns a reason, or timeout. */
export async function waitFor(
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; abort?: () => string | undefined },
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const why = opts.abort?.();
    if (why) return { ok: false, reason: why };
    if (await check().catch(() => false)) return { ok: true };
    if (Date.now() >= deadline) return { ok: false, reason: `not ready after ${Math.round(opts.timeoutMs / 1000)} s` };
    await sleep(opts.intervalMs ?? 500);
  }
}

export interface Daemon {
  pid: number;
  /** Set once the child has exited (it should not while we wait for it to become ready). */
  exited: () => string | undefined;
}

/**
 * Starts `cmd args` detached in its own process group with stdout/stderr appended to `outFile`,
 * writes its pid to `pidFile`, and lets this process exit without waiting for it.
 */
export function spawnDaemon(cmd: string, args: string[], opts: { outFile: string; pidFile?: string; cwd?: string }): Daemon {
  mkdirSync(path.dirname(opts.outFile), { recursive: true });
  const fd = openSync(opts.outFile, 'a');
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], cwd: opts.cwd });
  closeSync(fd);
  let exitReason: string | undefined;
  child.once('exit', (code, signal) => {
    exitReason = `exited early (${signal ? 'signal ' + signal : 'code ' + code}); see ${opts.outFile}`;
  });
  child.once('error', (err) => {
    exitReason = `could not be started: ${err.message}`;
  });
  child.unref();
  if (child.pid === undefined) return { pid: -1, exited: () => exitReason ?? `could not be started: ${cmd}` };
  if (opts.pidFile) writeFileSync(opts.pidFile, `${child.pid}\n`);
  return { pid: child.pid, exited: () => exitReason };
}

export function readPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const n = Number(readFileSync(pidFile, 'utf8').trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The process's command line, or undefined when it is gone (Linux /proc). */
export function cmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return undefined;
  }
}

/** The pid in pidFile when that process is alive and its command line mentions `marker`. */
export function ownedPid(pidFile: string, marker: string): number | undefined {
  const pid = readPid(pidFile);
  if (pid === undefined || !alive(pid)) return undefined;
  const cl = cmdline(pid);
  return cl !== undefined && cl.includes(marker) ? pid : undefined;
}

/** SIGTERM, wait up to graceMs for the exit, then SIGKILL. Returns how it ended. */
export async function stopPid(pid: number, graceMs: number): Promise<'stopped' | 'killed'> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return 'stopped';
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!alive(pid) || isZombie(pid)) return 'stopped';
    await sleep(200);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  return 'killed';
}

function isZombie(pid: number): boolean {
  try {
    return / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)/, ' '));
  } catch {
    return true;
  }
}

export function removeFile(file: string): void {
  rmSync(file, { force: true });
}

/** Last lines of a log file, for error messages. */
export function tail(file: string, lines = 15): string {
  if (!existsSync(file)) return `(no ${file})`;
  const text = readFileSync(file, 'utf8');
  return text
    .split('\n')
    .slice(-lines - 1)
    .join('\n')
    .trimEnd();
}

/** Runs a short command without blocking the event loop (other services are probed meanwhile). */
export function run(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 600_000 });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', (err) => resolve({ ok: false, output: output + err.message }));
    child.once('close', (code) => resolve({ ok: code === 0, output }));
  });
}

export function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin'])) {
    const p = path.join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}
