// The big screen: fetches each panel's data from the API, feeds the option builders in
// charts/, and stays live through the SSE stream (alerts, per-minute flow, congestion level
// changes) plus a slow poll.
import { api, chinaTime, fitScreen, fmt, withKey } from './common.js';
import { routesMapOption } from './charts/routes.js';
import { congestionOption, LEVEL_ORDER } from './charts/congestion.js';
import { flow24hOption } from './charts/flow24h.js';
import { minuteFlowOption } from './charts/minuteFlow.js';
import { originMapOption } from './charts/originMap.js';
import { top10Option } from './charts/top10.js';
import { vehicleTypeOption } from './charts/vehicleType.js';
import { shortName, shortNames } from './charts/theme.js';

fitScreen(document.getElementById('screen'));
document.getElementById('query-link').href = withKey('/query');

const charts = {};
for (const el of document.querySelectorAll('[data-chart]')) {
  charts[el.dataset.chart] = echarts.init(el, null, { renderer: 'canvas' });
}
window.addEventListener('resize', () => Object.values(charts).forEach((c) => c.resize()));
// Tests read this to know each chart has been drawn with data.
window.__dashboard = { charts, drawn: {}, alerts: 0, congestionChanges: 0 };
const drawn = (name, n) => {
  window.__dashboard.drawn[name] = n;
};

let provinceCenters = null;
async function loadMap() {
  const res = await fetch('/vendor/china.json');
  const geo = await res.json();
  echarts.registerMap('china', geo);
  provinceCenters = {};
  for (const f of geo.features) if (f.properties.cp) provinceCenters[f.properties.name] = f.properties.cp;
}

async function refreshOverview() {
  const o = await api('/api/stats/overview');
  document.getElementById('c-total').textContent = fmt(o.total);
  document.getElementById('c-checkpoints').textContent = fmt(o.checkpoints);
  document.getElementById('c-warnings').textContent = o.warnings == null ? '—' : fmt(o.warnings);
  document.getElementById('c-latest').textContent = o.latest_gcsj ? o.latest_gcsj.slice(5) : '—';
  document.getElementById('stream-clock').textContent = o.latest_gcsj || '—';
}

async function refreshCharts() {
  const [top, types, provinces, flow] = await Promise.all([
    api('/api/stats/kkmc_count?limit=10'),
    api('/api/stats/vehicle_type'),
    api('/api/stats/map_data'),
    api('/api/stats/flow_24h'),
  ]);
  charts.top10.setOption(top10Option(top), true);
  drawn('top10', top.length);
  charts.vehicle_type.setOption(vehicleTypeOption(types), true);
  drawn('vehicle_type', types.length);
  if (provinceCenters) {
    charts.map.setOption(originMapOption(provinces, provinceCenters), true);
    drawn('map', provinces.length);
  }
  const latest = document.getElementById('stream-clock').textContent;
  document.getElementById('flow-date').textContent = latest && latest !== '—' ? `${latest.slice(0, 10)}（数据最新日期）` : '';
  // flow_24h defaults to the stream clock's date: hours after the clock are still to come.
  const lastHour = latest && latest !== '—' ? Number(latest.slice(11, 13)) : 23;
  charts.flow_24h.setOption(flow24hOption(flow, lastHour), true);
  drawn(
    'flow_24h',
    flow.reduce((s, h) => s + h.value, 0),
  );
  await refreshRoutes();
}

