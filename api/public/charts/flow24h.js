import { axisStyle, C } from './theme.js';

/**
 * 24 小时流量: actual passes per hour, with the model's profile overlaid (dashed) and the short-term
 * forecast of the stream clock's hour and the two after it (green, dotted, with markers). On the
 * stream's current day, hours after the stream clock have no data yet: drawn as a gap, not zero.
 */
export function flow24hOption(data, lastHour = 23) {
  const hours = data.map((d) => `${String(d.hour).padStart(2, '0')}时`);
  const hasPrediction = data.some((d) => d.predicted != null);
  const hasForecast = data.some((d) => d.forecast != null);
  const legend = ['实际流量', ...(hasPrediction ? ['模型预测'] : []), ...(hasForecast ? ['短时预测'] : [])];
  return {
    color: [C.accent, C.predicted, C.forecast],
    grid: { left: 8, right: 16, top: 36, bottom: 4, containLabel: true },
    legend: { top: 0, right: 8, textStyle: { color: C.text, fontSize: 13 }, data: legend },
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'category', data: hours, boundaryGap: false, ...axisStyle },
    yAxis: { type: 'value', name: '辆次/小时', nameTextStyle: { color: C.muted }, ...axisStyle },
    series: [
      {
        name: '实际流量',
        type: 'line',
        smooth: 0.2,
        symbolSize: 5,
        data: data.map((d) => (d.hour <= lastHour ? d.value : '-')),
        areaStyle: {
          color: {
            type: 'linear',
            x: 0,
            y: 0,
            x2: 0,
            y2: 1,
            colorStops: [
              { offset: 0, color: 'rgba(53,208,255,0.45)' },
              { offset: 1, color: 'rgba(53,208,255,0.02)' },
            ],
          },
        },
      },
      ...(hasPrediction
        ? [{ name: '模型预测', type: 'line', smooth: 0.2, symbol: 'none', lineStyle: { type: 'dashed', width: 2 }, data: data.map((d) => d.predicted) }]
        : []),
      ...(hasForecast
        ? [
            {
              name: '短时预测',
              type: 'line',
              symbol: 'diamond',
              symbolSize: 9,
              color: C.forecast,
              lineStyle: { type: 'dotted', width: 3, color: C.forecast },
              data: data.map((d) => (d.forecast == null ? '-' : d.forecast)),
            },
          ]
        : []),
    ],
  };
}
