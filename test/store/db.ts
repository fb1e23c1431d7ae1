/**
 * MariaDB helpers for store tests: a database name of the test's own on both loopback servers
 * (3306 and the project's 3307), direct per-server queries, and cleanup.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';

export const PORTS = [3306, 3307] as const;

export function testDbName(prefix = 'traffic_test'): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

export function shardUrls(db: string): string[] {
  return PORTS.map((p) => `mysql://root@127.0.0.1:${p}/${db}`);
}

/** Runs one statement on one server (a fresh connection, so it works across restarts). */
export async function q<T = Record<string, unknown>>(port: number, sql: string, params: unknown[] = []): Promise<T[]> {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', dateStrings: true, connectTimeout: 3000 });
  try {
    const [rows] = await conn.query(sql, params);
    return rows as T[];
  } finally {
    await conn.end().catch(() => undefined);
  }
}

export async function dropDb(db: string): Promise<void> {
  for (const p of PORTS) await q(p, `DROP DATABASE IF EXISTS \`${db}\``).catch(() => undefined);
}

/** Rows per server, and the number of distinct gcxh across both. */
export async function counts(db: string): Promise<{ perShard: number[]; total: number; distinct: number }> {
  const perShard: number[] = [];
  const ids = new Set<string>();
  for (const p of PORTS) {
    const rows = await q<{ gcxh: string }>(p, `SELECT gcxh FROM \`${db}\`.traffic_data`).catch((err: { code?: string }) => {
      if (err.code === 'ER_NO_SUCH_TABLE' || err.code === 'ER_BAD_DB_ERROR') return [];
      throw err;
    });
    perShard.push(rows.length);
    for (const r of rows) ids.add(r.gcxh);
  }
  return { perShard, total: perShard[0]! + perShard[1]!, distinct: ids.size };
}

export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string, intervalMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
