import { appendFileSync, existsSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { F } from '../../core/schema.ts';
import { openSink, openSource, type StreamItem } from '../../streaming/bus/index.ts';
import { encodeRecord } from '../../streaming/record.ts';
import { simulate } from '../../streaming/simulate.ts';
import { collect } from './collect.ts';
import { masterRows, tmpDir, writeMaster } from './fixtures.ts';

const gcxhs = (items: StreamItem[]): string[] => items.map((i) => i.row[F.GCXH]!);
const quiet = { log: () => undefined };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(20);
  }
}

describe('log file bus', () => {
  it('writes one stream record per line (simulator → file:PATH) and appends to an existing log', async () => {
    const dir = tmpDir();
    const log = path.join(dir, 'stream.log');
    writeFileSync(log, encodeRecord(masterRows(1)[0]!) + '\n');
    const rows = masterRows(50);
    const sink = await openSink(`file:${log}`);
    const sum = await simulate({ input: writeMaster(dir, rows), sink, rate: Infinity, mode: 'replay' });
    await sink.close();
    expect(sum.sent).toBe(50);
    const lines = readFileSync(log, 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toEqual([encodeRecord(rows[0]!), ...rows.map((r) => encodeRecord(r))]);
  });

  it('follows a log rotated by rename (a new file at the path) on both sides, losing and duplicating nothing', async () => {
    const dir = tmpDir();
    const log = path.join(dir, 'stream.log');
    const rows = masterRows(300);
    const sink = await openSink(`file:${log}`, { lingerMs: 1 });
    const source = await openSource(`file:${log}`, { groupId: 'rot', ...quiet });
    const got: StreamItem[] = [];
    const running = source.run(async (b) => void got.push(...b));
    await sink.send(rows.slice(0, 100));
    await sink.flush();
    await until(() => got.length === 100);
    renameSync(log, `${log}.1`); // logrotate: move away; the sink reopens a new file at the path
    await sink.send(rows.slice(100, 200));
    await sink.flush();
    await until(() => got.length === 200);
    renameSync(log, `${log}.2`);
    await sink.send(rows.slice(200));
    await sink.close();
    await until(() => got.length === 300);
    await source.stop();
    await running;
    expect(gcxhs(got)).toEqual(rows.map((r) => r[F.GCXH]));
    expect(readFileSync(`${log}.1`, 'utf8').split('\n')).toHaveLength(101);
    expect(readFileSync(log, 'utf8').split('\n')).toHaveLength(101);
  });

  it('follows a log truncated in place (copytruncate) and reads the new records from the start', async () => {
    const dir = tmpDir();
    const log = path.join(dir, 'stream.log');
    const rows = masterRows(60);
    const sink = await openSink(`file:${log}`, { lingerMs: 1 });
    const source = await openSource(`file:${log}`, { groupId: 'trunc', ...quiet });
    const got: StreamItem[] = [];
    const running = source.run(async (b) => void got.push(...b));
    await sink.send(rows.slice(0, 40));
    await sink.flush();
    await until(() => got.length === 40);
    truncateSync(log, 0);
    await sink.send(rows.slice(40));
    await sink.close();
    await until(() => got.length === 60);
    await source.stop();
    await running;
    expect(gcxhs(got)).toEqual(rows.map((r) => r[F.GCXH]));
  });

  it('writes malformed lines to <log>.rejects as reason<TAB>original and keeps going', async () => {
    const dir = tmpDir();
    const log = path.join(dir, 'stream.log');
    const rows = masterRows(6);
    const bad1 = 'garbage line';
    const bad2 = encodeRecord(rows[0]!).replace('\t1\t1\t', '\t1\tx\t');
    writeFileSync(
      log,
      [rows[0], rows[1]].map((r) => encodeRecord(r!)).join('\n') +
        `\n${bad1}\n${bad2}\n` +
        rows
          .slice(2)
          .map((r) => encodeRecord(r))
          .join('\n') +
        '\n',
    );
    const source = await openSource(`file:${log}`, { groupId: 'rej', follow: false, ...quiet });
    const got = await collect(source, 6);
    expect(gcxhs(got)).toEqual(rows.map((r) => r[F.GCXH]));
    expect(source.stats).toMatchObject({ received: 8, delivered: 6, deadLettered: 2 });
    expect(readFileSync(`${log}.rejects`, 'utf8')).toBe(
      `expected 12 tab-separated fields, got 1\t${bad1}\nIS_WEEKEND / IS_PEAK_HOUR must be 0 or 1\t${bad2}\n`,
    );
    expect(got[2]!.offset).toBe(String(Buffer.byteLength([rows[0], rows[1]].map((r) => encodeRecord(r!)).join('\n') + `\n${bad1}\n${bad2}\n`)));
  });

  it('resumes after a restart from the position committed after the last successful batch', async () => {
    const dir = tmpDir();
    const log = path.join(dir, 'stream.log');
    const rows = masterRows(100);
    writeFileSync(
      log,
      rows
        .slice(0, 70)
        .map((r) => encodeRecord(r) + '\n')
        .join(''),
    );
    const first = await openSource(`file:${log}`, { groupId: 'g1', maxBatch: 10, ...quiet });
    let calls = 0;
    await expect(
      first.run(async () => {
        if (++calls === 4) throw new Error('crash in the handler');
      }),
    ).rejects.toThrow('crash in the handler');
    const saved = JSON.parse(readFileSync(`${log}.offset.g1`, 'utf8')) as { pos: number };
    expect(saved.pos).toBe(
      Buffer.byteLength(
        rows
          .slice(0, 30)
          .map((r) => encodeRecord(r) + '\n')
          .join(''),
      ),
    );

    appendFileSync(
      log,
      rows
        .slice(70)
        .map((r) => encodeRecord(r) + '\n')
        .join(''),
    );
    const second = await openSource(`file:${log}`, { groupId: 'g1', maxBatch: 10, ...quiet });
    const got = await collect(second, 70);
    expect(gcxhs(got)).toEqual(rows.slice(30).map((r) => r[F.GCXH]));
    // Another group has its own position and reads everything.
    const other = await openSource(`file:${log}`, { groupId: 'g2', follow: false, ...quiet });
    expect(await collect(other, 100)).toHaveLength(100);
  });

  it('reads a master CSV (header skipped, quoted fields) to its end with follow:false', async () => {
    const dir = tmpDir();
    const rows = masterRows(25);
    rows[3]![F.CLPPXH] = '福田牌,"欧曼"'; // needs quoting in CSV
    const file = writeMaster(dir, rows);
    appendFileSync(file, 'short,row\n');
    const source = await openSource(`file:${file}`, { groupId: 'replay', follow: false, commit: false, ...quiet });
    const got = await collect(source, 1000);
    expect(got.map((g) => g.row)).toEqual(rows);
    expect(source.stats).toMatchObject({ received: 26, delivered: 25, deadLettered: 1 });
    expect(readFileSync(`${file}.rejects`, 'utf8')).toBe('expected 12 CSV fields, got 2\tshort,row\n');
    expect(existsSync(`${file}.offset.replay`)).toBe(false);
  });
});
