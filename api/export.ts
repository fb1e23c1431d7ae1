/**
 * The two exports of a query filter, GET /api/export.csv and GET /api/export.xlsx: every matching
 * row, newest first, header = the 12 master columns, streamed from the store chunk by chunk with
 * backpressure (constant memory, no row limit for CSV). Both write the same cell text: text that a
 * spreadsheet would read as a formula is neutralized by core/spreadsheet-safe.ts, so a CSV made
 * from the XLSX by a spreadsheet equals the CSV export.
 */
import type { ServerResponse } from 'node:http';
import { csvLine } from '../core/csv.ts';
import { TrafficError } from '../core/errors.ts';
import { MASTER_COLUMNS } from '../core/schema.ts';
import { neutralizeCell } from '../core/spreadsheet-safe.ts';
import { SHEET_MAX_ROWS } from '../core/xlsx-parts.ts';
import { XlsxStreamWriter, type XlsxColumn, type XlsxRow } from '../core/xlsx-stream.ts';
import { PASS_COLUMNS, type PassRecord, type QueryFilter, type TrafficStore } from '../store/store-api.ts';

/** Data rows one worksheet holds below its header row. */
export const XLSX_MAX_ROWS = SHEET_MAX_ROWS - 1;

/** Columns with few distinct values (checkpoints, counties, codes, brands): shared strings in the XLSX. */
const FEW_VALUES = new Set(['XZQHMC', 'KKMC', 'FXLX', 'HPZL', 'CLPPXH', 'PROVINCE', 'VEHICLE_TYPE_NAME']);

/** The columns of the XLSX export: codes and names as text, GCSJ a date-time, the 0/1 flags numbers. */
export const XLSX_COLUMNS: readonly XlsxColumn[] = MASTER_COLUMNS.map((name) => ({
  name,
  kind: name === 'GCSJ' ? 'date' : name === 'IS_WEEKEND' || name === 'IS_PEAK_HOUR' ? 'number' : 'text',
  width: name === 'GCXH' ? 24 : name === 'GCSJ' ? 19 : name === 'KKMC' || name === 'XZQHMC' || name === 'CLPPXH' ? 16 : 11,
  shared: FEW_VALUES.has(name),
}));

/** A row's cells as the exports show them (text neutralized; numbers and times as they are). */
export function exportCells(r: PassRecord): string[] {
  return PASS_COLUMNS.map((c) => {
    const v = r[c];
    return typeof v === 'number' ? String(v) : neutralizeCell(v);
  });
}

function xlsxRow(r: PassRecord): XlsxRow {
  return [
    neutralizeCell(r.gcxh),
    neutralizeCell(r.xzqhmc),
    neutralizeCell(r.kkmc),
    neutralizeCell(r.fxlx),
    r.gcsj,
    neutralizeCell(r.hpzl),
    neutralizeCell(r.hphm),
    neutralizeCell(r.clppxh),
    neutralizeCell(r.province),
    r.is_weekend,
    r.is_peak_hour,
    neutralizeCell(r.vehicle_type_name),
  ];
}

/** Stops the store's cursor when the client has gone: nothing more to send. */
class ClientGone extends Error {}

async function drained(res: ServerResponse): Promise<void> {
  if (res.destroyed) throw new ClientGone('client closed the connection');
  if (!res.writableNeedDrain) return;
  await new Promise<void>((resolve, reject) => {
    const onDrain = (): void => {
      res.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      res.off('drain', onDrain);
      reject(new ClientGone('client closed the connection'));
    };
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}

export async function exportCsv(store: TrafficStore, filter: QueryFilter, res: ServerResponse): Promise<void> {
  res.writeHead(200, {
    'Content-Type': 'text/csv; charset=utf-8',
    'Content-Disposition': 'attachment; filename="traffic_query.csv"',
    'Cache-Control': 'no-store',
  });
  // BOM so spreadsheet programs read the Chinese text as UTF-8.
  res.write('\ufeff' + csvLine(MASTER_COLUMNS));
  try {
    await store.exportRows(filter, async (rows: PassRecord[]) => {
      let text = '';
      for (const r of rows) text += csvLine(exportCells(r));
      res.write(text);
      await drained(res);
    });
  } catch (err) {
    if (err instanceof ClientGone) return;
    throw err;
  }
  res.end();
}

/**
 * The XLSX export. The row count is checked before anything is sent: past one sheet's capacity
 * the client gets a 422 naming the count and the CSV export of the same filter. Rows that arrive
 * between the count and the end of the stream (a live sink) are cut at the sheet's capacity.
 */
export async function exportXlsx(store: TrafficStore, filter: QueryFilter, res: ServerResponse, csvUrl: string): Promise<void> {
  const { total } = await store.query(filter, 1, 1);
  if (total > XLSX_MAX_ROWS) {
    throw new TrafficError(
      'EXPORT_TOO_LARGE',
      `the filter matches ${total} rows, more than one Excel sheet holds (${XLSX_MAX_ROWS} rows below the header): ` +
        `narrow the filter or download the CSV export, which has no row limit: ${csvUrl}`,
    );
  }
  res.writeHead(200, {
    'Content-Type': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    'Content-Disposition': 'attachment; filename="traffic_query.xlsx"',
    'Cache-Control': 'no-store',
  });
  const xlsx = new XlsxStreamWriter({
    columns: XLSX_COLUMNS,
    sheetName: '过车记录',
    onData: (chunk) => {
      if (!res.destroyed) res.write(chunk);
    },
  });
  try {
    await store.exportRows(filter, async (rows: PassRecord[]) => {
      const room = XLSX_MAX_ROWS - xlsx.rows;
      const take = rows.length > room ? rows.slice(0, room) : rows;
      if (take.length) await xlsx.writeRows(take.map(xlsxRow));
      await drained(res);
    });
    await xlsx.finish();
  } catch (err) {
    xlsx.abort();
    if (err instanceof ClientGone) return;
    throw err;
  }
  res.end();
}
