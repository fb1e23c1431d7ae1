import { escapeHtml as esc } from '../html.js';
import { axisStyle, C, shortNames } from './theme.js';

/**
 * 卡口流量 Top 10: horizontal bars, busiest on top, short unique names on the axis (county + road,
 * `睢宁G104`) and the full name in the tooltip. data: [{name, label, value}]
 */
export function top10Option(data) {
  const rows = [...data].reverse();
  const names = shortNames(rows.map((d) => d.label));
  return {
    grid: { left: 8, right: 64, top: 6, bottom: 6, containLabel: true },
    tooltip: {
      trigger: 'axis',
      axisPointer: { type: 'shadow' },
      confine: true,
      formatter: (p) => `${esc(rows[p[0].dataIndex].label)}<br/>${esc(rows[p[0].dataIndex].name)}：${esc(p[0].value.toLocaleString('zh-CN'))} 辆次`,
    },
    xAxis: { type: 'value', ...axisStyle, axisLabel: { show: false }, splitLine: { show: false } },
    yAxis: {
      type: 'category',
      data: names,
      ...axisStyle,
      axisTick: { show: false },
      axisLabel: { ...axisStyle.axisLabel, color: C.text, fontSize: 17, interval: 0 },
    },
    series: [
      {
        type: 'bar',
        data: rows.map((d) => d.value),
        barWidth: 12,
        itemStyle: {
          borderRadius: [0, 6, 6, 0],
          color: {
            type: 'linear',
            x: 0,
            y: 0,
            x2: 1,
            y2: 0,
            colorStops: [
              { offset: 0, color: 'rgba(53,208,255,0.25)' },
              { offset: 1, color: C.accent },
            ],
          },
        },
        label: { show: true, position: 'right', color: C.text, fontSize: 16, formatter: (p) => p.value.toLocaleString('zh-CN') },
      },
    ],
  };
}
