/**
 * The writer thread of core/writer-thread.ts: opens, writes and closes files as told, in the
 * order told. Synchronous file calls are right here: this thread has nothing else to do, and they
 * keep the order of one file's writes without a queue.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { parentPort } from 'node:worker_threads';
import type { WriterCommand, WriterReply } from './writer-thread.ts';

const port = parentPort;
if (!port) throw new Error('writer-thread-worker.ts must run in a worker thread');

const fds = new Map<number, number>();
const names = new Map<number, string>();
/** Files that failed: their later writes are skipped (the error was reported once). */
const broken = new Set<number>();
const reply = (m: WriterReply): void => port.postMessage(m);

function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

port.on('message', (c: WriterCommand) => {
  try {
    if (c.type === 'open') {
      names.set(c.id, c.file);
      mkdirSync(path.dirname(c.file), { recursive: true });
      fds.set(c.id, openSync(c.file, c.append ? 'a' : 'w'));
      reply({ type: 'opened', id: c.id });
    } else if (c.type === 'write') {
      try {
        const fd = fds.get(c.id);
        if (fd !== undefined && !broken.has(c.id)) writeAll(fd, Buffer.from(c.text, 'utf8'));
      } finally {
        reply({ type: 'written', id: c.id, chars: c.text.length });
      }
    } else {
      const fd = fds.get(c.id);
      fds.delete(c.id);
      names.delete(c.id);
      broken.delete(c.id);
      if (fd !== undefined) closeSync(fd);
      reply({ type: 'closed', id: c.id });
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    broken.add(c.id);
    const file = c.type === 'open' ? c.file : (names.get(c.id) ?? `file #${c.id}`);
    reply({ type: 'error', id: c.id, message: `cannot ${c.type} ${file}: ${e.message}`, ...(e.code ? { code: e.code } : {}) });
    // A failed close still answers, so the caller's close() settles (with the error).
    if (c.type === 'close') reply({ type: 'closed', id: c.id });
  }
});
