import { describe, expect, it } from 'vitest';
import { normalizeHpzl } from '../../../etl/logic/hpzl.ts';

describe('normalizeHpzl', () => {
  it.each([
    ['2', { kind: 'ok', code: '02' }],
    ['02', { kind: 'ok', code: '02' }],
    ['52', { kind: 'ok', code: '52' }],
    ['2.0', { kind: 'ok', code: '02' }],
    [' 01 ', { kind: 'ok', code: '01' }],
    ['小型汽车', { kind: 'ok', code: '02' }],
    ['-', { kind: 'missing', code: '-' }],
    ['', { kind: 'missing', code: '-' }],
    ['88', { kind: 'unknown', code: '-', raw: '88' }],
    ['30', { kind: 'unknown', code: '-', raw: '30' }],
    ['abc', { kind: 'unknown', code: '-', raw: 'abc' }],
  ])('%s', (raw, want) => {
    expect(normalizeHpzl(raw)).toEqual(want);
  });
});
