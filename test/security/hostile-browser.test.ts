/**
 * Stored markup never runs: the dashboard and the query page are loaded in headless Chromium over
 * a store whose checkpoint names, plates, brands, vehicle types (and even one checkpoint code,
 * written straight into the store past every check) are script payloads, with alerts and level
 * changes carrying them too. Every tooltip that builds HTML is opened. Proven: no payload ran, no
 * element came from a payload, the Content-Security-Policy had nothing to block (escaping did the
 * work, not only the policy), and the payloads are shown as the literal text they are.
 */
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAlertFeed } from '../../api/alerts.ts';
import { createApiApp, type ApiApp } from '../../api/app.ts';
import { InProcessCongestionFeed } from '../../api/congestion.ts';
import { CongestionState } from '../../streaming/congestion/state.ts';
import { EmbeddedStore } from '../../store/duckdb-store.ts';
import { hasChromium, launchBrowser } from '../helpers/browser.ts';
import { makeApiFixture } from '../api/fixture.ts';

const needBrowser = hasChromium || process.env.CI === 'true';

/** Payloads that would record their tag in window.__xss if they ever ran. */
const xss = (tag: string): string[] => [
  `<img src=x onerror="window.__xss.push('${tag}-img')">`,
  `"><script>window.__xss.push('${tag}-script')</script>`,
  `<svg/onload=window.__xss.push('${tag}-svg')>`,
];
const NAME = xss('name')[0]!;
const CODE = xss('code')[2]!; // a checkpoint code that bypassed every check
const PLATE = xss('plate')[1]!;
const BRAND = xss('brand')[0]!;
const VTYPE = xss('vtype')[2]!;

