/** `traffic simulate`: replay the master CSV at N records/s into Kafka, a log file or stdout. */
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Command } from '../core/command.ts';
import { int, num, optStr, parseFlags, str } from '../core/args.ts';
import { readEnv } from '../core/config.ts';
import { TrafficError } from '../core/errors.ts';
import { fmtInt } from '../core/progress.ts';
import { FILES } from '../core/schema.ts';
import { ensureTopic, openSink, parseBusUri } from './bus/index.ts';
import { mqttIsFilter } from './bus/uri.ts';
import { findDimension, loadDimension } from './inject.ts';
import { simulate, type SimMode } from './simulate.ts';

const usage = `usage: traffic simulate [--in master.csv] [--to URI] [--rate N|max] [--mode replay|now]
                        [--limit N] [--loop] [--inject-clones P --truth FILE] [--dim FILE] [--seed N]

Replays the 12-column master CSV as stream records (tab-separated, one per message/line).
  --in FILE           master CSV (default: <data dir>/${FILES.master})
  --to URI            kafka://host:port[,host:port]/topic (key = HPHM) | mqtt://host:port/topic/path
                      (QoS 1, one record per message) | file:PATH (appends; follows rotation) | stdout. Default: kafka://$TRAFFIC_KAFKA/$TRAFFIC_TOPIC when
                      TRAFFIC_KAFKA is set, else file:<data dir>/traffic-raw.log
  --rate N            records per second (default 50), paced from a fixed start (no drift, never
                      early); 0 or "max" = as fast as the target accepts
  --mode replay|now   replay (default): GCSJ kept; now: GCSJ = emission time (China time)
  --limit N           stop after N master records (across loops)
  --loop              start over at the end of the file; loop k > 0 suffixes GCXH with "-L<k>"
  --inject-clones P   probability per record of adding a cloned-plate pair (GCXH INJ…A / INJ…B):
                      a made-up full plate at the record's checkpoint and at a checkpoint far away
                      (LON/LAT from the dimension table) 30–240 s later, at > 300 km/h
  --truth FILE        where the injected pairs are listed (CSV; default <data dir>/injected_truth.csv)
  --dim FILE          checkpoint dimension (default: ${FILES.dimension} beside --in, else in the data dir)
  --seed N            random seed for injection (default: random, printed in the summary)
Ctrl-C stops, flushes what is queued and prints the summary.`;

