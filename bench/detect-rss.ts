/**
 * Memory of the detector on an endless stream: N synthetic records (event time advancing at
 * 2 records/s, 200k plates, 90% masked, 1% injected clones, up to 30 s out of order) pushed
 * through the core, printing RSS and state size every `every` records. Flat RSS = bounded state.
 *
 *   npm run bench:detect -- --rss 10000000        (or: npx tsx bench/detect-rss.ts 10000000)
 */
import { pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Alert } from '../streaming/detect/alert.ts';
import { CloneDetector, DEFAULT_PARAMS } from '../streaming/detect/core.ts';
import { distanceLookup } from '../streaming/detect/geo.ts';
import { ETL_PLATES } from '../streaming/detect/plates.ts';
import { syntheticCoords, syntheticStream } from '../streaming/detect/synthetic.ts';

/** A full GC before each sample, so "live heap" is what the detector keeps, not garbage. */
function gcFunction(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

/** Records per second of event time: ~17× the real checkpoints' rate; 10M records ≈ 58 days. */
const RATE = 2;
const mb = (b: number): string => (b / 2 ** 20).toFixed(1).padStart(7);

function plateHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h >>> 0;
}

export async function runRss(total: number, every = 1_000_000, log = (s: string) => console.log(s)): Promise<number[]> {
  const det = new CloneDetector({ ...DEFAULT_PARAMS, distance: distanceLookup(syntheticCoords()), plates: ETL_PLATES });
  const out: Alert[] = [];
  let alerts = 0;
  let n = 0;
  const rss: number[] = [];
  const gc = gcFunction();
  const t0 = performance.now();
  log(
    `detect RSS: ${total.toLocaleString('en-US')} synthetic records, ${RATE} records/s of event time ` +
      `(${(total / RATE / 86400) | 0} days), 200k plates (90% masked), 1% injected clones, ≤30 s out of order; ` +
      `window ${DEFAULT_PARAMS.windowS} s, lateness ${DEFAULT_PARAMS.latenessS} s`,
  );
  log('   records    rss MB  live heap MB  sightings   plates   alerts    late   rec/s');
  for (const row of syntheticStream({ seed: 42, rate: RATE, plates: 200_000, maskedShare: 0.9, jitterS: 30, injectClones: 0.01 })) {
    // 4 partitions keyed by plate, as on the topic (key = HPHM).
    det.push(row, plateHash(row[6]!) & 3, out);
    n++;
    if (out.length > 1000) {
      alerts += out.length;
      out.length = 0;
    }
    if (n % every === 0 || n === total) {
      alerts += out.length;
      out.length = 0;
      gc();
      const m = process.memoryUsage();
      rss.push(m.rss);
      const s = det.stateSize();
      const rate = n / ((performance.now() - t0) / 1000);
      log(
        `${n.toLocaleString('en-US').padStart(10)} ${mb(m.rss)}       ${mb(m.heapUsed)} ${String(s.sightings).padStart(10)} ` +
          `${String(s.plates).padStart(8)} ${String(alerts).padStart(8)} ${String(det.stats.late).padStart(7)} ${Math.round(rate).toLocaleString('en-US').padStart(7)}`,
      );
    }
    if (n >= total) break;
  }
  const first = rss[0] ?? 0;
  const last = rss[rss.length - 1] ?? 0;
  const max = Math.max(...rss);
  log(`RSS after the first ${every.toLocaleString('en-US')}: ${mb(first).trim()} MB; at the end: ${mb(last).trim()} MB; max ${mb(max).trim()} MB`);
  return rss;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await runRss(Number(process.argv[2] ?? 10_000_000));
}
