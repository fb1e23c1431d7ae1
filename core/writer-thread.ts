/**
 * Text files written by a thread of their own. The ETL writes ~4 large CSVs per run (600+ MB for
 * two months of passes); encoding their text to UTF-8 and the write calls took a tenth of the
 * main thread's time. Here the main thread only builds the text and posts it (a string copy);
 * the writer thread encodes and writes it, while the main thread goes on with the next rows.
 *
 * `WriterThread.open()` returns a `TextSink` with TextFileWriter's contract (write returns a
 * promise only when the caller should wait; close resolves when every byte is on disk or rejects
 * with the file's error), so callers pick one or the other without other changes.
 */
import type { Worker } from 'node:worker_threads';
import { csvLine } from './csv.ts';
import { TrafficError } from './errors.ts';
import { CHUNK_CHARS, TextFileWriter } from './io.ts';
import { siblingModule, startWorker } from './threads.ts';
import { workerResourceLimits } from './thread-memory.ts';

/** The writer thread's code. */
export const WRITER_WORKER = siblingModule(import.meta.url, 'writer-thread-worker');

/** What a stage writes its CSV through: TextFileWriter in this thread, or a ThreadFile. */
export interface TextSink {
  lines: number;
  write(text: string): Promise<void> | undefined;
  writeCsv(fields: readonly string[]): Promise<void> | undefined;
  close(): Promise<void>;
}

export type WriterCommand =
  | { type: 'open'; id: number; file: string; append: boolean }
  | { type: 'write'; id: number; text: string }
  | { type: 'close'; id: number };

export type WriterReply =
  | { type: 'opened'; id: number }
  | { type: 'written'; id: number; chars: number }
  | { type: 'closed'; id: number }
  | { type: 'error'; id: number; message: string; code?: string };

/** Text posted to the thread but not yet written, across all files: above it, writers wait. */
const MAX_IN_FLIGHT_CHARS = 32 << 20;
/** A file's text is gathered up to this size before it is posted (fewer messages, none large). */
const POST_CHARS = CHUNK_CHARS;

interface Pending {
  resolve: () => void;
  reject: (e: Error) => void;
}

export class WriterThread {
  private readonly worker: Worker;
  private nextId = 1;
  private inFlight = 0;
  private readonly waiters: (() => void)[] = [];
  private readonly opening = new Map<number, Pending>();
  private readonly closing = new Map<number, Pending>();
  /** A file's first error, kept until its close() reports it. */
  private readonly failed = new Map<number, Error>();
  private dead: Error | undefined;

  private constructor() {
    this.worker = startWorker(WRITER_WORKER, { resourceLimits: workerResourceLimits() });
    this.worker.on('message', (m: WriterReply) => this.onReply(m));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => {
      if (code !== 0 || this.opening.size || this.closing.size) this.fail(new TrafficError('INTERNAL', `writer thread exited (code ${code})`));
    });
  }

  static start(): WriterThread {
    return new WriterThread();
  }

  private fail(err: Error): void {
    this.dead ??= err;
    for (const p of [...this.opening.values(), ...this.closing.values()]) p.reject(err);
    this.opening.clear();
    this.closing.clear();
    for (const w of this.waiters.splice(0)) w();
  }

  private onReply(m: WriterReply): void {
    if (m.type === 'opened') {
      this.opening.get(m.id)?.resolve();
      this.opening.delete(m.id);
    } else if (m.type === 'written') {
      this.inFlight -= m.chars;
      if (this.inFlight <= MAX_IN_FLIGHT_CHARS) for (const w of this.waiters.splice(0)) w();
    } else if (m.type === 'closed') {
      const err = this.failed.get(m.id);
      this.failed.delete(m.id);
      const p = this.closing.get(m.id);
      this.closing.delete(m.id);
      if (err) p?.reject(err);
      else p?.resolve();
    } else {
      const err = new TrafficError('OUTPUT_WRITE_FAILED', m.message);
      const p = this.opening.get(m.id);
      if (p) {
        this.opening.delete(m.id);
        p.reject(err);
      } else if (!this.failed.has(m.id)) this.failed.set(m.id, err);
    }
  }

  private post(c: WriterCommand): void {
    if (this.dead) throw this.dead;
    this.worker.postMessage(c);
  }

  /** Opens (creates or truncates; appends with `append`) a file written by this thread. */
  async open(file: string, opts: { append?: boolean } = {}): Promise<TextSink> {
    const id = this.nextId++;
    await new Promise<void>((resolve, reject) => {
      this.opening.set(id, { resolve, reject });
      this.post({ type: 'open', id, file, append: opts.append === true });
    });
    return new ThreadFile(this, id);
  }

  /** @internal Posts text; returns a promise when the thread is too far behind. */
  send(id: number, text: string): Promise<void> | undefined {
    const err = this.failed.get(id) ?? this.dead;
    if (err) return Promise.reject(err);
    this.inFlight += text.length;
    this.post({ type: 'write', id, text });
    if (this.inFlight <= MAX_IN_FLIGHT_CHARS) return undefined;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** @internal Closes a file after its queued writes. */
  finish(id: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.dead) return reject(this.dead);
      this.closing.set(id, { resolve, reject });
      this.post({ type: 'close', id });
    });
  }

  /** Stops the thread (after close() of its files; pending writes of unclosed files are dropped). */
  async stop(): Promise<void> {
    this.dead ??= new TrafficError('INTERNAL', 'writer thread stopped');
    await this.worker.terminate();
  }
}

class ThreadFile implements TextSink {
  lines = 0;
  private buf: string[] = [];
  private chars = 0;

  constructor(
    private readonly thread: WriterThread,
    private readonly id: number,
  ) {}

  write(text: string): Promise<void> | undefined {
    // Large texts (a batch of rows) go as they are: joining them first would copy them once more.
    if (text.length >= POST_CHARS >> 3) {
      const p = this.flush();
      const q = this.thread.send(this.id, text);
      return p && q ? Promise.all([p, q]).then(() => undefined) : (p ?? q);
    }
    this.buf.push(text);
    this.chars += text.length;
    if (this.chars < POST_CHARS) return undefined;
    return this.flush();
  }

  writeCsv(fields: readonly string[]): Promise<void> | undefined {
    this.lines++;
    return this.write(csvLine(fields));
  }

  private flush(): Promise<void> | undefined {
    if (this.chars === 0) return undefined;
    const text = this.buf.length === 1 ? (this.buf[0] as string) : this.buf.join('');
    this.buf = [];
    this.chars = 0;
    return this.thread.send(this.id, text);
  }

  async close(): Promise<void> {
    await this.flush();
    await this.thread.finish(this.id);
  }
}

/** Opens `file` through `thread` when given, else as a TextFileWriter in this thread. */
export async function openTextSink(file: string, thread?: WriterThread, opts: { append?: boolean } = {}): Promise<TextSink> {
  return thread ? thread.open(file, opts) : TextFileWriter.open(file, opts);
}
