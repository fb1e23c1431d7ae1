/** HTML building blocks for the self-contained report page (inline CSS and SVG, no scripts). */

export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function table(head: string[], rows: (string | number)[][], opts: { numeric?: boolean[]; cls?: string } = {}): string {
  const th = head.every((h) => h === '') ? '' : `<thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>`;
  const tr = rows
    .map((r) => `<tr>${r.map((v, i) => `<td${opts.numeric?.[i] ? ' class="n"' : ''}>${esc(typeof v === 'number' ? fmt(v) : v)}</td>`).join('')}</tr>`)
    .join('\n');
  return `<table${opts.cls ? ` class="${opts.cls}"` : ''}>${th}<tbody>${tr}</tbody></table>`;
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(3);
}

export function section(id: string, heading: string, body: string): string {
  return `<section id="${esc(id)}"><h2>${esc(heading)}</h2>\n${body}\n</section>`;
}

export function figure(svg: string, caption?: string): string {
  return `<figure>${svg}${caption ? `<figcaption>${esc(caption)}</figcaption>` : ''}</figure>`;
}

export function note(text: string, kind: 'info' | 'warn' = 'info'): string {
  return `<p class="note ${kind}">${esc(text)}</p>`;
}

const CSS = `
body{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei","Microsoft YaHei","PingFang SC",system-ui,sans-serif;margin:0;background:#f4f6f9;color:#1d2733}
header{background:#0b2e66;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:24px}header p{margin:6px 0 0;opacity:.85;font-size:13px}
main{max-width:1320px;margin:0 auto;padding:8px 24px 40px}
nav{font-size:13px;margin:12px 0}nav a{margin-right:14px;color:#0b4aa2}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:14px 20px;margin:16px 0}
h2{font-size:18px;margin:4px 0 10px;color:#0b2e66}
h3{font-size:15px;margin:14px 0 6px}
figure{margin:8px 0}figure svg{max-width:100%;height:auto}
figcaption{font-size:12px;color:#555}
.row{display:flex;gap:16px;flex-wrap:wrap}.row>figure{flex:1 1 600px}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}
th,td{border:1px solid #d8dee6;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef2f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
.note{font-size:13px;padding:6px 10px;border-radius:4px;background:#eef4fc}
.note.warn{background:#fff3e0}
.best td{font-weight:600}
.kv td:first-child{color:#555}
.scroll{max-height:320px;overflow:auto}
`;

export function page(title: string, subtitle: string, nav: [string, string][], body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body><header><h1>${esc(title)}</h1><p>${esc(subtitle)}</p></header>
<main><nav>${nav.map(([id, label]) => `<a href="#${esc(id)}">${esc(label)}</a>`).join('')}</nav>
${body}
</main></body></html>
`;
}
