/** Pure parts of the store: option normalization, row checks, TSV escaping, error classes, batching. */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readEnv } from '../../core/config.ts';
import { isRetriable } from '../../core/errors.ts';
import { isStoreTime, storeRowProblem } from '../../store/ddl.ts';
import { ShardedStore, isConnectionError, isDataError, parseMysqlUrl, storeError, tsvLine, tsvPackets } from '../../store/mysql.ts';
import { normalizeStoreOptions, normalizeTtlDays } from '../../store/options.ts';
import { normalizeSinkOptions } from '../../streaming/sink-cli.ts';
import { ShardWriter } from '../../streaming/shard-writer.ts';
import { makeRows } from './fixture.ts';

const env = (over: Record<string, string> = {}) => readEnv({ ...over });
const invalid = expect.objectContaining({ code: 'INVALID_OPTION' });

describe('store options', () => {
  it('shards: flag > TRAFFIC_MYSQL > the two loopback shards, in order', () => {
    expect(normalizeStoreOptions({}, env()).urls).toEqual(['mysql://root@127.0.0.1:3306/traffic_db', 'mysql://root@127.0.0.1:3307/traffic_db']);
    expect(normalizeStoreOptions({}, env({ TRAFFIC_MYSQL: 'mysql://root@h1:1/a, mysql://root@h2:2/b' })).urls).toEqual([
      'mysql://root@h1:1/a',
      'mysql://root@h2:2/b',
    ]);
    expect(normalizeStoreOptions({ mysql: 'mysql://root@x:9/c' }, env({ TRAFFIC_MYSQL: 'mysql://root@h1:1/a' })).urls).toEqual(['mysql://root@x:9/c']);
    expect(normalizeStoreOptions({ weights: '1:2' }, env()).weights).toEqual(new Map([[1, 2]]));
    expect(normalizeStoreOptions({ mycat: 'mysql://root@127.0.0.1:8066/traffic_db' }, env())).toEqual({
      urls: ['mysql://root@127.0.0.1:8066/traffic_db'],
      mycat: true,
    });
  });

  it('rejects unusable values, naming the option', () => {
    expect(() => normalizeStoreOptions({ mysql: 'http://x/y' }, env())).toThrow(invalid);
    expect(() => normalizeStoreOptions({ mysql: 'mysql://root@h/bad-name;drop' }, env())).toThrow(invalid);
    expect(() => normalizeStoreOptions({ mysql: 'mysql://root@h/a', mycat: 'mysql://root@h/b' }, env())).toThrow(invalid);
    expect(() => normalizeStoreOptions({ mycat: 'mysql://root@h/b', weights: '0:2' }, env())).toThrow(invalid);
    expect(() => normalizeStoreOptions({ weights: '2:1' }, env())).toThrow(invalid);
  });

  it('retention days: flag > TRAFFIC_TTL_DAYS > 3; 0 allowed; junk refused', () => {
    const saved = process.env.TRAFFIC_TTL_DAYS;
    delete process.env.TRAFFIC_TTL_DAYS;
    try {
      expect(normalizeTtlDays(undefined, env())).toBe(3);
      expect(normalizeTtlDays('0', env())).toBe(0);
      expect(normalizeTtlDays('1.5', env())).toBe(1.5);
      expect(() => normalizeTtlDays('-1', env())).toThrow(invalid);
      expect(() => normalizeTtlDays('x', env())).toThrow(invalid);
      process.env.TRAFFIC_TTL_DAYS = '7';
      expect(normalizeTtlDays(undefined, env({ TRAFFIC_TTL_DAYS: '7' }))).toBe(7);
    } finally {
      if (saved === undefined) delete process.env.TRAFFIC_TTL_DAYS;
      else process.env.TRAFFIC_TTL_DAYS = saved;
    }
  });

  it('sink flags: defaults, bounds, and --from stdout refused', () => {
    const o = normalizeSinkOptions([], env({ TRAFFIC_KAFKA: '10.0.0.1:9092', TRAFFIC_TOPIC: 't1' }));
    expect(o.sink).toMatchObject({
      from: 'kafka://10.0.0.1:9092/t1',
      groupId: 'traffic-sink',
      batchSize: 20_000,
      concurrency: 2,
      maxWaitMs: 0,
      ttlIntervalS: 300,
    });
    expect(normalizeSinkOptions(['--group', 'g', '--batch-size', '50', '--no-follow', '--from', 'file:/tmp/x.log'], env()).sink).toMatchObject({
      groupId: 'g',
      batchSize: 50,
      follow: false,
      from: 'file:/tmp/x.log',
    });
    expect(() => normalizeSinkOptions(['--batch-size', '0'], env())).toThrow(invalid);
    expect(normalizeSinkOptions(['--batch-size', '50000'], env()).sink.batchSize).toBe(50_000);
    expect(() => normalizeSinkOptions(['--batch-size', '50001'], env())).toThrow(invalid);
    expect(() => normalizeSinkOptions(['--from', 'stdout'], env())).toThrow(invalid);
    expect(() => normalizeSinkOptions(['--from', 'nope://x'], env())).toThrow(invalid);
    expect(() => normalizeSinkOptions(['--ttl-interval-s', '-5'], env())).toThrow(invalid);
  });
});

