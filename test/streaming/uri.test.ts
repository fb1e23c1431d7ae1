import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { openSink, openSource, parseBusUri } from '../../streaming/bus/index.ts';

describe('bus addresses', () => {
  it('parses kafka, file, stdout and memory addresses', () => {
    expect(parseBusUri('kafka://127.0.0.1:9092/traffic-raw')).toEqual({ kind: 'kafka', brokers: ['127.0.0.1:9092'], topic: 'traffic-raw' });
    expect(parseBusUri('kafka://a:1,b:2/t.x_y')).toEqual({ kind: 'kafka', brokers: ['a:1', 'b:2'], topic: 't.x_y' });
    expect(parseBusUri('file:/var/log/traffic.log')).toEqual({ kind: 'file', path: '/var/log/traffic.log' });
    expect(parseBusUri('file:data/x.log')).toEqual({ kind: 'file', path: path.resolve('data/x.log') });
    expect(parseBusUri('file:///tmp/a.log')).toEqual({ kind: 'file', path: '/tmp/a.log' });
    expect(parseBusUri('stdout')).toEqual({ kind: 'stdout' });
    expect(parseBusUri('memory:traffic')).toEqual({ kind: 'memory', name: 'traffic' });
  });

  it('parses mqtt addresses: the broker, then the whole rest as the topic (levels, wildcards for consumers)', () => {
    expect(parseBusUri('mqtt://127.0.0.1:1883/traffic-raw')).toEqual({ kind: 'mqtt', url: 'mqtt://127.0.0.1:1883', topic: 'traffic-raw' });
    expect(parseBusUri('mqtt://broker.local:1883/city/checkpoints/+/passes')).toEqual({
      kind: 'mqtt',
      url: 'mqtt://broker.local:1883',
      topic: 'city/checkpoints/+/passes',
    });
    expect(parseBusUri('mqtt://h:1/a/%E5%8D%A1%E5%8F%A3/#')).toEqual({ kind: 'mqtt', url: 'mqtt://h:1', topic: 'a/卡口/#' });
  });

  it('rejects mqtt addresses a broker would refuse, naming why', () => {
    const cases: [string, RegExp][] = [
      ['mqtt://127.0.0.1:1883', /no topic/],
      ['mqtt://127.0.0.1:1883/', /empty MQTT topic/],
      ['mqtt://host/t', /not host:port/],
      ['mqtt://h:1/a/#/b', /# must be the whole last level/],
      ['mqtt://h:1/a/b+', /\+ must be a whole level/],
      ['mqtt://h:1/$share/g/t', /shared subscription/],
    ];
    for (const [uri, why] of cases) expect(() => parseBusUri(uri), uri).toThrow(why);
  });

  it('rejects malformed addresses with INVALID_OPTION', () => {
    for (const bad of ['kafka://127.0.0.1:9092', 'kafka:///t', 'kafka://host/t', 'kafka://h:1/bad topic', 'file:', 'memory:', 'http://x/y', '']) {
      expect(() => parseBusUri(bad), bad).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    }
  });

  it('checks source options once at open: group id and batch size', async () => {
    await expect(openSource('memory:x', { groupId: '' })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(openSource('memory:x', { groupId: 'g', maxBatch: 0 })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(openSource('stdout', { groupId: 'g' })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(openSink('kafka://nohost/t')).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });
});
