/**
 * A raw HTTP/1.1 client for hostile-request tests: sends exactly the bytes given (no header the
 * client library would add or refuse), then reads until the server closes or one whole response
 * has arrived, within a time limit.
 */
import net from 'node:net';

export interface RawResponse {
  /** 0 when the server closed without answering. */
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection. */
  closed: boolean;
  ms: number;
}

export function rawRequest(port: number, data: string | Buffer | (string | Buffer)[], opts: { timeoutMs?: number; gapMs?: number } = {}): Promise<RawResponse> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...parse(Buffer.concat(chunks)), closed, ms: performance.now() - t0 });
    };
    const timer = setTimeout(() => finish(false), opts.timeoutMs ?? 5000);
    socket.on('data', (c) => {
      chunks.push(c);
      if (complete(Buffer.concat(chunks))) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.on('connect', async () => {
      const parts = Array.isArray(data) ? data : [data];
      for (const p of parts) {
        if (socket.destroyed) return;
        socket.write(p);
        if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
      }
    });
  });
}

function complete(buf: Buffer): boolean {
  const head = buf.indexOf('\r\n\r\n');
  if (head === -1) return false;
  const m = /content-length:\s*(\d+)/i.exec(buf.subarray(0, head).toString('latin1'));
  return m !== null && buf.length >= head + 4 + Number(m[1]);
}

function parse(buf: Buffer): { status: number; headers: Record<string, string>; body: string } {
  const head = buf.indexOf('\r\n\r\n');
  if (head === -1) return { status: 0, headers: {}, body: buf.toString('utf8') };
  const lines = buf.subarray(0, head).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = buf.subarray(head + 4);
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
  return { status, headers, body: body.toString('utf8') };
}

/** The payload of a chunked body (as far as it arrived). */
function dechunk(buf: Buffer): Buffer {
  const out: Buffer[] = [];
  let p = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', p);
    if (eol === -1) break;
    const size = parseInt(buf.subarray(p, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    out.push(buf.subarray(eol + 2, eol + 2 + size));
    p = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}
