// Shared by the dashboard and the query page: API calls (with the optional API key from ?key=),
// the big-screen scaling, and number/time formatting.
const params = new URLSearchParams(location.search);
export const apiKey = params.get('key') || '';

export async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (apiKey) headers['X-API-Key'] = apiKey;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method: options.body !== undefined ? 'POST' : 'GET',
    headers,
    body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
  });
  const json = await res.json().catch(() => ({ code: res.status, msg: res.statusText }));
  if (!res.ok || json.code !== 0) throw new Error(json.msg || `HTTP ${res.status}`);
  return json.data;
}

export function withKey(url) {
  if (!apiKey) return url;
  return url + (url.includes('?') ? '&' : '?') + 'key=' + encodeURIComponent(apiKey);
}

/** Scales the fixed 1920×1080 screen to fit the window, keeping proportions. */
export function fitScreen(el) {
  const apply = () => {
    const s = Math.min(window.innerWidth / 1920, window.innerHeight / 1080);
    el.style.transform = `scale(${s})`;
    el.style.left = `${(window.innerWidth - 1920 * s) / 2}px`;
    el.style.top = `${(window.innerHeight - 1080 * s) / 2}px`;
  };
  window.addEventListener('resize', apply);
  apply();
}

export const fmt = (n) => (n == null ? '—' : Number(n).toLocaleString('zh-CN'));

/** China time (UTC+8) of a Date, `YYYY-MM-DD HH:mm:ss`, whatever the browser's zone. */
export function chinaTime(d = new Date()) {
  const t = new Date(d.getTime() + 8 * 3600 * 1000);
  return t.toISOString().slice(0, 19).replace('T', ' ');
}
