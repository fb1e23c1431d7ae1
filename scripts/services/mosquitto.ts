/**
 * The machine's Mosquitto MQTT broker on 1883: checked with an MQTT CONNECT (a CONNACK accepting it),
 * started with the machine's own config if installed but down; never stopped.
 */
import net from 'node:net';
import { run, waitFor, which } from './proc.ts';
import type { ServiceResult } from './result.ts';

/** MQTT 3.1.1 CONNECT: clean session, keep-alive 60 s, empty client id (the broker assigns one). */
const CONNECT = Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00]);
const DISCONNECT = Buffer.from([0xe0, 0x00]);
export const MOSQUITTO_CONF = '/etc/mosquitto/mosquitto.conf';

export function mosquittoAnswers(port = 1883): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    const done = (ok: boolean): void => {
      sock.removeAllListeners();
      if (ok) sock.end(DISCONNECT);
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write(CONNECT));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      // CONNACK: 0x20, length 2, flags, return code 0 = accepted.
      if (buf.length >= 4) done(buf[0] === 0x20 && buf[1] === 0x02 && buf[3] === 0x00);
    });
  });
}

export async function mosquittoUp(): Promise<ServiceResult> {
  const name = 'mosquitto';
  const where = '127.0.0.1:1883';
  if (await mosquittoAnswers()) return { name, where, ok: true, note: 'running' };
  const bin = which('mosquitto');
  if (!bin) return { name, where, ok: false, note: 'not answering and not installed: apt-get install -y mosquitto mosquitto-clients' };
  const r = await run(bin, ['-d', '-c', MOSQUITTO_CONF], { timeoutMs: 15_000 });
  if (!r.ok) return { name, where, ok: false, note: `could not be started: ${r.output.trim()}` };
  const ready = await waitFor(() => mosquittoAnswers(), { timeoutMs: 15_000, intervalMs: 200 });
  return ready.ok
    ? { name, where, ok: true, note: 'started (machine service)' }
    : { name, where, ok: false, note: `started but ${ready.reason}; see the log_dest in ${MOSQUITTO_CONF}` };
}
