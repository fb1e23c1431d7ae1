/**
 * `traffic forecast --model M --history master.csv --from "YYYY-MM-DD HH:00:00" --to "…"
 *  [--horizon 1] [--kkmc CODE] [--from-store [--mysql URL,…]] --out forecast.csv`
 *
 * Batch, rolling origin: one row per checkpoint per hour in [from, to), each forecast from the
 * real passes before its own origin (hour − (horizon − 1)), so cutting the history at an origin
 * never changes that row.
 */
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from '../core/command.ts';
import { int, optStr, parseFlags, str } from '../core/args.ts';
import { readEnv } from '../core/config.ts';
import { csvLine, parseCsv } from '../core/csv.ts';
import { TrafficError } from '../core/errors.ts';
import { F, FILES, MASTER_COLUMNS, SYN_PREFIX } from '../core/schema.ts';
import { chinaHourNumber, hourNumberText, isCanonicalGcsj } from '../core/time.ts';
import type { TrafficStore } from '../store/store-api.ts';
import type { HourlyHistory } from './forecast.ts';
import { parseHourStart, readHistoryStore, type Forecaster } from './forecaster.ts';
import { loadPredictorFile } from './predict-cli.ts';

export const FORECAST_COLUMNS = ['KKMC', 'HOUR', 'HORIZON', 'PREDICTED'] as const;

/** Compares the 13 characters of `text` at `at` with `bound` ("YYYY-MM-DD HH"), like a string compare. */
function comparePrefix(text: string, at: number, bound: string): number {
  for (let i = 0; i < 13; i++) {
    const d = text.charCodeAt(at + i) - bound.charCodeAt(i);
    if (d !== 0 || Number.isNaN(d)) return Number.isNaN(d) ? -1 : d;
  }
  return 0;
}

/** `YYYY-MM-DD HH:mm:ss` at `at` (the shape core/time isCanonicalGcsj accepts), read in place. */
function canonicalAt(text: string, at: number): boolean {
  for (let i = 0; i < 19; i++) {
    const ch = text.charCodeAt(at + i);
    const sep = i === 4 || i === 7 ? 45 : i === 10 ? 32 : i === 13 || i === 16 ? 58 : 0;
    if (sep ? ch !== sep : !(ch >= 48 && ch <= 57)) return false;
  }
  return true;
}

/**
 * The real passes of a master CSV in the hours [start, end) as an hourly history. SYN rows are
 * skipped; a row in the span whose GCSJ is not canonical is counted, not used.
 *
 * A forecast needs a few days of a master that may hold months, so the rows are filtered on the
 * text of their GCSJ before anything else is parsed: for a line without quotes, the fifth field's
 * first 13 characters ("YYYY-MM-DD HH") are compared in place with the span's bounds (canonical
 * times sort as text), and only lines inside the span are read further, in place (one string, the
 * checkpoint code, per row). A line with a quote
 * (a record the writer had to quote, possibly over several lines) goes through the full CSV parser.
 * Rows outside the span are therefore not checked at all (an unreadable one there is not counted).
 */
