// charts.js - small hand-written SVG charts (no chart library): horizontal
// bars for the overview groups, a column series for traffic over time, and
// the timing waterfall of one exchange.
const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs, text) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
  if (text !== undefined) n.textContent = text;
  return n;
}

// items: [{label, value, title}] drawn as horizontal bars, largest first.
export function bars(items, fmt, width = 460) {
  const rowH = 20, labelW = 150, valW = 70;
  const max = Math.max(1, ...items.map((i) => i.value));
  const svg = s('svg', { width, height: Math.max(rowH, items.length * rowH) + 4, role: 'img' });
  items.forEach((it, k) => {
    const y = k * rowH + 2;
    const w = Math.max(1, (width - labelW - valW) * it.value / max);
    const label = it.label.length > 24 ? it.label.slice(0, 23) + '…' : it.label;
    const g = s('g', { class: 'item' });
    g.append(s('title', {}, it.title || it.label));
    g.append(s('text', { x: labelW - 6, y: y + 14, 'text-anchor': 'end' }, label));
    g.append(s('rect', { class: 'bar', x: labelW, y: y + 3, width: w, height: rowH - 6, rx: 2 }));
    g.append(s('text', { x: labelW + w + 4, y: y + 14 }, fmt(it.value)));
    svg.append(g);
  });
  return svg;
}

// points: [[t_ms, count], ...] at a fixed interval, as columns.
export function series(points, intervalMs, width = 700, height = 150) {
  const pad = 28, n = points.length;
  const svg = s('svg', { width, height, role: 'img' });
  svg.append(s('line', { class: 'axis', x1: pad, y1: height - 18, x2: width - 4, y2: height - 18 }));
  if (!n) { svg.append(s('text', { x: pad, y: 20 }, 'no traffic')); return svg; }
  const max = Math.max(1, ...points.map((p) => p[1]));
  const bw = Math.min(24, (width - pad - 4) / n);   // a short session: narrow columns on the left
  points.forEach(([t, c], k) => {
    const h = (height - 30) * c / max;
    const r = s('rect', { class: 'bar2', x: pad + k * bw, y: height - 18 - h, width: Math.max(1, bw - 1), height: h });
    r.append(s('title', {}, new Date(t).toLocaleTimeString() + ': ' + c));
    svg.append(r);
  });
  svg.append(s('text', { x: 2, y: 12 }, String(max)));
  svg.append(s('text', { x: pad, y: height - 4 }, new Date(points[0][0]).toLocaleTimeString()));
  svg.append(s('text', { x: Math.max(pad + n * bw, 300), y: height - 4, 'text-anchor': 'end' },
    new Date(points[n - 1][0] + intervalMs).toLocaleTimeString() + ' (' + (intervalMs / 1000) + ' s per column)'));
  return svg;
}

// t: {dns, connect, first_byte, total} in ms from the start of the exchange
// (0: did not happen, e.g. a reused upstream connection).
export function waterfall(t, width = 360) {
  const total = Math.max(t.total || 0, 0.001);
  const dns = t.dns || 0, conn = Math.max(t.connect || 0, dns), fb = Math.max(t.first_byte || 0, conn);
  const parts = [['dns', 0, dns], ['connect', dns, conn], ['wait', conn, fb], ['recv', fb, Math.max(total, fb)]];
  const svg = s('svg', { width, height: 20, class: 'wf', role: 'img' });
  const x = (v) => (width - 2) * v / Math.max(total, fb);
  for (const [cls, a, b] of parts) {
    if (b <= a) continue;
    const r = s('rect', { class: cls, x: x(a), y: 3, width: Math.max(1, x(b) - x(a)), height: 14 });
    r.append(s('title', {}, cls + ': ' + (b - a).toFixed(2) + ' ms'));
    svg.append(r);
  }
  return svg;
}
