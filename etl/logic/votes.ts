/**
 * Vote tables: evidence key → counts of the values seen with it. Most keys see one to three
 * values, so each key holds a flat [value, count, value, count…] array (far smaller than a Map
 * per key on ~600k rows).
 */

export interface Tally {
  /** Total votes. */
  n: number;
  /** The leading value ('' when none) and its votes. */
  top: string;
  topCount: number;
}

export function tallyOf(flat: readonly (string | number)[]): Tally {
  let n = 0;
  let top = '';
  let topCount = 0;
  for (let i = 0; i < flat.length; i += 2) {
    const v = flat[i] as string;
    const c = flat[i + 1] as number;
    n += c;
    // Ties go to the smaller value, so the answer never depends on arrival order.
    if (c > topCount || (c === topCount && v < top)) {
      top = v;
      topCount = c;
    }
  }
  return { n, top, topCount };
}

export function addVote(flat: (string | number)[], value: string, w = 1): void {
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i] === value) {
      flat[i + 1] = (flat[i + 1] as number) + w;
      return;
    }
  }
  flat.push(value, w);
}

/** Keys with more values than this switch from a flat array to a Map (popular masked plates). */
const FLAT_MAX_VALUES = 12;

export class VoteTable {
  private readonly m = new Map<string, (string | number)[] | Map<string, number>>();

  add(key: string, value: string, w = 1): void {
    const votes = this.m.get(key);
    if (!votes) {
      this.m.set(key, [value, w]);
      return;
    }
    if (votes instanceof Map) {
      votes.set(value, (votes.get(value) ?? 0) + w);
      return;
    }
    addVote(votes, value, w);
    if (votes.length > FLAT_MAX_VALUES * 2) {
      const map = new Map<string, number>();
      for (let i = 0; i < votes.length; i += 2) map.set(votes[i] as string, votes[i + 1] as number);
      this.m.set(key, map);
    }
  }

  tally(key: string): Tally | undefined {
    const votes = this.m.get(key);
    if (!votes) return undefined;
    if (!(votes instanceof Map)) return tallyOf(votes);
    let n = 0;
    let top = '';
    let topCount = 0;
    for (const [v, c] of votes) {
      n += c;
      if (c > topCount || (c === topCount && v < top)) [top, topCount] = [v, c];
    }
    return { n, top, topCount };
  }

  get size(): number {
    return this.m.size;
  }
}
