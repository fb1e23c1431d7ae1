/**
 * ECharts options for the report, one builder per chart, and server-side SVG rendering
 * (echarts SSR: no DOM, no network; the SVG is inlined into the page).
 */
import { createRequire } from 'node:module';
import type * as Echarts from 'echarts';
import { packageFile } from '../core/paths.ts';
import type { DailySummary, HoldoutSeries } from './analyses.ts';

type Option = Record<string, unknown>;

/**
 * The same ECharts build the dashboard serves (api/public/vendor/echarts.min.js, a UMD bundle that
 * renders SVG on the server too): one copy of the library in the package instead of the 60 MB
 * npm package. The `echarts` dev dependency only gives the types (and the test that the copy is
 * current).
 */
const echarts = createRequire(import.meta.url)(packageFile('api', 'public', 'vendor', 'echarts.min.js')) as typeof Echarts;

const FONT = '"Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC", sans-serif';
export const COLORS = {
  complete: '#3b7dd8',
  partial: '#f0a030',
  syn: '#9aa4b1',
  empty: '#d9534f',
  weekend: '#c2185b',
  model: '#2e7d32',
  mean: '#8e6bbf',
  plain: '#b0b0b0',
};

export function renderSvg(option: Option, width: number, height: number): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption({ animation: false, textStyle: { fontFamily: FONT }, ...option });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

const title = (text: string, sub?: string): Option => ({ text, subtext: sub, left: 10, top: 4, textStyle: { fontSize: 15 }, subtextStyle: { fontSize: 12 } });

/** Daily passes: complete real days, other real (partial) days and SYN-filled days; empty days marked. */
export function dailyTotalsOption(d: DailySummary): Option {
  const marks = d.dates
    .map((date, i) => ({ date, status: d.status[i]! }))
    .filter((x) => x.status === 'empty')
    .map((x) => [{ xAxis: x.date, itemStyle: { color: 'rgba(217,83,79,0.15)' } }, { xAxis: x.date }]);
  return {
    title: title('Daily passes 每日过车量', 'complete days · partial days · SYN rows (missing days filled by stage 04) · red band = day with no data'),
    legend: { top: 8, right: 10 },
    tooltip: { trigger: 'axis' },
    grid: { left: 70, right: 20, top: 90, bottom: 60 },
    xAxis: { type: 'category', data: d.dates, axisLabel: { rotate: 60, fontSize: 10 } },
    yAxis: { type: 'value', name: 'passes' },
    series: [
      { name: 'complete 完整', type: 'bar', stack: 'd', data: d.completeReal, itemStyle: { color: COLORS.complete }, markArea: { silent: true, data: marks } },
      { name: 'partial 不完整', type: 'bar', stack: 'd', data: d.otherReal, itemStyle: { color: COLORS.partial } },
      {
        name: 'SYN filled 补全',
        type: 'bar',
        stack: 'd',
        data: d.syn,
        itemStyle: { color: COLORS.syn, decal: { symbol: 'rect', dashArrayX: [1, 0], dashArrayY: [3, 3], rotation: -0.7, color: 'rgba(255,255,255,0.6)' } },
      },
    ],
    aria: { enabled: true, decal: { show: false } },
  };
}

