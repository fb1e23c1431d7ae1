import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { TrafficError } from '../../core/errors.ts';
import { logFn, loggerTo, logSettings } from '../../core/log.ts';

function capture(): { out: Writable; lines: () => string[] } {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _e, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { out, lines: () => text.split('\n').filter(Boolean) };
}

describe('the logger', () => {
  it('writes one JSON object per line off a terminal, with level, component and a China-time timestamp', () => {
    const c = capture();
    const log = loggerTo(c.out, { level: 'info', format: 'json' }, 'sink');
    log.info({ shard: 1 }, 'stored 500 rows');
    log.debug('not at info level');
    const lines = c.lines();
    expect(lines).toHaveLength(1);
    const o = JSON.parse(lines[0]!);
    expect(o).toMatchObject({ level: 30, component: 'sink', shard: 1, msg: 'stored 500 rows' });
    // Tests run under TZ=UTC: the offset is China's all the same.
    expect(o.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+08:00$/);
    const wall = new Date(o.time).getTime();
    expect(Math.abs(wall - Date.now())).toBeLessThan(5_000);
  });

  it('writes readable lines on a terminal', () => {
    const c = capture();
    const log = loggerTo(c.out, { level: 'info', format: 'pretty' }, 'api');
    log.warn({ status: 503 }, 'store not ready');
    expect(c.lines()[0]).toMatch(/^\d{2}:\d{2}:\d{2}\.\d{3} WARN {2}api: store not ready {2}status=503$/);
  });

  it('drops the component prefix of messages written for plain stderr', () => {
    const c = capture();
    logFn(loggerTo(c.out, { level: 'info', format: 'json' }, 'sink'))('sink: retention deleted 3 rows');
    expect(JSON.parse(c.lines()[0]!).msg).toBe('retention deleted 3 rows');
  });

  it('takes its level and format from the environment and names a wrong value', () => {
    expect(logSettings({ TRAFFIC_LOG_LEVEL: 'WARN' }, false)).toEqual({ level: 'warn', format: 'json' });
    expect(logSettings({}, true)).toEqual({ level: 'info', format: 'pretty' });
    expect(() => logSettings({ TRAFFIC_LOG_LEVEL: 'loud' }, false)).toThrow(TrafficError);
    expect(() => logSettings({ TRAFFIC_LOG_FORMAT: 'xml' }, false)).toThrow(/TRAFFIC_LOG_FORMAT must be json or pretty/);
  });
});