describe('MySQL URLs', () => {
  it('parses credentials, port and database (default traffic_db)', () => {
    expect(parseMysqlUrl('mysql://u:p%40ss@db.local:3310/x_1')).toMatchObject({
      host: 'db.local',
      port: 3310,
      user: 'u',
      password: 'p@ss',
      database: 'x_1',
      label: 'db.local:3310/x_1',
    });
    expect(parseMysqlUrl('mysql://root@127.0.0.1')).toMatchObject({ port: 3306, database: 'traffic_db', password: '' });
  });
});

describe('rows the store accepts', () => {
  const ok = makeRows(1)[0]!;
  it('accepts a master row and names what is wrong with a bad one', () => {
    expect(storeRowProblem(ok)).toBeNull();
    const set = (i: number, v: string) => Object.assign([...ok], { [i]: v });
    expect(storeRowProblem(set(4, '2024-02-30 00:00:00'))).toMatch(/GCSJ/);
    expect(storeRowProblem(set(4, '2024-01-01 24:00:00'))).toMatch(/GCSJ/);
    expect(storeRowProblem(set(4, '2024/01/01 00:00:00'))).toMatch(/GCSJ/);
    expect(storeRowProblem(set(0, ''))).toBe('GCXH empty');
    expect(storeRowProblem(set(2, ''))).toBe('KKMC empty');
    expect(storeRowProblem(set(9, 'true'))).toMatch(/IS_WEEKEND/);
    expect(storeRowProblem(set(0, 'x'.repeat(65)))).toMatch(/GCXH longer than 64/);
    // 128 characters outside the BMP are 256 UTF-16 units but still fit VARCHAR(128).
    expect(storeRowProblem(set(1, '𠀀'.repeat(128)))).toBeNull();
    expect(storeRowProblem(set(1, '𠀀'.repeat(129)))).toMatch(/XZQHMC longer than 128/);
    // KKMC is a checkpoint code: markup, spaces, quotes and non-ASCII never get in.
    for (const bad of ['<img src=x onerror=alert(1)>', 'A B', "K'1", '卡口', 'x'.repeat(41)]) {
      expect(storeRowProblem(set(2, bad))).toMatch(/^KKMC not a checkpoint code/);
    }
    expect(storeRowProblem(ok.slice(0, 11))).toMatch(/expected 12 fields/);
  });

  it('GCSJ must be a real calendar time in DATETIME range (leap years included)', () => {
    for (const t of ['2024-02-29 00:00:00', '2000-02-29 23:59:59', '1000-01-01 00:00:00', '9999-12-31 23:59:59']) expect(isStoreTime(t), t).toBe(true);
    for (const t of [
      '2023-02-29 00:00:00',
      '1900-02-29 00:00:00',
      '0999-12-31 00:00:00',
      '2024-04-31 00:00:00',
      '2024-00-10 00:00:00',
      '2024-01-01 00:60:00',
      '2024-01-01 00:00:60',
      '2024-01-01T00:00:00',
      '2024-01-01 0:00:00',
      '2024-01-01 00:00:00.5',
      '２024-01-01 00:00:00',
    ]) {
      expect(isStoreTime(t), t).toBe(false);
    }
  });

  it('escapes tabs, newlines and backslashes for LOAD DATA', () => {
    const row = [...ok];
    row[7] = 'a\tb\nc\\N\r';
    const line = tsvLine(row);
    expect(line.split('\t')).toHaveLength(12);
    expect(line).toContain('a\\tb\\nc\\\\N\\r');
    expect(line.endsWith('\n')).toBe(true);
  });

  it('a statement copies clean stream records as they are and escapes the rows whose records need it, in packets of the size asked', () => {
    const tsv = (items: { row: string[]; bytes?: Buffer | undefined }[], size?: number): string => Buffer.concat([...tsvPackets(items, size)]).toString();
    const rows = [[...ok], [...ok], [...ok], [...ok]];
    rows[1]![7] = 'C:\\dir';
    rows[2]![11] = 'x';
    const records: (Buffer | undefined)[] = rows.map((r) => Buffer.from(r.join('\t')));
    records[2] = Buffer.from(rows[2]!.join('\t') + '\r'); // a CR at its end is not part of the row
    records[3] = undefined; // no bytes: built from the row
    const expected = rows.map((r) => tsvLine(r)).join('');
    for (const size of [undefined, 1, 150, 400]) {
      expect(
        tsv(
          rows.map((row, i) => ({ row, bytes: records[i] })),
          size,
        ),
        `packets of ${size}`,
      ).toBe(expected);
      expect(
        tsv(
          rows.map((row) => ({ row })),
          size,
        ),
      ).toBe(expected);
    }
    const clean = [rows[0]!, rows[3]!];
    const cleanRecords = [records[0], Buffer.from(clean[1]!.join('\t'))];
    expect(tsv(clean.map((row, i) => ({ row, bytes: cleanRecords[i] })))).toBe(clean.map((r) => tsvLine(r)).join(''));
    // A clean record is copied, not rebuilt from its row: a row read would throw here.
    const unread = {
      bytes: records[0],
      get row(): string[] {
        throw new Error('row read');
      },
    };
    expect(tsv([unread])).toBe(tsvLine(rows[0]!));
    // Packets end at line ends and stay within the size unless one line is longer.
    const many = Array.from({ length: 50 }, () => ({ row: [...ok], bytes: records[0] }));
    const packets = [...tsvPackets(many, 1000)];
    expect(packets.length).toBeGreaterThan(5);
    for (const p of packets) {
      expect(p.length).toBeLessThanOrEqual(1000);
      expect(p[p.length - 1]).toBe(0x0a);
    }
    expect(Buffer.concat(packets).toString()).toBe(tsvLine(ok).repeat(50));
  });
});

