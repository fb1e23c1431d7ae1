import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TextFileWriter } from '../../core/io.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'io-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('TextFileWriter under backpressure', () => {
  it('keeps one drain wait for many writes that meet a full stream, and writes every byte in order', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const file = path.join(dir, 'rejects.partial');
      // A 1-byte buffer: every write goes to the stream; 200 KB chunks fill its 16 KiB mark at once.
      const w = await TextFileWriter.open(file, { bufferBytes: 1 });
      const waits = new Set<Promise<void>>();
      const parts: string[] = [];
      for (let i = 0; i < 40; i++) {
        const text = String(i % 10).repeat(200_000) + '\n';
        parts.push(text);
        // The ETL's rejects wait only between batches: here, not at all until the end.
        const p = w.write(text);
        if (p) waits.add(p);
      }
      expect(waits.size).toBe(1);
      await Promise.all(waits);
      await w.close();
      await new Promise((r) => setImmediate(r));
      expect(warnings).not.toContain('MaxListenersExceededWarning');
      expect(readFileSync(file, 'utf8')).toBe(parts.join(''));
    } finally {
      process.off('warning', onWarning);
    }
  });
});
