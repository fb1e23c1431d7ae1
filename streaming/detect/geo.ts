/**
 * Distances between checkpoints: haversine over the dimension table's LON/LAT. A checkpoint with
 * no coordinates (or missing from the table) has an unknown distance, which the default rule
 * treats as "could be far" (DESIGN.md): an alert is better than a silent miss.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { readEnv } from '../../core/config.ts';
import { TrafficError } from '../../core/errors.ts';
import { openCsvTable } from '../../core/io.ts';
import { FILES } from '../../core/schema.ts';

export interface LonLat {
  lon: number;
  lat: number;
}

const EARTH_RADIUS_KM = 6371.0088;
const RAD = Math.PI / 180;

/** Great-circle distance in km. */
export function haversineKm(a: LonLat, b: LonLat): number {
  const dLat = (b.lat - a.lat) * RAD;
  const dLon = (b.lon - a.lon) * RAD;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * RAD) * Math.cos(b.lat * RAD) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

export type DistanceFn = (kkmcA: string, kkmcB: string) => number | null;

/**
 * A distance lookup over known coordinates, memoized per ordered pair (19 checkpoints → a few
 * hundred pairs, looked up millions of times on a replay).
 */
export function distanceLookup(coords: ReadonlyMap<string, LonLat>): DistanceFn {
  // Nested maps: no key string is built per lookup on the hot path.
  const memo = new Map<string, Map<string, number | null>>();
  let entries = 0;
  return (a, b) => {
    if (a === b) return 0;
    let row = memo.get(a);
    if (row === undefined) {
      // Bounded even if a stream carries endless distinct (bogus) checkpoint names.
      if (entries > 100_000) {
        memo.clear();
        entries = 0;
      }
      row = new Map();
      memo.set(a, row);
    }
    let d = row.get(b);
    if (d === undefined) {
      const pa = coords.get(a);
      const pb = coords.get(b);
      d = pa && pb ? haversineKm(pa, pb) : null;
      row.set(b, d);
      entries++;
    }
    return d;
  };
}

export interface Dimension {
  file: string | null;
  /** KKMC codename (and, for convenience, Chinese name and aliases) → coordinates. */
  coords: Map<string, LonLat>;
  checkpoints: number;
  withCoordinates: number;
}

function parseCoord(text: string | undefined, min: number, max: number): number | null {
  if (text === undefined || text.trim() === '') return null;
  const n = Number(text);
  return Number.isFinite(n) && n >= min && n <= max ? n : null;
}

/** Reads kkmc_dimension.csv (columns found by header name; only KKMC, LON, LAT are needed). */
export async function loadDimension(file: string): Promise<Dimension> {
  if (!existsSync(file)) throw new TrafficError('INPUT_NOT_FOUND', `dimension table not found: ${file}`, { file });
  const table = await openCsvTable(file);
  const col = (name: string): number => table.header.indexOf(name);
  const iK = col('KKMC');
  const iLon = col('LON');
  const iLat = col('LAT');
  const iName = col('KKMC_NAME');
  const iAliases = col('ALIASES');
  if (iK < 0 || iLon < 0 || iLat < 0) {
    throw new TrafficError('HEADER_UNRECOGNISED', `dimension table needs columns KKMC, LON, LAT; got [${table.header.join(',')}]`, { file, line: 1 });
  }
  const coords = new Map<string, LonLat>();
  let checkpoints = 0;
  let withCoordinates = 0;
  for await (const rec of table.rows) {
    const f = rec.fields;
    const kkmc = f[iK];
    if (!kkmc) continue;
    checkpoints++;
    const lon = parseCoord(f[iLon], -180, 180);
    const lat = parseCoord(f[iLat], -90, 90);
    if (lon === null || lat === null) continue;
    withCoordinates++;
    const p = { lon, lat };
    coords.set(kkmc, p);
    // Names too, so a stream that still carries Chinese checkpoint names resolves as well.
    const name = iName >= 0 ? f[iName] : undefined;
    if (name && !coords.has(name)) coords.set(name, p);
    const aliases = iAliases >= 0 ? f[iAliases] : undefined;
    if (aliases) for (const a of aliases.split('|')) if (a && !coords.has(a)) coords.set(a, p);
  }
  return { file, coords, checkpoints, withCoordinates };
}

/**
 * Which dimension table to use (DESIGN.md): `--dim`, else kkmc_dimension.csv beside a file input,
 * else the one in the data dir; null when none exists (all distances unknown).
 */
export function resolveDimensionFile(opts: { dim?: string; inputFile?: string; dataDir?: string }): string | null {
  if (opts.dim) return path.resolve(opts.dim);
  const candidates: string[] = [];
  if (opts.inputFile) candidates.push(path.join(path.dirname(path.resolve(opts.inputFile)), FILES.dimension));
  candidates.push(path.join(opts.dataDir ?? readEnv().dataDir, FILES.dimension));
  return candidates.find((c) => existsSync(c)) ?? null;
}

export function emptyDimension(): Dimension {
  return { file: null, coords: new Map(), checkpoints: 0, withCoordinates: 0 };
}
