/**
 * The drill's view of the two shards after the run, read with plain SQL (not through the sink's
 * code): rows per shard, duplicates within and across shards, rows on the wrong shard, and the
 * set of stored gcxh to compare with what the topic carried.
 */
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { MurmurShardRouter } from '../../store/shard/router.ts';

export interface ShardReport {
  url: string;
  rows: number;
  /** gcxh appearing more than once on this shard (GROUP BY … HAVING COUNT(*) > 1). */
  dupWithin: number;
}

export interface StoreReport {
  shards: ShardReport[];
  total: number;
  /** gcxh stored on more than one shard. */
  dupAcross: number;
  /** Rows whose shard is not the one MyCat murmur(kkmc) names. */
  misplaced: number;
  gcxh: Set<string>;
}

export function shardUrls(db: string): string[] {
  return [`mysql://root@127.0.0.1:3306/${db}`, `mysql://root@127.0.0.1:3307/${db}`];
}

async function withConn<T>(port: number, fn: (c: mysql.Connection) => Promise<T>, database?: string): Promise<T> {
  const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', connectTimeout: 5000, ...(database ? { database } : {}) });
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

const PORTS = [3306, 3307];

export async function readStore(db: string): Promise<StoreReport> {
  const router = new MurmurShardRouter({ count: PORTS.length });
  const seen = new Map<string, number>();
  const report: StoreReport = { shards: [], total: 0, dupAcross: 0, misplaced: 0, gcxh: new Set() };
  for (let i = 0; i < PORTS.length; i++) {
    const port = PORTS[i]!;
    const r = await withConn(
      port,
      async (c) => {
        const [cnt] = await c.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM traffic_data');
        const [dups] = await c.query<RowDataPacket[]>('SELECT gcxh, COUNT(*) AS n FROM traffic_data GROUP BY gcxh HAVING COUNT(*) > 1');
        const [rows] = await c.query<RowDataPacket[]>('SELECT gcxh, kkmc FROM traffic_data');
        return { n: Number(cnt[0]?.n ?? 0), dups: dups.length, rows: rows as { gcxh: string; kkmc: string }[] };
      },
      db,
    );
    for (const row of r.rows) {
      const before = seen.get(row.gcxh);
      if (before !== undefined && before !== i) report.dupAcross++;
      seen.set(row.gcxh, i);
      report.gcxh.add(row.gcxh);
      if (router.shardOf(row.kkmc) !== i) report.misplaced++;
    }
    report.shards.push({ url: `127.0.0.1:${port}/${db}`, rows: r.n, dupWithin: r.dups });
    report.total += r.n;
  }
  return report;
}

/** Drops the drill database on both shards; returns what was dropped. */
export async function dropDatabases(db: string): Promise<string[]> {
  const done: string[] = [];
  for (const port of PORTS) {
    await withConn(port, async (c) => {
      await c.query(`DROP DATABASE IF EXISTS \`${db}\``);
      done.push(`database ${db} on ${port}`);
    }).catch(() => undefined);
  }
  return done;
}
