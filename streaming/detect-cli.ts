/**
 * `traffic detect`: the cloned-plate (套牌车) detector. Options are normalized here once; the
 * loop lives in streaming/detect/run.ts.
 */
import path from 'node:path';
import { int, num, optStr, parseFlags, str } from '../core/args.ts';
import type { Command } from '../core/command.ts';
import { readEnv } from '../core/config.ts';
import { TrafficError } from '../core/errors.ts';
import { FILES, STREAM } from '../core/schema.ts';
import type { RuleName } from './detect/alert.ts';
import { DEFAULT_PARAMS } from './detect/core.ts';
import { resolveDimensionFile } from './detect/geo.ts';
import { formatQuality } from './detect/quality.ts';
import { RULES } from './detect/rules.ts';
import { parseBusUri } from './bus/uri.ts';
import { runDetect } from './detect/run.ts';
import { createLogger } from '../core/log.ts';
import { serveMetricsFromEnv } from '../core/metrics.ts';

const usage = `usage: traffic detect [--from URI] [--to URI] [options]

Raises cloned-plate (套牌车) alerts: the same plate at two checkpoints too far apart for the time
between the passes (event time, GCSJ). See docs/detector.md.

  --from URI        kafka://BROKERS/TOPIC (consumer group), mqtt://HOST:PORT/TOPIC (persistent
                    session per group), file:PATH (master CSV or stream log, replayed offline in
                    event time) or memory:NAME
                    (default: kafka://$TRAFFIC_KAFKA/$TRAFFIC_TOPIC when TRAFFIC_KAFKA is set)
  --to URI          redis://HOST:PORT (LPUSH/LTRIM/PUBLISH the list, idempotent by alert id),
                    jsonl:PATH (appended, ids already in the file skipped), stdout or memory:NAME
                    (default: $TRAFFIC_REDIS when set, else jsonl:<data dir>/alerts.jsonl)
  --group ID        Kafka consumer group / MQTT session (default traffic-detect)
  --rule NAME       default | window (default: default)
  --window-s N      max seconds between the two passes (default 300)
  --speed-kmh N     speed above which a known distance alerts (default 150)
  --lateness N      seconds a record may arrive after newer ones and still pair (default 60)
  --dim FILE        kkmc_dimension.csv with LON/LAT (default: beside a file input, else the data dir)
  --key NAME        Redis list and channel (default traffic:warnings)
  --max N           Redis list length kept (default 1000)
  --dedupe-ttl-s N  how long a stored alert id blocks a re-push in Redis (default 604800)
  --truncate        jsonl: start from an empty file
  --truth FILE      truth CSV of injected clones (GCXH_A,GCXH_B,…): print recall and alerts per day
                    for both rules
  --compare         print alerts per day for both rules (no truth needed)
  --latest          kafka: a new consumer group starts at the end (default: the beginning)
  --follow          file: keep reading appended lines (default: stop at the end)
  --warmup N        kafka: records per partition re-read before the committed offsets at start, so
                    pairs spanning a restart are found (default 20000; 0 = off)
`;

const FLAGS = {
  from: { type: 'string' },
  to: { type: 'string' },
  group: { type: 'string' },
  rule: { type: 'string' },
  'window-s': { type: 'string' },
  'speed-kmh': { type: 'string' },
  lateness: { type: 'string' },
  dim: { type: 'string' },
  key: { type: 'string' },
  max: { type: 'string' },
  'dedupe-ttl-s': { type: 'string' },
  truncate: { type: 'boolean' },
  truth: { type: 'string' },
  compare: { type: 'boolean' },
  latest: { type: 'boolean' },
  follow: { type: 'boolean' },
  warmup: { type: 'string' },
} as const;

export interface DetectCliOptions {
  from: string;
  to: string;
  group: string;
  rule: RuleName;
  windowS: number;
  speedKmh: number;
  latenessS: number;
  dim: string | null;
  key: string;
  max: number;
  dedupeTtlS: number;
  truncate: boolean;
  truth: string | undefined;
  compare: boolean;
  fromBeginning: boolean;
  follow: boolean;
  warmUpRecords: number;
}

