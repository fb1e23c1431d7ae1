import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOURS } from '../../models/features.ts';
import { loadPredictor } from '../../models/predictor.ts';
import { writeSyntheticMaster } from '../../models/synthetic-master.ts';
import { trainFlowModel, type FlowModelJson } from '../../models/train.ts';
import { TrafficError } from '../../core/errors.ts';
import { syntheticGrid } from './helpers.ts';

const run = promisify(execFile);
const BIN = path.resolve('bin/traffic.mjs');

let model: FlowModelJson;
beforeAll(() => {
  model = trainFlowModel(syntheticGrid({ checkpoints: 3, days: 20, seed: 9, dailyPerCheckpoint: 300 }), {
    file: 'm.csv',
    sha256: '0'.repeat(64),
  }).model;
});

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TrafficError);
    return `${(err as TrafficError).code}: ${(err as Error).message}`;
  }
  throw new Error('expected an error');
}

describe('predictor', () => {
  it('a JSON round trip gives identical predictions, all ≥ 0', () => {
    const direct = loadPredictor(model);
    const viaText = loadPredictor(JSON.parse(JSON.stringify(model)));
    expect(viaText.checkpoints).toEqual(model.features.checkpoints);
    for (const k of direct.checkpoints) {
      for (let h = 0; h < HOURS; h++) {
        for (const w of [0, 1] as const) {
          const v = direct.predict(k, h, w);
          expect(viaText.predict(k, h, w)).toBe(v);
          expect(v).toBeGreaterThanOrEqual(0);
        }
      }
    }
  });

  it('evaluates intercept + Σ coefficient × feature (1, or the profile value), clipped at 0', () => {
    const p = loadPredictor(model);
    for (const [k, h, w] of [
      [model.features.checkpoints[1]!, 8, 1],
      [model.features.checkpoints[2]!, 3, 0],
    ] as const) {
      let v = model.intercept;
      model.features.terms.forEach((t, i) => {
        const ok =
          (t.kkmc === undefined || t.kkmc === k) &&
          (t.hour === undefined || t.hour === h) &&
          (t.hour_from === undefined || h >= t.hour_from) &&
          (t.weekend === undefined || t.weekend === w);
        if (ok) v += model.coefficients[i]! * (t.scale ? t.scale[h]! : 1);
      });
      expect(p.predict(k, h, w)).toBeCloseTo(Math.max(0, v), 9);
    }
    // A model whose linear form is negative somewhere predicts 0 there.
    const neg = { ...model, intercept: -1e6 };
    expect(loadPredictor(neg).predict(model.features.checkpoints[0]!, 12, 0)).toBe(0);
  });

  it('predictDay gives 24 values; null sums over checkpoints', () => {
    const p = loadPredictor(model);
    const all = p.predictDay(null, 0);
    expect(all).toHaveLength(24);
    for (let h = 0; h < 24; h++) {
      const sum = p.checkpoints.reduce((s, k) => s + p.predict(k, h, 0), 0);
      expect(all[h]).toBeCloseTo(sum, 9);
    }
    expect(p.predictDay(p.checkpoints[0]!, true)).toEqual(Array.from({ length: 24 }, (_, h) => p.predict(p.checkpoints[0]!, h, 1)));
  });

  it('an unknown checkpoint is UNKNOWN_CHECKPOINT listing the valid codes; bad hours are rejected', () => {
    const p = loadPredictor(model);
    const msg = code(() => p.predict('NOPE_K1', 3, 0));
    expect(msg).toMatch(/^UNKNOWN_CHECKPOINT: unknown checkpoint "NOPE_K1"; valid codes: /);
    for (const k of p.checkpoints) expect(msg).toContain(k);
    expect(code(() => p.predict(p.checkpoints[0]!, 24, 0))).toMatch(/hour must be a whole number 0-23/);
    expect(code(() => p.predict(p.checkpoints[0]!, 2.5, 0))).toMatch(/hour/);
    expect(code(() => p.predictDay('NOPE', 0))).toMatch(/^UNKNOWN_CHECKPOINT/);
  });

  it('rejects invalid model JSON with MODEL_INVALID naming the field', () => {
    const bad = (mutate: (m: Record<string, any>) => void): string => {
      const m = JSON.parse(JSON.stringify(model));
      mutate(m);
      return code(() => loadPredictor(m));
    };
    expect(code(() => loadPredictor('{not json'))).toMatch(/^MODEL_INVALID: model JSON invalid: not JSON/);
    expect(code(() => loadPredictor(null))).toMatch(/^MODEL_INVALID/);
    expect(bad((m) => (m.format = 'other/2'))).toMatch(/format must be one of "traffic-flow-linear\/1", "traffic-flow-linear\/2".*field format/);
    expect(bad((m) => m.coefficients.pop())).toMatch(/coefficients for .* feature terms/);
    expect(bad((m) => (m.coefficients[3] = 'x'))).toMatch(/field coefficients/);
    expect(bad((m) => (m.intercept = null))).toMatch(/field intercept/);
    expect(bad((m) => (m.features.checkpoints = []))).toMatch(/field features.checkpoints/);
    expect(bad((m) => (m.features.terms[0] = { kkmc: 'ZZZ' }))).toMatch(/not in features.checkpoints.*features.terms\[0\]/);
    expect(bad((m) => (m.features.terms[1] = { hour: 24 }))).toMatch(/hour must be 0-23/);
    expect(bad((m) => (m.features.terms[1] = { colour: 'red' }))).toMatch(/unknown term key "colour"/);
    expect(bad((m) => (m.features.terms[1] = { weekend: 1, scale: [1, 2, 3] }))).toMatch(/scale must be 24 finite numbers/);
    delete (model as Partial<FlowModelJson>).metrics; // metrics are informative, not needed to predict
    expect(loadPredictor(model).predict(model.features.checkpoints[0]!, 0, 0)).toBeGreaterThanOrEqual(0);
  });
});

