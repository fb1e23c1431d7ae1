/** Turning carried records into StreamItems or dead-letter reasons, shared by every source. */
import { isRetriable, TrafficError } from '../../core/errors.ts';
import { decodeRecord } from '../record.ts';
import type { SourceOptions, SourceStats } from './types.ts';
import { createLogger, logFn } from '../../core/log.ts';

export function newStats(): SourceStats {
  return { received: 0, delivered: 0, deadLettered: 0, deadLetterReasons: {} };
}

/** Reasons carry the offending value; counts group by the reason without it. */
export function reasonKey(reason: string): string {
  return reason.replace(/:\s*".*"$/s, '').replace(/"[^"]*"/g, '…');
}

export function countReject(stats: SourceStats, reason: string): void {
  stats.deadLettered++;
  const k = reasonKey(reason);
  stats.deadLetterReasons[k] = (stats.deadLetterReasons[k] ?? 0) + 1;
}

export { decodeRecord };

export const sleep = (ms: number, wake?: { promise: Promise<void> }): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    wake?.promise.then(() => {
      clearTimeout(t);
      resolve();
    });
  });

/** A promise resolved by stop(), so waits can end early. */
export function stopSignal(): { promise: Promise<void>; fire: () => void; fired: () => boolean } {
  let fire!: () => void;
  let done = false;
  const promise = new Promise<void>((r) => (fire = r));
  return {
    promise,
    fire: () => {
      done = true;
      fire();
    },
    fired: () => done,
  };
}

/** Per source (its options object): when the last retry line was logged, and how many were not since. */
const retryLog = new WeakMap<SourceOptions, { at: number; quiet: number }>();

/**
 * Logs a handler failure at most once a second per source, with how many were not logged. A
 * pipelined source has many handler calls in flight (the sink: thousands at a live rate), and
 * while a shard is down every one of them fails and retries: one line per call and attempt was
 * 13,000 lines in a 20-second outage.
 */
function logRetry(opts: SourceOptions, log: (message: string) => void, line: string): void {
  const now = performance.now();
  const s = retryLog.get(opts);
  if (s && now - s.at < 1000) {
    s.quiet++;
    return;
  }
  log(s?.quiet ? `${line} (and ${s.quiet} more handler failures since the last such line)` : line);
  retryLog.set(opts, { at: now, quiet: 0 });
}

/**
 * Calls the handler until it succeeds. Retriable failures (a store that is down) are retried with
 * jittered exponential backoff for as long as the source runs; anything else is thrown.
 * Returns false when stop() ended the retries (the batch stays uncommitted).
 */
export async function deliverWithRetry<T>(
  handler: (batch: T[]) => Promise<void>,
  batch: T[],
  ctl: { stop: ReturnType<typeof stopSignal>; opts: SourceOptions; what: string; heartbeat?: () => Promise<void> },
): Promise<boolean> {
  const initial = ctl.opts.retryMs?.initial ?? 100;
  const max = ctl.opts.retryMs?.max ?? 5000;
  const log = ctl.opts.log ?? logFn(createLogger('bus'), 'warn');
  for (let attempt = 1; ; attempt++) {
    try {
      await handler(batch);
      return true;
    } catch (err) {
      if (!isRetriable(err)) throw err;
      if (ctl.stop.fired()) return false;
      const base = Math.min(max, initial * 2 ** Math.min(attempt - 1, 20));
      const delay = Math.round(base / 2 + Math.random() * (base / 2));
      logRetry(ctl.opts, log, `bus: handler failed on ${ctl.what} (${(err as Error).message}); retry ${attempt} in ${delay} ms`);
      await sleep(delay, ctl.stop);
      await ctl.heartbeat?.().catch(() => undefined);
      if (ctl.stop.fired()) return false;
    }
  }
}

export function checkSourceOptions(
  opts: SourceOptions,
): Required<Pick<SourceOptions, 'fromBeginning' | 'follow' | 'maxBatch' | 'commit' | 'concurrency' | 'inFlight'>> {
  if (typeof opts.groupId !== 'string' || opts.groupId.trim() === '') {
    throw new TrafficError('INVALID_OPTION', 'openSource: groupId is required (a non-empty string)', { option: 'groupId' });
  }
  const maxBatch = opts.maxBatch ?? 500;
  if (!Number.isSafeInteger(maxBatch) || maxBatch < 1) {
    throw new TrafficError('INVALID_OPTION', `openSource: maxBatch must be a positive integer, got ${maxBatch}`, { option: 'maxBatch' });
  }
  const concurrency = opts.concurrency ?? 1;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new TrafficError('INVALID_OPTION', `openSource: concurrency must be an integer 1–64, got ${concurrency}`, { option: 'concurrency' });
  }
  const inFlight = opts.inFlight ?? 0;
  if (!Number.isSafeInteger(inFlight) || inFlight < 0) {
    throw new TrafficError('INVALID_OPTION', `openSource: inFlight must be an integer ≥ 0, got ${inFlight}`, { option: 'inFlight' });
  }
  return { fromBeginning: opts.fromBeginning ?? true, follow: opts.follow ?? true, maxBatch, commit: opts.commit ?? true, concurrency, inFlight };
}
