/**
 * The big screen and the query page at the two screens they are used on (1920×1080 and 1366×768),
 * with the real checkpoints' long names: every panel drawn, no text overlapping other text or
 * cut off by its panel (HTML text measured in the page; chart text measured in the charts' own
 * layout, zrender's display list), the 热门路线 panel's arrows and ranking, and a plate's
 * trajectory on the query page. Screenshots go to test-artifacts/.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAlertFeed } from '../../api/alerts.ts';
import { createApiApp, type ApiApp } from '../../api/app.ts';
import { InProcessCongestionFeed } from '../../api/congestion.ts';
import { csvText } from '../../core/io.ts';
import { mulberry32 } from '../../core/random.ts';
import { DIMENSION_COLUMNS, MASTER_COLUMNS } from '../../core/schema.ts';
import { formatChinaTime, toEpochSeconds } from '../../core/time.ts';
import { CongestionState } from '../../streaming/congestion/state.ts';
import { EmbeddedStore } from '../../store/duckdb-store.ts';
import { ARTIFACTS, hasChromium, launchBrowser } from '../helpers/browser.ts';

const needBrowser = hasChromium || process.env.CI === 'true';

/** The real checkpoints (names and coordinates shipped in data/ref/kkmc_geo.csv), codes KK01…. */
function realCheckpoints(): Array<{ code: string; name: string; lon: string; lat: string }> {
  const lines = readFileSync(path.resolve('data/ref/kkmc_geo.csv'), 'utf8').trim().split('\n').slice(1);
  return lines.map((l, i) => {
    const [name, lon, lat] = l.split(',');
    return { code: `KK${String(i + 1).padStart(2, '0')}`, name: name!, lon: lon!, lat: lat! };
  });
}

/**
 * One day (2023-12-11) of 400 vehicles driving 2–7 checkpoints each, 5–90 minutes apart, with
 * full plates, plus a masked plate seen at three checkpoints and part of one alert.
 */
function layoutMaster(cps: ReturnType<typeof realCheckpoints>): { master: string; dimension: string; maskedIds: string[] } {
  const rnd = mulberry32(11);
  const int = (n: number): number => Math.floor(rnd() * n);
  const rows: string[][] = [];
  const base = toEpochSeconds('2023-12-11 00:00:00');
  // Popular corridors make some routes much busier than others.
  const corridors = [
    [0, 3, 7],
    [5, 9, 12],
    [14, 2, 18],
    [1, 6],
  ];
  let id = 1;
  const push = (t: number, cp: number, hphm: string, clppxh: string): void => {
    rows.push([String(id++), '徐州市', cps[cp]!.code, '1', formatChinaTime(t * 1000), '02', hphm, clppxh, '江苏', '0', '0', '小型汽车']);
  };
  for (let v = 0; v < 400; v++) {
    const plate = `苏C${String(10000 + v)}`;
    const corridor = rnd() < 0.6 ? corridors[int(corridors.length)]! : Array.from({ length: 2 + int(6) }, () => int(cps.length));
    // Everything on the one day (the routes' default day is the latest day in the store).
    let t = base + int(14 * 3600);
    for (const cp of corridor) {
      push(t, cp, plate, '大众牌');
      t += 300 + int(85 * 60);
    }
  }
  const maskedIds: string[] = [];
  for (const [t, cp] of [
    ['2023-12-11 22:00:00', 0],
    ['2023-12-11 22:03:00', 10],
    ['2023-12-11 22:40:00', 4],
  ] as const) {
    maskedIds.push(String(id));
    push(toEpochSeconds(t), cp, '苏CD7***', '比亚迪牌');
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'traffic-layout-'));
  const master = path.join(dir, 'master_data_expanded.csv');
  writeFileSync(master, csvText(MASTER_COLUMNS, rows));
  const dimension = path.join(dir, 'kkmc_dimension.csv');
  writeFileSync(
    dimension,
    csvText(
      DIMENSION_COLUMNS,
      cps.map((c) => [c.code, c.name, '', '', '', '', '省际', '徐州市', c.lon, c.lat, '0']),
    ),
  );
  return { master, dimension, maskedIds };
}

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

