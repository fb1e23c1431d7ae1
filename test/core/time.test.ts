import { describe, expect, it } from 'vitest';
import { addDays, formatChinaTime, isWeekend, parseExcelSerial, parseGcsjText, parseWallClockDate, toEpochSeconds } from '../../core/time.ts';

describe('pass time parsing (China local time, any machine zone)', () => {
  it.each([
    ['2023/12/9 0:00:09', '2023-12-09 00:00:09'],
    ['2023/12/1 0:02', '2023-12-01 00:02:00'],
    ['2024-01-01 00:00:24', '2024-01-01 00:00:24'],
    ['2024-01-01 00:00:24.870', '2024-01-01 00:00:24'],
    ['2024-01-0100:00:24', '2024-01-01 00:00:24'],
  ])('%s → %s', (input, out) => {
    expect(parseGcsjText(input)).toEqual({ ok: true, value: out });
  });

  it('rejects a date with no time and impossible dates', () => {
    expect(parseGcsjText('2023/12/9').ok).toBe(false);
    expect(parseGcsjText('2023-02-30 10:00:00').ok).toBe(false);
    expect(parseGcsjText('-').ok).toBe(false);
  });

  it('reads Excel serials and wall-clock Date cells without the machine zone', () => {
    // 45292 = 2024-01-01; 24 s past midnight.
    expect(parseExcelSerial(45292 + 24 / 86400)).toEqual({ ok: true, value: '2024-01-01 00:00:24' });
    expect(parseWallClockDate(new Date(Date.UTC(2024, 0, 1, 0, 0, 24)))).toEqual({
      ok: true,
      value: '2024-01-01 00:00:24',
    });
  });

  it('converts to and from epoch with the fixed +08:00 offset', () => {
    const t = '2024-01-01 00:00:24';
    expect(toEpochSeconds(t)).toBe(Date.UTC(2023, 11, 31, 16, 0, 24) / 1000);
    expect(formatChinaTime(toEpochSeconds(t) * 1000)).toBe(t);
    expect(process.env.TZ).toBe('UTC');
  });

  it('knows weekends and shifts dates across month ends', () => {
    expect(isWeekend('2023-12-09 10:00:00')).toBe(true); // Saturday
    expect(isWeekend('2023-12-11')).toBe(false);
    expect(addDays('2023-12-31', 1)).toBe('2024-01-01');
    expect(addDays('2024-01-07', -7)).toBe('2023-12-31');
  });
});

describe('parseGcsjText fast path', () => {
  it('gives exactly what the full pattern gives on every shape of date and time', async () => {
    const { parseGcsjByPattern, parseGcsjText } = await import('../../core/time.ts');
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)] as T;
    const num = (): string => pick(['0', '00', '1', '01', '9', '09', '12', '23', '24', '29', '30', '31', '32', '59', '60', '99', '123', '']);
    const seps = ['-', '/', '.', ':', ''];
    const gaps = [' ', '  ', 'T', '', ' T'];
    let checked = 0;
    for (let k = 0; k < 20000; k++) {
      const year = pick(['2023', '2024', '2000', '1900', '202', '20245']);
      let t = `${year}${pick(seps)}${num()}${pick(seps)}${num()}`;
      if (rnd(10) > 0) t += `${pick(gaps)}${num()}:${num()}`;
      if (rnd(2)) t += `:${num()}`;
      if (rnd(8) === 0) t += pick(['.5', '.123', 'x', ' ', ':']);
      expect(parseGcsjText(t), t).toEqual(parseGcsjByPattern(t));
      checked++;
    }
    for (const t of ['2023/12/1 0:02', '2023/12/9 0:00:09', '2024-01-01 00:00:24', '2024-02-29 23:59:59', '2023-02-29 10:00:00', '2023/12/1', '-', '']) {
      expect(parseGcsjText(t), t).toEqual(parseGcsjByPattern(t));
    }
    expect(checked).toBe(20000);
  });
});
