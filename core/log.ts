/**
 * One logger for the long-running commands (`start`, `api`, `sink`, `detect`, `congestion`): pino,
 * with levels and China-local timestamps. On a terminal it writes one readable line per event
 * (`12:00:01.234 INFO  sink: …`); elsewhere (a service manager, CI, a log shipper) one JSON object
 * per line, pino's own format, with `time` as ISO 8601 +08:00. Progress lines of batch commands
 * (ETL, train) are not logs and stay as they are.
 *
 * TRAFFIC_LOG_LEVEL (trace, debug, info, warn, error, fatal, silent; default info) and
 * TRAFFIC_LOG_FORMAT (json | pretty; default by whether stderr is a terminal) set it.
 */
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { TrafficError } from './errors.ts';
import { chinaIso, formatChinaTime } from './time.ts';

export type { Logger };

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
const NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };

export interface LogSettings {
  level: (typeof LEVELS)[number];
  format: 'json' | 'pretty';
}

/** Normalizes TRAFFIC_LOG_LEVEL / TRAFFIC_LOG_FORMAT once; a wrong value is an option error. */
export function logSettings(env: NodeJS.ProcessEnv = process.env, tty = Boolean(process.stderr.isTTY)): LogSettings {
  const level = (env.TRAFFIC_LOG_LEVEL ?? 'info').trim().toLowerCase();
  if (!(LEVELS as readonly string[]).includes(level)) {
    throw new TrafficError('INVALID_OPTION', `TRAFFIC_LOG_LEVEL must be one of ${LEVELS.join(', ')}, got "${env.TRAFFIC_LOG_LEVEL}"`, {
      option: 'TRAFFIC_LOG_LEVEL',
    });
  }
  const format = (env.TRAFFIC_LOG_FORMAT ?? (tty ? 'pretty' : 'json')).trim().toLowerCase();
  if (format !== 'json' && format !== 'pretty') {
    throw new TrafficError('INVALID_OPTION', `TRAFFIC_LOG_FORMAT must be json or pretty, got "${env.TRAFFIC_LOG_FORMAT}"`, { option: 'TRAFFIC_LOG_FORMAT' });
  }
  return { level: level as LogSettings['level'], format };
}

/** The terminal form: time, level, component, message, then any other fields as key=value. */
function prettyLine(obj: Record<string, unknown>): string {
  const { level, time, msg, component, pid: _pid, hostname: _host, ...rest } = obj;
  const t = typeof time === 'string' ? time.slice(11, 23) : formatChinaTime(Date.now()).slice(11);
  const extra = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${t} ${NAMES[level as number] ?? String(level)} ${component ? `${String(component)}: ` : ''}${String(msg ?? '')}${extra ? `  ${extra}` : ''}\n`;
}

function prettyStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        try {
          out.write(prettyLine(JSON.parse(line) as Record<string, unknown>));
        } catch {
          out.write(line + '\n');
        }
      }
      cb();
    },
  });
}

let root: Logger | undefined;

/** The process's logger (made on first use from the environment). */
export function rootLogger(settings: LogSettings = logSettings(), out: NodeJS.WritableStream = process.stderr): Logger {
  if (root) return root;
  const options: pino.LoggerOptions = {
    level: settings.level,
    base: { pid: process.pid },
    // China local time whatever the machine zone, with milliseconds and the offset.
    timestamp: () => `,"time":"${chinaIso(Date.now(), true)}"`,
    // Secrets never reach a log line, whatever a caller passes.
    redact: { paths: ['apiKey', 'key', 'password', 'headers["x-api-key"]', 'req.headers["x-api-key"]'], censor: '[redacted]' },
  };
  root = settings.format === 'json' ? pino(options, pino.destination({ dest: 2, sync: true })) : pino(options, prettyStream(out));
  return root;
}

/** A child logger for one component (`sink`, `api`, `start` …). */
export function createLogger(component: string): Logger {
  return rootLogger().child({ component });
}

/** For tests: a logger writing to `out` with the given settings (not the process's logger). */
export function loggerTo(out: NodeJS.WritableStream, settings: LogSettings, component: string): Logger {
  const options: pino.LoggerOptions = { level: settings.level, base: undefined, timestamp: () => `,"time":"${chinaIso(Date.now(), true)}"` };
  const l = settings.format === 'json' ? pino(options, out as unknown as pino.DestinationStream) : pino(options, prettyStream(out));
  return l.child({ component });
}

/**
 * A `(message) => void` for code that takes a plain log function. Messages written for plain
 * stderr start with their component (`sink: …`); the logger names the component itself, so such a
 * prefix is dropped.
 */
export function logFn(logger: Logger, level: 'info' | 'warn' | 'error' = 'info'): (message: string) => void {
  const component = (logger.bindings() as { component?: string }).component;
  const prefix = component ? `${component}: ` : '';
  return (message) => logger[level](prefix && message.startsWith(prefix) ? message.slice(prefix.length) : message);
}
