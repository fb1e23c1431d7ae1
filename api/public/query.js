// The query page: filters → POST /api/query with paging; the export links carry the same
// filter to /api/export.csv (streamed by the server, no row limit) and /api/export.xlsx (one sheet:
// at most 1,048,575 rows; past that the page says so instead of downloading the server's error). A checkpoint on a single day
// (start and end on the same date) also shows its 5-minute passes against the congestion thresholds.
import { api, withKey } from './common.js';
import { congestionSeriesOption } from './charts/congestion.js';
import { trajectoryOption } from './charts/trajectory.js';
import { shortName } from './charts/theme.js';

const $ = (id) => document.getElementById(id);
const form = $('filters');
let page = 1;
let labels = new Map();
let checkpoints = [];
document.getElementById('home-link').href = withKey('/');

function option(value, text) {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = text;
  return o;
}

function filter() {
  const f = {};
  for (const k of ['kkmc', 'hphm', 'hpzl', 'province']) {
    const v = form.elements[k].value.trim();
    if (v) f[k] = v;
  }
  for (const k of ['start', 'end']) {
    const v = form.elements[k].value;
    if (v) f[k] = (v.length === 16 ? v + ':00' : v).replace('T', ' ');
  }
  return f;
}

// Tests read this to know the series chart has been drawn.
window.__query = { series: 0 };
let seriesChart = null;
async function updateSeries() {
  const f = filter();
  const day = f.start && f.end && f.start.slice(0, 10) === f.end.slice(0, 10) ? f.start.slice(0, 10) : null;
  const panel = $('series-panel');
  if (!f.kkmc || !day || typeof echarts === 'undefined') {
    panel.hidden = true;
    $('series-hint').hidden = false;
    return;
  }
  try {
    const data = await api(`/api/congestion/series?kkmc=${encodeURIComponent(f.kkmc)}&date=${day}`);
    panel.hidden = false;
    $('series-hint').hidden = true;
    const th = data.thresholds === null ? '（无阈值文件）' : data.thresholds.length ? '' : '（该卡口无阈值）';
    $('series-title').textContent = `${data.label} · ${data.date}（${data.day_type === 'weekend' ? '周末' : '工作日'}）5 分钟流量与拥堵阈值${th}`;
    seriesChart ??= echarts.init($('chart-series'), null, { renderer: 'canvas' });
    seriesChart.resize();
    seriesChart.setOption(congestionSeriesOption(data), true);
    window.__query.series = data.windows.length;
  } catch (err) {
    panel.hidden = true;
    $('error').textContent = '5 分钟流量加载失败：' + err.message;
  }
}
window.addEventListener('resize', () => seriesChart?.resize());

/** Rows one Excel sheet holds below its header (the server refuses more with a 422). */
const XLSX_MAX_ROWS = 1048575;
/** The total of the last search and the filter it was for. */
let searched = { qs: null, total: 0 };

function filterQs() {
  return new URLSearchParams(filter()).toString();
}

function updateExport() {
  const qs = filterQs();
  $('export').href = withKey('/api/export.csv' + (qs ? '?' + qs : ''));
  $('export-xlsx').href = withKey('/api/export.xlsx' + (qs ? '?' + qs : ''));
}

$('export-xlsx').addEventListener('click', (e) => {
  if (searched.qs === filterQs() && searched.total > XLSX_MAX_ROWS) {
    e.preventDefault();
    $('error').textContent =
      `共 ${searched.total.toLocaleString('zh-CN')} 条，超过 Excel 单个工作表的上限 ` +
      `${XLSX_MAX_ROWS.toLocaleString('zh-CN')} 行：请缩小筛选范围，或使用“导出 CSV”（不限行数）。`;
  }
});

async function search() {
  $('error').textContent = '';
  const size = Number(form.elements.size.value);
  try {
    const qs = filterQs();
    const data = await api('/api/query', { body: { ...filter(), page, size } });
    searched = { qs, total: data.total };
    const pages = Math.max(1, Math.ceil(data.total / size));
    $('page-info').textContent = `共 ${data.total.toLocaleString('zh-CN')} 条，第 ${page} / ${pages} 页`;
    $('prev').disabled = page <= 1;
    $('next').disabled = page >= pages;
    const body = $('rows');
    body.innerHTML = '';
    for (const r of data.rows) {
      const tr = document.createElement('tr');
      for (const v of [r.gcsj, labels.get(r.kkmc) || r.kkmc, r.fxlx, r.hphm, r.hpzl, r.vehicle_type_name, r.clppxh, r.province, r.xzqhmc, r.gcxh]) {
        const td = document.createElement('td');
        if (v === r.hphm && r.hphm && r.hphm !== '-') {
          // The plate opens its trajectory of that day.
          const b = document.createElement('button');
          b.type = 'button';
          b.className = 'plate-link';
          b.textContent = v;
          b.title = '查看该车当天轨迹';
          b.addEventListener('click', () => showTrajectory(r));
          td.appendChild(b);
        } else td.textContent = v;
        tr.appendChild(td);
      }
      tr.title = r.kkmc;
      body.appendChild(tr);
    }
  } catch (err) {
    $('error').textContent = '查询失败：' + err.message;
  }
}

