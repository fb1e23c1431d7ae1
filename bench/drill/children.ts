/**
 * The drill's child processes: `node bin/traffic.mjs <command> …` started in their own process
 * group (so a SIGKILL takes the whole command down, worker threads included, exactly as a crash
 * would), each incarnation logging to its own file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../scripts/services/paths.ts';

const BIN = path.join(ROOT, 'bin/traffic.mjs');

export interface Incarnation {
  n: number;
  child: ChildProcess;
  log: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Set once a supervisor has seen this incarnation exit on its own and scheduled a restart. */
  restarting?: boolean;
}

/** A long-running traffic command that the drill may kill and restart. */
export class TrafficProcess {
  private count = 0;
  current: Incarnation | null = null;
  readonly all: Incarnation[] = [];

  constructor(
    readonly name: string,
    /** The command line after `traffic` (set before start()). */
    public args: string[],
    private readonly logDir: string,
  ) {}

  start(): Incarnation {
    const n = ++this.count;
    const log = path.join(this.logDir, `${this.name}-${n}.log`);
    const fd = openSync(log, 'a');
    const child = spawn(process.execPath, [BIN, ...this.args], { cwd: ROOT, detached: true, stdio: ['ignore', fd, fd], env: process.env });
    closeSync(fd);
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', () => resolve({ code: -1, signal: null }));
    });
    const inc: Incarnation = { n, child, log, exit };
    this.current = inc;
    this.all.push(inc);
    return inc;
  }

  alive(): boolean {
    const c = this.current?.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** Sends `signal` to the current incarnation's process group and waits for it to exit. */
  async kill(signal: NodeJS.Signals, timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null> {
    const inc = this.current;
    if (!inc || !this.alive()) return null;
    signalGroup(inc.child, signal);
    const timer = new Promise<null>((r) => setTimeout(() => r(null), timeoutMs).unref());
    const r = await Promise.race([inc.exit, timer]);
    if (r === null) {
      signalGroup(inc.child, 'SIGKILL');
      return inc.exit;
    }
    return r;
  }

  logText(inc: Incarnation): string {
    try {
      return readFileSync(inc.log, 'utf8');
    } catch {
      return '';
    }
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal); // the group this child leads (spawned detached)
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

/** Runs a traffic command to completion; resolves with its exit code and combined output. */
export function runTraffic(args: string[], logFile: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const fd = openSync(logFile, 'a');
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', fd, fd], env: process.env });
    closeSync(fd);
    const done = (code: number | null): void => resolve({ code, output: readFileSync(logFile, 'utf8') });
    child.once('exit', (code) => done(code));
    child.once('error', () => done(-1));
  });
}