// 热门路线 Top 10 of the stream clock's day: arrows on the map, the ranking under it.
const routeList = document.getElementById('routes');
async function refreshRoutes() {
  const routes = await api('/api/stats/routes?limit=10');
  const latest = document.getElementById('stream-clock').textContent;
  document.getElementById('routes-date').textContent = latest && latest !== '—' ? `${latest.slice(0, 10)} · 2 小时内相邻过车` : '2 小时内相邻过车';
  routeList.innerHTML = '';
  if (!routes.length) routeList.innerHTML = '<li class="empty">当日暂无相邻过车路线</li>';
  const names = new Map();
  const all = [...new Set(routes.flatMap((r) => [r.from_label, r.to_label]))];
  shortNames(all, 12).forEach((s, i) => {
    names.set(all[i], s);
  });
  routes.forEach((r, i) => {
    const li = document.createElement('li');
    li.innerHTML = '<span class="rank"></span><span class="route"></span><span class="n"></span><span class="min"></span>';
    li.querySelector('.rank').textContent = String(i + 1);
    li.querySelector('.route').textContent = `${names.get(r.from_label)} → ${names.get(r.to_label)}`;
    li.querySelector('.n').textContent = `${fmt(r.value)} 次`;
    li.querySelector('.min').textContent = `${r.median_minutes} 分`;
    li.title = `${r.from_label} → ${r.to_label}：${r.value} 次，中位用时 ${r.median_minutes} 分钟`;
    routeList.appendChild(li);
  });
  if (provinceCenters) {
    // The list's height changes with its rows: fit the map into what is left first.
    charts.routes.resize();
    const el = document.getElementById('chart-routes');
    charts.routes.setOption(routesMapOption(routes, checkpoints, el.clientWidth / Math.max(1, el.clientHeight)), true);
  }
  drawn('routes', routes.length);
}

function drawMinuteFlow(payload) {
  if (!payload || !payload.minutes) return;
  charts.minute_flow.setOption(minuteFlowOption(payload.minutes), true);
  drawn('minute_flow', payload.minutes.length);
  if (payload.latest_gcsj) document.getElementById('stream-clock').textContent = payload.latest_gcsj;
}

/**
 * A live list shows only whole items: items that would be cut by the bottom of the panel are
 * hidden (they are older; the newest are on top). Re-run after each change and on resize.
 */
function fitList(list) {
  const bottom = list.getBoundingClientRect().bottom;
  for (const li of list.children) li.hidden = false;
  for (const li of list.children) if (li.getBoundingClientRect().bottom > bottom + 0.5) li.hidden = true;
}
const fitLists = () => {
  for (const id of ['alerts', 'congestion-log']) fitList(document.getElementById(id));
};
window.addEventListener('resize', fitLists);

const alertList = document.getElementById('alerts');
let checkpointNames = new Map();
let checkpoints = [];
const cpName = (code, max = 16) => (checkpointNames.has(code) ? shortName(checkpointNames.get(code), max) : code || '?');
function alertItem(a, isNew) {
  const li = document.createElement('li');
  if (isNew) li.className = 'new';
  li.dataset.id = a.id || '';
  const prev = a.prev || {};
  const curr = a.curr || {};
  const speed = a.speed_kmh != null ? `${Math.round(a.speed_kmh)} km/h` : '速度未知';
  const dist = a.distance_km != null ? `${a.distance_km.toFixed ? a.distance_km.toFixed(1) : a.distance_km} km` : '距离未知';
  li.innerHTML = '<span class="plate"></span><span class="when"></span><br><span class="meta"></span>';
  li.querySelector('.plate').textContent = a.hphm || '?';
  li.querySelector('.when').textContent = curr.gcsj || '';
  li.querySelector('.meta').textContent =
    `${cpName(prev.kkmc)} → ${cpName(curr.kkmc)}，间隔 ${a.interval_s ?? '?'} 秒，${dist}，${speed}${a.masked ? '（遮挡号牌）' : ''}`;
  return li;
}
function renderAlerts(list) {
  alertList.innerHTML = '';
  if (!list.length) alertList.innerHTML = '<li class="empty">暂无告警</li>';
  for (const a of list) alertList.appendChild(alertItem(a, false));
  fitList(alertList);
}
function pushAlert(a) {
  const empty = alertList.querySelector('.empty');
  if (empty) empty.remove();
  if (a.id && alertList.querySelector(`li[data-id="${CSS.escape(a.id)}"]`)) return;
  alertList.prepend(alertItem(a, true));
  while (alertList.children.length > 30) alertList.lastChild.remove();
  fitList(alertList);
  window.__dashboard.alerts++;
  const c = document.getElementById('c-warnings');
  const n = Number(String(c.textContent).replace(/[^\d]/g, ''));
  if (Number.isFinite(n)) c.textContent = fmt(n + 1);
}

