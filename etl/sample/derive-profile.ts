/**
 * Derives etl/sample/profile.json (aggregates only) from a folder of real exports:
 *
 *   node --import tsx etl/sample/derive-profile.ts ../shared/realdata [data/ref/kkmc_geo.csv] > etl/sample/profile.json
 *
 * Reads the files with the ETL's own raw reader; a file that is a byte copy of an earlier one is
 * skipped. Nothing row-level is written: shares, per-mille hourly profiles, counts of plate
 * prefixes, plate characters and brand strings, and the order of brand groups in the exports.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseGcsjText } from '../../core/time.ts';
import { listRawFiles, openRawFile } from '../read/raw.ts';

const GOOD_PLATE = /^[京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新][A-Z][A-Z0-9]{2}\*\*\*$/;
/** Plate types named in the data README but absent from the sample files: kept at a token weight. */
const TOKEN_HPZL: [string, number][] = [['23', 3]];

type Counter = Map<string, number>;
const bump = (c: Counter, k: string, n = 1): void => void c.set(k, (c.get(k) ?? 0) + n);
/** Most frequent first; ties keep first-seen order. */
const ranked = (c: Counter): [string, number][] => [...c.entries()].sort((a, b) => b[1] - a[1]);
const round = (x: number, digits: number): number => Number(x.toFixed(digits));

interface Row {
  f: string[];
  file: string;
}

export async function deriveProfile(realDir: string, geoFile?: string): Promise<Record<string, unknown>> {
  const rows: Row[] = [];
  const seen = new Set<string>();
  const fileRows = new Map<string, string[][]>();
  for (const file of await listRawFiles(realDir)) {
    const { info, records } = await openRawFile(file);
    const list: string[][] = [];
    for await (const r of records) if (!r.error) list.push(r.fields);
    if (seen.has(info.sha256)) continue; // a byte copy (to_yqy_12018.csv) would count the 17th twice
    seen.add(info.sha256);
    fileRows.set(file, list);
    for (const f of list) rows.push({ f, file });
  }
  const n = rows.length;

  // Checkpoints: a name also written with a leading 江苏省 keeps the short spelling and an alias.
  const names = new Set(rows.map((r) => r.f[2] as string));
  const canonical = (k: string): string => (k.startsWith('江苏省') && names.has(k.slice(3)) ? k.slice(3) : k);
  const per = new Map<string, { n: number; hours: number[]; xzqhmc: string; fxlx: string }>();
  for (const { f } of rows) {
    const k = canonical(f[2] as string);
    let p = per.get(k);
    if (!p) per.set(k, (p = { n: 0, hours: new Array<number>(24).fill(0), xzqhmc: f[1] as string, fxlx: f[3] as string }));
    p.n++;
    const t = parseGcsjText(f[4] as string);
    if (t.ok) p.hours[Number(t.value.slice(11, 13))]!++;
  }
  let order = [...per.keys()].sort((a, b) => per.get(b)!.n - per.get(a)!.n);
  if (geoFile) {
    const geo = readFileSync(geoFile, 'utf8')
      .split(/\r?\n/)
      .slice(1)
      .map((l) => l.split(',')[0]!)
      .filter(Boolean);
    order = [...geo.filter((g) => per.has(g)), ...order.filter((k) => !geo.includes(k))];
  }
  const checkpoints = order.map((k) => {
    const p = per.get(k)!;
    const hourly = p.n < 10 ? [...new Array(8).fill(0), ...new Array(12).fill(1), ...new Array(4).fill(0)] : p.hours.map((h) => round((h / p.n) * 1000, 1));
    return { name: k, altName: names.has('江苏省' + k) ? '江苏省' + k : null, xzqhmc: p.xzqhmc, fxlx: p.fxlx, share: round(p.n / n, 5), hourly };
  });

  const hpzl: Counter = new Map();
  const prefixes = new Map<string, Counter>();
  const char3: Counter = new Map();
  const char3NewEnergy: Counter = new Map();
  const char4: Counter = new Map();
  const vocab = new Map<string, Counter>();
  const prefixClass = (z: string): string => (z === '01' || z === '52' || z === '51' ? z : 'other');
  const vocabClass = (z: string): string => (['01', '02', '52', '51', '13'].includes(z) ? z : '02');
  for (const { f } of rows) {
    const z = f[5] as string;
    const plate = f[6] as string;
    const clp = f[7] as string;
    if (z !== '-') bump(hpzl, z);
    if (z !== '-' && GOOD_PLATE.test(plate)) {
      const pc = prefixClass(z);
      if (!prefixes.has(pc)) prefixes.set(pc, new Map());
      bump(prefixes.get(pc)!, plate.slice(0, 2));
      bump(z === '52' ? char3NewEnergy : char3, plate[2] as string);
      bump(char4, plate[3] as string);
    }
    if (clp !== '-' && z !== '-') {
      const vc = vocabClass(z);
      if (!vocab.has(vc)) vocab.set(vc, new Map());
      bump(vocab.get(vc)!, clp);
    }
  }
  const clppxh: Record<string, [string, number][]> = {};
  for (const [vc, c] of vocab) clppxh[vc] = ranked(c).filter(([, k]) => k >= 2 || vc === '51' || vc === '13');

  // Brand groups: the exports list rows by brand code, then by time; each time-ordered run of the
  // file with most runs is one group. A brand's rank is the first run it appears in.
  let best: string[][] = [];
  let bestRuns: [number, number][] = [];
  for (const list of fileRows.values()) {
    const runs: [number, number][] = [];
    let start = 0;
    let prev = '';
    list.forEach((f, i) => {
      const t = parseGcsjText(f[4] as string);
      const v = t.ok ? t.value : prev;
      if (i > 0 && v < prev) {
        runs.push([start, i]);
        start = i;
      }
      prev = v;
    });
    runs.push([start, list.length]);
    if (runs.length > bestRuns.length) [best, bestRuns] = [list, runs];
  }
  const brandRank: Record<string, number> = {};
  bestRuns.forEach(([a, b], ri) => {
    for (const f of best.slice(a, b)) {
      const clp = f[7] as string;
      if (clp === '-') continue;
      const brand = clp.split('-')[0] as string;
      if (!(brand in brandRank)) brandRank[brand] = ri;
    }
  });

  return {
    source: `Measured (aggregates only) by etl/sample/derive-profile.ts from ${fileRows.size} real export files (${n} rows, byte copies skipped). HPZL ${TOKEN_HPZL.map(([z]) => z).join(', ')} added at a token weight from the README list (absent from these files).`,
    checkpoints,
    hpzl: [...ranked(hpzl), ...TOKEN_HPZL.filter(([z]) => !hpzl.has(z))],
    prefixes: Object.fromEntries([...prefixes].map(([k, c]) => [k, ranked(c)])),
    char3: ranked(char3),
    char3NewEnergy: ranked(char3NewEnergy),
    char4: ranked(char4),
    clppxh,
    brandRank,
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [dir, geo] = process.argv.slice(2);
  if (!dir) {
    process.stderr.write('usage: node --import tsx etl/sample/derive-profile.ts REAL_DATA_DIR [GEO_CSV] > etl/sample/profile.json\n');
    process.exit(2);
  }
  const profile = await deriveProfile(dir, geo);
  process.stdout.write(JSON.stringify(profile) + '\n');
}
