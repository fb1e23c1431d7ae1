import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCsv } from '../../core/csv.ts';
import { F } from '../../core/schema.ts';
import { toEpochSeconds, chinaNow } from '../../core/time.ts';
import { memoryDelete, memoryRecords, openSink } from '../../streaming/bus/index.ts';
import { haversineKm, loadDimension } from '../../streaming/inject.ts';
import { decodeRecord } from '../../streaming/record.ts';
import { simulate } from '../../streaming/simulate.ts';
import { command } from '../../streaming/simulate-cli.ts';
import { CHECKPOINTS, masterRows, tmpDir, writeDimension, writeMaster } from './fixtures.ts';

async function runToMemory(
  rows: string[][],
  opts: Partial<Parameters<typeof simulate>[0]> = {},
): Promise<{ out: string[][]; sum: Awaited<ReturnType<typeof simulate>> }> {
  const name = `sim-${Math.random().toString(36).slice(2)}`;
  const sink = await openSink(`memory:${name}`);
  const sum = await simulate({ input: writeMaster(tmpDir(), rows), sink, rate: Infinity, mode: 'replay', ...opts });
  const out = memoryRecords(name).map((r) => {
    const d = decodeRecord(r.raw);
    if (!d.ok) throw new Error(d.reason);
    return d.row;
  });
  memoryDelete(name);
  return { out, sum };
}

describe('simulator', () => {
  it('replays the master unchanged in order and stops at --limit', async () => {
    const rows = masterRows(30);
    const { out, sum } = await runToMemory(rows, { limit: 12 });
    expect(out).toEqual(rows.slice(0, 12));
    expect(sum).toMatchObject({ read: 12, sent: 12, loops: 1 });
  });

  it('loops with a per-loop GCXH suffix so every record stays unique', async () => {
    const rows = masterRows(4);
    const { out } = await runToMemory(rows, { loop: true, limit: 10 });
    expect(out.map((r) => r[F.GCXH])).toEqual(['1000', '1001', '1002', '1003', '1000-L1', '1001-L1', '1002-L1', '1003-L1', '1000-L2', '1001-L2']);
    expect(out[5]!.slice(1)).toEqual(rows[1]!.slice(1));
  });

  it('in now mode stamps each record with the emission time in China time and recomputes the time flags', async () => {
    const before = chinaNow();
    const { out } = await runToMemory(masterRows(5), { mode: 'now' });
    const after = chinaNow();
    for (const r of out) {
      expect(r[F.GCSJ]! >= before && r[F.GCSJ]! <= after).toBe(true);
      const h = +r[F.GCSJ]!.slice(11, 13);
      expect(r[F.IS_PEAK_HOUR]).toBe([7, 8, 17, 18].includes(h) ? '1' : '0');
    }
  });

  it('injects cloned-plate pairs: INJ ids, one full plate, same HPZL/CLPPXH, distant checkpoints at an impossible speed, listed in the truth file', async () => {
    const dir = tmpDir();
    const dim = await loadDimension(writeDimension(dir));
    const truthFile = path.join(dir, 'truth.csv');
    const rows = masterRows(400);
    const { out, sum } = await runToMemory(rows, { inject: { probability: 0.1, truthFile, seed: 7, dimension: dim } });
    const truth = parseCsv(readFileSync(truthFile, 'utf8')).map((r) => r.fields);
    const header = truth.shift()!;
    expect(header).toEqual(['GCXH_A', 'GCXH_B', 'HPHM', 'HPZL', 'CLPPXH', 'KKMC_A', 'KKMC_B', 'GCSJ_A', 'GCSJ_B', 'INTERVAL_S', 'DISTANCE_KM', 'SPEED_KMH']);
    expect(sum.injectedPairs).toBe(truth.length);
    expect(truth.length).toBeGreaterThan(20);
    expect(truth.length).toBeLessThan(70);
    expect(out).toHaveLength(400 + 2 * truth.length);
    const byId = new Map(out.map((r) => [r[F.GCXH]!, r]));
    for (const t of truth) {
      const a = byId.get(t[0]!)!;
      const b = byId.get(t[1]!)!;
      expect(a[F.GCXH]!.startsWith('INJ') && b[F.GCXH]!.startsWith('INJ')).toBe(true);
      expect(a[F.HPHM]).toBe(t[2]);
      expect(b[F.HPHM]).toBe(t[2]);
      expect(t[2]).toMatch(/^苏[A-Z][0-9A-Z]{5}$/);
      expect([a[F.HPZL], a[F.CLPPXH]]).toEqual([b[F.HPZL], b[F.CLPPXH]]);
      expect(a[F.KKMC]).not.toBe(b[F.KKMC]);
      const dt = toEpochSeconds(b[F.GCSJ]!) - toEpochSeconds(a[F.GCSJ]!);
      expect(dt).toBe(Number(t[9]));
      expect(dt).toBeGreaterThan(0);
      expect(dt).toBeLessThanOrEqual(300);
      const ca = CHECKPOINTS.find((c) => c.kkmc === a[F.KKMC])!;
      const cb = CHECKPOINTS.find((c) => c.kkmc === b[F.KKMC])!;
      expect(haversineKm(ca, cb) / (dt / 3600)).toBeGreaterThan(150);
    }
    // Replay order holds: the stream stays sorted by event time with the injected passes in it.
    const times = out.map((r) => r[F.GCSJ]!);
    expect(times).toEqual([...times].sort());
    // The same seed injects the same pairs.
    const again = await runToMemory(rows, { inject: { probability: 0.1, truthFile: path.join(dir, 't2.csv'), seed: 7, dimension: dim } });
    expect(again.sum.injectedPairs).toBe(sum.injectedPairs);
  });

  it('in now mode the injected passes carry exactly the times the truth file lists', async () => {
    const dir = tmpDir();
    const dim = await loadDimension(writeDimension(dir));
    const truthFile = path.join(dir, 'truth-now.csv');
    const { out, sum } = await runToMemory(masterRows(60), { mode: 'now', inject: { probability: 0.3, truthFile, seed: 3, dimension: dim } });
    const truth = parseCsv(readFileSync(truthFile, 'utf8'))
      .map((r) => r.fields)
      .slice(1);
    expect(truth.length).toBe(sum.injectedPairs);
    expect(truth.length).toBeGreaterThan(5);
    const byId = new Map(out.map((r) => [r[F.GCXH]!, r]));
    for (const t of truth) {
      expect(byId.get(t[0]!)![F.GCSJ]).toBe(t[7]);
      expect(byId.get(t[1]!)![F.GCSJ]).toBe(t[8]);
      expect(toEpochSeconds(t[8]!) - toEpochSeconds(t[7]!)).toBe(Number(t[9]));
    }
  });

  it('rejects bad options with INVALID_OPTION naming the option', async () => {
    const input = writeMaster(tmpDir(), masterRows(2));
    await expect(command.run(['--in', input, '--to', 'stdout', '--rate', 'fast'])).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(command.run(['--in', input, '--to', 'stdout', '--mode', 'later'])).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(command.run(['--in', input, '--to', 'ftp://x/y'])).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(command.run(['--in', input, '--inject-clones', '2'])).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(command.run(['--in', path.join(tmpDir(), 'missing.csv'), '--to', 'stdout'])).rejects.toMatchObject({ code: 'INPUT_NOT_FOUND' });
  });
});
