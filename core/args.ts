/**
 * Flag parsing shared by every command (node:util parseArgs), with errors that name the option.
 * Commands declare their flags, call `parseFlags`, then normalize values once with the helpers.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { TrafficError } from './errors.ts';

export type FlagSpec = NonNullable<ParseArgsConfig['options']>;

export interface ParsedFlags {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export function parseFlags(argv: string[], options: FlagSpec, allowPositionals = false): ParsedFlags {
  try {
    const r = parseArgs({ args: argv, options, allowPositionals, strict: true });
    return { values: r.values as ParsedFlags['values'], positionals: r.positionals };
  } catch (err) {
    throw new TrafficError('INVALID_OPTION', (err as Error).message.replace(/\. To specify.*$/s, ''));
  }
}

export function str(v: unknown, option: string, fallback?: string): string {
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new TrafficError('INVALID_OPTION', `--${option} is required`, { option: `--${option}` });
  }
  if (typeof v !== 'string' || v === '') {
    throw new TrafficError('INVALID_OPTION', `--${option} needs a value`, { option: `--${option}` });
  }
  return v;
}

export function optStr(v: unknown, option: string): string | undefined {
  return v === undefined ? undefined : str(v, option);
}

export function int(v: unknown, option: string, fallback: number, range: { min?: number; max?: number } = {}): number {
  if (v === undefined) return fallback;
  const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw new TrafficError('INVALID_OPTION', `--${option} must be a whole number, got "${String(v)}"`, {
      option: `--${option}`,
    });
  }
  checkRange(n, option, range);
  return n;
}

export function num(v: unknown, option: string, fallback: number, range: { min?: number; max?: number } = {}): number {
  if (v === undefined) return fallback;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n)) {
    throw new TrafficError('INVALID_OPTION', `--${option} must be a number, got "${String(v)}"`, {
      option: `--${option}`,
    });
  }
  checkRange(n, option, range);
  return n;
}

function checkRange(n: number, option: string, range: { min?: number; max?: number }): void {
  if ((range.min !== undefined && n < range.min) || (range.max !== undefined && n > range.max)) {
    const lo = range.min ?? '-∞';
    const hi = range.max ?? '∞';
    throw new TrafficError('INVALID_OPTION', `--${option} must be in [${lo}, ${hi}], got ${n}`, {
      option: `--${option}`,
    });
  }
}