/** Checkpoint × day heatmap of real passes; SYN-filled cells drawn as hatched grey squares. */
export function checkpointDaysOption(d: DailySummary, checkpoints: string[], width: number, height: number): Option {
  const real: [number, number, number][] = [];
  const syn: [number, number, number][] = [];
  let max = 1;
  checkpoints.forEach((_, c) => {
    d.dates.forEach((_, i) => {
      const r = d.perCheckpointReal[c]![i]!;
      const s = d.perCheckpointSyn[c]![i]!;
      if (s > 0) syn.push([i, c, s]);
      else real.push([i, c, r]);
      if (r > max) max = r;
    });
  });
  const left = 170;
  const cellW = (width - left - 90) / Math.max(1, d.dates.length);
  const cellH = (height - 80 - 70) / Math.max(1, checkpoints.length);
  return {
    title: title('Passes per checkpoint and day 各卡口每日过车', 'grey hatched = SYN-filled day (stage 04); white = no passes'),
    tooltip: {},
    grid: { left, right: 90, top: 80, bottom: 70 },
    xAxis: { type: 'category', data: d.dates, axisLabel: { rotate: 60, fontSize: 9 }, splitArea: { show: false } },
    yAxis: { type: 'category', data: checkpoints, axisLabel: { fontSize: 10 } },
    visualMap: {
      seriesIndex: 0,
      min: 0,
      max,
      calculable: false,
      orient: 'vertical',
      right: 10,
      top: 'middle',
      itemHeight: 160,
      inRange: { color: ['#ffffff', '#cfe3fb', '#6aa5ea', '#1f5fb8', '#0b2e66'] },
      text: ['max', '0'],
    },
    series: [
      { name: 'real', type: 'heatmap', data: real, itemStyle: { borderColor: '#fff', borderWidth: 0.5 } },
      {
        name: 'SYN',
        type: 'scatter',
        symbol: 'rect',
        symbolSize: [Math.max(2, cellW - 1), Math.max(2, cellH - 1)],
        data: syn,
        itemStyle: { color: COLORS.syn, decal: { dashArrayX: [1, 0], dashArrayY: [2, 2], rotation: -0.7, color: 'rgba(255,255,255,0.7)' } },
        z: 3,
      },
    ],
  };
}

export function hourlyProfileOption(
  p: { weekday: number[]; weekend: number[]; days: [number, number] },
  predicted?: { weekday: number[]; weekend: number[] },
): Option {
  const hours = Array.from({ length: 24 }, (_, h) => String(h).padStart(2, '0'));
  const r = (xs: number[]): number[] => xs.map((x) => Math.round(x * 10) / 10);
  const series: Option[] = [
    { name: `weekday 工作日 (${p.days[0]} days)`, type: 'line', data: r(p.weekday), itemStyle: { color: COLORS.complete }, symbolSize: 5 },
    { name: `weekend 周末 (${p.days[1]} days)`, type: 'line', data: r(p.weekend), itemStyle: { color: COLORS.weekend }, symbolSize: 5 },
  ];
  if (predicted) {
    series.push(
      {
        name: 'model weekday 模型',
        type: 'line',
        data: r(predicted.weekday),
        lineStyle: { type: 'dashed', width: 2 },
        itemStyle: { color: '#0b2e66' },
        symbol: 'none',
      },
      {
        name: 'model weekend 模型',
        type: 'line',
        data: r(predicted.weekend),
        lineStyle: { type: 'dashed', width: 2 },
        itemStyle: { color: '#7a0c3a' },
        symbol: 'none',
      },
    );
  }
  return {
    title: title('Hourly profile 小时流量曲线', 'mean passes per hour over all checkpoints, complete days only; dashed = model prediction'),
    legend: { top: 50, left: 'center' },
    tooltip: { trigger: 'axis' },
    grid: { left: 60, right: 20, top: 90, bottom: 40 },
    xAxis: { type: 'category', data: hours, name: 'hour' },
    yAxis: { type: 'value', name: 'passes/h' },
    series,
  };
}

export function barRankOption(t: string, sub: string, items: { name: string; value: number }[], color: string): Option {
  const rev = [...items].reverse();
  return {
    title: title(t, sub),
    tooltip: {},
    grid: { left: 110, right: 70, top: 60, bottom: 20 },
    xAxis: { type: 'value' },
    yAxis: { type: 'category', data: rev.map((x) => x.name), axisLabel: { fontSize: 11 } },
    series: [{ type: 'bar', data: rev.map((x) => x.value), itemStyle: { color }, label: { show: true, position: 'right', fontSize: 10 } }],
  };
}

