// util.js - small DOM and formatting helpers shared by the page's modules.

// el('div.cls#id', {attr: v, onclick: f}, child...) builds an element.
export function el(spec, attrs, ...kids) {
  const m = /^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i.exec(spec);
  const node = document.createElement(m[1] || 'div');
  for (const part of (m[2] || '').match(/[.#][\w-]+/g) || []) {
    if (part[0] === '.') node.classList.add(part.slice(1));
    else node.id = part.slice(1);
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'text') node.textContent = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    node.append(kid instanceof Node ? kid : String(kid));
  }
  return node;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

export function bytes(n) {
  if (n === undefined || n === null) return '';
  if (n < 1024) return n + ' B';
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return n.toFixed(n < 10 ? 1 : 0) + ' ' + u[i];
}

export function ms(n) {
  if (n === undefined || n === null) return '';
  if (n < 1) return n.toFixed(2) + ' ms';
  if (n < 1000) return n.toFixed(0) + ' ms';
  return (n / 1000).toFixed(2) + ' s';
}

export function duration(s) {
  s = Math.max(0, Math.floor(s || 0));
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = s % 60;
  const two = (x) => String(x).padStart(2, '0');
  return (h ? h + ':' + two(m) : m) + ':' + two(r);
}

export function clock(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const two = (x) => String(x).padStart(2, '0');
  return two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds()) + '.' +
    String(d.getMilliseconds()).padStart(3, '0');
}

export function dateTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' }) +
    ' ' + d.toLocaleTimeString();
}

// Saves a Blob as a file through a temporary link (no navigation).
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// Splits "a, b ,c" into ["a","b","c"].
export function list(text) {
  return String(text || '').split(',').map((s) => s.trim()).filter(Boolean);
}

// The filter's text form (filter/text.c) into its JSON form: a running
// session's capture filter shown in the header fields, and the start
// form's filter (strict: an unknown kind throws; values are the API's to judge).
export function parseFilterText(text, strict) {
  const keys = { method: 'methods', status: 'status', type: 'types', client: 'clients',
    'url-contains': 'url_contains', 'url-excludes': 'url_excludes', 'url-regex': 'url_regex' };
  const spec = {};
  let i = 0;
  const s = String(text || '');
  while (i < s.length) {
    while (s[i] === ' ') i++;
    const eq = s.indexOf('=', i);
    if (eq < 0) break;
    const name = s.slice(i, eq);
    const kind = keys[name];
    if (!kind && strict) throw new Error("filter: unknown kind '" + name + "' (method, status, type, client, url-contains, url-excludes, url-regex)");
    i = eq + 1;
    const vals = [];
    for (;;) {
      let v = '';
      if (s[i] === '"') {
        for (i++; i < s.length && s[i] !== '"'; i++) {
          if (s[i] === '\\' && s[i + 1] === 'x') { v += String.fromCharCode(parseInt(s.substr(i + 2, 2), 16)); i += 3; }
          else if (s[i] === '\\') { v += s[++i]; }
          else v += s[i];
        }
        i++;
      } else {
        while (i < s.length && s[i] !== ',' && s[i] !== ' ') v += s[i++];
      }
      vals.push(v);
      if (s[i] !== ',') break;
      i++;
    }
    if (kind) spec[kind] = (spec[kind] || []).concat(vals);
  }
  return spec;
}
