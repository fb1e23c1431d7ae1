/**
 * Log-file source, a small log shipper: reads records (one per line, the stream record) from a
 * byte position, follows appends, survives rotation (rename + new file at the path, or truncation
 * in place) and keeps its committed position in `<log>.offset.<groupId>` (inode + byte offset),
 * written only after the handler resolved, so a restart resumes where the last good batch ended.
 * A file whose first line is the master CSV header is read as CSV rows (header skipped), which is
 * how master CSVs are replayed offline.
 */
import { appendFile, open, readFile, rename, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { CsvParser, parseCsv, type CsvRecord } from '../../core/csv.ts';
import { TrafficError } from '../../core/errors.ts';
import { F, MASTER_COLUMNS } from '../../core/schema.ts';
import { encodeRecord, FIELD_COUNT } from '../record.ts';
import { checkSourceOptions, countReject, decodeRecord, deliverWithRetry, newStats, sleep, stopSignal } from './decode.ts';
import type { Source, SourceOptions, SourceStats, StreamItem } from './types.ts';
import { createLogger, logFn } from '../../core/log.ts';

const CHUNK = 1 << 18;
/** How often a followed file is checked for appends and rotation when idle. */
export const POLL_MS = 100;

interface Line {
  start: number;
  end: number;
  text: string;
}

/** Reads complete lines from a byte position; a line without its newline waits for more data. */
class LineReader {
  private carry: Buffer = Buffer.alloc(0);
  private carryStart: number;
  private readPos: number;
  private readonly chunk = Buffer.allocUnsafe(CHUNK);

  constructor(
    readonly fh: FileHandle,
    pos: number,
  ) {
    this.carryStart = pos;
    this.readPos = pos;
  }

  get position(): number {
    return this.readPos;
  }

  /** Up to max complete lines; eof = nothing more to read right now. */
  async read(max: number): Promise<{ lines: Line[]; eof: boolean }> {
    const lines: Line[] = [];
    let eof = false;
    for (;;) {
      this.takeLines(lines, max);
      if (lines.length >= max) break;
      const { bytesRead } = await this.fh.read(this.chunk, 0, CHUNK, this.readPos);
      if (bytesRead === 0) {
        eof = true;
        break;
      }
      this.readPos += bytesRead;
      this.carry = this.carry.length ? Buffer.concat([this.carry, this.chunk.subarray(0, bytesRead)]) : Buffer.from(this.chunk.subarray(0, bytesRead));
    }
    return { lines, eof };
  }

  private takeLines(out: Line[], max: number): void {
    let from = 0;
    while (out.length < max) {
      const nl = this.carry.indexOf(10, from);
      if (nl < 0) break;
      let textEnd = nl;
      if (textEnd > from && this.carry[textEnd - 1] === 13) textEnd--;
      out.push({ start: this.carryStart + from, end: this.carryStart + nl + 1, text: this.carry.toString('utf8', from, textEnd) });
      from = nl + 1;
    }
    if (from > 0) {
      this.carry = this.carry.subarray(from);
      this.carryStart += from;
    }
  }

  /** The unterminated last line, taken as a record at the end of a finite or rotated file. */
  takeRest(): Line | undefined {
    if (this.carry.length === 0) return undefined;
    let end = this.carry.length;
    if (this.carry[end - 1] === 13) end--;
    const line = { start: this.carryStart, end: this.carryStart + this.carry.length, text: this.carry.toString('utf8', 0, end) };
    this.carryStart += this.carry.length;
    this.carry = Buffer.alloc(0);
    return line;
  }
}

const HEADER = MASTER_COLUMNS.join(',');

/** Byte offset after the header line when the file starts with the master CSV header, else -1. */
async function csvHeaderEnd(fh: FileHandle): Promise<number> {
  const buf = Buffer.alloc(4096);
  const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
  const nl = buf.subarray(0, bytesRead).indexOf(10);
  if (nl < 0) return -1;
  let text = buf.toString('utf8', 0, nl).replace(/\r$/, '');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const fields = parseCsv(text)[0]?.fields ?? [];
  return fields.join(',') === HEADER ? nl + 1 : -1;
}

interface Parsed {
  items: StreamItem[];
  rejects: { reason: string; raw: string }[];
  /** Position after the last complete record of this batch. */
  end: number;
}

export class FileSource implements Source {
  readonly stats: SourceStats = newStats();
  private readonly o: ReturnType<typeof checkSourceOptions>;
  private readonly stopper = stopSignal();
  private running: Promise<void> | null = null;
  private readonly offsetsFile: string;
  private readonly rejectsFile: string;
  private readonly log: (m: string) => void;
  /** Rotations and truncations followed, for tests and summaries. */
  rotations = 0;
  truncations = 0;

  constructor(
    private readonly file: string,
    private readonly opts: SourceOptions,
  ) {
    this.o = checkSourceOptions(opts);
    this.offsetsFile = `${file}.offset.${opts.groupId.replace(/[^A-Za-z0-9._-]/g, '_')}`;
    this.rejectsFile = `${file}.rejects`;
    this.log = opts.log ?? logFn(createLogger('bus'));
    opts.signal?.addEventListener('abort', () => void this.stop(), { once: true });
  }

  run(handler: (batch: StreamItem[]) => Promise<void>): Promise<void> {
    this.running = this.loop(handler);
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopper.fire();
    await this.running?.catch(() => undefined);
  }

  private async openFile(): Promise<FileHandle | undefined> {
    for (;;) {
      try {
        return await open(this.file, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        if (!this.o.follow) throw new TrafficError('INPUT_NOT_FOUND', `no such file: ${this.file}`, { file: this.file });
      }
      if (this.stopper.fired()) return undefined;
      await sleep(POLL_MS, this.stopper);
    }
  }

  private async loop(handler: (batch: StreamItem[]) => Promise<void>): Promise<void> {
    const fh0 = await this.openFile();
    if (!fh0) return;
    let fh = fh0;
    try {
      let st = await fh.stat();
      let ino = st.ino;
      let headerEnd = await csvHeaderEnd(fh);
      const saved = this.o.commit ? await this.readOffsets() : undefined;
      let pos = 0;
      if (saved && saved.ino === ino && saved.pos <= st.size) pos = saved.pos;
      else if (saved) this.log(`bus: ${this.file} is not the file of the saved position (rotated or truncated while stopped); reading it from the start`);
      else if (!this.o.fromBeginning) pos = st.size;
      if (headerEnd > 0 && pos < headerEnd) pos = headerEnd;
      let reader = new LineReader(fh, pos);
      let csv = headerEnd > 0 ? new CsvRecordAssembler() : null;

      while (!this.stopper.fired()) {
        const { lines, eof } = await reader.read(this.o.maxBatch);
        if (lines.length) {
          if (!(await this.dispatch(handler, this.parse(lines, csv), ino))) return;
          continue;
        }
        if (!eof) continue;
        if (!this.o.follow) {
          const rest = reader.takeRest();
          if (rest) await this.dispatch(handler, this.parse([rest], csv, true), ino);
          else if (csv?.pending) await this.dispatch(handler, this.parse([], csv, true), ino);
          return;
        }
        let now: { ino: number; size: number } | undefined;
        try {
          const s = await stat(this.file);
          now = { ino: s.ino, size: s.size };
        } catch {
          now = undefined; // renamed away, the new file not created yet: keep reading the old one
        }
        if (now && now.ino === ino && now.size < reader.position) {
          this.truncations++;
          this.log(`bus: ${this.file} was truncated; reading it from the start`);
          headerEnd = await csvHeaderEnd(fh);
          reader = new LineReader(fh, Math.max(0, headerEnd));
          csv = headerEnd > 0 ? new CsvRecordAssembler() : null;
          continue;
        }
        if (now && now.ino !== ino) {
          // Rotated: a writer may still finish a write into the old file; give it one poll interval.
          await sleep(POLL_MS);
          for (;;) {
            const more = await reader.read(this.o.maxBatch);
            if (more.lines.length && !(await this.dispatch(handler, this.parse(more.lines, csv), ino))) return;
            if (more.eof) break;
          }
          const rest = reader.takeRest();
          if (rest && !(await this.dispatch(handler, this.parse([rest], csv, true), ino))) return;
          await fh.close().catch(() => undefined);
          const next = await this.openFile();
          if (!next) return;
          fh = next;
          st = await fh.stat();
          ino = st.ino;
          headerEnd = await csvHeaderEnd(fh);
          reader = new LineReader(fh, Math.max(0, headerEnd));
          csv = headerEnd > 0 ? new CsvRecordAssembler() : null;
          this.rotations++;
          this.log(`bus: ${this.file} was rotated; following the new file`);
          if (this.o.commit) await this.writeOffsets(ino, Math.max(0, headerEnd));
          continue;
        }
        await sleep(POLL_MS, this.stopper);
      }
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  private parse(lines: Line[], csv: CsvRecordAssembler | null, final = false): Parsed {
    const out: Parsed = { items: [], rejects: [], end: lines.length ? lines[lines.length - 1]!.end : -1 };
    const accept = (text: string, start: number, fields: string[] | null, err?: string): void => {
      this.stats.received++;
      if (err) {
        out.rejects.push({ reason: err, raw: text });
        return;
      }
      const d = fields
        ? fields.length === FIELD_COUNT
          ? decodeRecord(encodeRecord(fields))
          : { ok: false as const, reason: `expected ${FIELD_COUNT} CSV fields, got ${fields.length}` }
        : decodeRecord(text);
      if (d.ok) out.items.push({ row: d.row, key: d.row[F.HPHM] ?? null, raw: text, source: this.file, partition: 0, offset: String(start) });
      else out.rejects.push({ reason: d.reason, raw: text });
    };
    for (const line of lines) {
      if (csv) {
        for (const r of csv.push(line)) accept(r.rec.raw, r.start, r.rec.fields, r.rec.error);
      } else if (line.text.length > 0) {
        accept(line.text, line.start, null);
      }
    }
    if (csv) {
      if (final) for (const r of csv.end()) accept(r.rec.raw, r.start, r.rec.fields, r.rec.error ?? 'unterminated quoted field at end of file');
      // A quoted record still open at the batch end is committed only once complete.
      else if (csv.pending) out.end = csv.pendingStart;
    }
    return out;
  }

  /** Rejects, then the handler, then the commit. False when stop() ended a retry. */
  private async dispatch(handler: (batch: StreamItem[]) => Promise<void>, p: Parsed, ino: number): Promise<boolean> {
    if (p.rejects.length) {
      await appendFile(this.rejectsFile, p.rejects.map((r) => `${r.reason}\t${r.raw.replace(/\n/g, '\\n')}\n`).join(''));
      for (const r of p.rejects) countReject(this.stats, r.reason);
    }
    if (p.items.length) {
      const ok = await deliverWithRetry(handler, p.items, { stop: this.stopper, opts: this.opts, what: `${this.file}@${p.items[0]!.offset}` });
      if (!ok) return false;
      this.stats.delivered += p.items.length;
    }
    if (this.o.commit && p.end >= 0) await this.writeOffsets(ino, p.end);
    return true;
  }

  private async readOffsets(): Promise<{ ino: number; pos: number } | undefined> {
    try {
      const j = JSON.parse(await readFile(this.offsetsFile, 'utf8')) as { ino?: unknown; pos?: unknown };
      if (typeof j.ino === 'number' && typeof j.pos === 'number' && j.pos >= 0) return { ino: j.ino, pos: j.pos };
      this.log(`bus: ignoring unreadable offsets file ${this.offsetsFile}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log(`bus: ignoring unreadable offsets file ${this.offsetsFile}`);
    }
    return undefined;
  }

  private async writeOffsets(ino: number, pos: number): Promise<void> {
    const tmp = `${this.offsetsFile}.tmp`;
    await writeFile(tmp, JSON.stringify({ file: this.file, ino, pos, group: this.opts.groupId }) + '\n');
    await rename(tmp, this.offsetsFile);
  }
}

/** Feeds lines to the CSV parser and tells where each record started (records may span lines). */
class CsvRecordAssembler {
  private readonly done: CsvRecord[] = [];
  private readonly parser = new CsvParser((r) => this.done.push(r));
  pending = false;
  pendingStart = 0;

  push(line: Line): { rec: CsvRecord; start: number }[] {
    if (!this.pending) this.pendingStart = line.start;
    this.parser.push(line.text + '\n');
    if (this.done.length === 0) {
      this.pending = line.text.length > 0 || this.pending;
      if (line.text.length === 0 && !this.pending) this.pendingStart = line.end;
      return [];
    }
    const out = this.done.splice(0).map((rec) => ({ rec, start: this.pendingStart }));
    this.pending = false;
    return out;
  }

  end(): { rec: CsvRecord; start: number }[] {
    this.parser.end();
    this.pending = false;
    return this.done.splice(0).map((rec) => ({ rec, start: this.pendingStart }));
  }
}
