/**
 * Stage 01 reader thread: reads and normalizes the raw files it is handed (merge-source.ts
 * readNormalized), one at a time, and posts packed batches, staying at most WORKER_AHEAD batches
 * ahead of the main thread, which acknowledges each batch it takes and hands out the next file
 * when this one posts a file's end.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { threadErrorMessage } from '../core/errors.ts';
import { packBatch, readNormalized, WORKER_AHEAD, type ReaderCommand, type WorkerMessage } from './merge-source.ts';

const port = parentPort;
if (!port) throw new Error('merge-worker.ts must run in a worker thread');
const { files } = workerData as { files: string[] };

let inFlight = 0;
let resume: (() => void) | undefined;
const todo: number[] = [];
let stopped = false;
let wakeIdle: (() => void) | undefined;

port.on('message', (m: ReaderCommand) => {
  if (m.type === 'ack') {
    inFlight--;
    resume?.();
  } else if (m.type === 'read') {
    todo.push(m.file);
    wakeIdle?.();
  } else {
    stopped = true;
    wakeIdle?.();
  }
});

const post = (m: WorkerMessage): void => port.postMessage(m);

async function readFile(index: number): Promise<void> {
  for await (const ev of readNormalized(files[index] as string, index)) {
    if (ev.type === 'batch') {
      while (inFlight >= WORKER_AHEAD) await new Promise<void>((r) => (resume = r));
      resume = undefined;
      inFlight++;
      post(packBatch(ev));
    } else post(ev);
  }
}

try {
  for (;;) {
    while (todo.length === 0 && !stopped) await new Promise<void>((r) => (wakeIdle = r));
    wakeIdle = undefined;
    const f = todo.shift();
    if (f === undefined) break;
    await readFile(f);
  }
} catch (err) {
  // The file's error goes to the main thread, which raises it when that file's turn comes.
  post(threadErrorMessage(err));
}
port.close();
