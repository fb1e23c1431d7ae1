import { describe, expect, it } from 'vitest';
import { command as predict } from '../../models/predict-cli.ts';
import { command as train } from '../../models/train-cli.ts';
import { command as report } from '../../notebooks/report-cli.ts';
import { TrafficError } from '../../core/errors.ts';

async function optionError(run: Promise<number>): Promise<string> {
  try {
    await run;
  } catch (err) {
    expect(err).toBeInstanceOf(TrafficError);
    return `${(err as TrafficError).code}: ${(err as Error).message}`;
  }
  throw new Error('expected an option error');
}

describe('option validation (normalized once, errors name the option)', () => {
  it('train', async () => {
    expect(await optionError(train.run(['--lambda', 'x']))).toMatch(/^INVALID_OPTION: --lambda must be a number, got "x"/);
    expect(await optionError(train.run(['--lambda=-1']))).toMatch(/--lambda must be in \[0, ∞\]/);
    expect(await optionError(train.run(['--holdout-days', '0']))).toMatch(/--holdout-days must be in \[1, 366\]/);
    expect(await optionError(train.run(['--weekend-hour-ratio', '3']))).toMatch(/--weekend-hour-ratio needs --lambda/);
    expect(await optionError(train.run(['--bogus']))).toMatch(/^INVALID_OPTION: Unknown option '--bogus'/);
    expect(await optionError(train.run(['--in', '/nonexistent/master.csv']))).toMatch(/^INPUT_NOT_FOUND: no master CSV at \/nonexistent\/master.csv/);
  });

  it('predict', async () => {
    expect(await optionError(predict.run(['--hour', '3', '--weekend', '0']))).toMatch(/--kkmc is required/);
    expect(await optionError(predict.run(['--kkmc', 'A', '--hour', '3']))).toMatch(/--weekend is required/);
    expect(await optionError(predict.run(['--kkmc', 'A', '--hour', '3', '--weekend', '2']))).toMatch(/--weekend must be in \[0, 1\]/);
    expect(await optionError(predict.run(['--kkmc', 'A', '--weekend', '0']))).toMatch(/exactly one of --hour H or --day/);
    expect(await optionError(predict.run(['--kkmc', 'A', '--hour', '3', '--day', '--weekend', '0']))).toMatch(/exactly one of/);
    expect(await optionError(predict.run(['--kkmc', 'A', '--hour', '24', '--weekend', '0']))).toMatch(/--hour must be in \[0, 23\]/);
    expect(await optionError(predict.run(['--model', '/nonexistent.json', '--kkmc', 'A', '--hour', '1', '--weekend', '0']))).toMatch(
      /^INPUT_NOT_FOUND: no model at/,
    );
  });

  it('report', async () => {
    expect(await optionError(report.run(['--in']))).toMatch(/^INVALID_OPTION/);
    expect(await optionError(report.run(['--in', '/nonexistent/master.csv']))).toMatch(/^INPUT_NOT_FOUND/);
  });
});
