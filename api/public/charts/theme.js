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
/**
 * A checkpoint's long Chinese name (`徐州市睢宁县G104北京-福州K873江苏徐州-G104-苏皖界省际卡口`)
 * shortened to what tells checkpoints apart: county + road (`睢宁G104`), or the road alone when
 * the name has no county (`G3京台高速…` → `G3`); with `stake`, the kilometre too (`睢宁G104 K873`).
 * Names of another shape keep their head, cut to `max` characters. The full name goes in tooltips.
 */
export function shortName(name, max = 14, stake = false) {
  const s = String(name ?? '').replace(/^(江苏省)?徐州市/, '');
  const county = /^(.{1,3}?)(县|市|区)/.exec(s);
  const rest = county ? s.slice(county[0].length) : s;
  // `G518518国道` writes the number twice: the code is G518.
  const code = /^([GSX])(\d+?)\2?(?!\d)/.exec(rest);
  const road = code ? [code[0], code[1] + code[2]] : /^[^\dA-Z]{2,4}?(?:路|线|道)/.exec(rest);
  if (road) {
    // 睢宁县 → 睢宁; one-character counties keep 县 (丰县, 沛县).
    const c = county ? (county[1].length >= 2 ? county[1] : county[0]) : '';
    const km = stake ? /K\d+/.exec(rest.slice(road[0].length)) : null;
    const out = c + (code ? road[1] : road[0]) + (km ? ' ' + km[0] : '');
    if (out.length <= max) return out;
  }
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

/** Short names for a list of full names, unique: names that would collide also show their stake. */
export function shortNames(names, max = 14) {
  const short = names.map((n) => shortName(n, max));
  const seen = new Map();
  for (const s of short) seen.set(s, (seen.get(s) || 0) + 1);
  return short.map((s, i) => (seen.get(s) > 1 ? shortName(names[i], max, true) : s));
}
