import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Partitioners } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeRecord } from '../../streaming/record.ts';
import { createTopic, deleteTopics, kafkaUri, readMessages, uniqueTopic } from '../helpers/kafka.ts';
import { masterRows, tmpDir, writeMaster } from './fixtures.ts';

function runCli(args: string[], opts: { interruptWhen?: () => boolean } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/traffic.mjs', 'simulate', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TZ: 'UTC' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Interrupt once it is demonstrably running (its SIGINT handler is installed by then).
    const poll = opts.interruptWhen
      ? setInterval(() => {
          if (opts.interruptWhen!()) {
            clearInterval(poll);
            child.kill('SIGINT');
          }
        }, 50)
      : undefined;
    child.once('close', (code) => {
      clearInterval(poll);
      resolve({ code, stdout, stderr });
    });
  });
}

const topics: string[] = [];
afterAll(() => deleteTopics(topics));

describe('traffic simulate (command)', () => {
  it('writes to stdout and prints a one-line summary on stderr', async () => {
    const rows = masterRows(20);
    const r = await runCli(['--in', writeMaster(tmpDir(), rows), '--to', 'stdout', '--rate', 'max']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(rows.map((x) => encodeRecord(x) + '\n').join(''));
    expect(r.stderr).toMatch(/^simulate: 20 records → stdout in [\d.]+ s/m);
  });

  it('on Ctrl-C (SIGINT) flushes what it sent and prints the summary', async () => {
    const dir = tmpDir();
    const log = path.join(dir, 'out.log');
    const r = await runCli(['--in', writeMaster(dir, masterRows(50)), '--to', `file:${log}`, '--rate', '40', '--loop'], {
      interruptWhen: () => existsSync(log) && readFileSync(log, 'utf8').split('\n').length > 20,
    });
    expect(r.code, r.stderr).toBe(0);
    const m = /simulate: (\d+) records → file:/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const sent = Number(m![1]);
    expect(sent).toBeGreaterThanOrEqual(20);
    expect(r.stderr).toContain('stopped by signal');
    expect(readFileSync(log, 'utf8').split('\n').length - 1).toBe(sent);
  });

  it('sends to kafka://host:port/topic with the plate as the message key', async () => {
    const topic = await createTopic(uniqueTopic('sim-cli'));
    topics.push(topic);
    const rows = masterRows(30);
    const r = await runCli(['--in', writeMaster(tmpDir(), rows), '--to', kafkaUri(topic), '--rate', '0']);
    expect(r.code, r.stderr).toBe(0);
    const msgs = await readMessages(topic, 30);
    expect(msgs.map((x) => x.value).sort()).toEqual(rows.map((x) => encodeRecord(x)).sort());
    // Partition = Kafka's default for the key (murmur2, as the Java client), so one plate = one partition.
    const partitioner = Partitioners.DefaultPartitioner();
    const meta = [0, 1, 2].map((i) => ({ partitionErrorCode: 0, partitionId: i, leader: 0, replicas: [0], isr: [0] }));
    for (const x of msgs) {
      expect(x.key).toBe(x.value.split('\t')[6]);
      expect(x.partition).toBe(partitioner({ topic, partitionMetadata: meta, message: { key: x.key, value: null } }));
    }
    expect(new Set(msgs.map((x) => x.partition)).size).toBeGreaterThan(1);
  });
});
