/**
 * The cloned-plate detector reading mqtt:// (Mosquitto 1883): the same alerts as an offline pass
 * over the same records, and a second detector of the same group after a stop raises none again.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mqttClientId, openSink, type Source } from '../../streaming/bus/index.ts';
import type { MqttSource } from '../../streaming/bus/mqtt.ts';
import type { Alert } from '../../streaming/detect/alert.ts';
import { CloneDetector, DEFAULT_PARAMS } from '../../streaming/detect/core.ts';
import { distanceLookup, type Dimension } from '../../streaming/detect/geo.ts';
import { ETL_PLATES } from '../../streaming/detect/plates.ts';
import { runDetect } from '../../streaming/detect/run.ts';
import { MemoryAlertSink } from '../../streaming/detect/sinks.ts';
import { syntheticCoords, syntheticStream } from '../../streaming/detect/synthetic.ts';
import { forgetSession, mqttUri, uniqueMqttTopic, waitUntil } from '../helpers/mqtt.ts';

const coords = syntheticCoords();
const dim: Dimension = { file: null, coords, checkpoints: coords.size, withCoordinates: coords.size };
const topic = uniqueMqttTopic();
const group = 'detect-mqtt';
afterAll(() => forgetSession(mqttClientId(group, topic)));

describe('detector over MQTT', () => {
  it('raises exactly the alerts an offline pass over the same records raises', async () => {
    const rows: string[][] = [];
    for (const r of syntheticStream({ seed: 7, rate: 2, plates: 5000, maskedShare: 0.2, jitterS: 20, injectClones: 0.02 })) {
      rows.push(r);
      if (rows.length >= 3000) break;
    }
    const offline = new CloneDetector({ ...DEFAULT_PARAMS, distance: distanceLookup(coords), plates: ETL_PLATES });
    const expected: Alert[] = [];
    for (const r of rows) offline.push(r, 0, expected);
    expect(expected.length).toBeGreaterThan(20);

    const alerts = new MemoryAlertSink({ capacity: 10_000 });
    let source: Source | undefined;
    const done = runDetect({
      quiet: true,
      rule: 'default',
      windowS: 300,
      speedKmh: 150,
      latenessS: 60,
      dim,
      from: mqttUri(topic),
      to: alerts,
      groupId: group,
      onSource: (s) => (source = s),
    });
    await waitUntil(() => source !== undefined, 10_000, 'the source');
    await (source as MqttSource).ready;
    const sink = await openSink(mqttUri(topic));
    await sink.send(rows);
    await sink.close();
    await waitUntil(() => (source?.stats.delivered ?? 0) >= rows.length, 30_000, 'every record delivered');
    await source!.stop();
    const s = await done;
    expect(s.records).toBe(rows.length);
    expect(
      alerts
        .recent(10_000)
        .map((a) => a.id)
        .sort(),
    ).toEqual(expected.map((a) => a.id).sort());
  }, 60_000);
});
