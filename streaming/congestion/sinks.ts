/**
 * Where congestion level changes go. Every sink stores idempotently by id and resolves `write`
 * once stored, so the source may then commit.
 *
 * - redis://HOST:PORT  the detector's RedisAlertSink on key `traffic:congestion`: one Lua script
 *   per change, SET NX on `<key>:id:<id>`, and only when new LPUSH + LTRIM 0 999 + PUBLISH.
 * - jsonl:PATH         one JSON per line, appended; ids already in the file are skipped.
 * - stdout / jsonl:-   one JSON per line on stdout.
 * - memory:NAME        the in-process CongestionState of that name (API, dashboard, SSE).
 */
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { TrafficError } from '../../core/errors.ts';
import type { Alert } from '../detect/alert.ts';
import { RedisAlertSink } from '../detect/sinks.ts';
import type { CongestionAlert } from './levels.ts';
import { getCongestionState } from './state.ts';

export const CONGESTION_KEY = 'traffic:congestion';
export const CONGESTION_MAX = 1000;

export interface CongestionSink {
  readonly uri: string;
  /** Stores the changes; returns how many were new. */
  write(alerts: readonly CongestionAlert[]): Promise<number>;
  close(): Promise<void>;
}

export interface CongestionSinkOptions {
  key?: string;
  max?: number;
  dedupeTtlS?: number;
  truncate?: boolean;
}

export async function openCongestionSink(uri: string, opts: CongestionSinkOptions = {}): Promise<CongestionSink> {
  if (uri.startsWith('redis://') || uri.startsWith('rediss://')) {
    // The detector's sink stores any JSON by its `id`: the same atomic script, another key.
    const redis = await RedisAlertSink.open(uri, {
      key: opts.key ?? CONGESTION_KEY,
      max: opts.max ?? CONGESTION_MAX,
      dedupeTtlS: opts.dedupeTtlS,
    });
    return {
      uri,
      write: (alerts) => redis.write(alerts as unknown as readonly Alert[]),
      close: () => redis.close(),
    };
  }
  if (uri === 'stdout' || uri === 'jsonl:-') return new JsonlCongestionSink('stdout', null, new Set());
  if (uri.startsWith('jsonl:')) return JsonlCongestionSink.open(uri.slice('jsonl:'.length), opts);
  if (uri.startsWith('memory:')) {
    const state = getCongestionState(uri.slice('memory:'.length) || 'default');
    return { uri, write: async (alerts) => state.add(alerts), close: async () => {} };
  }
  throw new TrafficError('INVALID_OPTION', `unknown congestion sink "${uri}": use redis://HOST:PORT, jsonl:PATH, stdout or memory:NAME`, {
    option: '--to',
  });
}

export class JsonlCongestionSink implements CongestionSink {
  constructor(
    readonly uri: string,
    private readonly fh: FileHandle | null,
    private readonly ids: Set<string>,
  ) {}

  static async open(file: string, opts: CongestionSinkOptions = {}): Promise<JsonlCongestionSink> {
    if (!file) throw new TrafficError('INVALID_OPTION', 'jsonl: needs a path (jsonl:PATH)', { option: '--to' });
    const ids = new Set<string>();
    if (!opts.truncate && existsSync(file)) {
      for (const line of (await readFile(file, 'utf8')).split('\n')) {
        const id = line ? idOf(line) : null;
        if (id) ids.add(id);
      }
    }
    await mkdir(path.dirname(path.resolve(file)), { recursive: true });
    return new JsonlCongestionSink(`jsonl:${file}`, await open(file, opts.truncate ? 'w' : 'a'), ids);
  }

  async write(alerts: readonly CongestionAlert[]): Promise<number> {
    let text = '';
    let added = 0;
    for (const a of alerts) {
      if (this.ids.has(a.id)) continue;
      this.ids.add(a.id);
      text += JSON.stringify(a) + '\n';
      added++;
    }
    if (!text) return added;
    if (this.fh) await this.fh.write(text);
    else if (!process.stdout.write(text)) await new Promise((r) => process.stdout.once('drain', r));
    return added;
  }

  async close(): Promise<void> {
    await this.fh?.close();
  }
}

function idOf(line: string): string | null {
  try {
    const v = JSON.parse(line) as { id?: unknown; level?: unknown } | null;
    return v && typeof v.id === 'string' && typeof v.level === 'string' ? v.id : null;
  } catch {
    return null;
  }
}
