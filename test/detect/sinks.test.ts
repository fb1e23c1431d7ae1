import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { alertId, type Alert } from '../../streaming/detect/alert.ts';
import { getMemoryAlertSink, JsonlAlertSink, MemoryAlertSink, openAlertSink, teeSinks } from '../../streaming/detect/sinks.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'detect-sinks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function alert(a: string, b: string): Alert {
  return {
    id: alertId(a, b),
    hphm: '苏C12345',
    masked: false,
    prev: { gcxh: a, kkmc: 'A', gcsj: '2024-01-01 10:00:00' },
    curr: { gcxh: b, kkmc: 'B', gcsj: '2024-01-01 10:01:00' },
    interval_s: 60,
    distance_km: null,
    speed_kmh: null,
    rule: 'default',
    detected_at: '2024-01-01T12:00:00+08:00',
  };
}

describe('in-process alert sink', () => {
  it('keeps the newest alerts first up to its capacity, once per id, and tells listeners', async () => {
    const sink = new MemoryAlertSink({ capacity: 3 });
    const heard: string[] = [];
    const off = sink.subscribe((a) => heard.push(a.curr.gcxh));
    expect(await sink.write([alert('1', '2'), alert('1', '3')])).toBe(2);
    expect(sink.add([alert('2', '1'), alert('1', '4'), alert('1', '5')])).toBe(2);
    expect(sink.recent(10).map((a) => a.curr.gcxh)).toEqual(['5', '4', '3']);
    expect(sink.recent(2).map((a) => a.curr.gcxh)).toEqual(['5', '4']);
    expect(sink.total).toBe(4);
    off();
    sink.add([alert('1', '6')]);
    expect(heard).toEqual(['2', '3', '4', '5']);
  });

  it('is shared by name within the process (memory:NAME)', async () => {
    const w = await openAlertSink('memory:test-shared');
    await w.write([alert('7', '8')]);
    await w.close();
    expect(getMemoryAlertSink('test-shared').recent(1)[0]?.id).toBe(alertId('7', '8'));
  });

  it('a failing listener does not stop the others', () => {
    const sink = new MemoryAlertSink();
    const heard: string[] = [];
    sink.subscribe(() => {
      throw new Error('closed client');
    });
    sink.subscribe((a) => heard.push(a.id));
    sink.add([alert('1', '2')]);
    expect(heard).toHaveLength(1);
  });
});

describe('JSONL alert sink', () => {
  it('appends and skips ids already in the file, across reopenings; --truncate starts empty', async () => {
    const file = path.join(dir, 'sub', 'alerts.jsonl');
    const s1 = await JsonlAlertSink.open(file);
    expect(await s1.write([alert('1', '2'), alert('1', '2')])).toBe(1);
    await s1.close();
    const s2 = await JsonlAlertSink.open(file);
    expect(s2.known).toBe(1);
    expect(await s2.write([alert('2', '1'), alert('1', '3')])).toBe(1);
    await s2.close();
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(2);
    const s3 = await JsonlAlertSink.open(file, { truncate: true });
    expect(await s3.write([alert('1', '2')])).toBe(1);
    await s3.close();
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('tees to several sinks', async () => {
    const a = new MemoryAlertSink();
    const b = new MemoryAlertSink();
    const t = teeSinks(a, b);
    expect(await t.write([alert('1', '2')])).toBe(1);
    expect([a.size, b.size]).toEqual([1, 1]);
  });

  it('rejects an unknown sink address with INVALID_OPTION', async () => {
    await expect(openAlertSink('mysql://x')).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });
});
