/**
 * Stage 03 standardize: KKMC → codename (`S325_Suining_K63`), HPZL → two-digit GA 24.7 code.
 * One pass, no scan: codes are assigned as names first appear (input is in time order, so a run is
 * deterministic), and kkmc_dimension.csv is built from what passed through.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseCsv } from '../../core/csv.ts';
import { TrafficError } from '../../core/errors.ts';
import { csvText } from '../../core/io.ts';
import { DIMENSION_COLUMNS, F, FILES, RAW_COLUMNS } from '../../core/schema.ts';
import type { RowStage, StageIO } from '../../core/stage.ts';
import { cleanName, CodenameRegistry, isValidCode, physicalKey, parseCheckpointName, type CheckpointParts } from '../logic/codename.ts';
import { normalizeHpzl } from '../logic/hpzl.ts';
import { packageFile } from '../../core/paths.ts';

export const STANDARDIZE_STAGE = '03-standardize';
export const OVERRIDES_FILE = 'kkmc_overrides.csv';
/** Shipped approximate coordinates of the 19 real checkpoints (see docs/etl-logic.md). */
export const DEFAULT_GEO_FILE = packageFile('data', 'ref', 'kkmc_geo.csv');

export interface GeoEntry {
  name: string;
  lon: number;
  lat: number;
}

export interface StandardizeOptions {
  geo: GeoEntry[] | null;
  overrides: Map<string, string>;
}

async function readUtf8Table(file: string, required: readonly string[]): Promise<{ rows: string[][]; cols: number[]; lines: number[] }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new TrafficError('INPUT_NOT_FOUND', `no such file: ${file}`, { file });
    throw err;
  }
  const recs = parseCsv(text.replace(/^\uFEFF/, ''));
  const header = recs[0]?.fields.map((h) => h.trim().toUpperCase());
  if (!header) throw new TrafficError('INPUT_EMPTY', `file is empty: ${file}`, { file });
  const cols = required.map((c) => header.indexOf(c));
  const missing = required.filter((_, i) => cols[i] === -1);
  if (missing.length) {
    throw new TrafficError('HEADER_UNRECOGNISED', `missing column(s) ${missing.join(', ')}; need ${required.join(',')}`, { file, line: 1 });
  }
  const body = recs.slice(1).filter((r) => r.fields.some((f) => f.trim() !== ''));
  return { rows: body.map((r) => r.fields.map((f) => f.trim())), cols, lines: body.map((r) => r.line) };
}

export async function loadGeoFile(file: string): Promise<GeoEntry[]> {
  const { rows, cols, lines } = await readUtf8Table(file, ['KKMC_NAME', 'LON', 'LAT']);
  const [ni, xi, yi] = cols as [number, number, number];
  return rows.map((r, i) => {
    const lon = Number(r[xi]);
    const lat = Number(r[yi]);
    if (!r[ni] || !Number.isFinite(lon) || !Number.isFinite(lat) || Math.abs(lon) > 180 || Math.abs(lat) > 90) {
      throw new TrafficError('BAD_ROW', `bad geo row: ${r.join(',')}`, { file, line: lines[i] });
    }
    return { name: r[ni]!, lon, lat };
  });
}

export async function loadOverridesFile(file: string): Promise<Map<string, string>> {
  const { rows, cols, lines } = await readUtf8Table(file, ['KKMC_NAME', 'KKMC']);
  const [ni, ci] = cols as [number, number];
  const out = new Map<string, string>();
  rows.forEach((r, i) => {
    const name = r[ni] ?? '';
    const code = r[ci] ?? '';
    if (!name || !isValidCode(code)) {
      throw new TrafficError('BAD_ROW', `bad override (need a name and a code of A-Z a-z 0-9 _ -, at most 40): ${r.join(',')}`, {
        file,
        line: lines[i],
        field: 'KKMC',
      });
    }
    out.set(name, code);
  });
  return out;
}

