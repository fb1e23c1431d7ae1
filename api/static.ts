/**
 * Static files: the two pages, /static/* under api/public, and ECharts and the China map from
 * /vendor/ (no CDN). A path is decoded once and must stay inside api/public with a known file
 * type; a file is opened and checked through one handle, and no read error can reach the process.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { TrafficError } from '../core/errors.ts';
import { packageFile } from '../core/paths.ts';
import { setSecurityHeaders } from './guard.ts';
import { badRequest } from './http.ts';

const PUBLIC = packageFile('api', 'public');
export const PAGES: Record<string, string> = { '/': 'dashboard.html', '/query': 'query.html' };
const VENDOR: Record<string, string> = {
  '/vendor/echarts.min.js': path.join(PUBLIC, 'vendor', 'echarts.min.js'),
  '/vendor/china.json': path.join(PUBLIC, 'vendor', 'china.json'),
};
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * The file behind a static path, or null: pages, /static/* under api/public, vendored ECharts.
 * A /static path is percent-decoded once (400 when that fails or yields a NUL byte), must stay
 * inside api/public and name a file type the server knows.
 */
export function staticFile(pathname: string): string | null {
  const page = PAGES[pathname];
  if (page) return path.join(PUBLIC, page);
  const vendor = VENDOR[pathname];
  if (vendor) return vendor;
  if (pathname.startsWith('/static/')) {
    let rel: string;
    try {
      rel = decodeURIComponent(pathname.slice('/static/'.length));
    } catch {
      throw badRequest('malformed percent-encoding in the path');
    }
    if (rel.includes('\0')) throw badRequest('NUL byte in the path');
    const file = path.resolve(PUBLIC, rel);
    if (!file.startsWith(PUBLIC + path.sep) || !TYPES[path.extname(file)]) return null;
    return file;
  }
  return null;
}

/**
 * Streams one static file. Opened and checked through one handle (no race between a stat and the
 * read); a missing file or a directory is a 404, and a read error after the headers went out
 * only ends that response: it can never reach the process as an unhandled error.
 */
export async function serveFile(req: IncomingMessage, res: ServerResponse, file: string): Promise<void> {
  const type = TYPES[path.extname(file)] ?? 'application/octet-stream';
  let fh;
  try {
    fh = await open(file, 'r');
  } catch {
    throw new TrafficError('NOT_FOUND', `static file missing: ${path.basename(file)}`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new TrafficError('NOT_FOUND', `static file missing: ${path.basename(file)}`);
    setSecurityHeaders(res, true);
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': st.size, 'Cache-Control': 'public, max-age=300' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stream = fh.createReadStream({ autoClose: false });
    try {
      await pipeline(stream, res);
    } catch {
      res.destroy(); // client gone or read failed mid-file: nothing more to send
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
}