export async function readHistoryCsv(
  file: string,
  f: Forecaster,
  start: number,
  end: number,
): Promise<{ history: HourlyHistory; used: number; syn: number; unreadable: number }> {
  if (!existsSync(file)) throw new TrafficError('INPUT_NOT_FOUND', `no history CSV at ${file} (pass --history or --from-store)`, { file });
  const history = f.emptyHistory(start, end);
  const lo = hourNumberText(start).slice(0, 13);
  const hi = hourNumberText(end).slice(0, 13);
  const days = new Map<string, number>();
  let used = 0;
  let syn = 0;
  let unreadable = 0;
  const take = (fields: readonly string[]): void => {
    if (fields.length !== MASTER_COLUMNS.length) {
      unreadable++;
      return;
    }
    const gcsj = fields[F.GCSJ]!;
    if (!isCanonicalGcsj(gcsj)) {
      unreadable++;
      return;
    }
    if (gcsj < lo || gcsj.slice(0, 13) >= hi) return;
    if (fields[F.GCXH]!.startsWith(SYN_PREFIX)) {
      syn++;
      return;
    }
    const date = gcsj.slice(0, 10);
    let base = days.get(date);
    if (base === undefined) days.set(date, (base = chinaHourNumber(`${date} 00:00:00`)));
    if (history.add(fields[F.KKMC]!, base + +gcsj.slice(11, 13), 1)) used++;
  };
  /** `take` for an unquoted line in the span, read in place: one string (the code) per row. */
  let lastDate = '';
  let lastBase = 0;
  const takeInPlace = (buf: string, pos: number, at: number, endText: number): void => {
    let commas = F.GCSJ;
    let gcsjEnd = -1;
    for (let i = buf.indexOf(',', at); i !== -1 && i < endText; i = buf.indexOf(',', i + 1)) {
      if (gcsjEnd === -1) gcsjEnd = i;
      commas++;
    }
    if (commas !== MASTER_COLUMNS.length - 1 || gcsjEnd - at !== 19 || !canonicalAt(buf, at)) {
      unreadable++;
      return;
    }
    if (buf.startsWith(SYN_PREFIX, pos)) {
      syn++;
      return;
    }
    if (!buf.startsWith(lastDate, at) || lastDate === '') {
      lastDate = buf.slice(at, at + 10);
      lastBase = chinaHourNumber(`${lastDate} 00:00:00`);
    }
    const k0 = buf.indexOf(',', buf.indexOf(',', pos) + 1) + 1;
    const kkmc = buf.slice(k0, buf.indexOf(',', k0));
    if (history.add(kkmc, lastBase + (buf.charCodeAt(at + 11) - 48) * 10 + (buf.charCodeAt(at + 12) - 48), 1)) used++;
  };
  let header = true;
  /** A quoted record running over several lines, gathered until its quotes balance. */
  let pending = '';
  const quotes = (text: string): number => {
    let n = 0;
    for (let i = text.indexOf('"'); i !== -1; i = text.indexOf('"', i + 1)) n++;
    return n;
  };
  const slow = (text: string): void => {
    pending = pending ? `${pending}\n${text}` : text;
    if (quotes(pending) % 2 === 1) return; // the record goes on in the next line
    const recs = parseCsv(pending);
    pending = '';
    for (const r of recs) {
      if (r.error) unreadable++;
      else if (header) checkHeader(r.fields);
      else take(r.fields);
    }
  };
  const checkHeader = (fields: readonly string[]): void => {
    header = false;
    if (fields.length !== MASTER_COLUMNS.length || fields.some((h, i) => h !== MASTER_COLUMNS[i])) {
      throw new TrafficError('HEADER_UNRECOGNISED', `unexpected header: got [${fields.join(',')}], expected [${MASTER_COLUMNS.join(',')}]`, {
        file,
        line: 1,
      });
    }
  };
  const lines = (buf: string, final: boolean): string => {
    let pos = 0;
    let quote = buf.indexOf('"');
    for (;;) {
      let nl = buf.indexOf('\n', pos);
      if (nl === -1) {
        if (!final) return buf.slice(pos);
        nl = buf.length;
      }
      const endText = nl > pos && buf.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      if (quote !== -1 && quote < pos) quote = buf.indexOf('"', pos);
      if (pending || header || (quote !== -1 && quote < endText)) {
        if (endText > pos || pending) slow(buf.slice(pos, endText));
      } else if (endText > pos) {
        // GCSJ is the fifth field: skip four commas.
        let at = pos;
        for (let k = 0; k < F.GCSJ && at !== -1; k++) at = buf.indexOf(',', at) + 1 || -1;
        if (at === -1 || at > endText) unreadable++;
        else if (comparePrefix(buf, at, lo) >= 0 && comparePrefix(buf, at, hi) < 0) takeInPlace(buf, pos, at, endText);
      }
      if (nl >= buf.length) return '';
      pos = nl + 1;
    }
  };
  const decoder = new TextDecoder('utf-8', { ignoreBOM: false });
  let rest = '';
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    rest = lines(rest + decoder.decode(chunk as Buffer, { stream: true }), false);
  }
  lines(rest + decoder.decode(), true);
  if (pending) {
    unreadable++; // an unterminated quote at the end of the file
  }
  if (header) throw new TrafficError('INPUT_EMPTY', `file is empty (no header): ${file}`, { file });
  return { history, used, syn, unreadable };
}

export interface ForecastRow {
  kkmc: string;
  hour: string;
  horizon: number;
  predicted: number;
}

/** Rows for every hour in [from, to) (hour numbers) × checkpoint, hour-major, codes sorted. */
export function forecastRows(f: Forecaster, history: HourlyHistory, from: number, to: number, horizon: number, kkmc?: string): ForecastRow[] {
  const codes = kkmc !== undefined ? [kkmc] : [...f.checkpoints].sort();
  const out: ForecastRow[] = [];
  for (let t = from; t < to; t++) {
    const hour = hourNumberText(t);
    for (const code of codes) {
      out.push({ kkmc: code, hour, horizon, predicted: Number(f.forecast(history, code, t, horizon).predicted.toFixed(3)) });
    }
  }
  return out;
}

export function forecastCsv(rows: readonly ForecastRow[]): string {
  let text = csvLine([...FORECAST_COLUMNS]);
  for (const r of rows) text += csvLine([r.kkmc, r.hour, String(r.horizon), String(r.predicted)]);
  return text;
}

