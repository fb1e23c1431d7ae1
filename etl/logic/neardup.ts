/**
 * Near-duplicate passes: the same plate at the same checkpoint within a few seconds is, on the real
 * data, almost always the same vehicle caught twice (two lanes or cameras): HPZL agrees in 99% of
 * such pairs within 60 s. A sliding window over the time-sorted input (stage 04 scan) collects, for
 * each pass that needs a field (missing or held out), the values its neighbours carry.
 *
 * Memory: the window holds the passes of the last `windowS` seconds; votes are kept only for passes
 * that need them (a few % of rows).
 */
import { addVote, tallyOf, type Tally } from './votes.ts';

export type NearDupField = 'HPZL' | 'CLPPXH';

export interface NearDupPass {
  gcxh: string;
  /**
   * Same vehicle at the same checkpoint: plate|kkmc, or any number standing for exactly one such
   * pair (stage 04 passes an id); '' for a pass that cannot take part (INVALID plate).
   */
  key: string | number;
  t: number;
  /** Known value per field ('' = missing); `hidden` marks a held-out value (truth kept aside). */
  values: Record<NearDupField, { value: string; hidden: boolean; missing: boolean }>;
}

interface Slot {
  p: NearDupPass;
}

export class NearDupIndex {
  private readonly window: Slot[] = [];
  private head = 0;
  private readonly byKey = new Map<string | number, NearDupPass[]>();
  /** Votes from visible values, and (deferred) from held-out values: added back after measuring. */
  private readonly votes: Record<NearDupField, Map<string, (string | number)[]>> = { HPZL: new Map(), CLPPXH: new Map() };
  private readonly deferred: Record<NearDupField, Map<string, (string | number)[]>> = { HPZL: new Map(), CLPPXH: new Map() };

  constructor(private readonly windowS: number) {}

  add(p: NearDupPass): void {
    this.evict(p.t);
    if (p.key === '') return;
    const list = this.byKey.get(p.key);
    if (list) {
      for (const q of list) {
        for (const f of ['HPZL', 'CLPPXH'] as const) {
          this.pair(f, p, q);
          this.pair(f, q, p);
        }
      }
      list.push(p);
    } else {
      this.byKey.set(p.key, [p]);
    }
    this.window.push({ p });
  }

  /** `need` receives `from`'s value of `f` when it needs one and `from` has it. */
  private pair(f: NearDupField, need: NearDupPass, from: NearDupPass): void {
    const nv = need.values[f];
    if (!(nv.missing || nv.hidden)) return;
    const fv = from.values[f];
    if (fv.missing || fv.value === '') return;
    const store = fv.hidden ? this.deferred[f] : this.votes[f];
    let flat = store.get(need.gcxh);
    if (!flat) store.set(need.gcxh, (flat = []));
    addVote(flat, fv.value);
  }

  private evict(now: number): void {
    while (this.head < this.window.length && this.window[this.head]!.p.t < now - this.windowS) {
      const p = this.window[this.head]!.p;
      const list = this.byKey.get(p.key);
      if (list) {
        const at = list.indexOf(p);
        if (at !== -1) list.splice(at, 1);
        if (list.length === 0) this.byKey.delete(p.key);
      }
      this.head++;
    }
    if (this.head > 4096 && this.head * 2 > this.window.length) {
      this.window.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Neighbour votes for a pass: visible values only (measuring), or with held-out ones (filling). */
  tally(f: NearDupField, gcxh: string, withDeferred: boolean): Tally | undefined {
    const a = this.votes[f].get(gcxh);
    const b = withDeferred ? this.deferred[f].get(gcxh) : undefined;
    if (!a && !b) return undefined;
    if (!b) return tallyOf(a!);
    const merged = [...(a ?? [])];
    for (let i = 0; i < b.length; i += 2) addVote(merged, b[i] as string, b[i + 1] as number);
    return tallyOf(merged);
  }

  /** Drops the window (scan is over); the votes stay. */
  closeWindow(): void {
    this.window.length = 0;
    this.head = 0;
    this.byKey.clear();
  }
}
