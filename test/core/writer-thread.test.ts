import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WriterThread } from '../../core/writer-thread.ts';

describe('writer thread', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'writer-thread-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes several files interleaved, each byte for byte in the order written', async () => {
    const t = WriterThread.start();
    try {
      const names = ['a.csv', 'b.csv', 'c.csv'];
      const sinks = await Promise.all(names.map((n) => t.open(path.join(dir, n))));
      const expected = names.map(() => [] as string[]);
      for (let i = 0; i < 3000; i++) {
        const k = i % 3;
        // Small lines, CSV rows and large blocks (posted as they are), Chinese text included.
        const text = i % 500 === 0 ? `苏CD7***,${i},`.repeat(40_000) + '\n' : `${i},徐州市铜山县,"q,uoted",${k}\n`;
        expected[k]!.push(text);
        const p = sinks[k]!.write(text);
        if (p) await p;
      }
      sinks[0]!.writeCsv(['x', 'a,b', '"']);
      expected[0]!.push('x,"a,b",""""\n');
      for (const s of sinks) await s.close();
      for (let k = 0; k < 3; k++) expect(await readFile(path.join(dir, names[k]!), 'utf8')).toBe(expected[k]!.join(''));
      expect(sinks[0]!.lines).toBe(1);
    } finally {
      await t.stop();
    }
  });

  it('appends when asked, and creates missing folders', async () => {
    const file = path.join(dir, 'deep', 'er', 'log.csv');
    const t = WriterThread.start();
    try {
      const a = await t.open(file);
      a.write('one\n');
      await a.close();
      const b = await t.open(file, { append: true });
      b.write('two\n');
      await b.close();
    } finally {
      await t.stop();
    }
    expect(await readFile(file, 'utf8')).toBe('one\ntwo\n');
  });

  it('fails open with OUTPUT_WRITE_FAILED naming the file it could not create', async () => {
    if (process.getuid?.() === 0) {
      // root may write anywhere: a path under a regular file cannot be created by anyone.
      await writeFile(path.join(dir, 'plain'), 'x');
      const t = WriterThread.start();
      try {
        await expect(t.open(path.join(dir, 'plain', 'out.csv'))).rejects.toMatchObject({
          code: 'OUTPUT_WRITE_FAILED',
          message: expect.stringContaining(path.join(dir, 'plain', 'out.csv')),
        });
      } finally {
        await t.stop();
      }
      return;
    }
    const ro = path.join(dir, 'ro');
    await writeFile(ro, '');
    await chmod(ro, 0o400);
    const t = WriterThread.start();
    try {
      await expect(t.open(ro)).rejects.toMatchObject({ code: 'OUTPUT_WRITE_FAILED', message: expect.stringContaining(ro) });
    } finally {
      await t.stop();
    }
  });

  it.skipIf(!existsSync('/dev/full'))('reports a failed write (disk full) at close, naming the file', async () => {
    const t = WriterThread.start();
    try {
      const s = await t.open('/dev/full', { append: true });
      s.write('x'.repeat(1 << 20));
      await expect(s.close()).rejects.toMatchObject({ code: 'OUTPUT_WRITE_FAILED', message: expect.stringMatching(/\/dev\/full: ENOSPC/) });
    } finally {
      await t.stop();
    }
  });
});
