/** `traffic predict --model F --kkmc CODE --hour H --weekend 0|1` prints the expected passes. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from '../core/command.ts';
import { int, optStr, parseFlags, str } from '../core/args.ts';
import { readEnv } from '../core/config.ts';
import { TrafficError } from '../core/errors.ts';
import { FILES } from '../core/schema.ts';
import { loadPredictor } from './predictor.ts';

const usage = `usage: traffic predict [--model MODEL.json] --kkmc CODE (--hour H | --day) --weekend 0|1 [--json]

  --model FILE   model JSON (default: <data dir>/${FILES.model})
  --kkmc CODE    checkpoint code (e.g. S325_Suining_K63); "all" = sum over checkpoints
  --hour H       hour 0-23; or --day for all 24 hours
  --weekend 0|1  weekday (0) or Saturday/Sunday (1)
  --json         print JSON instead of a number`;

export async function loadPredictorFile(file: string) {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new TrafficError('INPUT_NOT_FOUND', `no model at ${file} (run \`npm run train\` or pass --model)`, { file });
    }
    throw err;
  }
  try {
    return loadPredictor(text);
  } catch (err) {
    if (err instanceof TrafficError) throw new TrafficError(err.code, err.message, { ...err.context, file });
    throw err;
  }
}

export const command: Command = {
  name: 'predict',
  summary: 'predict hourly flow from the model JSON',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, {
      model: { type: 'string' },
      kkmc: { type: 'string' },
      hour: { type: 'string' },
      day: { type: 'boolean' },
      weekend: { type: 'string' },
      json: { type: 'boolean' },
    });
    const file = path.resolve(optStr(values.model, 'model') ?? path.join(readEnv().dataDir, FILES.model));
    const kkmc = str(values.kkmc, 'kkmc');
    const weekend = int(values.weekend, 'weekend', -1, { min: 0, max: 1 });
    if (weekend < 0) throw new TrafficError('INVALID_OPTION', '--weekend is required (0 or 1)', { option: '--weekend' });
    const day = values.day === true;
    if (day === (values.hour !== undefined)) {
      throw new TrafficError('INVALID_OPTION', 'give exactly one of --hour H or --day', { option: '--hour' });
    }
    const hour = day ? -1 : int(values.hour, 'hour', 0, { min: 0, max: 23 });
    const p = await loadPredictorFile(file);
    const w = weekend as 0 | 1;
    if (day) {
      const flows = p.predictDay(kkmc === 'all' ? null : kkmc, w).map((v) => Number(v.toFixed(3)));
      process.stdout.write(values.json ? JSON.stringify({ kkmc, is_weekend: w, predicted_flow: flows }) + '\n' : flows.join('\n') + '\n');
      return 0;
    }
    const v = kkmc === 'all' ? p.predictDay(null, w)[hour]! : p.predict(kkmc, hour, w);
    const flow = Number(v.toFixed(3));
    process.stdout.write(values.json ? JSON.stringify({ kkmc, hour, is_weekend: w, predicted_flow: flow }) + '\n' : `${flow}\n`);
    return 0;
  },
};
