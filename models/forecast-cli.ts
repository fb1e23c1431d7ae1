/**
 * `traffic forecast --model M --history master.csv --from "YYYY-MM-DD HH:00:00" --to "…"
 *  [--horizon 1] [--kkmc CODE] [--from-store [--mysql URL,…]] --out forecast.csv`
 *
 * Batch, rolling origin: one row per checkpoint per hour in [from, to), each forecast from the
 * real passes before its own origin (hour − (horizon − 1)), so cutting the history at an origin
 * never changes that row.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from '../core/command.ts';
import { int, optStr, parseFlags, str } from '../core/args.ts';
import { readEnv } from '../core/config.ts';
import { csvLine } from '../core/csv.ts';
import { TrafficError } from '../core/errors.ts';
import { openCsvTable } from '../core/io.ts';
import { F, FILES, MASTER_COLUMNS, SYN_PREFIX } from '../core/schema.ts';
import { chinaHourNumber, hourNumberText, isCanonicalGcsj } from '../core/time.ts';
import type { TrafficStore } from '../store/store-api.ts';
import type { HourlyHistory } from './forecast.ts';
import { parseHourStart, readHistoryStore, type Forecaster } from './forecaster.ts';
import { loadPredictorFile } from './predict-cli.ts';

export const FORECAST_COLUMNS = ['KKMC', 'HOUR', 'HORIZON', 'PREDICTED'] as const;

/**
 * The real passes of a master CSV in the hours [start, end) as an hourly history. SYN rows and
 * rows outside the span are skipped; a row whose GCSJ is not canonical is counted, not used.
 */
export async function readHistoryCsv(
  file: string,
  f: Forecaster,
  start: number,
  end: number,
): Promise<{ history: HourlyHistory; used: number; syn: number; unreadable: number }> {
  if (!existsSync(file)) throw new TrafficError('INPUT_NOT_FOUND', `no history CSV at ${file} (pass --history or --from-store)`, { file });
  const history = f.emptyHistory(start, end);
  const days = new Map<string, number>();
  let used = 0;
  let syn = 0;
  let unreadable = 0;
  const table = await openCsvTable(file, MASTER_COLUMNS);
  for await (const rec of table.rows) {
    if (rec.error || rec.fields.length !== MASTER_COLUMNS.length) {
      unreadable++;
      continue;
    }
    const gcsj = rec.fields[F.GCSJ]!;
    if (!isCanonicalGcsj(gcsj)) {
      unreadable++;
      continue;
    }
    if (rec.fields[F.GCXH]!.startsWith(SYN_PREFIX)) {
      syn++;
      continue;
    }
    const date = gcsj.slice(0, 10);
    let base = days.get(date);
    if (base === undefined) days.set(date, (base = chinaHourNumber(`${date} 00:00:00`)));
    if (history.add(rec.fields[F.KKMC]!, base + +gcsj.slice(11, 13), 1)) used++;
  }
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
