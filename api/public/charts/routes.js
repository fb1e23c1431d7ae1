import { escapeHtml } from '../html.js';
import { C } from './theme.js';

/**
 * The map extent around a set of points, padded and widened to the chart's aspect ratio so
 * that geo draws them all (the checkpoints are within ~150 km: a province map would hide them).
 */
export function extentOf(points, aspect = 1.4, pad = 0.12) {
  const lons = points.map((p) => p[0]);
  const lats = points.map((p) => p[1]);
  let [x0, x1, y0, y1] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
  const w = Math.max(0.2, x1 - x0) * (1 + 2 * pad);
  const h = Math.max(0.2, y1 - y0) * (1 + 2 * pad);
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  // 1° of longitude is cos(lat) of 1° of latitude.
  const k = Math.cos((cy * Math.PI) / 180);
  const hw = Math.max(w, (h * aspect) / k) / 2;
  const hh = Math.max(h, (w * k) / aspect) / 2;
  [x0, x1, y0, y1] = [cx - hw, cx + hw, cy - hh, cy + hh];
  return [
    [x0, y1],
    [x1, y0],
  ];
}

export const GEO_STYLE = {
  map: 'china',
  roam: false,
  silent: true,
  label: { show: false },
  itemStyle: { areaColor: '#0d2a5c', borderColor: '#2b74c7' },
};

/**
 * 热门路线 Top 10: every checkpoint with coordinates as a dot, each route as a curved arrow from
 * its first to its second checkpoint, wider for busier routes. routes: /api/stats/routes;
 * checkpoints: /api/checkpoints [{kkmc, kkmc_name, lon, lat}]; aspect: the chart's width/height.
 */
export function routesMapOption(routes, checkpoints, aspect = 1.4) {
  const at = new Map(checkpoints.filter((c) => c.lon != null && c.lat != null).map((c) => [c.kkmc, c]));
  const points = [...at.values()].map((c) => [c.lon, c.lat]);
  const drawn = routes.filter((r) => at.has(r.from) && at.has(r.to));
  const max = Math.max(1, ...drawn.map((r) => r.value));
  return {
    animation: false,
    tooltip: {
      trigger: 'item',
      confine: true,
      formatter: (p) =>
        p.seriesType === 'lines'
          ? `${escapeHtml(p.data.r.from_label)}<br/>→ ${escapeHtml(p.data.r.to_label)}<br/>${p.data.r.value.toLocaleString('zh-CN')} 次，中位用时 ${p.data.r.median_minutes} 分钟`
          : escapeHtml(p.data.name),
    },
    geo: { ...GEO_STYLE, ...(points.length ? { boundingCoords: extentOf(points, aspect) } : {}), left: 0, right: 0, top: 0, bottom: 0 },
    series: [
      {
        type: 'scatter',
        coordinateSystem: 'geo',
        symbolSize: 7,
        itemStyle: { color: C.accent },
        data: [...at.values()].map((c) => ({ name: c.kkmc_name, value: [c.lon, c.lat] })),
      },
      {
        type: 'lines',
        coordinateSystem: 'geo',
        zlevel: 1,
        symbol: ['none', 'arrow'],
        symbolSize: 8,
        lineStyle: { color: C.predicted, opacity: 0.85, curveness: 0.22 },
        data: drawn.map((r) => ({
          r,
          coords: [
            [at.get(r.from).lon, at.get(r.from).lat],
            [at.get(r.to).lon, at.get(r.to).lat],
          ],
          lineStyle: { width: 1 + 4 * (r.value / max) },
        })),
      },
    ],
  };
}