export function holdoutLineOption(s: HoldoutSeries): Option {
  return {
    title: title('Hold-out: actual vs predicted 留出集 实际 vs 预测', 'all checkpoints summed, hour by hour; fitted on the training days only'),
    legend: { top: 50, left: 'center' },
    tooltip: { trigger: 'axis' },
    grid: { left: 60, right: 20, top: 90, bottom: 60 },
    xAxis: { type: 'category', data: s.labels, axisLabel: { interval: 23, rotate: 0, fontSize: 10 } },
    yAxis: { type: 'value', name: 'passes/h' },
    series: [
      { name: 'actual 实际', type: 'line', data: s.actual, symbol: 'none', lineStyle: { width: 2 }, itemStyle: { color: '#222' } },
      { name: 'model 模型', type: 'line', data: s.model, symbol: 'none', itemStyle: { color: COLORS.model } },
      { name: 'cell_mean 基线', type: 'line', data: s.cellMean, symbol: 'none', lineStyle: { type: 'dashed' }, itemStyle: { color: COLORS.mean } },
      { name: 'plain_linear 基线', type: 'line', data: s.plainLinear, symbol: 'none', lineStyle: { type: 'dotted' }, itemStyle: { color: COLORS.plain } },
    ],
  };
}

export function holdoutScatterOption(s: HoldoutSeries): Option {
  const raw = Math.max(1, ...s.scatter.map(([a, p]) => Math.max(a, p)));
  const step = 10 ** Math.floor(Math.log10(raw));
  const max = Math.ceil(raw / step) * step;
  return {
    title: title('Per checkpoint-hour 每卡口每小时', 'x = actual, y = model prediction; dashed line y = x'),
    grid: { left: 60, right: 40, top: 80, bottom: 50 },
    xAxis: { type: 'value', name: 'actual 实际', nameLocation: 'middle', nameGap: 28, min: 0, max },
    yAxis: { type: 'value', name: 'predicted 预测', nameLocation: 'middle', nameGap: 42, min: 0, max },
    series: [
      { type: 'scatter', data: s.scatter, symbolSize: 3, itemStyle: { color: COLORS.model, opacity: 0.35 } },
      {
        type: 'line',
        data: [
          [0, 0],
          [max, max],
        ],
        symbol: 'none',
        lineStyle: { color: '#888', type: 'dashed' },
      },
    ],
  };
}

/** Forecast vs actual for one checkpoint over the hold-out hours (rolling origin), 1 h and 3 h ahead. */
export function forecastLineOption(f: { kkmc: string; labels: string[]; actual: number[]; ahead1: number[]; ahead3: number[]; persistence: number[] }): Option {
  return {
    title: title(
      `Forecast vs actual: ${f.kkmc} 短时预测 vs 实际`,
      'busiest checkpoint over the hold-out; each hour forecast from the passes before its origin (model fitted on the training days)',
    ),
    legend: { top: 50, left: 'center' },
    tooltip: { trigger: 'axis' },
    grid: { left: 60, right: 20, top: 90, bottom: 60 },
    xAxis: { type: 'category', data: f.labels, axisLabel: { interval: 23, fontSize: 10 } },
    yAxis: { type: 'value', name: 'passes/h' },
    series: [
      { name: 'actual 实际', type: 'line', data: f.actual, symbol: 'none', lineStyle: { width: 2 }, itemStyle: { color: '#222' } },
      { name: 'forecast 1 h 预测', type: 'line', data: f.ahead1, symbol: 'none', itemStyle: { color: COLORS.model } },
      { name: 'forecast 3 h 预测', type: 'line', data: f.ahead3, symbol: 'none', lineStyle: { type: 'dashed' }, itemStyle: { color: COLORS.weekend } },
      { name: 'persistence 1 h 基线', type: 'line', data: f.persistence, symbol: 'none', lineStyle: { type: 'dotted' }, itemStyle: { color: COLORS.plain } },
    ],
  };
}