describe('error classes', () => {
  const shard = parseMysqlUrl('mysql://root@127.0.0.1:3307/x');
  it('connection trouble becomes a retriable CONNECTION_FAILED naming the shard; data errors stay fatal', () => {
    for (const code of ['ECONNREFUSED', 'PROTOCOL_CONNECTION_LOST', 'ER_SERVER_SHUTDOWN', 'ER_LOCK_DEADLOCK']) {
      const e = storeError(Object.assign(new Error('x'), { code }), shard, 'insert');
      expect(isRetriable(e), code).toBe(true);
      expect((e as Error).message).toContain('127.0.0.1:3307/x');
    }
    expect(isConnectionError(new Error("Can't add new command when connection is in closed state"))).toBe(true);
    const data = Object.assign(new Error('Incorrect datetime value'), { code: 'ER_TRUNCATED_WRONG_VALUE', sqlState: '22007' });
    expect(isRetriable(storeError(data, shard, 'insert'))).toBe(false);
    expect(isDataError(data)).toBe(true);
    expect(isDataError(Object.assign(new Error('no table'), { code: 'ER_NO_SUCH_TABLE', sqlState: '42S02' }))).toBe(false);
  });
});

describe('ShardWriter (calls → statements per shard)', () => {
  const ids = (rows: string[][]): string[] => rows.map((r) => r[0]!);

  it('with max-wait 0 writes at once; rows queued behind a running statement share the next one, up to batch size', async () => {
    const writes: Array<[number, string[]]> = [];
    const gates: Array<() => void> = [];
    const w = new ShardWriter<string[]>(
      2,
      async (shard, rows) => {
        writes.push([shard, ids(rows)]);
        await new Promise<void>((r) => gates.push(r));
      },
      { batchSize: 3, maxWaitMs: 0, statements: 1 },
    );
    const rows = makeRows(6);
    let resolved = 0;
    const a = w.add([[rows[0]!], [rows[1]!]]).then(() => resolved++);
    const b = w.add([[rows[2]!, rows[3]!], []]).then(() => resolved++);
    const c = w.add([[rows[4]!, rows[5]!], []]).then(() => resolved++);
    expect(writes).toEqual([
      [0, ids([rows[0]!])],
      [1, ids([rows[1]!])],
    ]);
    expect(w.queued).toEqual([4, 0]);
    gates.shift()!(); // shard 0's first statement ends: the next takes 3 of the 4 queued rows
    await new Promise((r) => setTimeout(r, 0));
    expect(writes[2]).toEqual([0, ids([rows[2]!, rows[3]!, rows[4]!])]);
    expect(resolved).toBe(0); // call a still waits for shard 1
    gates.shift()!();
    await a;
    expect(resolved).toBe(1);
    gates.shift()!();
    await b;
    await new Promise((r) => setTimeout(r, 0));
    expect(writes[3]).toEqual([0, ids([rows[5]!])]);
    expect(resolved).toBe(2); // c is split over two statements: not done yet
    gates.shift()!();
    await c;
    expect(writes).toHaveLength(4);
  });

  it('starts a second statement of a shard only when it is full: a partial one waits for the running one', async () => {
    const writes: string[][] = [];
    const gates: Array<() => void> = [];
    const w = new ShardWriter<string[]>(
      1,
      async (_shard, rows) => {
        writes.push(ids(rows));
        await new Promise<void>((r) => gates.push(r));
      },
      { batchSize: 3, maxWaitMs: 0, statements: 2 },
    );
    const rows = makeRows(8);
    const a = w.add([rows.slice(0, 1)]); // nothing running: goes at once, partial
    const b = w.add([rows.slice(1, 3)]); // 2 of 3 while one runs: waits
    expect(writes).toEqual([ids(rows.slice(0, 1))]);
    const c = w.add([rows.slice(3, 6)]); // now 5 queued: a full statement goes beside the running one
    expect(writes).toEqual([ids(rows.slice(0, 1)), ids(rows.slice(1, 4))]);
    expect(w.queued).toEqual([2]);
    gates.shift()!(); // the first ends; the full one still runs: the 2 left keep waiting
    await a;
    await new Promise((r) => setTimeout(r, 0));
    expect(writes).toHaveLength(2);
    gates.shift()!(); // no statement runs now: the 2 left go, as one statement
    await new Promise((r) => setTimeout(r, 0));
    expect(writes[2]).toEqual(ids(rows.slice(4, 6)));
    gates.shift()!();
    await Promise.all([b, c]);
    expect(writes).toHaveLength(3);
  });

  it('runs up to `statements` statements of a shard at once', async () => {
    let running = 0;
    let most = 0;
    const w = new ShardWriter<string[]>(
      1,
      async () => {
        most = Math.max(most, ++running);
        await new Promise((r) => setTimeout(r, 20));
        running--;
      },
      { batchSize: 2, maxWaitMs: 0, statements: 3 },
    );
    const rows = makeRows(20);
    await Promise.all(Array.from({ length: 10 }, (_, i) => w.add([rows.slice(2 * i, 2 * i + 2)])));
    expect(most).toBe(3);
  });

  it('with max-wait, calls share one statement and each resolves only after it is written', async () => {
    const writes: string[][] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const w = new ShardWriter<string[]>(
      1,
      async (_shard, rows) => {
        await gate;
        writes.push(ids(rows));
      },
      { batchSize: 1000, maxWaitMs: 30, statements: 2 },
    );
    const rows = makeRows(5);
    let resolved = 0;
    const a = w.add([rows.slice(0, 2)]).then(() => resolved++);
    const b = w.add([rows.slice(2)]).then(() => resolved++);
    await new Promise((r) => setTimeout(r, 60));
    expect(resolved).toBe(0); // sent after the wait, but not yet written
    release();
    await Promise.all([a, b]);
    expect(writes).toEqual([ids(rows)]);
  });

  it('a failed statement rejects every call with rows in it, and their queued rows are dropped (the bus redelivers the calls)', async () => {
    const writes: string[][] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const w = new ShardWriter<string[]>(
      1,
      async (_shard, rows) => {
        writes.push(ids(rows));
        await gate;
        if (writes.length === 1) throw new Error('down'); // only the first statement fails
      },
      { batchSize: 2, maxWaitMs: 0, statements: 1 },
    );
    const rows = makeRows(5);
    const a = w.add([rows.slice(0, 3)]); // 2 rows in the first statement, 1 queued
    const b = w.add([rows.slice(3)]);
    release();
    await expect(a).rejects.toThrow('down');
    await expect(b).resolves.toBeUndefined();
    // a's third row was not written after a failed: only b's rows followed.
    expect(writes).toEqual([ids(rows.slice(0, 2)), ids(rows.slice(3))]);
    await expect(w.add([[], []].slice(0, 1))).resolves.toBeUndefined(); // nothing to write
  });
});