describe.skipIf(!needBrowser)('hostile strings in the data never run in the pages', () => {
  let app: ApiApp;
  let base: string;
  let store: EmbeddedStore;
  let browser: Browser;
  const alerts = new MemoryAlertFeed();
  const congestion = new CongestionState('hostile-browser');

  beforeAll(async () => {
    const fx = makeApiFixture();
    store = await EmbeddedStore.open(':memory:');
    await store.loadMasterCsv(fx.master);
    await store.loadDimensionCsv(fx.dimension);
    await store.run(`UPDATE kkmc_info SET kkmc_name = ? WHERE kkmc = 'A_Feng_K1'`, [NAME]);
    // Rows written past the load checks, as a bug elsewhere might: the pages must still be safe.
    const row = (i: number, kkmc: string): string[] => [
      `X${i}`,
      xss('xzqh')[i % 3]!,
      kkmc,
      '1',
      `2023-12-11 12:0${i}:00`,
      '02',
      PLATE,
      BRAND,
      '江苏',
      '0',
      '0',
      VTYPE,
    ];
    await store.insert([row(1, CODE), row(2, CODE), row(3, 'A_Feng_K1')]);
    congestion.setLevels([
      { kkmc: 'A_Feng_K1', level: '红色警戒', passes: 21, warning: 10, alert: 15, window_start: '2023-12-11 23:10:00' },
      { kkmc: CODE, level: '舒适', passes: 1, warning: 10, alert: 15, window_start: '2023-12-11 23:10:00' },
    ]);
    congestion.add([{ id: 'c1', kkmc: CODE, level: '黄色拥堵', passes: 9, threshold: 7, window_start: '2023-12-11 23:00:00', previous_level: '舒适' }]);
    alerts.push({
      id: 'a1',
      hphm: PLATE,
      masked: false,
      prev: { gcxh: '1', kkmc: CODE, gcsj: '2023-12-11 10:00:00' },
      curr: { gcxh: '2', kkmc: 'A_Feng_K1', gcsj: '2023-12-11 10:03:00' },
      interval_s: 180,
      distance_km: null,
      speed_kmh: null,
      rule: 'window',
      detected_at: '2023-12-11T10:03:00+08:00',
    });
    app = createApiApp({
      store,
      alerts,
      congestion: new InProcessCongestionFeed(congestion),
      predictor: null,
      cors: { origins: [] },
      flowIntervalMs: 500,
    });
    await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.shutdown();
    await store?.close();
  });

  async function open(path: string): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('dialog', (d) => {
      errors.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    await page.addInitScript(() => {
      const w = window as unknown as { __xss: string[]; __csp: string[] };
      w.__xss = [];
      w.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) => w.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`));
    });
    await page.goto(base + path);
    return { page, errors };
  }

  async function verdict(page: Page): Promise<{ ran: string[]; csp: string[]; injected: number }> {
    return page.evaluate(() => {
      const w = window as unknown as { __xss: string[]; __csp: string[] };
      // Elements a payload would have created.
      const injected = document.querySelectorAll('img[src="x"], svg[onload], script:not([src])').length;
      return { ran: w.__xss, csp: w.__csp, injected };
    });
  }

  it('dashboard: lists, counters and every HTML tooltip show the payloads as text', async () => {
    const { page, errors } = await open('/');
    await page.waitForFunction(
      () => {
        const d = (window as any).__dashboard?.drawn ?? {};
        return d.top10 > 0 && d.vehicle_type > 0 && d.congestion === 2;
      },
      null,
      { timeout: 15_000 },
    );
    await page.waitForSelector('#live.live', { timeout: 5000 });
    // The alert list: plate and checkpoint code as text.
    expect(await page.textContent('#alerts li[data-id="a1"] .plate')).toBe(PLATE);
    // (a known checkpoint shows its name, shortened for the list)
    expect(await page.textContent('#alerts li[data-id="a1"] .meta')).toContain(NAME.slice(0, 10));
    expect(await page.textContent('#congestion-log li[data-id="c1"] .name')).toBe(CODE.slice(0, 9) + '…');
    // A live alert through SSE.
    alerts.push({ id: 'a2', hphm: xss('live')[1], masked: true, prev: { kkmc: NAME }, curr: { kkmc: CODE }, interval_s: 1 });
    await page.waitForSelector('#alerts li[data-id="a2"]', { timeout: 3000 });
    expect(await page.textContent('#alerts li[data-id="a2"] .plate')).toBe(xss('live')[1]);

    // Every chart with a formatter that returns HTML: open its tooltip on each data item.
    const shown = await page.evaluate(async () => {
      const charts = (window as any).__dashboard.charts as Record<string, any>;
      const texts: Record<string, string[]> = {};
      for (const [name, chart] of Object.entries(charts)) {
        texts[name] = [];
        const option = chart.getOption();
        const n = Math.max(0, ...option.series.map((s: any) => (Array.isArray(s.data) ? s.data.length : 0)));
        for (let i = 0; i < n; i++) {
          chart.dispatchAction({ type: 'showTip', seriesIndex: 0, dataIndex: i });
          await new Promise((r) => setTimeout(r, 30));
          const tip = [...chart.getDom().querySelectorAll('div')].find((d: HTMLElement) => d.style.position === 'absolute' && d.textContent);
          if (tip) texts[name].push(tip.textContent ?? '');
        }
        chart.dispatchAction({ type: 'hideTip' });
      }
      return texts;
    });
    expect(shown.top10!.join('\n')).toContain(CODE);
    expect(shown.top10!.join('\n')).toContain(NAME);
    expect(shown.vehicle_type!.join('\n')).toContain(VTYPE);
    expect(shown.congestion!.join('\n')).toContain(NAME);
    expect(shown.congestion!.join('\n')).toContain(CODE);

    const v = await verdict(page);
    expect(v.ran).toEqual([]);
    expect(v.injected).toBe(0);
    expect(v.csp).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('query page: result table, checkpoint select and the series title show the payloads as text', async () => {
    const { page, errors } = await open('/query');
    await page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 20);
    await page.fill('#f-start', '2023-12-11T12:00');
    await page.fill('#f-end', '2023-12-11T12:05');
    await page.click('#search');
    await page.waitForFunction(() => document.querySelector('[data-testid=page-info]')?.textContent?.startsWith('共 3 条'));
    const cells = await page.$$eval('#rows tr:first-child td', (tds) => tds.map((td) => td.textContent));
    expect(cells).toContain(PLATE);
    expect(cells).toContain(BRAND);
    expect(cells).toContain(VTYPE);
    const options = await page.$$eval('#f-kkmc option', (os) => os.map((o) => o.textContent));
    expect(options).toContain(NAME);
    await page.selectOption('#f-kkmc', 'A_Feng_K1');
    await page.fill('#f-start', '2023-12-09T00:00');
    await page.fill('#f-end', '2023-12-09T23:59');
    await page.click('#search');
    await page.waitForFunction(() => (window as any).__query?.series === 288, null, { timeout: 5000 });
    expect(await page.textContent('#series-title')).toContain(NAME);
    const v = await verdict(page);
    expect(v.ran).toEqual([]);
    expect(v.injected).toBe(0);
    expect(v.csp).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });
});