interface TextBox extends Box {
  text: string;
  where: string;
  clipped: boolean;
}

const overlaps = (a: Box, b: Box, tol = 1): boolean => a.x + tol < b.x + b.w && b.x + tol < a.x + a.w && a.y + tol < b.y + b.h && b.y + tol < a.y + a.h;

/** HTML text: every element whose own text is not empty, inside a panel, with its panel's box. */
async function htmlTexts(page: Page, scope: string): Promise<{ texts: TextBox[]; outside: string[] }> {
  return page.evaluate((sel) => {
    const texts: TextBox[] = [];
    const outside: string[] = [];
    for (const panel of Array.from(document.querySelectorAll(sel)) as HTMLElement[]) {
      if (panel.closest('[hidden]')) continue;
      const pr = panel.getBoundingClientRect();
      const title = panel.querySelector('h2')?.childNodes[0]?.textContent ?? '?';
      for (const el of Array.from(panel.querySelectorAll('*')) as HTMLElement[]) {
        const nodes = Array.from(el.childNodes).filter((n) => n.nodeType === 3 && (n.textContent ?? '').trim() !== '');
        const own = nodes
          .map((n) => n.textContent)
          .join('')
          .trim();
        if (!own || el.closest('[hidden]')) continue;
        // The box of the element's own text (Ranges over its text nodes), not of the element: a
        // wide element may be mostly empty, and its children's text is measured on its own.
        const rects = nodes
          .flatMap((n) => {
            const range = document.createRange();
            range.selectNodeContents(n);
            return Array.from(range.getClientRects());
          })
          .filter((r) => r.width > 0 && r.height > 0);
        if (!rects.length) continue;
        const r = {
          x: Math.min(...rects.map((q) => q.left)),
          y: Math.min(...rects.map((q) => q.top)),
          w: Math.max(...rects.map((q) => q.right)) - Math.min(...rects.map((q) => q.left)),
          h: Math.max(...rects.map((q) => q.bottom)) - Math.min(...rects.map((q) => q.top)),
        };
        // A scrolling list hides what does not fit: text wholly outside its clipping box is not
        // shown (skipped); text partly outside is cut (a defect).
        let clip: DOMRect | null = null;
        for (let a = el.parentElement; a && a !== panel; a = a.parentElement) {
          if (getComputedStyle(a).overflowY !== 'visible') {
            clip = a.getBoundingClientRect();
            break;
          }
        }
        if (clip && (r.y >= clip.bottom || r.y + r.h <= clip.top || r.x >= clip.right || r.x + r.w <= clip.left)) continue;
        const cut = !!clip && (r.y < clip.top - 1 || r.y + r.h > clip.bottom + 1 || r.x < clip.left - 1 || r.x + r.w > clip.right + 1);
        const clipped = cut || (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible');
        texts.push({ ...r, text: own, where: title, clipped });
        if (r.x < pr.left - 1 || r.y < pr.top - 1 || r.x + r.w > pr.right + 1 || r.y + r.h > pr.bottom + 1) {
          outside.push(`${title}: "${own}"`);
        }
      }
    }
    return { texts, outside };
  }, scope);
}

/**
 * Chart text as the chart laid it out: every visible text element of each chart's zrender
 * display list, its box in page pixels (canvas transform × the screen's scale), the font size.
 */
async function chartTexts(page: Page, registry: string, names: string[]): Promise<Record<string, Array<TextBox & { font: number }>>> {
  return page.evaluate(
    ({ registry, names }) => {
      const charts = (window as any)[registry].charts;
      const out: Record<string, Array<TextBox & { font: number }>> = {};
      for (const name of names) {
        const chart = charts[name];
        const dom: HTMLElement = chart.getDom();
        const r = dom.getBoundingClientRect();
        // The canvas is laid out at its unscaled size; the screen's CSS scale maps it to the page.
        const scale = r.width / dom.offsetWidth || 1;
        const list = [];
        for (const el of chart.getZr().storage.getDisplayList(true)) {
          const text = el.style?.text;
          if (el.type !== 'tspan' || text == null || String(text).trim() === '' || el.invisible || el.ignore) continue;
          if (el.style.opacity === 0) continue;
          const b = el.getBoundingRect().clone();
          const m = el.getComputedTransform();
          if (m) b.applyTransform(m);
          const font = /(\d+(?:\.\d+)?)px/.exec(el.style.font ?? '')?.[1];
          list.push({
            x: r.left + b.x * scale,
            y: r.top + b.y * scale,
            w: b.width * scale,
            h: b.height * scale,
            text: String(text),
            where: name,
            clipped: b.x < -1 || b.y < -1 || b.x + b.width > dom.offsetWidth + 1 || b.y + b.height > dom.offsetHeight + 1,
            font: Number(font ?? 12) * scale,
          });
        }
        out[name] = list;
      }
      return out;
    },
    { registry, names },
  );
}

function overlapping(texts: TextBox[]): string[] {
  const bad: string[] = [];
  for (let i = 0; i < texts.length; i++) {
    for (let j = i + 1; j < texts.length; j++) {
      if (overlaps(texts[i]!, texts[j]!)) bad.push(`${texts[i]!.where}: "${texts[i]!.text}" × ${texts[j]!.where}: "${texts[j]!.text}"`);
    }
  }
  return bad;
}

const CHARTS = ['top10', 'vehicle_type', 'map', 'routes', 'flow_24h', 'minute_flow', 'congestion'];

describe.skipIf(!needBrowser)('the big screen at 1920×1080 and 1366×768 with the real checkpoint names', () => {
  let app: ApiApp;
  let base: string;
  let store: EmbeddedStore;
  let browser: Browser;
  const cps = realCheckpoints();
  const alerts = new MemoryAlertFeed();
  const congestion = new CongestionState('layout-test');

  beforeAll(async () => {
    const fx = layoutMaster(cps);
    store = await EmbeddedStore.open(':memory:');
    await store.loadMasterCsv(fx.master);
    await store.loadDimensionCsv(fx.dimension);
    const levels = ['红色警戒', '黄色拥堵', '舒适'] as const;
    congestion.setLevels(
      cps.map((c, i) => ({ kkmc: c.code, level: levels[i % 3]!, passes: 100 + i * 7, warning: 80, alert: 120, window_start: '2023-12-11 23:10:00' })),
    );
    for (let i = 0; i < 12; i++) {
      alerts.push({
        id: `layout-${i}`,
        hphm: i === 0 ? '苏CD7***' : `苏C${10000 + i}`,
        masked: i === 0,
        prev: { gcxh: i === 0 ? fx.maskedIds[0]! : `a${i}`, kkmc: cps[0]!.code, gcsj: '2023-12-11 22:00:00' },
        curr: { gcxh: i === 0 ? fx.maskedIds[1]! : `b${i}`, kkmc: cps[10]!.code, gcsj: '2023-12-11 22:03:00' },
        interval_s: 180,
        distance_km: 95.3,
        speed_kmh: 1906,
        rule: 'default',
        detected_at: '2023-12-11T22:03:01+08:00',
      });
    }
    app = createApiApp({
      store,
      alerts,
      congestion: new InProcessCongestionFeed(congestion),
      predictor: { checkpoints: cps.map((c) => c.code), predict: (_k, h) => 5 + h },
      cors: { origins: '*' },
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

  it.each([
    [1920, 1080],
    [1366, 768],
  ])('at %i×%i every panel is drawn and no text overlaps other text or leaves its panel', async (width, height) => {
    const page = await browser.newPage({ viewport: { width, height } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(base + '/');
    await page.waitForFunction(
      () => {
        const d = (window as any).__dashboard?.drawn ?? {};
        return d.top10 > 0 && d.vehicle_type > 0 && d.map > 0 && d.flow_24h > 0 && d.congestion > 0 && d.routes > 0;
      },
      null,
      { timeout: 20_000 },
    );
    await page.waitForTimeout(600); // let the charts finish their first animation frame
    await page.screenshot({ path: path.join(ARTIFACTS, `dashboard-layout-${width}x${height}.png`) });

    // 热门路线: ten routes, the busiest corridor first, drawn as arrows between checkpoints.
    const routes = (await (await fetch(base + '/api/stats/routes?limit=10')).json()).data as Array<{ from: string; to: string; value: number }>;
    expect(routes).toHaveLength(10);
    expect(await page.$$eval('#routes li:not(.empty)', (li) => li.filter((x) => x.getBoundingClientRect().height > 0).length)).toBe(10);
    const drawnLines = await page.evaluate(() => (window as any).__dashboard.charts.routes.getOption().series[1].data.length);
    expect(drawnLines).toBe(10);
    const first = await page.textContent('#routes li:first-child .route');
    expect(first).toMatch(/^\S+ → \S+/);
    expect(await page.getAttribute('#routes li:first-child', 'title')).toContain(cps.find((c) => c.code === routes[0]!.from)!.name);

    // Every chart's canvas stays inside its box (a canvas left at an old size covers what follows).
    const spilled = await page.$$eval('[data-chart]', (els) =>
      els.flatMap((el) => {
        const r = el.getBoundingClientRect();
        return Array.from(el.querySelectorAll('canvas'))
          .map((c) => c.getBoundingClientRect())
          .filter((c) => c.right > r.right + 1 || c.bottom > r.bottom + 1 || c.left < r.left - 1 || c.top < r.top - 1)
          .map(() => (el as HTMLElement).dataset.chart);
      }),
    );
    expect(spilled).toEqual([]);
    const html = await htmlTexts(page, '.panel');
    expect(html.outside).toEqual([]);
    expect(html.texts.filter((t) => t.clipped).map((t) => `${t.where}: "${t.text}"`)).toEqual([]);
    expect(overlapping(html.texts)).toEqual([]);

    const charts = await chartTexts(page, '__dashboard', CHARTS);
    for (const name of ['top10', 'congestion', 'routes', 'flow_24h', 'vehicle_type']) {
      const list = charts[name]!;
      expect(list.filter((t) => t.clipped).map((t) => `${name}: "${t.text}"`)).toEqual([]);
      expect(overlapping(list)).toEqual([]);
    }
    // Top 10: ten distinct short names, each readable (≥ 12 px on this screen).
    const axis = charts.top10!.filter((t) => !/^[\d,]+$/.test(t.text));
    expect(new Set(axis.map((t) => t.text)).size).toBe(10);
    expect(Math.min(...axis.map((t) => t.font))).toBeGreaterThanOrEqual(12);
    // Congestion tiles: a name and a count per checkpoint, all ≥ 12 px on this screen.
    const tiles = charts.congestion!;
    expect(tiles.length).toBe(2 * cps.length);
    expect(Math.min(...tiles.map((t) => t.font))).toBeGreaterThanOrEqual(12);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('text from data is escaped where tooltips build HTML (routes, trajectory, Top 10)', async () => {
    const page = await browser.newPage();
    await page.goto(base + '/query');
    const evil = '<img src=x onerror="window.__xss=1">&\'';
    // A string, not a function: the test runner would rewrite import() inside a function body.
    const out: { escaped: string; route: string; trajectory: string; top10: string } = await page.evaluate(`(async (name) => {
      const { escapeHtml } = await import('/static/html.js');
      const { routesMapOption } = await import('/static/charts/routes.js');
      const { trajectoryOption } = await import('/static/charts/trajectory.js');
      const { top10Option } = await import('/static/charts/top10.js');
      const cps = [{ kkmc: 'A', kkmc_name: name, lon: 117, lat: 34 }, { kkmc: 'B', kkmc_name: 'B', lon: 117.5, lat: 34.2 }];
      const route = { from: 'A', to: 'B', value: 3, median_minutes: 30, from_label: name, to_label: 'B' };
      const r = routesMapOption([route], cps);
      const pass = { gcxh: '1', kkmc: 'A', label: name, gcsj: '2023-12-11 08:00:00', lon: 117, lat: 34, speed_kmh: null, alert_ids: [] };
      const t = trajectoryOption({ passes: [pass] }, cps);
      const stop = t.series[2].data[0];
      return {
        escaped: escapeHtml(name),
        route: r.tooltip.formatter({ seriesType: 'lines', data: r.series[1].data[0] }),
        trajectory: t.tooltip.formatter({ seriesType: 'scatter', data: stop, name: stop.name }),
        top10: top10Option([{ name: 'A', label: name, value: 5 }]).tooltip.formatter([{ dataIndex: 0, value: 5 }]),
      };
    })(${JSON.stringify(evil)})`);
    expect(out.escaped).toBe('&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;&amp;&#39;');
    for (const html of [out.route, out.trajectory, out.top10]) {
      expect(html).toContain(out.escaped);
      expect(html).not.toContain('<img');
    }
    await page.close();
  });

  it('the query page: clicking a plate shows its passes of that day on the map, in order, with speeds and its alert marked', async () => {
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(base + '/query');
    await page.fill('#f-hphm', '苏CD7');
    await page.click('#search');
    await page.waitForFunction(() => document.querySelector('[data-testid=page-info]')?.textContent?.startsWith('共 3 条'));
    await page.click('#rows tr:first-child button.plate-link');
    await page.waitForFunction(() => (window as any).__query?.trajectory?.passes === 3, null, { timeout: 5000 });
    expect(await page.textContent('#trajectory-title')).toBe('车辆轨迹 · 苏CD7*** · 比亚迪牌 · 2023-12-11：3 次过车，1 条套牌告警');
    const rows = await page.$$eval('#trajectory-rows tr', (trs) => trs.map((tr) => Array.from(tr.children).map((td) => td.textContent)));
    expect(rows.map((r) => r[1])).toEqual(['2023-12-11 22:00:00', '2023-12-11 22:03:00', '2023-12-11 22:40:00']);
    expect(rows.map((r) => r[3])).toEqual(['—', '3 分 0 秒', '37 分 0 秒']);
    expect(rows[1]![5]).toMatch(/^\d+(\.\d)? km\/h$/);
    // The alert pairs the first two passes: both rows marked.
    expect(await page.$$eval('#trajectory-rows tr.alert', (trs) => trs.map((tr) => tr.children[0]!.textContent))).toEqual(['1', '2']);
    const option = await page.evaluate(() => {
      const inst = (window as any).echarts.getInstanceByDom(document.getElementById('chart-trajectory'));
      const o = inst.getOption();
      return { polyline: o.series[1].data[0].coords.length, stops: o.series[2].data.length };
    });
    expect(option).toEqual({ polyline: 3, stops: 3 });
    // The pass table fits beside the map: every cell whole, nothing overlapping.
    const table = await htmlTexts(page, '#trajectory-panel');
    expect(table.outside).toEqual([]);
    expect(table.texts.filter((t) => t.clipped).map((t) => `"${t.text}"`)).toEqual([]);
    expect(overlapping(table.texts)).toEqual([]);
    expect(rows.map((r) => r[2])).toEqual(['G3 K731', '睢宁S324 K201', '新沂G235 K10']);
    await (await page.$('[data-testid=trajectory-panel]'))!.screenshot({ path: path.join(ARTIFACTS, 'query-trajectory.png') });
    expect(errors).toEqual([]);
    await page.close();
  });
});
