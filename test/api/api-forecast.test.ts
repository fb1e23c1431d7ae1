import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAlertFeed } from '../../api/alerts.ts';
import { createApiApp, type ApiApp } from '../../api/app.ts';
import { chinaHourNumber } from '../../core/time.ts';
import { historyFromGrid } from '../../models/forecast.ts';
import { HourlyGridBuilder } from '../../models/grid.ts';
import { EmbeddedStore } from '../../store/duckdb-store.ts';
import { fixtureModel, makeApiFixture } from './fixture.ts';

// The fixture's passes end at 2023-12-11 23:19 (the stream clock); the wall clock is years later.
const fx = makeApiFixture();
const model = fixtureModel();
let store: EmbeddedStore;
let app: ApiApp;
let base: string;

async function get(path: string): Promise<{ status: number; body: any }> {
  const r = await fetch(base + path);
  return { status: r.status, body: await r.json() };
}

function synRow(kkmc: string, gcsj: string, id: string): string[] {
  return [`SYN20231211${id}`, '丰县', kkmc, '1', gcsj, '02', '苏C1A***', '-', '江苏', '0', '0', '小型汽车'];
}

beforeAll(async () => {
  store = await EmbeddedStore.open(':memory:');
  await store.loadMasterCsv(fx.master);
  await store.loadDimensionCsv(fx.dimension);
  // SYN rows (stage 04's missing-day fill) are never history: 30 of them in one hour.
  await store.insert(Array.from({ length: 30 }, (_, i) => synRow('A_Feng_K1', '2023-12-11 08:30:00', String(i))));
  app = createApiApp({ store, alerts: new MemoryAlertFeed(), predictor: model, cors: { origins: '*' }, statsCacheMs: 0 });
  await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app.shutdown();
  await store.close();
});

describe('forecasts in the API', () => {
  it('history never includes SYN rows', async () => {
    const rows = await store.hourlyByCheckpoint('2023-12-11 08:00:00', '2023-12-11 09:00:00');
    const real = fx.rows.filter((r) => r[2] === 'A_Feng_K1' && r[4]!.startsWith('2023-12-11 08')).length;
    expect(rows.filter((r) => r.kkmc === 'A_Feng_K1').reduce((s, r) => s + r.value, 0)).toBe(real);
  });

  it("flow_24h carries the forecast of the stream clock's hour (here the last hour of its day), dashed apart from the profile", async () => {
    const r = await get('/api/stats/flow_24h');
    expect(r.status).toBe(200);
    const withForecast = r.body.data.filter((h: { forecast: number | null }) => h.forecast !== null);
    // Clock 2023-12-11 23:19: hours 23 (1 h ahead), 00 and 01 of the next day (not on this chart).
    expect(withForecast.map((h: { hour: number }) => h.hour)).toEqual([23]);
    const b = new HourlyGridBuilder();
    for (const row of fx.rows) b.add(row);
    const history = historyFromGrid(b.finish(), model.checkpoints);
    const t = chinaHourNumber('2023-12-11 23:00:00');
    let sum = 0;
    for (const code of model.checkpoints) sum += model.forecaster!.forecast(history.cut(t), code, t, 1).predicted;
    expect(withForecast[0].forecast).toBeCloseTo(sum, 1);
    // Another day than the stream clock's has no forecast.
    const other = await get('/api/stats/flow_24h?date=2023-12-09');
    expect(other.body.data.every((h: { forecast: number | null }) => h.forecast === null)).toBe(true);
  });

  it('the next three hours follow the stream clock as records arrive, not the wall clock', async () => {
    await store.insert([['F1', '丰县', 'B_Pei_K2', '1', '2023-12-12 00:10:00', '02', '苏C2A***', '-', '江苏', '0', '0', '小型汽车']]);
    const r = await get('/api/stats/flow_24h');
    expect(r.body.data.filter((h: { forecast: number | null }) => h.forecast !== null).map((h: { hour: number }) => h.hour)).toEqual([0, 1, 2]);
    const s = await get('/api/congestion/series?kkmc=B_Pei_K2');
    expect(s.body.data.date).toBe('2023-12-12');
    expect(s.body.data.forecast.map((f: { hour: number }) => f.hour)).toEqual([0, 1, 2]);
    expect(s.body.data.forecast.every((f: { predicted: number }) => f.predicted >= 0)).toBe(true);
  });

  it('answers at= from the store with the baseline beside it; the old hour/is_weekend form is unchanged', async () => {
    const f = await get('/api/predict/flow?kkmc=A_Feng_K1&at=2023-12-11%2010:00:00&horizon=1');
    expect(f.status).toBe(200);
    expect(Object.keys(f.body.data)).toEqual(['kkmc', 'at', 'horizon', 'predicted_flow', 'baseline', 'baseline_name']);
    expect(f.body.data.predicted_flow).toBeGreaterThanOrEqual(0);
    const old = await get('/api/predict/flow?kkmc=A_Feng_K1&hour=8&is_weekend=0');
    expect(old.body.data).toEqual({ kkmc: 'A_Feng_K1', hour: 8, is_weekend: 0, predicted_flow: Math.round(model.predict('A_Feng_K1', 8, 0) * 10) / 10 });
  });

  it('refuses an origin after the stream clock, and bad at/horizon values, saying why', async () => {
    const late = await get('/api/predict/flow?kkmc=A_Feng_K1&at=2023-12-12%2003:00:00&horizon=1');
    expect(late.status).toBe(400);
    expect(late.body.msg).toMatch(/origin 2023-12-12 03:00:00 .* is after the stream clock \(latest GCSJ 2023-12-12 00:10:00\)/);
    expect((await get('/api/predict/flow?kkmc=A_Feng_K1&at=2023-12-11')).body.msg).toMatch(/at must be the start of an hour/);
    expect((await get('/api/predict/flow?kkmc=A_Feng_K1&at=2023-12-11%2010:00:00&horizon=0')).body.msg).toMatch(/horizon must be between 1 and 3/);
    expect((await get('/api/predict/flow?kkmc=A_Feng_K1&at=2023-12-11%2010:00:00&hour=3')).status).toBe(400);
  });

  it('keeps the history of a settled origin: a late insert into old hours does not change a cached answer', async () => {
    const path = '/api/predict/flow?kkmc=C_Xinyi_K3&at=2023-12-11%2012:00:00';
    const first = await get(path);
    // Rows for 11:xx arriving now (a day late) — the answer for that origin was settled.
    await store.insert(
      Array.from({ length: 50 }, (_, i) => ['L' + i, '丰县', 'C_Xinyi_K3', '1', '2023-12-11 11:20:00', '02', '苏C3A***', '-', '江苏', '0', '0', '小型汽车']),
    );
    expect((await get(path)).body.data).toEqual(first.body.data);
  });
});
