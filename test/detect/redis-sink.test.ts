import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { alertId, type Alert } from '../../streaming/detect/alert.ts';
import { RedisAlertSink } from '../../streaming/detect/sinks.ts';

const URL = process.env.TRAFFIC_REDIS ?? 'redis://127.0.0.1:6379';
const prefix = `test:detect:${randomUUID().slice(0, 8)}`;
const admin = new Redis(URL);

afterAll(async () => {
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length) await admin.del(...keys);
  await admin.quit();
});

function alert(a: string, b: string): Alert {
  return {
    id: alertId(a, b),
    hphm: '苏C12345',
    masked: false,
    prev: { gcxh: a, kkmc: 'G104_Suining_K873', gcsj: '2024-01-01 10:00:00' },
    curr: { gcxh: b, kkmc: 'G310_Tongshan_K310', gcsj: '2024-01-01 10:03:00' },
    interval_s: 180,
    distance_km: 88.1,
    speed_kmh: 1762,
    rule: 'default',
    detected_at: '2024-01-01T12:00:00+08:00',
  };
}

describe('Redis alert sink (real Redis)', () => {
  it('pushes newest first, trims to the cap, publishes, and stores each id once', async () => {
    const key = `${prefix}:warnings`;
    const sub = new Redis(URL);
    const heard: string[] = [];
    await sub.subscribe(key);
    sub.on('message', (_ch, msg) => heard.push(msg));
    const sink = await RedisAlertSink.open(URL, { key, max: 3 });
    try {
      expect(await sink.write([alert('1', '2'), alert('1', '3')])).toBe(2);
      // A replay (same pairs, e.g. after a crash before the offset commit) adds nothing.
      expect(await sink.write([alert('2', '1'), alert('1', '3')])).toBe(0);
      expect(await sink.write([alert('1', '4'), alert('1', '5')])).toBe(2);
      const list = (await admin.lrange(key, 0, -1)).map((s) => JSON.parse(s) as Alert);
      expect(list.map((a) => a.curr.gcxh)).toEqual(['5', '4', '3']);
      expect(await admin.ttl(sink.idKey(alertId('1', '2')))).toBeGreaterThan(86_400);
      await new Promise((r) => setTimeout(r, 200));
      expect(heard.map((s) => (JSON.parse(s) as Alert).curr.gcxh)).toEqual(['2', '3', '4', '5']);
    } finally {
      await sink.close();
      await sub.quit();
    }
  });

  it('fails with CONNECTION_FAILED when Redis is not there', async () => {
    await expect(RedisAlertSink.open('redis://127.0.0.1:1')).rejects.toMatchObject({ code: 'CONNECTION_FAILED' });
  });
});
