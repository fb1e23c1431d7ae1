/**
 * Typed errors with stable codes. One table of codes; each error says what went wrong and where
 * (file, line, field, value) and whether retrying can help (a connection drop can, bad data cannot).
 */

export const ERROR_CODES = {
  // Input and options: fatal, the user must change something.
  INVALID_OPTION: { retriable: false, exit: 2, http: 400 },
  INPUT_NOT_FOUND: { retriable: false, exit: 2, http: 404 },
  INPUT_EMPTY: { retriable: false, exit: 2, http: 400 },
  HEADER_UNRECOGNISED: { retriable: false, exit: 3, http: 400 },
  XLSX_NO_DATA: { retriable: false, exit: 3, http: 400 },
  XLSX_INVALID: { retriable: false, exit: 3, http: 400 },
  BAD_ROW: { retriable: false, exit: 3, http: 400 },
  BAD_RECORD: { retriable: false, exit: 3, http: 400 },
  STAGE_INPUT_MISSING: { retriable: false, exit: 2, http: 400 },
  MODEL_INVALID: { retriable: false, exit: 2, http: 500 },
  UNKNOWN_CHECKPOINT: { retriable: false, exit: 2, http: 400 },
  /** An optional package a feature needs is not installed (e.g. `mqtt` for mqtt:// addresses). */
  DEPENDENCY_MISSING: { retriable: false, exit: 2, http: 500 },
  // Requests to the API: the client must change the request (HTTP status beside each).
  BAD_REQUEST: { retriable: false, exit: 2, http: 400 },
  UNAUTHORIZED: { retriable: false, exit: 2, http: 401 },
  /** A cross-origin request from an origin not in TRAFFIC_CORS_ORIGINS. */
  FORBIDDEN: { retriable: false, exit: 2, http: 403 },
  /** A POST body that is not declared as JSON. */
  UNSUPPORTED_MEDIA_TYPE: { retriable: false, exit: 2, http: 415 },
  /** A Host header that is not loopback or in TRAFFIC_ALLOWED_HOSTS (DNS rebinding). */
  MISDIRECTED_REQUEST: { retriable: false, exit: 2, http: 421 },
  NOT_FOUND: { retriable: false, exit: 2, http: 404 },
  METHOD_NOT_ALLOWED: { retriable: false, exit: 2, http: 405 },
  PAYLOAD_TOO_LARGE: { retriable: false, exit: 2, http: 413 },
  /** An XLSX export past one sheet's 1,048,575 rows: the CSV export has no limit. */
  EXPORT_TOO_LARGE: { retriable: false, exit: 2, http: 422 },
  // Output: the path or the disk refused a write (permissions, disk full).
  OUTPUT_WRITE_FAILED: { retriable: false, exit: 5, http: 500 },
  // Services: a retry with backoff may succeed.
  CONNECTION_FAILED: { retriable: true, exit: 4, http: 503 },
  SERVICE_UNAVAILABLE: { retriable: true, exit: 4, http: 503 },
  // Anything else is a bug.
  INTERNAL: { retriable: false, exit: 1, http: 500 },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorContext {
  file?: string;
  line?: number;
  field?: string;
  value?: string;
  option?: string;
  [key: string]: unknown;
}

export class TrafficError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly exitCode: number;
  /** The HTTP status the API answers this error with. */
  readonly httpStatus: number;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(withLocation(message, context), options);
    this.name = 'TrafficError';
    this.code = code;
    this.retriable = ERROR_CODES[code].retriable;
    this.exitCode = ERROR_CODES[code].exit;
    this.httpStatus = ERROR_CODES[code].http;
    this.context = context;
  }
}

/** "msg (file data.csv, line 12, field GCSJ)" — the place is part of the message users read. */
function withLocation(message: string, ctx: ErrorContext): string {
  const where: string[] = [];
  if (ctx.file !== undefined) where.push(`file ${ctx.file}`);
  if (ctx.line !== undefined) where.push(`line ${ctx.line}`);
  if (ctx.field !== undefined) where.push(`field ${ctx.field}`);
  if (ctx.option !== undefined) where.push(`option ${ctx.option}`);
  return where.length ? `${message} (${where.join(', ')})` : message;
}

export function isRetriable(err: unknown): boolean {
  if (err instanceof TrafficError) return err.retriable;
  const code = (err as { code?: unknown } | null)?.code;
  // Node socket errors and mysql2/ioredis connection errors.
  return (
    typeof code === 'string' &&
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'PROTOCOL_CONNECTION_LOST', 'ER_CON_COUNT_ERROR', 'ECONNABORTED'].includes(code)
  );
}

export interface RetryOptions {
  retries: number;
  initialMs: number;
  maxMs: number;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
}

/** Retries retriable failures with jittered exponential backoff; fatal errors pass through at once. */
export async function withRetry<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isRetriable(err) || attempt > opts.retries || opts.signal?.aborted) throw err;
      const base = Math.min(opts.maxMs, opts.initialMs * 2 ** (attempt - 1));
      const delay = Math.round(base / 2 + Math.random() * (base / 2));
      opts.onRetry?.(err, attempt, delay);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** An error as a worker thread posts it (structured clone loses a TrafficError's class). */
export interface ThreadErrorMessage {
  type: 'error';
  code?: ErrorCode;
  message: string;
  context?: ErrorContext;
  stack?: string;
}

/** The message a worker thread posts for an error it cannot handle itself. */
export function threadErrorMessage(err: unknown): ThreadErrorMessage {
  if (err instanceof TrafficError) return { type: 'error', code: err.code, message: err.message, context: err.context };
  const e = err as Error | undefined;
  return { type: 'error', message: e?.message ?? String(err), ...(e?.stack ? { stack: e.stack } : {}) };
}

/** Rebuilds a worker's error on this side: a TrafficError keeps its code, message and context. */
export function errorFromThread(m: ThreadErrorMessage): Error {
  if (m.code) {
    const e = new TrafficError(m.code, m.message);
    // The message already carries the location; keep the structured context too.
    Object.assign(e, { message: m.message, context: m.context ?? {} });
    return e;
  }
  const e = new Error(m.message);
  if (m.stack) e.stack = m.stack;
  return e;
}