// 拥堵监测: current level tiles (polled, and re-read on each level change) and the change log.
const congestionLog = document.getElementById('congestion-log');
let congestionTimer = null;
async function refreshCongestion() {
  let levels;
  try {
    levels = await api('/api/congestion/current');
  } catch (_err) {
    // 503 when the platform runs without congestion monitoring: keep the panel's placeholder.
    drawn('congestion', 0);
    return;
  }
  const counts = {};
  for (const l of levels) counts[l.level] = (counts[l.level] || 0) + 1;
  document.getElementById('congestion-counts').innerHTML = LEVEL_ORDER.map((lv) => `<b class="lv-${lv}">${lv} ${counts[lv] || 0}</b>`).join('');
  if (levels.length) {
    const placeholder = document.querySelector('#chart-congestion > .empty');
    if (placeholder) placeholder.remove();
    charts.congestion.setOption(congestionOption(levels, 3), true);
  }
  drawn('congestion', levels.length);
}
function changeItem(c, isNew) {
  const li = document.createElement('li');
  if (isNew) li.className = 'new';
  li.dataset.id = c.id || '';
  li.innerHTML = '<span class="when"></span><span class="name"></span><span class="from"></span>→<span class="to"></span><span class="n"></span>';
  li.querySelector('.when').textContent = (c.window_start || '').slice(5, 16);
  li.querySelector('.name').textContent = cpName(c.kkmc, 10);
  li.querySelector('.from').textContent = c.previous_level;
  li.querySelector('.from').className = `from lv-${c.previous_level}`;
  li.querySelector('.to').textContent = c.level;
  li.querySelector('.to').className = `to lv-${c.level}`;
  li.querySelector('.n').textContent = `${c.passes} 辆`;
  li.title = `${c.kkmc}：5 分钟 ${c.passes} 辆，越过阈值 ${c.threshold}`;
  return li;
}
function renderChanges(list) {
  congestionLog.innerHTML = '';
  if (!list.length) congestionLog.innerHTML = '<li class="empty">暂无等级变化</li>';
  for (const c of list) congestionLog.appendChild(changeItem(c, false));
  fitList(congestionLog);
}
function pushChange(c) {
  const empty = congestionLog.querySelector('.empty');
  if (empty) empty.remove();
  if (c.id && congestionLog.querySelector(`li[data-id="${CSS.escape(c.id)}"]`)) return;
  congestionLog.prepend(changeItem(c, true));
  while (congestionLog.children.length > 10) congestionLog.lastChild.remove();
  fitList(congestionLog);
  window.__dashboard.congestionChanges++;
  // Levels move with their changes: re-read soon (changes come in bursts, one per checkpoint).
  clearTimeout(congestionTimer);
  congestionTimer = setTimeout(() => safe(refreshCongestion), 300);
}

function connectStream() {
  const live = document.getElementById('live');
  const es = new EventSource(withKey('/api/stream'));
  es.addEventListener('open', () => {
    live.textContent = '实时';
    live.className = 'status live';
  });
  es.addEventListener('error', () => {
    live.textContent = '重连中';
    live.className = 'status down';
  });
  es.addEventListener('alert', (e) => pushAlert(JSON.parse(e.data)));
  es.addEventListener('flow', (e) => drawMinuteFlow(JSON.parse(e.data)));
  es.addEventListener('congestion', (e) => pushChange(JSON.parse(e.data)));
}

function tickClock() {
  document.getElementById('wall-clock').textContent = chinaTime();
}

async function safe(fn) {
  try {
    await fn();
  } catch (err) {
    console.warn(err);
  }
}

tickClock();
setInterval(tickClock, 1000);
await safe(loadMap);
await safe(async () => {
  checkpoints = await api('/api/checkpoints');
  checkpointNames = new Map(checkpoints.map((c) => [c.kkmc, c.kkmc_name]));
});
await safe(refreshOverview);
await safe(refreshCharts);
await safe(async () => renderAlerts(await api('/api/warnings/realtime?limit=30')));
await safe(async () => drawMinuteFlow(await api('/api/stats/minute_flow?minutes=30')));
await safe(refreshCongestion);
await safe(async () => renderChanges(await api('/api/congestion/log?limit=10')));
connectStream();
setInterval(() => safe(refreshCongestion), 10000);
setInterval(() => safe(refreshOverview), 3000);
setInterval(() => safe(refreshCharts), 10000);
