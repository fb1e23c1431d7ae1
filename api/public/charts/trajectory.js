import { escapeHtml } from '../html.js';
import { extentOf, GEO_STYLE } from './routes.js';
import { C } from './theme.js';

/**
 * 车辆轨迹 (query page): one vehicle's passes of a day on the map — a polyline through the
 * checkpoints in time order, each visited checkpoint labelled with its pass numbers, passes that
 * are part of a cloned-plate alert as red pins. t: the /api/trajectory payload; checkpoints:
 * /api/checkpoints (drawn faintly for context); aspect: the chart's width/height.
 */
export function trajectoryOption(t, checkpoints, aspect = 1.6) {
  const located = t.passes.map((p, i) => ({ ...p, n: i + 1 })).filter((p) => p.lon != null && p.lat != null);
  const context = checkpoints.filter((c) => c.lon != null && c.lat != null);
  const points = [...context.map((c) => [c.lon, c.lat]), ...located.map((p) => [p.lon, p.lat])];
  // One marker per visited checkpoint, labelled with the numbers of its passes (1·4·7).
  const visits = new Map();
  for (const p of located) {
    const v = visits.get(p.kkmc) || { p, ns: [], alert: false };
    v.ns.push(p.n);
    v.alert ||= p.alert_ids.length > 0;
    visits.set(p.kkmc, v);
  }
  const label = (ns) => (ns.length > 4 ? `${ns.slice(0, 3).join('·')}…${ns[ns.length - 1]}` : ns.join('·'));
  return {
    animation: false,
    tooltip: {
      trigger: 'item',
      confine: true,
      formatter: (x) => {
        if (x.seriesType !== 'scatter' || !x.data.v) return escapeHtml(x.name || '');
        const v = x.data.v;
        const rows = located
          .filter((p) => p.kkmc === v.p.kkmc)
          .map(
            (p) => `${p.n}. ${escapeHtml(p.gcsj.slice(11))}${p.speed_kmh != null ? `，${p.speed_kmh} km/h` : ''}${p.alert_ids.length ? '（套牌告警）' : ''}`,
          );
        return `${escapeHtml(v.p.label)}<br/>${rows.slice(0, 12).join('<br/>')}${rows.length > 12 ? '<br/>…' : ''}`;
      },
    },
    geo: { ...GEO_STYLE, ...(points.length ? { boundingCoords: extentOf(points, aspect) } : {}), left: 0, right: 0, top: 0, bottom: 0 },
    series: [
      {
        type: 'scatter',
        coordinateSystem: 'geo',
        symbolSize: 5,
        silent: true,
        itemStyle: { color: C.muted, opacity: 0.6 },
        data: context.map((c) => ({ name: c.kkmc_name, value: [c.lon, c.lat] })),
      },
      {
        type: 'lines',
        coordinateSystem: 'geo',
        polyline: true,
        zlevel: 1,
        silent: true,
        lineStyle: { color: C.accent, width: 2.5, opacity: 0.9 },
        effect: { show: true, period: 6, trailLength: 0.2, symbol: 'arrow', symbolSize: 8, color: '#fff' },
        data: located.length > 1 ? [{ coords: located.map((p) => [p.lon, p.lat]) }] : [],
      },
      {
        type: 'scatter',
        coordinateSystem: 'geo',
        zlevel: 2,
        data: [...visits.values()].map((v) => ({
          name: v.p.label,
          v,
          value: [v.p.lon, v.p.lat],
          symbol: v.alert ? 'pin' : 'circle',
          symbolSize: v.alert ? 30 : 12,
          itemStyle: { color: v.alert ? C.alert : C.predicted },
          label: { show: true, position: 'right', color: '#fff', fontSize: 14, formatter: label(v.ns) },
        })),
        labelLayout: { hideOverlap: true },
      },
    ],
  };
}
