// Colours and text styles shared by every chart on the dark screen.
export const C = {
  text: '#d8e9ff',
  muted: '#7f9cc4',
  grid: 'rgba(127,156,196,0.15)',
  accent: '#35d0ff',
  predicted: '#ffb020',
  forecast: '#3ddc84',
  alert: '#ff4d5a',
  palette: ['#35d0ff', '#3ddc84', '#ffb020', '#ff7a45', '#b37feb', '#ff4d5a', '#5cdbd3', '#ffd666', '#69b1ff', '#95de64'],
};
export const axisStyle = {
  axisLine: { lineStyle: { color: C.muted } },
  axisLabel: { color: C.muted, fontSize: 13 },
  splitLine: { lineStyle: { color: C.grid } },
};
/** A checkpoint's long Chinese name, shortened for an axis: drop the city prefix, keep the head. */
export function shortName(name, max = 14) {
  const s = String(name).replace(/^(江苏省)?徐州市/, '');
  return s.length > max ? s.slice(0, max) + '…' : s;
}