/** --geo FILE, else data/ref/kkmc_geo.csv when present; --overrides FILE, else kkmc_overrides.csv in outDir when present. */
export async function loadStandardizeOptions(o: { geo?: string; overrides?: string; outDir: string }): Promise<StandardizeOptions> {
  const geoFile = o.geo ?? (existsSync(DEFAULT_GEO_FILE) ? DEFAULT_GEO_FILE : undefined);
  const overridesFile = o.overrides ?? (existsSync(path.join(o.outDir, OVERRIDES_FILE)) ? path.join(o.outDir, OVERRIDES_FILE) : undefined);
  return {
    geo: geoFile ? await loadGeoFile(geoFile) : null,
    overrides: overridesFile ? await loadOverridesFile(overridesFile) : new Map(),
  };
}

interface CodeStats {
  names: Map<string, number>;
  xzqhmc: Map<string, number>;
  parts: CheckpointParts;
  passes: number;
}

function mostFrequent(m: Map<string, number>): string {
  let best = '';
  let bc = -1;
  for (const [k, c] of m) if (c > bc || (c === bc && k < best)) [best, bc] = [k, c];
  return best;
}

function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

export function createStandardizeStage(opts: StandardizeOptions, io: StageIO): RowStage {
  const registry = new CodenameRegistry(opts.overrides);
  const stats = new Map<string, CodeStats>();
  // Geo by exact (cleaned) name, and by physical checkpoint so that other spellings match too.
  const geoByName = new Map<string, GeoEntry>();
  const geoByKey = new Map<string, GeoEntry>();
  for (const g of opts.geo ?? []) {
    geoByName.set(cleanName(g.name), g);
    const key = physicalKey(g.name, parseCheckpointName(g.name));
    if (!geoByKey.has(key)) geoByKey.set(key, g);
  }

  return {
    name: STANDARDIZE_STAGE,
    inputColumns: RAW_COLUMNS,
    outputColumns: RAW_COLUMNS,
    transform(row, emit, where) {
      if (row.length !== RAW_COLUMNS.length) {
        io.reject(row, `expected ${RAW_COLUMNS.length} fields, got ${row.length}`, where);
        return;
      }
      const name = row[F.KKMC]!.trim();
      if (name === '' || name === '-') {
        io.reject(row, 'KKMC empty', where);
        return;
      }
      const xzqhmc = row[F.XZQHMC]!.trim();
      const a = registry.assign(name, xzqhmc);
      let s = stats.get(a.code);
      if (!s) {
        s = { names: new Map(), xzqhmc: new Map(), parts: a.parts, passes: 0 };
        stats.set(a.code, s);
        io.count(`kkmc.code.${a.method}`);
      }
      bump(s.names, name);
      bump(s.xzqhmc, xzqhmc);
      s.passes++;
      row[F.KKMC] = a.code;

      const h = normalizeHpzl(row[F.HPZL]!);
      if (h.kind === 'unknown') {
        io.count('HPZL.unknown_code');
        io.count(`HPZL.unknown_code.${h.raw}`);
      } else if (h.kind === 'ok' && h.code !== row[F.HPZL]) {
        io.count('HPZL.recoded');
      }
      row[F.HPZL] = h.code;
      emit(row);
    },
    artifacts() {
      const codes = [...stats.keys()].sort();
      const rows = codes.map((code) => {
        const s = stats.get(code)!;
        const main = mostFrequent(s.names);
        const aliases = [...s.names.keys()].filter((n) => n !== main).sort();
        const geo =
          [main, ...aliases].map((n) => geoByName.get(cleanName(n))).find((g) => g !== undefined) ??
          geoByKey.get(physicalKey(main, parseCheckpointName(main, mostFrequent(s.xzqhmc))));
        return [
          code,
          main,
          aliases.join('|'),
          s.parts.road,
          s.parts.county,
          s.parts.km,
          s.parts.border,
          mostFrequent(s.xzqhmc),
          geo ? String(geo.lon) : '',
          geo ? String(geo.lat) : '',
          String(s.passes),
        ];
      });
      return { [FILES.dimension]: csvText(DIMENSION_COLUMNS, rows) };
    },
  };
}
