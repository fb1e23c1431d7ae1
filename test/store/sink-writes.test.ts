/**
 * The sink's write path against the real MariaDB servers (3306 + 3307) and Kafka: LOAD DATA for
 * clean chunks, INSERT … ON DUPLICATE KEY UPDATE for chunks with duplicates or refused rows,
 * several partitions written at once, plate_stats exact throughout. Nothing here stops a server
 * (the shard-outage test stays in mysql.serial.test.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reject } from '../../core/schema.ts';
import { ShardedStore } from '../../store/mysql.ts';
import { openSink } from '../../streaming/bus/index.ts';
import { encodeRecord } from '../../streaming/record.ts';
import { runSink } from '../../streaming/sink.ts';
import { createTopic, deleteTopics, kafkaUri, produceRaw, produceRows, uniqueGroup, uniqueTopic } from '../helpers/kafka.ts';
import { counts, dropDb, PORTS, q, shardUrls, testDbName, waitUntil } from './db.ts';
import { makeRows } from './fixture.ts';

const dbs: string[] = [];
const topics: string[] = [];
let tmp = '';
function newDb(): string {
  const db = testDbName('traffic_sinkw');
  dbs.push(db);
  return db;
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'sink-writes-'));
});
afterAll(async () => {
  for (const db of dbs) await dropDb(db);
  await deleteTopics(topics);
  await rm(tmp, { recursive: true, force: true });
});

const produce = produceRows;

/**
 * Runs the sink (no TTL, no waiting for fuller batches) until `expected` records are handled, lets
 * it go on for `settleMs` (a replay must not store more), stops it and returns its stats.
 */
async function sinkUntilHandled(
  store: ShardedStore,
  o: { from: string; groupId: string; batchSize: number; concurrency?: number },
  expected: number,
  settleMs = 0,
): Promise<Awaited<ReturnType<typeof runSink>>> {
  const ac = new AbortController();
  let handled = 0;
  const run = runSink(store, {
    ...o,
    maxWaitMs: 0,
    ttlDays: 0,
    ttlIntervalS: 0,
    signal: ac.signal,
    log: () => undefined,
    onStored: (k) => (handled += k),
  });
  await waitUntil(async () => handled >= expected, 60_000, 'all records handled');
  if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
  ac.abort();
  return run;
}

async function plateStatsExact(db: string): Promise<void> {
  for (const port of PORTS) {
    const stats = await q<{ h: string; n: number }>(port, `SELECT HEX(hphm) AS h, passes AS n FROM \`${db}\`.plate_stats WHERE passes <> 0 ORDER BY h`);
    const recount = await q<{ h: string; n: number }>(
      port,
      `SELECT HEX(CAST(hphm AS BINARY)) AS h, COUNT(*) AS n FROM \`${db}\`.traffic_data GROUP BY h ORDER BY h`,
    );
    expect(stats.map((r) => [r.h, Number(r.n)])).toEqual(recount.map((r) => [r.h, Number(r.n)]));
  }
}

