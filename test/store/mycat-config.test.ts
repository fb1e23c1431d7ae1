/**
 * `traffic mycat-config` output: well-formed XML (parsed by saxes, a strict namespace-aware
 * parser installed with exceljs) describing the same shards, order and murmur rule as the router.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SaxesParser } from 'saxes';
import { describe, expect, it } from 'vitest';
import { command } from '../../store/shard/mycat-config-cli.ts';
import { mycatFiles } from '../../store/shard/mycat-config.ts';

interface El {
  name: string;
  attrs: Record<string, string>;
  text: string;
  children: El[];
}

/** Parses strictly (throws on any well-formedness error) into a small element tree. */
function parseXml(xml: string): El {
  const parser = new SaxesParser({ xmlns: true });
  const root: El = { name: '#root', attrs: {}, text: '', children: [] };
  const stack: El[] = [root];
  parser.on('error', (e) => {
    throw e;
  });
  parser.on('opentag', (t) => {
    const attrs: Record<string, string> = {};
    for (const [k, v] of Object.entries(t.attributes)) attrs[k] = typeof v === 'string' ? v : v.value;
    const el: El = { name: t.name, attrs, text: '', children: [] };
    stack[stack.length - 1]!.children.push(el);
    stack.push(el);
  });
  parser.on('text', (t) => {
    stack[stack.length - 1]!.text += t;
  });
  parser.on('closetag', () => void stack.pop());
  parser.write(xml).close();
  expect(root.children).toHaveLength(1);
  return root.children[0]!;
}

const all = (el: El, name: string): El[] => [...el.children.filter((c) => c.name === name), ...el.children.flatMap((c) => all(c, name))];

const backends = [
  { host: '127.0.0.1', port: 3306, user: 'root', password: '', database: 'traffic_db' },
  { host: '127.0.0.1', port: 3307, user: 'root', password: 'p<&>"', database: 'traffic_db' },
];

describe('MyCat 1.6 configuration', () => {
  it('schema.xml: traffic_data on dn0..dnN-1 in shard order with the murmur rule; kkmc_info global', () => {
    const f = mycatFiles({ backends, weights: [1, 1] });
    const schema = parseXml(f['schema.xml']!);
    expect(schema.name).toBe('mycat:schema');
    expect(schema.attrs['xmlns:mycat']).toBe('http://io.mycat/');
    const tables = all(schema, 'table');
    const td = tables.find((t) => t.attrs.name === 'traffic_data')!;
    expect(td.attrs).toMatchObject({ dataNode: 'dn0,dn1', rule: 'sharding-by-murmur-kkmc', primaryKey: 'gcxh' });
    const kk = tables.find((t) => t.attrs.name === 'kkmc_info')!;
    expect(kk.attrs).toMatchObject({ type: 'global', dataNode: 'dn0,dn1' });
    const nodes = all(schema, 'dataNode').map((n) => [n.attrs.name, n.attrs.dataHost, n.attrs.database]);
    expect(nodes).toEqual([
      ['dn0', 'host0', 'traffic_db'],
      ['dn1', 'host1', 'traffic_db'],
    ]);
    const hosts = all(schema, 'writeHost').map((w) => [w.attrs.url, w.attrs.password]);
    // The password with XML metacharacters survives escaping.
    expect(hosts).toEqual([
      ['127.0.0.1:3306', ''],
      ['127.0.0.1:3307', 'p<&>"'],
    ]);
  });

  it('rule.xml: PartitionByMurmurHash on kkmc with seed 0, count, virtualBucketTimes 160', () => {
    const rule = parseXml(mycatFiles({ backends })['rule.xml']!);
    const tr = all(rule, 'tableRule')[0]!;
    expect(tr.attrs.name).toBe('sharding-by-murmur-kkmc');
    expect(all(tr, 'columns')[0]!.text).toBe('kkmc');
    const fn = all(rule, 'function')[0]!;
    expect(fn.attrs.class).toBe('io.mycat.route.function.PartitionByMurmurHash');
    expect(all(tr, 'algorithm')[0]!.text).toBe(fn.attrs.name);
    const props = Object.fromEntries(all(fn, 'property').map((p) => [p.attrs.name, p.text]));
    expect(props).toEqual({ seed: '0', count: '2', virtualBucketTimes: '160' });
  });

  it('weights go to a weightMapFile properties file named in rule.xml', () => {
    const f = mycatFiles({ backends, weights: [1, 2] });
    const fn = all(parseXml(f['rule.xml']!), 'function')[0]!;
    const props = Object.fromEntries(all(fn, 'property').map((p) => [p.attrs.name, p.text]));
    expect(props.weightMapFile).toBe('murmur-kkmc-weights.properties');
    expect(f['murmur-kkmc-weights.properties']).toBe('0=1\n1=2\n');
  });

  it('`traffic mycat-config --out DIR` writes the three files for TRAFFIC_MYSQL order', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mycat-'));
    try {
      const code = await command.run([
        '--out',
        dir,
        '--mysql',
        'mysql://root@127.0.0.1:3307/db_b,mysql://root@127.0.0.1:3306/db_a,mysql://root@127.0.0.1:3306/db_c',
        '--port',
        '8067',
      ]);
      expect(code).toBe(0);
      expect((await readdir(dir)).sort()).toEqual(['rule.xml', 'schema.xml', 'server.xml']);
      const schema = parseXml(await readFile(path.join(dir, 'schema.xml'), 'utf8'));
      expect(all(schema, 'dataNode').map((n) => n.attrs.database)).toEqual(['db_b', 'db_a', 'db_c']);
      expect(all(schema, 'writeHost').map((w) => w.attrs.url)).toEqual(['127.0.0.1:3307', '127.0.0.1:3306', '127.0.0.1:3306']);
      expect(all(schema, 'schema')[0]!.attrs.name).toBe('db_b');
      const rule = parseXml(await readFile(path.join(dir, 'rule.xml'), 'utf8'));
      expect(all(rule, 'property').find((p) => p.attrs.name === 'count')!.text).toBe('3');
      const server = parseXml(await readFile(path.join(dir, 'server.xml'), 'utf8'));
      const sys = Object.fromEntries(all(all(server, 'system')[0]!, 'property').map((p) => [p.attrs.name, p.text]));
      expect(sys.serverPort).toBe('8067');
      const user = all(server, 'user')[0]!;
      expect(Object.fromEntries(all(user, 'property').map((p) => [p.attrs.name, p.text])).schemas).toBe('db_b');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the checker itself refuses malformed XML', () => {
    expect(() => parseXml('<a><b></a>')).toThrow();
    expect(() => parseXml('<a x="1 & 2"/>')).toThrow();
  });
});