const usage = `usage: traffic forecast --from "YYYY-MM-DD HH:00:00" --to "YYYY-MM-DD HH:00:00" [--horizon 1]
                        [--kkmc CODE] [--model MODEL.json] [--history MASTER.csv | --from-store [--mysql URL,…]]
                        [--out forecast.csv]

Writes KKMC,HOUR,HORIZON,PREDICTED: the passes forecast for each checkpoint and each hour in
[from, to) (HOUR = start of the hour, China time), each from the real passes before its origin
HOUR − (horizon − 1) h only (rolling origin).

  --from, --to     hour starts, China time; --to exclusive
  --horizon H      1, 2 or 3 hours ahead (default 1)
  --kkmc CODE      one checkpoint (default: every checkpoint of the model)
  --model FILE     model JSON with a forecast part (default: <data dir>/${FILES.model})
  --history FILE   master CSV with the history (default: <data dir>/${FILES.master})
  --from-store     read the history from the store instead: the MySQL shards of --mysql or
                   TRAFFIC_MYSQL, else the embedded store in the data dir
  --out FILE       output CSV (default: <data dir>/forecast.csv; "-" = stdout)
  data dir: TRAFFIC_DATA_DIR, else data/out`;

export const command: Command = {
  name: 'forecast',
  summary: 'short-term flow forecast per checkpoint-hour (rolling origin) → CSV',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, {
      model: { type: 'string' },
      history: { type: 'string' },
      'from-store': { type: 'boolean' },
      mysql: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      horizon: { type: 'string' },
      kkmc: { type: 'string' },
      out: { type: 'string' },
    });
    const env = readEnv();
    const modelFile = path.resolve(optStr(values.model, 'model') ?? path.join(env.dataDir, FILES.model));
    const fromStore = values['from-store'] === true;
    const historyFlag = optStr(values.history, 'history');
    if (fromStore && historyFlag) {
      throw new TrafficError('INVALID_OPTION', 'give --history FILE or --from-store, not both', { option: '--from-store' });
    }
    if (!fromStore && values.mysql !== undefined) {
      throw new TrafficError('INVALID_OPTION', '--mysql only applies with --from-store', { option: '--mysql' });
    }
    const from = parseHourStart(str(values.from, 'from'), '--from');
    const to = parseHourStart(str(values.to, 'to'), '--to');
    if (to <= from) throw new TrafficError('INVALID_OPTION', `--to must be after --from`, { option: '--to' });
    if (to - from > 24 * 400) throw new TrafficError('INVALID_OPTION', '--from … --to spans more than 400 days', { option: '--to' });
    const horizon = int(values.horizon, 'horizon', 1, { min: 1, max: 3 });
    const kkmc = optStr(values.kkmc, 'kkmc');
    const outArg = optStr(values.out, 'out') ?? path.join(env.dataDir, 'forecast.csv');

    const predictor = await loadPredictorFile(modelFile);
    const f = predictor.forecaster;
    if (!f) {
      throw new TrafficError('MODEL_INVALID', `${modelFile} has no forecast part (format ${predictor.format}); retrain with \`npm run train\``, {
        file: modelFile,
      });
    }
    if (kkmc !== undefined && !f.checkpoints.includes(kkmc)) {
      throw new TrafficError('UNKNOWN_CHECKPOINT', `unknown checkpoint "${kkmc}"; valid codes: ${f.checkpoints.join(', ')}`, {
        option: '--kkmc',
      });
    }
    const span = f.span(from, to);
    let history: HourlyHistory;
    let source: string;
    if (fromStore) {
      const urls =
        optStr(values.mysql, 'mysql')
          ?.split(',')
          .map((s) => s.trim())
          .filter(Boolean) ?? env.mysql;
      let store: TrafficStore;
      if (urls?.length) {
        const { openMysqlApiStore } = await import('../store/api-store.ts');
        store = await openMysqlApiStore(urls);
        source = `MySQL shards (${urls.length})`;
      } else {
        const { EmbeddedStore, EMBEDDED_DB_FILE } = await import('../store/duckdb-store.ts');
        const file = path.join(env.dataDir, EMBEDDED_DB_FILE);
        store = await EmbeddedStore.open(file);
        source = `embedded store ${file}`;
      }
      try {
        history = await readHistoryStore(store, f, span.start, span.end);
      } finally {
        await store.close();
      }
    } else {
      const file = path.resolve(historyFlag ?? path.join(env.dataDir, FILES.master));
      const r = await readHistoryCsv(file, f, span.start, span.end);
      history = r.history;
      source = `${file} (${r.used} real passes in the span, ${r.syn} SYN rows skipped` + (r.unreadable ? `, ${r.unreadable} unreadable rows skipped)` : ')');
    }
    const rows = forecastRows(f, history, from, to, horizon, kkmc);
    // Say how many forecasts had no observed hour right before their origin (the profile stood in).
    let blind = 0;
    for (let t = from; t < to; t++) if (!history.observed(t - (horizon - 1) - 1)) blind++;
    const text = forecastCsv(rows);
    if (outArg === '-') process.stdout.write(text);
    else {
      await mkdir(path.dirname(path.resolve(outArg)), { recursive: true });
      await writeFile(path.resolve(outArg), text);
    }
    process.stderr.write(
      `forecast: ${rows.length} rows (${to - from} hours × ${rows.length / (to - from)} checkpoints, horizon ${horizon}) from ${source}` +
        (blind ? `; ${blind} of ${to - from} hours had no observed hour before their origin (profile used)` : '') +
        (outArg === '-' ? '' : ` → ${path.resolve(outArg)}`) +
        '\n',
    );
    return 0;
  },
};