describe('sink writes', () => {
  it('stores exactly N rows from 3 partitions written at once; a replay with a new group adds nothing; plate_stats exact', async () => {
    const db = newDb();
    const topic = uniqueTopic('sinkw');
    topics.push(topic);
    await createTopic(topic, 3);
    const rows = makeRows(6000, { seed: 5, prefix: 'W' });
    await produce(topic, rows);
    const store = ShardedStore.open({ urls: shardUrls(db) });
    try {
      const newRows: number[] = [];
      for (const group of [uniqueGroup('sinkw'), uniqueGroup('sinkw-replay')]) {
        const stats = await sinkUntilHandled(store, { from: kafkaUri(topic), groupId: group, batchSize: 400, concurrency: 3 }, rows.length, 500);
        expect(stats.received).toBe(rows.length);
        expect(stats.rejected).toBe(0);
        newRows.push(stats.inserted.reduce((a, b) => a + b, 0));
      }
      expect(newRows).toEqual([rows.length, 0]);
      expect(await counts(db)).toMatchObject({ total: rows.length, distinct: rows.length });
      await plateStatsExact(db);
    } finally {
      await store.close();
    }
  });

  it('a chunk holding old and new rows stores the new ones once (the INSERT path) and keeps plate_stats exact', async () => {
    const db = newDb();
    const store = ShardedStore.open({ urls: shardUrls(db) });
    try {
      await store.ensureSchema();
      const rows = makeRows(1000, { seed: 13, prefix: 'M' });
      const first = store.partition(rows.slice(0, 600));
      const both = store.partition(rows);
      let inserted = 0;
      for (const [i, part] of first.entries()) inserted += await store.storeChunk(store.shards[i]!, part);
      expect(inserted).toBe(600);
      inserted = 0;
      for (const [i, part] of both.entries()) inserted += await store.storeChunk(store.shards[i]!, part);
      expect(inserted).toBe(400);
      expect(await counts(db)).toMatchObject({ total: 1000, distinct: 1000 });
      await plateStatsExact(db);
    } finally {
      await store.close();
    }
  });

  it('Kafka records go into LOAD DATA as they were carried; those that need escaping (backslash, CR at the end) are stored as the rows decoded from them', async () => {
    const db = newDb();
    const topic = uniqueTopic('sinkw-bytes');
    topics.push(topic);
    await createTopic(topic, 1);
    const rows = makeRows(400, { seed: 8, prefix: 'B' });
    rows[10]![7] = 'C:\\dir\\new'; // backslashes: the escape character of LOAD DATA
    rows[11]![7] = '\\N'; // would be NULL if copied as it is
    rows[12]![7] = 'NULL';
    const values = rows.map((r) => encodeRecord(r));
    values[13] += '\r'; // a CR at the end is not part of the row
    await produceRaw(
      topic,
      values.map((value, i) => ({ key: rows[i]![6]!, value })),
    );
    const store = ShardedStore.open({ urls: shardUrls(db) });
    try {
      await sinkUntilHandled(store, { from: kafkaUri(topic), groupId: uniqueGroup('sinkw-bytes'), batchSize: 150 }, rows.length);
      expect(await counts(db)).toMatchObject({ total: 400, distinct: 400 });
      const stored = new Map<string, string[]>();
      for (const port of PORTS) {
        for (const r of await q<Record<string, string | number>>(port, `SELECT * FROM \`${db}\`.traffic_data`)) {
          stored.set(String(r.gcxh), Object.values(r).map(String));
        }
      }
      for (const r of rows) expect(stored.get(r[0]!)).toEqual(r);
      await plateStatsExact(db);
    } finally {
      await store.close();
    }
  });

  it('a row the server refuses is rejected alone with its origin and reason; the rest of its chunk is stored', async () => {
    const db = newDb();
    const store = ShardedStore.open({ urls: shardUrls(db) });
    try {
      await store.ensureSchema();
      // A constraint our own checks do not know about: LOAD DATA would skip the row with a warning.
      for (const port of PORTS) await q(port, `ALTER TABLE \`${db}\`.traffic_data ADD CONSTRAINT no_refuse CHECK (hphm <> 'REFUSE')`);
      const rows = makeRows(300, { seed: 21, prefix: 'F' });
      rows[150]![6] = 'REFUSE';
      const log = path.join(tmp, 'refuse.log');
      await writeFile(log, rows.map((r) => encodeRecord(r) + '\n').join(''));
      const rejects: Reject[] = [];
      const stats = await runSink(store, {
        from: `file:${log}`,
        follow: false,
        groupId: 'refuse',
        batchSize: 100,
        maxWaitMs: 0,
        ttlDays: 0,
        ttlIntervalS: 0,
        log: () => undefined,
        onReject: (r) => void rejects.push(r),
      });
      expect(stats.stored).toBe(299);
      expect(rejects).toHaveLength(1);
      expect(rejects[0]!.reason).toMatch(/MySQL refused the row: .*no_refuse/);
      expect(rejects[0]!.raw).toContain(rows[150]![0]);
      expect(await counts(db)).toMatchObject({ total: 299, distinct: 299 });
      await plateStatsExact(db);
    } finally {
      await store.close();
    }
  });

  function startSinkProcess(topic: string, group: string, db: string): ChildProcess {
    const child = spawn(
      process.execPath,
      [
        'bin/traffic.mjs',
        'sink',
        '--from',
        kafkaUri(topic),
        '--group',
        group,
        '--mysql',
        shardUrls(db).join(','),
        '--batch-size',
        '50',
        '--ttl-days',
        '0',
        '--rejects',
        path.join(tmp, `${group}.rejects.csv`),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TZ: 'UTC' } },
    );
    child.stderr!.on('data', () => undefined);
    return child;
  }
  const exited = (c: ChildProcess): Promise<void> => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

  it('SIGKILL mid-stream (partitions written at once) and a restart: exactly N rows, plate_stats exact', async () => {
    const db = newDb();
    const topic = uniqueTopic('sinkw-kill');
    const group = uniqueGroup('sinkw-kill');
    topics.push(topic);
    await createTopic(topic, 3);
    const n = 3000;
    const rows = makeRows(n, { seed: 9, prefix: 'X' });
    let child = startSinkProcess(topic, group, db);
    try {
      // One producer for every slice (each producer starts its own threads), slices spaced out so
      // the kill lands mid-stream.
      const feeding = (async () => {
        const sink = await openSink(kafkaUri(topic));
        try {
          for (let at = 0; at < n; at += 100) {
            await sink.send(rows.slice(at, at + 100));
            await sink.flush();
            await new Promise((r) => setTimeout(r, 50));
          }
        } finally {
          await sink.close();
        }
      })();
      await waitUntil(async () => (await counts(db)).total > 0, 30_000, 'first rows stored', 50);
      child.kill('SIGKILL');
      await exited(child);
      const atKill = (await counts(db)).total;
      expect(atKill).toBeGreaterThan(0);
      expect(atKill).toBeLessThan(n);
      await feeding;
      child = startSinkProcess(topic, group, db);
      // The restarted consumer joins once the killed one's session (15 s) has expired.
      await waitUntil(async () => (await counts(db)).total >= n, 100_000, 'all rows after restart');
      await new Promise((r) => setTimeout(r, 1000));
      expect(await counts(db)).toMatchObject({ total: n, distinct: n });
      await plateStatsExact(db);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
  }, 180_000);
});
