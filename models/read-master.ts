/**
 * Streams a master CSV (12 columns, header checked) into the hourly grid, hashing the file and
 * picking up stage 02's day flags (kkmc_statistics.json beside the master) when present.
 * Memory is bounded by the grid (days × checkpoints × 24), not by the row count.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { TrafficError } from '../core/errors.ts';
import { forEachCsvRecord } from '../core/io.ts';
import { Progress } from '../core/progress.ts';
import { FILES, MASTER_COLUMNS } from '../core/schema.ts';
import { flaggedDaysFromStats, HourlyGridBuilder, type HourlyGrid } from './grid.ts';

export interface ReadMasterOptions {
  /** Called with every row (after the grid took it) — the report aggregates more in the same pass. */
  visit?: (fields: string[], line: number) => void;
  progressLabel?: string;
  partialShare?: number;
}

export interface MasterScan {
  grid: HourlyGrid;
  sha256: string;
  skippedExamples: string[];
  /** Where stage 02 day flags came from, or null. */
  flagsFrom: string | null;
  seconds: number;
}

export async function readMasterGrid(file: string, opts: ReadMasterOptions = {}): Promise<MasterScan> {
  const t0 = performance.now();
  if (!existsSync(file)) {
    throw new TrafficError('INPUT_NOT_FOUND', `no master CSV at ${file} (run \`npm run etl:all\` or pass --in)`, { file });
  }
  // Hashed in the same read as the parse: reading dominates training time.
  const hash = createHash('sha256');
  const statsFile = path.join(path.dirname(file), FILES.kkmcStatsJson);
  let flagged: Map<string, string> | undefined;
  let flagsFrom: string | null = null;
  if (existsSync(statsFile)) {
    try {
      flagged = flaggedDaysFromStats(JSON.parse(await readFile(statsFile, 'utf8')));
      flagsFrom = statsFile;
    } catch {
      // A broken stats file must not stop training: our own day rules still apply.
      flagged = undefined;
    }
  }
  const builder = new HourlyGridBuilder();
  const progress = new Progress({ label: opts.progressLabel ?? 'read master', unit: 'rows' });
  // Records straight from the parser's callback (no async step per row: see core/io.ts).
  await forEachCsvRecord(
    file,
    MASTER_COLUMNS,
    (rec) => {
      if (rec.error) {
        builder.reject(`malformed CSV: ${rec.error}`, rec.line);
        return;
      }
      builder.add(rec.fields, rec.line);
      opts.visit?.(rec.fields, rec.line);
      progress.add();
    },
    (chunk) => hash.update(chunk),
  );
  const sha256 = hash.digest('hex');
  const grid = builder.finish({ flagged, partialShare: opts.partialShare });
  const skipped = Object.values(grid.skipped).reduce((a, b) => a + b, 0);
  progress.done(
    `read ${grid.rows} rows (${grid.synRows} SYN, ${skipped} skipped) over ${grid.days.length} days, ` +
      `${grid.checkpoints.length} checkpoints in ${progress.seconds.toFixed(1)} s`,
  );
  if (grid.rows === 0) throw new TrafficError('INPUT_EMPTY', `master has a header but no rows: ${file}`, { file });
  return { grid, sha256, skippedExamples: builder.skippedExamples, flagsFrom, seconds: (performance.now() - t0) / 1000 };
}