export const command: Command = {
  name: 'simulate',
  summary: 'replay the master at N records/s to Kafka, a log file or stdout',
  usage,
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      in: { type: 'string' },
      to: { type: 'string' },
      rate: { type: 'string' },
      mode: { type: 'string' },
      limit: { type: 'string' },
      loop: { type: 'boolean' },
      'inject-clones': { type: 'string' },
      truth: { type: 'string' },
      dim: { type: 'string' },
      seed: { type: 'string' },
    });
    const env = readEnv();
    const input = path.resolve(str(v.in, 'in', path.join(env.dataDir, FILES.master)));
    if (!existsSync(input))
      throw new TrafficError('INPUT_NOT_FOUND', `no such file: ${input} (run etl:all first or pass --in)`, { file: input, option: '--in' });
    const to = str(v.to, 'to', env.kafka ? `kafka://${env.kafka}/${env.topic}` : `file:${path.join(env.dataDir, 'traffic-raw.log')}`);
    const target = parseBusUri(to);
    if (target.kind === 'mqtt' && mqttIsFilter(target.topic)) {
      throw new TrafficError('INVALID_OPTION', `--to ${to}: + and # are for subscribers; publish to one topic`, { option: '--to' });
    }
    if (target.kind === 'memory')
      throw new TrafficError('INVALID_OPTION', 'memory: is in-process only; simulate as a command writes to kafka://, file: or stdout', { option: '--to' });
    const rateText = v.rate === undefined ? '50' : str(v.rate, 'rate');
    const rate = rateText === 'max' ? Infinity : num(rateText, 'rate', 50, { min: 0 });
    const mode = str(v.mode, 'mode', 'replay');
    if (mode !== 'replay' && mode !== 'now') throw new TrafficError('INVALID_OPTION', `--mode must be replay or now, got "${mode}"`, { option: '--mode' });
    const limit = v.limit === undefined ? undefined : int(v.limit, 'limit', 0, { min: 1 });
    const p = num(v['inject-clones'], 'inject-clones', 0, { min: 0, max: 1 });
    const seed = int(v.seed, 'seed', randomInt(2 ** 31 - 1), { min: 0 });
    const truthFile = path.resolve(str(v.truth, 'truth', path.join(env.dataDir, 'injected_truth.csv')));
    const dimFile = findDimension(input, env.dataDir, optStr(v.dim, 'dim'));

    const dimension = p > 0 && dimFile ? await loadDimension(dimFile) : null;
    if (target.kind === 'kafka') await ensureTopic(target.brokers, target.topic);
    const sink = await openSink(to, { clientId: 'traffic-simulate' });
    const ac = new AbortController();
    const onInt = (): void => {
      if (ac.signal.aborted) process.exit(130); // a second Ctrl-C: leave at once
      process.stderr.write('\nsimulate: stopping (Ctrl-C again to quit at once) …\n');
      ac.abort();
    };
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onInt);
    const tty = Boolean(process.stderr.isTTY) && !process.env.CI;
    let drawn = false;
    const rateLabel = Number.isFinite(rate) && rate > 0 ? `${rate}/s` : 'max';
    try {
      const sum = await simulate({
        input,
        sink,
        rate: rate === 0 ? Infinity : rate,
        mode: mode as SimMode,
        limit,
        loop: v.loop === true,
        inject: p > 0 ? { probability: p, truthFile, seed, dimension } : undefined,
        signal: ac.signal,
        onProgress: tty
          ? (pr) => {
              drawn = true;
              const lag = !Number.isFinite(rate) || rate === 0 ? '' : pr.behindMs >= 1 ? `, ${fmtInt(pr.behindMs)} ms behind schedule` : ', on schedule';
              process.stderr.write(
                `\r\x1b[Ksimulate: sent ${fmtInt(pr.sent)}, ${fmtInt(pr.sent / Math.max(pr.seconds, 1e-9))} rec/s (target ${rateLabel})${lag}`,
              );
            }
          : undefined,
      });
      if (drawn) process.stderr.write('\r\x1b[K');
      const parts = [
        `simulate: ${fmtInt(sum.sent)} records → ${to} in ${sum.seconds.toFixed(1)} s (${fmtInt(sum.sent / Math.max(sum.seconds, 1e-9))} rec/s, target ${rateLabel}, mode ${mode})`,
        `${fmtInt(sum.read)} master rows${sum.loops > 1 ? ` over ${sum.loops} loops` : ''}`,
      ];
      if (p > 0)
        parts.push(`${fmtInt(sum.injectedPairs)} injected pairs → ${truthFile} (seed ${seed}${dimension ? '' : ', no dimension table: distances unknown'})`);
      if (Number.isFinite(rate) && rate > 0) parts.push(`max lag ${sum.maxBehindMs.toFixed(1)} ms, never early: ${sum.maxAheadMs <= 0 ? 'yes' : 'NO'}`);
      if (sum.skipped) parts.push(`skipped ${sum.skipped} rows: ${JSON.stringify(sum.skippedReasons)}`);
      if (sum.outOfOrder) parts.push(`warning: ${sum.outOfOrder} rows earlier than their predecessor (input not sorted by GCSJ)`);
      if (sum.stopped) parts.push('stopped by signal');
      process.stderr.write(parts.join('; ') + '\n');
      return 0;
    } finally {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onInt);
      await sink.close().catch(() => undefined);
    }
  },
};
