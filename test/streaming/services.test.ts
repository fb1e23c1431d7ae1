import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// `services:up` itself runs before the suite (scripts/test.mjs). Here only --check, which starts
// nothing: other suites stop and restart services on purpose (e.g. the 3307 outage test).
describe('services:up --check', () => {
  it('reports every service the tests use as answering, within seconds', () => {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['bin/traffic.mjs', 'services:up', '--check'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stdout).toMatch(/^ok +kafka +127\.0\.0\.1:9092 +answers/m);
    expect(r.stdout).toMatch(/^ok +mariadb +127\.0\.0\.1:3306/m);
    expect(r.stdout).toMatch(/^ok +redis +127\.0\.0\.1:6379/m);
    expect(r.stdout).toMatch(/^ok +mosquitto +127\.0\.0\.1:1883 +answers/m);
    expect(r.stdout).toMatch(/^(ok|FAIL) +mariadb-3307 +127\.0\.0\.1:3307/m);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });
});

describe('the Mosquitto probe', () => {
  it('accepts an MQTT broker and refuses another service or a closed port', async () => {
    const { mosquittoAnswers } = await import('../../scripts/services/mosquitto.ts');
    expect(await mosquittoAnswers(1883)).toBe(true);
    expect(await mosquittoAnswers(6379)).toBe(false); // Redis answers, but not with a CONNACK
    expect(await mosquittoAnswers(1)).toBe(false);
  });
});

describe('the Kafka cluster id', () => {
  it('is 22 URL-safe base64 characters and never starts with "-", which the storage tool would take for an option', async () => {
    const { newClusterId } = await import('../../scripts/services/kafka.ts');
    // 0xF8 encodes to "-" as the first base64url character: the generator must draw again.
    const draws = [Buffer.alloc(16, 0xf8), Buffer.alloc(16, 0xf8), Buffer.alloc(16, 0x41)];
    let calls = 0;
    const id = newClusterId(() => draws[calls++] as Buffer);
    expect(calls).toBe(3);
    expect(id).toBe(Buffer.alloc(16, 0x41).toString('base64url'));
    for (let i = 0; i < 2000; i++) expect(newClusterId()).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  });
});