describe('ShardedStore routing (no connection needed: pools are lazy)', () => {
  const VECTORS = ['../shared/vectors/mycat_murmur.json', '/work/shared/vectors/mycat_murmur.json'].find((p) => existsSync(p))!;
  const configs = (JSON.parse(readFileSync(VECTORS, 'utf8')) as { configs: { id: string; vectors: { key: string; shard: number }[] }[] }).configs;
  const row = (kkmc: string): string[] => Object.assign(makeRows(1)[0]!, { 2: kkmc });

  it('routes rows by kkmc with the weighted ring given to it', async () => {
    const weighted = configs.find((c) => c.id === 'count2_seed0_vbt160_weights0-1_1-2')!;
    const store = ShardedStore.open({ urls: ['mysql://root@127.0.0.1:3306/x', 'mysql://root@127.0.0.1:3307/x'], weights: new Map([[1, 2]]) });
    try {
      for (const v of weighted.vectors) expect([v.key, store.shardOfRow(row(v.key))]).toEqual([v.key, v.shard]);
      const parts = store.partition(weighted.vectors.map((v) => row(v.key)));
      expect(parts.map((p) => p.length)).toEqual([0, 1].map((i) => weighted.vectors.filter((v) => v.shard === i).length));
    } finally {
      await store.close();
    }
  });

  it('through MyCat there is one target and no client-side router', async () => {
    const store = ShardedStore.open({ urls: ['mysql://root@127.0.0.1:8066/traffic_db'], mycat: true });
    try {
      expect(store.router).toBeNull();
      expect(store.shardOfRow(row('S325_Suining_K12'))).toBe(0);
    } finally {
      await store.close();
    }
    expect(() => ShardedStore.open({ urls: ['mysql://root@a/x', 'mysql://root@b/x'], mycat: true })).toThrow(invalid);
    expect(() => ShardedStore.open({ urls: ['mysql://root@a/x', 'mysql://root@a/x'] })).toThrow(invalid);
  });
});