export function normalizeDetectOptions(argv: string[], env = readEnv()): DetectCliOptions {
  const { values: v } = parseFlags(argv, FLAGS);
  const fromDefault = env.kafka ? `kafka://${env.kafka}/${env.topic}` : undefined;
  const from = str(v.from, 'from', fromDefault);
  if (!/^(kafka:\/\/|mqtt:\/\/|file:|memory:)/.test(from)) {
    throw new TrafficError('INVALID_OPTION', `--from must be kafka://…, mqtt://…, file:PATH or memory:NAME, got "${from}"`, {
      option: '--from',
    });
  }
  // An mqtt:// address is checked whole here (topic levels, wildcards), not at connect time.
  if (from.startsWith('mqtt://')) parseBusUri(from);
  const to = str(v.to, 'to', env.redis ?? `jsonl:${path.join(env.dataDir, 'alerts.jsonl')}`);
  if (!/^(rediss?:\/\/|jsonl:.|stdout$|memory:)/.test(to)) {
    throw new TrafficError('INVALID_OPTION', `--to must be redis://HOST:PORT, jsonl:PATH, stdout or memory:NAME, got "${to}"`, {
      option: '--to',
    });
  }
  const rule = str(v.rule, 'rule', 'default');
  if (!(RULES as readonly string[]).includes(rule)) {
    throw new TrafficError('INVALID_OPTION', `--rule must be one of ${RULES.join(', ')}, got "${rule}"`, { option: '--rule' });
  }
  const inputFile = from.startsWith('file:') ? from.slice('file:'.length) : undefined;
  return {
    from,
    to,
    group: str(v.group, 'group', 'traffic-detect'),
    rule: rule as RuleName,
    windowS: int(v['window-s'], 'window-s', DEFAULT_PARAMS.windowS, { min: 1, max: 86_400 }),
    speedKmh: num(v['speed-kmh'], 'speed-kmh', DEFAULT_PARAMS.speedKmh, { min: 1, max: 100_000 }),
    latenessS: int(v.lateness, 'lateness', DEFAULT_PARAMS.latenessS, { min: 0, max: 30 * 86_400 }),
    dim: resolveDimensionFile({ dim: optStr(v.dim, 'dim'), inputFile, dataDir: env.dataDir }),
    key: str(v.key, 'key', STREAM.warningsKey),
    max: int(v.max, 'max', STREAM.warningsMax, { min: 1 }),
    dedupeTtlS: int(v['dedupe-ttl-s'], 'dedupe-ttl-s', 7 * 86_400, { min: 1 }),
    truncate: v.truncate === true,
    truth: optStr(v.truth, 'truth'),
    compare: v.compare === true,
    fromBeginning: v.latest !== true,
    follow: v.follow === true,
    warmUpRecords: int(v.warmup, 'warmup', 20_000, { min: 0 }),
  };
}

export const command: Command = {
  name: 'detect',
  summary: 'cloned-plate detector → Redis or JSONL alerts',
  usage,
  async run(argv) {
    const o = normalizeDetectOptions(argv);
    await serveMetricsFromEnv();
    if (o.dim === null) {
      createLogger('detect').warn(
        `no ${FILES.dimension} found (--dim, beside the input, or the data dir): all distances unknown, ` +
          `so the default rule alerts on every same-plate pair at different checkpoints within the window`,
      );
    }
    const ac = new AbortController();
    const stop = (): void => ac.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      const s = await runDetect({
        from: o.from,
        to: o.to,
        groupId: o.group,
        rule: o.rule,
        windowS: o.windowS,
        speedKmh: o.speedKmh,
        latenessS: o.latenessS,
        dim: o.dim,
        sink: { key: o.key, max: o.max, dedupeTtlS: o.dedupeTtlS, truncate: o.truncate },
        fromBeginning: o.fromBeginning,
        follow: o.follow,
        warmUpRecords: o.warmUpRecords,
        signal: ac.signal,
        truthFile: o.truth,
        compare: o.compare,
      });
      if (s.dimension.file) {
        createLogger('detect').info(`dimension ${s.dimension.file}: ${s.dimension.withCoordinates}/${s.dimension.checkpoints} checkpoints with LON/LAT`);
      }
      if (s.quality) process.stdout.write(formatQuality(s.quality));
      return 0;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  },
};
