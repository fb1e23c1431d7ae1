/**
 * The thread side of etl/stage-thread.ts: builds the spec's stages, writes the feeding stage's
 * file from the rows it is fed, runs the rows through the stages (chain.ts runSegment, as the
 * main thread would), posts rejects and (when asked) the last stage's rows back, and at the end
 * closes every file (renamed into place) and posts the stage entries.
 */
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { CsvParser } from '../core/csv.ts';
import { threadErrorMessage, TrafficError } from '../core/errors.ts';
import { TextFileWriter } from '../core/io.ts';
import { Progress } from '../core/progress.ts';
import { BATCH_ROWS, batchCsv, runSegment, StageRun, type Batch } from './chain.ts';
import { packFields, type PackedRows, type StageThreadCommand, type StageThreadReply, type StageThreadSpec } from './stage-thread.ts';
import { stageDef } from './stages.ts';
import { unpackRow } from './stages/01-merge.ts';

const port = parentPort;
if (!port) throw new Error('stage-thread-worker.ts must run in a worker thread');
const spec = workerData as StageThreadSpec;
const post = (m: StageThreadReply): void => port.postMessage(m);

const queue: (PackedRows | string)[] = [];
let ended = false;
let abortAsked = false;
let wake: (() => void) | undefined;

port.on('message', (m: StageThreadCommand) => {
  if (m.type === 'rows') queue.push(m.rows);
  else if (m.type === 'text') queue.push(m.text);
  else if (m.type === 'end') ended = true;
  else abortAsked = true;
  wake?.();
});

class Aborted extends Error {}

const runs: StageRun[] = [];
/**
 * The feeding stage's file. This thread writes its files itself: a writer thread of its own was
 * measured no faster.
 */
let input: TextFileWriter | undefined;
const outDir = spec.settings.outDir;
const inputPartial = spec.inputFile ? path.join(outDir, spec.inputFile.name + '.partial') : undefined;

/** Rows of the fed CSV text (input `csv`): the text is whole lines, the header first. */
class TextRows {
  private rows: string[][] = [];
  private header = true;
  private readonly parser = new CsvParser((rec) => {
    if (this.header) {
      this.header = false;
      const want = spec.inputFile?.columns.join(',');
      if (want !== undefined && rec.raw !== want) throw new TrafficError('INTERNAL', `stage thread fed a header "${rec.raw}", expected "${want}"`);
      return;
    }
    this.rows.push(rec.fields);
  });

  of(text: string): Batch {
    this.parser.push(text);
    const rows = this.rows;
    this.rows = [];
    return rows;
  }
}

async function* fed(): AsyncGenerator<Batch> {
  const text = spec.input === 'csv' ? new TextRows() : undefined;
  for (;;) {
    while (queue.length === 0 && !ended && !abortAsked) await new Promise<void>((r) => (wake = r));
    wake = undefined;
    if (abortAsked) throw new Aborted();
    const m = queue.shift();
    if (m === undefined) return;
    let batch: Batch;
    if (typeof m === 'string') {
      if (!text) throw new TrafficError('INTERNAL', 'stage thread fed text, expected packed rows');
      batch = text.of(m);
      // The text is the feeding stage's file, header included, exactly as it would have written it.
      if (input) {
        input.lines += batch.length;
        const p = input.write(m);
        if (p) await p;
      }
    } else {
      batch = new Array<string[]>(m.length);
      for (let i = 0; i < m.length; i++) batch[i] = unpackRow(m[i] as string);
      if (input) {
        input.lines += batch.length;
        const p = input.write(batchCsv(batch));
        if (p) await p;
      }
    }
    if (batch.length) yield batch;
    post({ type: 'ack' });
  }
}

/** The last stage's rows, posted back in batches. */
class Forward {
  private rows: PackedRows = [];

  push(rows: Batch): void {
    for (const row of rows) {
      this.rows.push(packFields(row));
      if (this.rows.length >= BATCH_ROWS) this.flush();
    }
  }

  flush(): void {
    if (this.rows.length === 0) return;
    post({ type: 'rows', rows: this.rows });
    this.rows = [];
  }
}

async function main(): Promise<void> {
  for (const n of spec.stages) {
    const def = stageDef(n);
    if (!def.load) throw new TrafficError('INTERNAL', `stage ${def.name} cannot run in a stage thread`);
    const make = await def.load(spec.settings);
    const run = StageRun.create(make, {
      outDir,
      inputName: def.input ?? '',
      outputName: def.output,
      source: 'memory',
      sideHeaders: def.sides,
      onReject: (reject) => post({ type: 'reject', reject }),
    });
    if (run.stage.scan) throw new TrafficError('INTERNAL', `stage ${def.name} scans its input: it cannot run in a stage thread`);
    await run.openFiles();
    run.copyInput = runs.length > 0; // the head's rows are fresh from the fed strings
    runs.push(run);
  }
  if (spec.inputFile && inputPartial) {
    input = await TextFileWriter.open(inputPartial);
    // Fed text carries its own header.
    if (spec.input !== 'csv') input.writeCsv(spec.inputFile.columns);
  }
  const forward = spec.forward ? new Forward() : undefined;
  const progress = new Progress({ label: spec.stages.join('+'), tty: false });
  await runSegment(fed, runs, { progress, ...(forward ? { leave: (rows: Batch) => forward.push(rows) } : {}), chargeSource: false });
  forward?.flush();
  if (input && spec.inputFile && inputPartial) {
    await input.close();
    await rename(inputPartial, path.join(outDir, spec.inputFile.name));
  }
  for (const run of runs) await run.close();
  post({ type: 'done', entries: runs.map((r) => r.entry) });
}

async function cleanup(): Promise<void> {
  for (const run of runs) await run.abort().catch(() => undefined);
  await input?.close().catch(() => undefined);
  if (inputPartial) await rm(inputPartial, { force: true }).catch(() => undefined);
}

try {
  await main();
} catch (err) {
  await cleanup();
  post(err instanceof Aborted ? { type: 'aborted' } : threadErrorMessage(err));
}
