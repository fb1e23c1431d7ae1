import { axisStyle, C } from './theme.js';

/**
 * 24 小时流量: actual passes per hour, with the model's prediction overlaid (dashed). On the
 * stream's current day, hours after the stream clock have no data yet: drawn as a gap, not zero.
 */
export function flow24hOption(data, lastHour = 23) {
  const hours = data.map((d) => `${String(d.hour).padStart(2, '0')}时`);
  const hasPrediction = data.some((d) => d.predicted != null);
  return {
    color: [C.accent, C.predicted],
    grid: { left: 8, right: 16, top: 36, bottom: 4, containLabel: true },
    legend: { top: 0, right: 8, textStyle: { color: C.text, fontSize: 13 }, data: hasPrediction ? ['实际流量', '模型预测'] : ['实际流量'] },
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'category', data: hours, boundaryGap: false, ...axisStyle },
    yAxis: { type: 'value', name: '辆次/小时', nameTextStyle: { color: C.muted }, ...axisStyle },
    series: [
      { name: '实际流量', type: 'line', smooth: 0.2, symbolSize: 5, data: data.map((d) => (d.hour <= lastHour ? d.value : '-')),
        areaStyle: { color: { type: 'linear', x: 0, y: 0, x2: 0, y2: 1,
          colorStops: [{ offset: 0, color: 'rgba(53,208,255,0.45)' }, { offset: 1, color: 'rgba(53,208,255,0.02)' }] } } },
      ...(hasPrediction ? [{ name: '模型预测', type: 'line', smooth: 0.2, symbol: 'none',
        lineStyle: { type: 'dashed', width: 2 }, data: data.map((d) => d.predicted) }] : []),
    ],
  };
}