// 车辆轨迹: the plate's passes that day. A masked plate (`苏CD7***`) is shared by many vehicles:
// with a known brand the trajectory keeps only that brand's passes (the routes' identity).
window.__query.trajectory = null;
let trajectoryChart = null;
const dash = (v, unit) => (v == null ? '—' : `${v}${unit}`);
function gap(s) {
  if (s == null) return '—';
  if (s < 60) return `${s} 秒`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} 分 ${s % 60} 秒` : `${Math.floor(m / 60)} 时 ${m % 60} 分`;
}
let mapReady = null;
function ensureMap() {
  mapReady ??= fetch('/vendor/china.json')
    .then((res) => res.json())
    .then((geo) => echarts.registerMap('china', geo));
  return mapReady;
}
async function showTrajectory(r) {
  const date = r.gcsj.slice(0, 10);
  const masked = r.hphm.includes('*');
  const q = new URLSearchParams({ hphm: r.hphm, date });
  if (masked && r.clppxh && r.clppxh !== '-') q.set('clppxh', r.clppxh);
  let t;
  try {
    t = await api('/api/trajectory?' + q.toString());
  } catch (err) {
    $('error').textContent = '轨迹加载失败：' + err.message;
    return;
  }
  const panel = $('trajectory-panel');
  panel.hidden = false;
  $('trajectory-hint').hidden = true;
  $('trajectory-title').textContent =
    `车辆轨迹 · ${t.hphm}${t.clppxh ? ' · ' + t.clppxh : ''} · ${t.date}：${t.passes.length} 次过车` +
    (t.alerts.length ? `，${t.alerts.length} 条套牌告警` : '');
  const notes = [];
  if (t.plate_class === 'MASKED' && !t.clppxh) notes.push('遮挡号牌且品牌型号未知：同一号牌可能对应多辆车。');
  else if (t.mixed) notes.push('这些过车的号牌种类或品牌型号不完全一致，可能混有其他车辆。');
  if (t.truncated) notes.push(`只显示前 ${t.passes.length} 次过车。`);
  notes.push('距离为卡口间直线距离，速度 = 直线距离 ÷ 间隔。');
  $('trajectory-note').textContent = notes.join(' ');
  const body = $('trajectory-rows');
  body.innerHTML = '';
  t.passes.forEach((p, i) => {
    const tr = document.createElement('tr');
    if (p.alert_ids.length) tr.className = 'alert';
    for (const v of [
      i + 1,
      p.gcsj,
      shortName(p.label, 14, true),
      gap(p.interval_s),
      dash(p.distance_km, ' km'),
      dash(p.speed_kmh, ' km/h'),
      p.alert_ids.length ? '套牌' : '',
    ]) {
      const td = document.createElement('td');
      td.textContent = v;
      tr.appendChild(td);
    }
    tr.title = `${p.label}（${p.kkmc}）`;
    body.appendChild(tr);
  });
  await ensureMap().catch(() => undefined);
  trajectoryChart ??= echarts.init($('chart-trajectory'), null, { renderer: 'canvas' });
  trajectoryChart.resize();
  const el = $('chart-trajectory');
  trajectoryChart.setOption(trajectoryOption(t, checkpoints, el.clientWidth / Math.max(1, el.clientHeight)), true);
  window.__query.trajectory = { passes: t.passes.length, alerts: t.alerts.length };
  panel.scrollIntoView({ block: 'nearest' });
}
window.addEventListener('resize', () => trajectoryChart?.resize());

form.addEventListener('submit', (e) => {
  e.preventDefault();
  page = 1;
  updateExport();
  search().then(updateSeries);
});
form.addEventListener('change', updateExport);
$('prev').addEventListener('click', () => {
  page--;
  search();
});
$('next').addEventListener('click', () => {
  page++;
  search();
});

try {
  // Province and plate-type choices: the same tables the ETL writes PROVINCE and HPZL from.
  const ref = await api('/api/reference');
  for (const t of ref.plate_types) $('f-hpzl').appendChild(option(t.code, `${t.code} ${t.name}`));
  for (const p of ref.provinces) $('f-province').appendChild(option(p, p));
} catch (err) {
  $('error').textContent = '筛选项加载失败：' + err.message;
}
try {
  const cps = await api('/api/checkpoints');
  checkpoints = cps;
  labels = new Map(cps.map((c) => [c.kkmc, c.kkmc_name]));
  for (const c of cps) $('f-kkmc').appendChild(option(c.kkmc, c.kkmc_name));
} catch (err) {
  $('error').textContent = '卡口列表加载失败：' + err.message;
}
updateExport();
search();
