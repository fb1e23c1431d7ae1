/**
 * The little HTTP framework the API needs, on node:http only: a routing table, the reply
 * envelope `{code, msg, data}`, typed client errors and JSON bodies with a size limit. Errors
 * never leak a stack to the client. The checks every request passes first (Host, Origin/CORS,
 * security headers, API key) are in guard.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TrafficError, type ErrorCode } from '../core/errors.ts';

/**
 * Client-visible errors are TrafficErrors from the one code table (core/errors.ts): the code
 * gives the HTTP status, the message says what was wrong with the request.
 */
export const badRequest = (msg: string): TrafficError => new TrafficError('BAD_REQUEST', msg);

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Parsed JSON body (POST), undefined otherwise. */
  body: unknown;
}

export type Handler = (ctx: RequestContext) => Promise<unknown> | unknown;

export interface Route {
  method: 'GET' | 'POST';
  path: string;
  /** JSON handler result is wrapped in the envelope; 'raw' handlers write the response themselves. */
  kind?: 'json' | 'raw';
  /** Needs the API key when one is configured (all /api routes). */
  handler: Handler;
}

export function sendJson(res: ServerResponse, status: number, payload: unknown): void {
  const body = JSON.stringify(payload);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

export function ok(res: ServerResponse, data: unknown): void {
  sendJson(res, 200, { code: 0, msg: 'ok', data });
}

/** The error envelope: `code` is the HTTP status (non-zero), `error` the stable code name. */
export function fail(res: ServerResponse, status: number, msg: string, error: ErrorCode = status >= 500 ? 'INTERNAL' : 'BAD_REQUEST'): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, { code: status, msg, error, data: null });
}

/** Answers a TrafficError with its code's status. */
export function failWith(res: ServerResponse, err: TrafficError): void {
  fail(res, err.httpStatus, err.message, err.code);
}

/** Reads a JSON body up to `limit` bytes; 413 past it, 400 for invalid JSON or a body cut off by the client. */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new TrafficError('PAYLOAD_TOO_LARGE', `request body too large: ${declared} bytes, limit ${limit}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        req.resume();
        throw new TrafficError('PAYLOAD_TOO_LARGE', `request body too large: over ${limit} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof TrafficError) throw err;
    throw badRequest('request body aborted before it was complete');
  }
  if (req.aborted || !req.complete) throw badRequest('request body aborted before it was complete');
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    const why = err instanceof RangeError ? 'nested too deeply' : (err as Error).message;
    throw badRequest(`invalid JSON body: ${why}`);
  }
}

/** A POST body must say it is JSON: a cross-site form cannot, so it cannot post here without a CORS preflight. */
export function requireJson(req: IncomingMessage): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new TrafficError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be application/json, got ${JSON.stringify(type || '(none)')}`);
  }
}

export interface CorsPolicy {
  /** `*` (explicitly configured) or the list of origins allowed to read replies cross-origin. */
  origins: '*' | readonly string[];
}
