import { readFile } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisAlertFeed } from '../../api/alerts.ts';
import { createApiApp, type ApiApp } from '../../api/app.ts';
import { InProcessCongestionFeed, ThresholdsFile } from '../../api/congestion.ts';
import { congestionId } from '../../streaming/congestion/levels.ts';
import { CongestionState } from '../../streaming/congestion/state.ts';
import { EmbeddedStore } from '../../store/duckdb-store.ts';
import { ARTIFACTS, hasChromium, launchBrowser } from '../helpers/browser.ts';
import { fixtureModel, makeApiFixture } from './fixture.ts';

const REDIS = process.env.TRAFFIC_REDIS ?? 'redis://127.0.0.1:6379';
const key = `test:warnings:${process.pid}:${Date.now()}`;
const needBrowser = hasChromium || process.env.CI === 'true';

describe.skipIf(!needBrowser)('dashboard and query page in headless Chromium', () => {
  let app: ApiApp;
  let base: string;
  let store: EmbeddedStore;
  let feed: RedisAlertFeed;
  let redis: Redis;
  let browser: Browser;
  // Known levels: one checkpoint per level.
  const congestion = new CongestionState('browser-test');
  congestion.setLevels([
    { kkmc: 'A_Feng_K1', level: '红色警戒', passes: 21, warning: 10, alert: 15, window_start: '2023-12-11 23:10:00' },
    { kkmc: 'B_Pei_K2', level: '黄色拥堵', passes: 9, warning: 7, alert: 11, window_start: '2023-12-11 23:10:00' },
    { kkmc: 'C_Xinyi_K3', level: '舒适', passes: 2, warning: 5, alert: 8, window_start: '2023-12-11 23:10:00' },
  ]);
  const levelChange = (
    kkmc: string,
    at: string,
    level: '舒适' | '黄色拥堵' | '红色警戒',
    previous_level: '舒适' | '黄色拥堵' | '红色警戒',
    passes: number,
    threshold: number,
  ) => ({
    id: congestionId(kkmc, at, level),
    kkmc,
    level,
    passes,
    threshold,
    window_start: at,
    previous_level,
  });
  congestion.add([levelChange('B_Pei_K2', '2023-12-11 23:00:00', '黄色拥堵', '舒适', 9, 7)]);

  beforeAll(async () => {
    const fx = makeApiFixture();
    store = await EmbeddedStore.open(':memory:');
    await store.loadMasterCsv(fx.master);
    await store.loadDimensionCsv(fx.dimension);
    redis = new Redis(REDIS);
    feed = new RedisAlertFeed(REDIS, key);
    const thresholdsCsv = path.join(fx.dir, 'kkmc_thresholds.csv');
    const th = ['KKMC,DAY_TYPE,HOUR,WARNING,ALERT'];
    for (const dt of ['weekday', 'weekend']) for (let h = 0; h < 24; h++) th.push(`C_Xinyi_K3,${dt},${h},1,2`);
    writeFileSync(thresholdsCsv, th.join('\n') + '\n');
    const thresholds = new ThresholdsFile(thresholdsCsv);
    app = createApiApp({
      store,
      alerts: feed,
      congestion: new InProcessCongestionFeed(congestion),
      thresholds: () => thresholds.get(),
      // A real model with a forecast part, so the 24-hour chart shows the short-term forecast.
      predictor: fixtureModel(),
      cors: { origins: '*' },
      flowIntervalMs: 500,
    });
    await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.shutdown();
    await feed?.close();
    await redis?.del(key);
    redis?.disconnect();
    await store?.close();
  });

  it('draws every chart with data, the congestion levels, and an alert and a level change pushed live within 2 s', async () => {
    const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(base + '/');
    await page.waitForFunction(
      () => {
        const d = (window as any).__dashboard?.drawn ?? {};
        return d.top10 > 0 && d.vehicle_type > 0 && d.map > 0 && d.flow_24h > 0 && d.minute_flow > 0 && d.congestion === 3;
      },
      null,
      { timeout: 15_000 },
    );
    await page.waitForSelector('#live.live', { timeout: 5000 }); // SSE connected
    expect(await page.textContent('#c-total')).toBe('40');
    expect(await page.textContent('[data-testid=stream-clock]')).toBe('2023-12-11 23:19:00');
    // Every chart canvas has pixels drawn.
    const canvases = await page.$$eval('[data-chart] canvas', (cs) => cs.length);
    expect(canvases).toBeGreaterThanOrEqual(6);
    // 24 小时流量: actual, profile and the short-term forecast of the stream clock's hour (23时,
    // the clock's hours after midnight belong to the next day's chart), in a style of its own.
    const flow = await page.evaluate(() => {
      const o = (window as any).echarts.getInstanceByDom(document.querySelector('[data-chart=flow_24h]')).getOption();
      return o.series.map((s: any) => ({
        name: s.name,
        line: s.lineStyle?.type ?? 'solid',
        points: s.data.filter((v: unknown) => v !== '-' && v != null).length,
      }));
    });
    expect(flow.map((s: { name: string }) => s.name)).toEqual(['实际流量', '模型预测', '短时预测']);
    expect(flow[2]).toEqual({ name: '短时预测', line: 'dotted', points: 1 });
    expect(flow[1].line).toBe('dashed');
    // 拥堵监测: one checkpoint per level in the title counts, the known change in the log.
    expect(await page.textContent('#congestion-counts')).toBe('红色警戒 1黄色拥堵 1舒适 1');
    expect(await page.$$eval('#congestion-log li[data-id]', (li) => li.length)).toBe(1);
    expect(await page.textContent('#congestion-log li[data-id] .to')).toBe('黄色拥堵');

    const alert = {
      id: 'test-alert-1',
      hphm: '苏C12345',
      masked: false,
      prev: { gcxh: '1', kkmc: 'A_Feng_K1', gcsj: '2023-12-11 10:00:00' },
      curr: { gcxh: '2', kkmc: 'B_Pei_K2', gcsj: '2023-12-11 10:03:00' },
      interval_s: 180,
      distance_km: 60.2,
      speed_kmh: 1204,
      rule: 'speed',
      detected_at: '2023-12-11T10:03:00+08:00',
    };
    const t0 = Date.now();
    await redis.lpush(key, JSON.stringify(alert));
    await redis.publish(key, JSON.stringify(alert));
    await page.waitForSelector('#alerts li[data-id="test-alert-1"]', { timeout: 2000 });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await page.textContent('#alerts li[data-id="test-alert-1"] .plate')).toBe('苏C12345');

    // A level change from the in-process engine arrives through SSE and the levels are re-read.
    const up = levelChange('C_Xinyi_K3', '2023-12-11 23:15:00', '黄色拥堵', '舒适', 6, 5);
    congestion.setLevels([
      ...congestion.current().filter((l) => l.kkmc !== 'C_Xinyi_K3'),
      { kkmc: 'C_Xinyi_K3', level: '黄色拥堵', passes: 6, warning: 5, alert: 8, window_start: '2023-12-11 23:15:00' },
    ]);
    const t1 = Date.now();
    congestion.add([up]);
    await page.waitForSelector(`#congestion-log li[data-id="${up.id}"]`, { timeout: 2000 });
    expect(Date.now() - t1).toBeLessThan(2000);
    await page.waitForFunction(() => document.querySelector('#congestion-counts')?.textContent === '红色警戒 1黄色拥堵 2舒适 0', null, {
      timeout: 2000,
    });
    await (await page.$('[data-testid=congestion-panel]'))!.screenshot({ path: path.join(ARTIFACTS, 'congestion-panel.png') });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-1920x1080.png') });
    await page.setViewportSize({ width: 1366, height: 768 });
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-1366x768.png') });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('pages through the query page and filters by checkpoint', async () => {
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    await page.goto(base + '/query');
    await page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 20);
    expect(await page.textContent('[data-testid=page-info]')).toBe('共 40 条，第 1 / 2 页');
    await page.click('#next');
    await page.waitForFunction(() => document.querySelector('[data-testid=page-info]')?.textContent?.includes('第 2 / 2 页'));
    expect(await page.$$eval('#rows tr', (r) => r.length)).toBe(20);
    expect(await page.isDisabled('#next')).toBe(true);
    // The province and plate-type choices come from the ETL's reference tables (/api/reference).
    await page.waitForFunction(() => document.querySelectorAll('#f-province option').length > 30);
    expect(await page.$$eval('#f-hpzl option', (o) => o.map((x) => x.textContent))).toContain('52 小型新能源汽车');
    await page.selectOption('#f-province', '山东');
    await page.click('#search');
    const shandong = makeApiFixture().rows.filter((r) => r[8] === '山东').length;
    await page.waitForFunction((n) => document.querySelector('[data-testid=page-info]')?.textContent?.startsWith(`共 ${n} 条`), shandong);
    await page.selectOption('#f-province', '');
    await page.selectOption('#f-kkmc', 'C_Xinyi_K3');
    await page.click('#search');
    await page.waitForFunction(() => document.querySelector('[data-testid=page-info]')?.textContent?.startsWith('共 5 条'));
    expect(await page.getAttribute('#export', 'href')).toBe('/api/export.csv?kkmc=C_Xinyi_K3');
    // 导出 Excel beside it downloads the same filter as a workbook.
    expect(await page.textContent('#export-xlsx')).toBe('导出 Excel');
    expect(await page.getAttribute('#export-xlsx', 'href')).toBe('/api/export.xlsx?kkmc=C_Xinyi_K3');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-xlsx')]);
    expect(download.suggestedFilename()).toBe('traffic_query.xlsx');
    const xlsx = await readFile((await download.path())!);
    expect(xlsx.subarray(0, 2).toString('latin1')).toBe('PK');
    // One checkpoint on one day: its 5-minute passes against the thresholds.
    expect(await page.isHidden('#series-panel')).toBe(true);
    await page.fill('#f-start', '2023-12-09T00:00');
    await page.fill('#f-end', '2023-12-09T23:59');
    await page.click('#search');
    await page.waitForFunction(() => (window as any).__query?.series === 288, null, { timeout: 5000 });
    expect(await page.textContent('#series-title')).toContain('2023-12-09（周末）');
    expect(await page.$$eval('#chart-series canvas', (c) => c.length)).toBe(1);
    await page.screenshot({ path: path.join(ARTIFACTS, 'query-page.png'), fullPage: true });
    await page.close();
  });
});
