import { escapeHtml as esc } from '../html.js';
import { axisStyle, C, shortNames } from './theme.js';

// Level colours: 舒适 green, 黄色拥堵 yellow, 红色警戒 red.
export const LEVEL_COLORS = { 舒适: '#3ddc84', 黄色拥堵: '#ffd23f', 红色警戒: '#ff4d5a' };
const NO_DATA = '#5b6f8f';
export const LEVEL_ORDER = ['红色警戒', '黄色拥堵', '舒适'];

function alpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

/**
 * 拥堵监测: one tile per checkpoint in its level colour, worst first, with the short Chinese name
 * and the last 5-minute window's passes against its WARNING threshold.
 * data: [{kkmc, label, level, passes, warning, alert, window_start}]; cols: tiles per row;
 * minRows: the grid is at least this many rows, so a few checkpoints keep the tile height of many.
 */
export function congestionOption(data, cols = 3, minRows = 7) {
  const rank = (l) => (LEVEL_ORDER.indexOf(l) + 4) % 4;
  const items = [...data].sort((a, b) => rank(a.level) - rank(b.level) || b.passes - a.passes || (a.kkmc < b.kkmc ? -1 : 1));
  const rows = Math.max(minRows, Math.ceil(items.length / cols));
  const names = shortNames(
    items.map((d) => d.label),
    10,
  );
  return {
    animation: false,
    grid: { left: 0, right: 0, top: 0, bottom: 0 },
    tooltip: {
      trigger: 'item',
      confine: true,
      formatter: (p) => {
        const d = items[p.dataIndex];
        const th = d.warning != null ? `黄色 > ${esc(d.warning)}，红色 > ${esc(d.alert ?? '—')}` : '无阈值';
        return `${esc(d.label)}<br/>${esc(d.kkmc)}<br/>${esc(d.level)}：${esc(d.passes)} 辆/5分钟（${th}）<br/>窗口 ${esc(d.window_start || '—')}`;
      },
    },
    xAxis: { type: 'category', data: Array.from({ length: cols }, (_, i) => i), show: false },
    yAxis: { type: 'category', data: Array.from({ length: rows }, (_, i) => i), inverse: true, show: false },
    series: [
      {
        type: 'custom',
        data: items.map((_d, i) => [i % cols, Math.floor(i / cols)]),
        renderItem: (params, api) => {
          const d = items[params.dataIndex];
          const [x, y] = api.coord([api.value(0), api.value(1)]);
          const [w, h] = api.size([1, 1]);
          const color = LEVEL_COLORS[d.level] ?? NO_DATA;
          const th = d.warning != null ? `/${d.warning}` : '';
          return {
            type: 'group',
            children: [
              {
                type: 'rect',
                shape: { x: x - w / 2 + 3, y: y - h / 2 + 3, width: w - 6, height: h - 6, r: 4 },
                style: { fill: alpha(color, 0.2), stroke: color, lineWidth: 1.5 },
              },
              { type: 'rect', shape: { x: x - w / 2 + 3, y: y - h / 2 + 3, width: 5, height: h - 6 }, style: { fill: color } },
              // Sizes chosen for 1366×768, where the 1920×1080 screen is drawn at 0.71: 17px → 12px.
              {
                type: 'text',
                x: x - w / 2 + 14,
                y: y - h / 4 + 1,
                style: { text: names[params.dataIndex], fill: C.text, font: '600 17px sans-serif', verticalAlign: 'middle', align: 'left' },
              },
              {
                type: 'text',
                x: x - w / 2 + 14,
                y: y + h / 4 - 1,
                style: { text: `${d.passes}${th} 辆`, fill: color, font: '600 17px sans-serif', verticalAlign: 'middle', align: 'left' },
              },
            ],
          };
        },
      },
    ],
  };
}

/**
 * 5 分钟流量与拥堵阈值 (query page): one checkpoint-day's 5-minute passes with the WARNING and
 * ALERT lines of each hour (steps). data: the /api/congestion/series payload.
 */
export function congestionSeriesOption(data) {
  const times = data.windows.map((w) => w.window_start.slice(11, 16));
  const byHour = new Map((data.thresholds || []).map((t) => [t.hour, t]));
  const line = (key) => data.windows.map((w) => byHour.get(Number(w.window_start.slice(11, 13)))?.[key] ?? '-');
  const hasTh = byHour.size > 0;
  // Short-term forecast (passes per hour) of the stream clock's hour and the two after it, shown
  // per 5 minutes (÷ 12) so it sits on the same axis as the windows.
  const ahead = new Map((data.forecast || []).map((f) => [f.hour, f.predicted / 12]));
  const hasForecast = ahead.size > 0;
  const forecastName = '短时预测（每5分钟）';
  return {
    animation: false,
    color: [C.accent, LEVEL_COLORS.黄色拥堵, LEVEL_COLORS.红色警戒],
    grid: { left: 8, right: 16, top: 36, bottom: 4, containLabel: true },
    legend: {
      top: 0,
      right: 8,
      textStyle: { color: C.text, fontSize: 13 },
      data: [...(hasTh ? ['5分钟流量', '黄色拥堵阈值', '红色警戒阈值'] : ['5分钟流量']), ...(hasForecast ? [forecastName] : [])],
    },
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'category', data: times, boundaryGap: false, ...axisStyle, axisLabel: { ...axisStyle.axisLabel, interval: 23 } },
    yAxis: { type: 'value', name: '辆/5分钟', minInterval: 1, nameTextStyle: { color: C.muted }, ...axisStyle },
    series: [
      {
        name: '5分钟流量',
        type: 'line',
        symbol: 'none',
        data: data.windows.map((w) => w.passes),
        lineStyle: { width: 1.5 },
        areaStyle: { color: 'rgba(53,208,255,0.15)' },
      },
      ...(hasTh
        ? [
            { name: '黄色拥堵阈值', type: 'line', step: 'end', symbol: 'none', data: line('warning'), lineStyle: { type: 'dashed', width: 1.5 } },
            { name: '红色警戒阈值', type: 'line', step: 'end', symbol: 'none', data: line('alert'), lineStyle: { type: 'dashed', width: 1.5 } },
          ]
        : []),
      ...(hasForecast
        ? [
            {
              name: forecastName,
              type: 'line',
              step: 'end',
              symbol: 'none',
              color: C.forecast,
              data: data.windows.map((w) => {
                const v = ahead.get(Number(w.window_start.slice(11, 13)));
                return v === undefined ? '-' : Math.round(v * 10) / 10;
              }),
              lineStyle: { type: 'dotted', width: 2.5, color: C.forecast },
            },
          ]
        : []),
    ],
  };
}
