import { escapeHtml as esc } from '../html.js';
import { C } from './theme.js';

// Xuzhou, where every checkpoint is.
export const XUZHOU = [117.18, 34.26];

/**
 * 车辆来源地图: provinces coloured by passes, with flow lines from each origin province into
 * Xuzhou. centers: {province: [lon, lat]} from the map's own data.
 */
export function originMapOption(data, centers) {
  const known = data.filter((d) => centers[d.name]);
  const max = Math.max(1, ...known.map((d) => d.value));
  const outside = known
    .filter((d) => d.name !== '江苏')
    .sort((a, b) => b.value - a.value)
    .slice(0, 15);
  return {
    tooltip: {
      trigger: 'item',
      formatter: (p) =>
        p.seriesType === 'lines'
          ? `${esc(p.data.fromName)} → 徐州：${esc(p.data.value.toLocaleString('zh-CN'))} 辆次`
          : `${esc(p.name)}：${esc((p.value ?? 0).toLocaleString?.('zh-CN') ?? p.value ?? 0)} 辆次`,
    },
    visualMap: {
      min: 0,
      max,
      left: 16,
      bottom: 16,
      calculable: true,
      text: ['多', '少'],
      textStyle: { color: C.text },
      inRange: { color: ['#0d2a5c', '#1b6fb8', '#35d0ff', '#ffd666'] },
      seriesIndex: 0,
    },
    geo: {
      map: 'china',
      roam: false,
      zoom: 1.2,
      top: 40,
      label: { show: false },
      itemStyle: { areaColor: '#0d2a5c', borderColor: '#2b74c7' },
      emphasis: { itemStyle: { areaColor: '#1f5fa8' }, label: { color: '#fff' } },
    },
    series: [
      { type: 'map', geoIndex: 0, data: known.map((d) => ({ name: d.name, value: d.value })) },
      {
        type: 'lines',
        coordinateSystem: 'geo',
        zlevel: 2,
        effect: { show: true, period: 5, trailLength: 0.4, symbolSize: 5, color: '#fff' },
        lineStyle: { color: C.predicted, width: 1.2, opacity: 0.7, curveness: 0.25 },
        data: outside.map((d) => ({ fromName: d.name, value: d.value, coords: [centers[d.name], XUZHOU] })),
      },
      {
        type: 'effectScatter',
        coordinateSystem: 'geo',
        zlevel: 3,
        rippleEffect: { scale: 4, brushType: 'stroke' },
        symbolSize: 10,
        itemStyle: { color: C.alert },
        label: { show: true, formatter: '徐州', position: 'right', color: '#fff' },
        data: [{ name: '徐州', value: XUZHOU }],
      },
    ],
  };
}
