/**
 * Stage 01 reader thread: reads and normalizes the raw files in order (merge-source.ts
 * readNormalized) and posts packed batches, staying at most WORKER_AHEAD batches ahead of the
 * main thread, which acknowledges each batch it takes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { TrafficError } from '../pipeline/errors.ts';
import { inThreadSource, packBatch, WORKER_AHEAD, type WorkerMessage } from './merge-source.ts';

const port = parentPort;
if (!port) throw new Error('merge-worker.ts must run in a worker thread');
const { files } = workerData as { files: string[] };

let inFlight = 0;
let resume: (() => void) | undefined;
port.on('message', (m) => {
  if (m === 'ack') {
    inFlight--;
    resume?.();
  }
});

const post = (m: WorkerMessage): void => port.postMessage(m);

try {
  for await (const ev of inThreadSource(files)) {
    if (ev.type === 'batch') {
      while (inFlight >= WORKER_AHEAD) await new Promise<void>((r) => (resume = r));
      resume = undefined;
      inFlight++;
      post(packBatch(ev));
    } else post(ev);
  }
  post({ type: 'done' });
} catch (err) {
  if (err instanceof TrafficError) post({ type: 'error', code: err.code, message: err.message, context: err.context });
  else post({ type: 'error', message: (err as Error)?.message ?? String(err), ...((err as Error)?.stack ? { stack: (err as Error).stack! } : {}) });
}
port.close();
