/**
 * What stage 04 repaired, from the files the ETL leaves beside the master: repair_log.csv
 * (GCXH, FIELD, OLD, NEW, METHOD, CONFIDENCE), manifest.json and repair_quality.json. Each is
 * optional; a missing or unreadable one is reported as such, never guessed.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { openCsvTable } from '../core/io.ts';
import { FILES, REPAIR_LOG_COLUMNS } from '../core/schema.ts';

export interface RepairSummary {
  log:
    | { file: string; rows: number; byFieldMethod: { field: string; method: string; count: number; meanConfidence: number | null }[] }
    | { file: string; error: string }
    | null;
  manifest: { file: string; json: unknown } | { file: string; error: string } | null;
  quality: { file: string; json: unknown } | { file: string; error: string } | null;
}

export const REPAIR_QUALITY_FILE = 'repair_quality.json';

async function readJson(file: string): Promise<{ file: string; json: unknown } | { file: string; error: string } | null> {
  if (!existsSync(file)) return null;
  try {
    return { file, json: JSON.parse(await readFile(file, 'utf8')) };
  } catch (err) {
    return { file, error: (err as Error).message };
  }
}

export async function readRepairSummary(dir: string): Promise<RepairSummary> {
  const logFile = path.join(dir, FILES.repairLog);
  let log: RepairSummary['log'] = null;
  if (existsSync(logFile)) {
    try {
      const table = await openCsvTable(logFile, REPAIR_LOG_COLUMNS);
      const groups = new Map<string, { field: string; method: string; count: number; conf: number; confN: number }>();
      let rows = 0;
      for await (const rec of table.rows) {
        const [, field = '', , , method = '', confidence = ''] = rec.fields;
        rows++;
        const key = `${field}\u0000${method}`;
        let g = groups.get(key);
        if (!g) groups.set(key, (g = { field, method, count: 0, conf: 0, confN: 0 }));
        g.count++;
        const c = Number(confidence);
        if (confidence !== '' && Number.isFinite(c)) {
          g.conf += c;
          g.confN++;
        }
      }
      log = {
        file: logFile,
        rows,
        byFieldMethod: [...groups.values()]
          .sort((a, b) => b.count - a.count)
          .map((g) => ({ field: g.field, method: g.method, count: g.count, meanConfidence: g.confN ? g.conf / g.confN : null })),
      };
    } catch (err) {
      log = { file: logFile, error: (err as Error).message };
    }
  }
  return {
    log,
    manifest: await readJson(path.join(dir, FILES.manifest)),
    quality: await readJson(path.join(dir, REPAIR_QUALITY_FILE)),
  };
}

/** Flattens a JSON value into `a.b.c → value` rows for a plain table (arrays of scalars joined). */
export function flattenJson(v: unknown, prefix = '', out: [string, string][] = [], limit = 200): [string, string][] {
  if (out.length >= limit) return out;
  if (v === null || typeof v !== 'object') {
    out.push([prefix || '(value)', String(v)]);
    return out;
  }
  if (Array.isArray(v) && v.every((x) => x === null || typeof x !== 'object')) {
    out.push([prefix, v.join(', ')]);
    return out;
  }
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) flattenJson(x, prefix ? `${prefix}.${k}` : k, out, limit);
  return out;
}
