/**
 * rejects.csv (SOURCE_FILE, LINE, STAGE, REASON, RAW) for a whole run. Each stage writes to its
 * own temporary file while it runs (fused stages interleave), and the final file is assembled in
 * stage order, so a full run and a resumed run (`--from N`, which keeps the rejects of the stages it
 * does not re-run) give the same file.
 */
import { existsSync } from 'node:fs';
import { appendFile, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { csvLine } from '../core/csv.ts';
import { readCsvRecords, TextFileWriter } from '../core/io.ts';
import { FILES, REJECT_COLUMNS, type Reject } from '../core/schema.ts';

export class RejectSink {
  private readonly writers = new Map<string, TextFileWriter>();
  private readonly pending: Promise<void>[] = [];

  constructor(private readonly outDir: string) {}

  private tmpFile(stage: string): string {
    return path.join(this.outDir, `.rejects.${stage}.partial`);
  }

  /** Opens the stage's temporary file; call before the stage runs. */
  async open(stage: string): Promise<void> {
    if (this.writers.has(stage)) return;
    this.writers.set(stage, await TextFileWriter.open(this.tmpFile(stage)));
  }

  add(r: Reject): void {
    const w = this.writers.get(r.stage);
    if (!w) throw new Error(`reject sink not opened for stage ${r.stage}`);
    const p = w.writeCsv([r.sourceFile, String(r.line), r.stage, r.reason, r.raw]);
    if (p) this.pending.push(p);
  }

  /** Waits for buffered writes (backpressure), between batches. */
  async drain(): Promise<void> {
    if (this.pending.length) await Promise.all(this.pending.splice(0));
  }

  /**
   * Writes rejects.csv: for each stage in order, the rows of this run if the stage ran, else the
   * rows the previous rejects.csv held for it.
   */
  async finish(stageOrder: readonly string[]): Promise<string> {
    await this.drain();
    for (const w of this.writers.values()) await w.close();
    const file = path.join(this.outDir, FILES.rejects);
    const previous = this.writers.size < stageOrder.length ? await readPrevious(file) : new Map<string, string>();
    const tmp = file + '.partial';
    await writeFile(tmp, csvLine(REJECT_COLUMNS));
    for (const stage of stageOrder) {
      if (this.writers.has(stage)) {
        const part = this.tmpFile(stage);
        await appendFile(tmp, await readFile(part, 'utf8'));
      } else {
        const kept = previous.get(stage);
        if (kept) await appendFile(tmp, kept);
      }
    }
    await rename(tmp, file);
    await this.cleanup();
    return file;
  }

  /** Removes the temporary files (also after a failed run). */
  async cleanup(): Promise<void> {
    for (const stage of this.writers.keys()) await rm(this.tmpFile(stage), { force: true });
  }
}

/** The previous rejects.csv grouped by stage (raw CSV text per stage). */
async function readPrevious(file: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (!existsSync(file)) return out;
  let first = true;
  for await (const rec of readCsvRecords(file)) {
    if (first) {
      first = false;
      continue;
    }
    const stage = rec.fields[2] ?? '';
    out.set(stage, (out.get(stage) ?? '') + csvLine(rec.fields));
  }
  return out;
}