describe('train and predict commands', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'traffic-model-'));
    await writeSyntheticMaster(path.join(dir, 'master_data_expanded.csv'), {
      checkpoints: 3,
      days: 16,
      seed: 4,
      dailyPerCheckpoint: 200,
      synDays: ['2023-12-10'],
    });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('train reads the master from the data dir, prints the table and writes the model there', async () => {
    const env = { ...process.env, TRAFFIC_DATA_DIR: dir };
    const { stdout } = await run('node', [BIN, 'train'], { env });
    expect(stdout).toMatch(/2023-12-10 filled: \d+ SYN rows/);
    expect(stdout).toMatch(/model \(ridge\)\s+[\d.]+\s+[\d.]+/);
    expect(stdout).toMatch(/plain_linear/);
    expect(stdout).toMatch(/cell_mean/);
    const m = JSON.parse(await readFile(path.join(dir, 'traffic_flow_model.json'), 'utf8')) as FlowModelJson;
    expect(m.format).toBe('traffic-flow-linear/2');
    expect(m.data.days.holdout).not.toContain('2023-12-10');

    const k = m.features.checkpoints[0]!;
    const out = await run('node', [BIN, 'predict', '--kkmc', k, '--hour', '8', '--weekend', '1'], { env });
    expect(Number(out.stdout.trim())).toBeCloseTo(loadPredictor(m).predict(k, 8, 1), 3);

    const err = await run('node', [BIN, 'predict', '--kkmc', 'NOPE', '--hour', '8', '--weekend', '0'], { env }).catch((e) => e);
    expect(err.code).toBe(2);
    expect(err.stderr).toMatch(/UNKNOWN_CHECKPOINT.*valid codes: .*\b/);
    expect(err.stderr).toContain(k);
    const err2 = await run('node', [BIN, 'predict', '--kkmc', k, '--hour', '25', '--weekend', '0'], { env }).catch((e) => e);
    expect(err2.code).toBe(2);
    expect(err2.stderr).toMatch(/--hour must be in \[0, 23\]/);
    await writeFile(path.join(dir, 'bad.json'), '{"format":"x"}');
    const err3 = await run('node', [BIN, 'predict', '--model', path.join(dir, 'bad.json'), '--kkmc', k, '--hour', '1', '--weekend', '0'], { env }).catch(
      (e) => e,
    );
    expect(err3.stderr).toMatch(/MODEL_INVALID.*format must be/);
  });
});
