import { describe, expect, it } from 'vitest';
import { pairKey, type Alert } from '../../streaming/detect/alert.ts';
import { CloneDetector, DEFAULT_PARAMS } from '../../streaming/detect/core.ts';
import { distanceLookup } from '../../streaming/detect/geo.ts';
import { ETL_PLATES } from '../../streaming/detect/plates.ts';
import { syntheticCoords, syntheticStream, type TruthPair } from '../../streaming/detect/synthetic.ts';

const distance = distanceLookup(syntheticCoords());
const make = (): CloneDetector => new CloneDetector({ ...DEFAULT_PARAMS, distance, plates: ETL_PLATES });

function partitionOf(hphm: string, n: number): number {
  let h = 0;
  for (let i = 0; i < hphm.length; i++) h = (Math.imul(h, 31) + hphm.charCodeAt(i)) | 0;
  return Math.abs(h) % n;
}

function records(n: number, truth: TruthPair[]): [string[], number][] {
  const out: [string[], number][] = [];
  // 5 records/s, 3,000 plates, half masked, up to 30 s out of order, 1% injected clones.
  const gen = syntheticStream({ seed: 7, rate: 5, plates: 3000, maskedShare: 0.5, jitterS: 30, injectClones: 0.01 }, (p) => truth.push(p));
  for (const row of gen) {
    out.push([row, partitionOf(row[6]!, 4)]);
    if (out.length >= n) break;
  }
  return out;
}

const ids = (alerts: Alert[]): string[] => alerts.map((a) => a.id).sort();

describe('partitions', () => {
  const truth: TruthPair[] = [];
  const recs = records(20_000, truth);

  it('two instances splitting the partitions raise exactly the alerts of one instance', () => {
    const one: Alert[] = [];
    const d1 = make();
    for (const [row, p] of recs) d1.push(row, p, one);

    const left: Alert[] = [];
    const right: Alert[] = [];
    const dl = make();
    const dr = make();
    for (const [row, p] of recs) (p < 2 ? dl : dr).push(row, p, p < 2 ? left : right);

    // Partition by partition, as after a rebalance that hands them out one at a time.
    const seq: Alert[] = [];
    const ds = make();
    for (let q = 0; q < 4; q++) for (const [row, p] of recs) if (p === q) ds.push(row, p, seq);

    expect(one.length).toBeGreaterThan(truth.length);
    expect(ids([...left, ...right])).toEqual(ids(one));
    expect(ids(seq)).toEqual(ids(one));
    expect(d1.stats.late).toBe(0);
  });

  it('finds every injected clone of the synthetic stream', () => {
    const found = new Set<string>();
    const d = make();
    const out: Alert[] = [];
    for (const [row, p] of recs) d.push(row, p, out);
    for (const a of out) found.add(pairKey(a.prev.gcxh, a.curr.gcxh));
    const missed = truth.filter((t) => !found.has(pairKey(t.a, t.b)));
    expect(truth.length).toBeGreaterThan(150);
    expect(missed).toEqual([]);
  });
});
