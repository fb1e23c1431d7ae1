import { axisStyle, C } from './theme.js';

/** 每分钟流量 (event time): the last 30 minutes of the stream clock. */
export function minuteFlowOption(data) {
  return {
    grid: { left: 8, right: 12, top: 12, bottom: 4, containLabel: true },
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'category', data: data.map((d) => d.minute.slice(11)), ...axisStyle },
    yAxis: { type: 'value', minInterval: 1, ...axisStyle },
    series: [{ type: 'bar', data: data.map((d) => d.value), itemStyle: { color: C.palette[1] }, barMaxWidth: 10 }],
  };
}
