/** Option parsing shared by the commands that route by shard (shard, mycat-config, load, sink, ttl). */
import { TrafficError } from '../../core/errors.ts';

/**
 * `--weights 0:1,1:2` → Map(shard → weight). Every index must be a shard (< count) and every
 * weight a whole number ≥ 1: MyCat would silently ignore an unknown index and turn a
 * non-positive weight into 1, but on the command line either is far more likely a typo.
 */
export function parseWeights(v: string | undefined, count: number, option = 'weights'): Map<number, number> | undefined {
  if (v === undefined) return undefined;
  const out = new Map<number, number>();
  for (const part of v.split(',')) {
    const m = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(part);
    if (!m) {
      throw new TrafficError('INVALID_OPTION', `--${option} must look like 0:1,1:2 (shard:weight), got "${v}"`, {
        option: `--${option}`,
      });
    }
    const shard = Number(m[1]);
    const weight = Number(m[2]);
    if (shard >= count) {
      throw new TrafficError('INVALID_OPTION', `--${option}: shard ${shard} does not exist (count ${count})`, {
        option: `--${option}`,
      });
    }
    if (weight < 1 || weight > 1000) {
      throw new TrafficError('INVALID_OPTION', `--${option}: weight of shard ${shard} must be in [1, 1000], got ${weight}`, {
        option: `--${option}`,
      });
    }
    if (out.has(shard)) {
      throw new TrafficError('INVALID_OPTION', `--${option}: shard ${shard} given twice`, { option: `--${option}` });
    }
    out.set(shard, weight);
  }
  return out;
}
