// details.js - the details pane of one exchange: request and response lines
// and headers, bodies (JSON pretty-printed and collapsible, text, hex),
// trailers (gRPC's grpc-status), WebSocket messages, cookies sent and set,
// a timing waterfall, and copy as curl / download / delete.
import { el, bytes, ms, dateTime, download } from './util.js';
import * as api from './api.js';
import { waterfall } from './charts.js';

const TEXT_MAX = 512 * 1024;   // bytes rendered as text or JSON; the rest: download
const HEX_MAX = 16 * 1024;     // bytes rendered in the hex view
const MSG_ROWS_MAX = 500;      // WebSocket messages listed; the rest: `ringcap show` or the API
const MSG_TEXT_MAX = 200;      // characters of a message's payload in its row

function splitHead(head) {
  const lines = String(head || '').split(/\r?\n/).filter((l) => l.length);
  const first = lines.shift() || '';
  const hdrs = lines.map((l) => { const i = l.indexOf(':'); return [l.slice(0, i).trim(), l.slice(i + 1).trim()]; });
  return { first, hdrs };
}

function headerTable(hdrs) {
  if (!hdrs.length) return el('p.note', { text: 'no headers' });
  return el('table', {}, ...hdrs.map(([k, v]) => el('tr', {}, el('td', { text: k }), el('td', { text: v }))));
}

function jsonNode(v, key, depth) {
  const k = key !== null ? [el('span.k', { text: JSON.stringify(key) }), ': '] : [];
  if (v === null || typeof v !== 'object') {
    const cls = typeof v === 'string' ? 'str' : typeof v === 'number' ? 'n' : 'b';
    return el('div.line', {}, ...k, el('span.' + cls, { text: JSON.stringify(v) }));
  }
  const arr = Array.isArray(v), entries = arr ? v.map((x, i) => [null, x]) : Object.entries(v);
  const d = el('details', { open: depth < 2 });
  d.append(el('summary', {}, ...k, arr ? '[' + v.length + ']' : '{' + entries.length + '}'));
  const LIMIT = 500;
  entries.slice(0, LIMIT).forEach(([kk, x]) => d.append(jsonNode(x, arr ? null : kk, depth + 1)));
  if (entries.length > LIMIT) d.append(el('div.line.note', { text: '… ' + (entries.length - LIMIT) + ' more' }));
  return d;
}

function hexView(buf) {
  const b = new Uint8Array(buf, 0, Math.min(buf.byteLength, HEX_MAX));
  const out = [];
  for (let o = 0; o < b.length; o += 16) {
    const row = b.subarray(o, o + 16);
    const hex = [...row].map((x) => x.toString(16).padStart(2, '0')).join(' ');
    const asc = [...row].map((x) => (x >= 32 && x < 127 ? String.fromCharCode(x) : '.')).join('');
    out.push(o.toString(16).padStart(8, '0') + '  ' + hex.padEnd(48) + '  ' + asc);
  }
  if (buf.byteLength > HEX_MAX) out.push('… ' + bytes(buf.byteLength - HEX_MAX) + ' more (download)');
  return el('pre.hex', { text: out.join('\n') });
}

function looksText(b) {
  const n = Math.min(b.length, 4096);
  let bad = 0;
  for (let i = 0; i < n; i++) { const c = b[i]; if (c === 0) return false; if (c < 9 || (c > 13 && c < 32)) bad++; }
  return bad <= n / 50;
}

// A body block with views (pretty / text / hex) chosen from its bytes.
function bodyView(buf, ctype) {
  const u8 = new Uint8Array(buf);
  const isText = looksText(u8);
  let text = null, parsed;
  if (isText && buf.byteLength <= TEXT_MAX) text = new TextDecoder().decode(u8);
  if (text !== null && (/json/i.test(ctype) || /^\s*[[{]/.test(text))) {
    try { parsed = JSON.parse(text); } catch (e) { parsed = undefined; }
  }
  const views = {};
  if (parsed !== undefined) views.pretty = () => el('pre.json', {}, jsonNode(parsed, null, 0));
  if (text !== null) views.text = () => el('pre', { text });
  views.hex = () => hexView(buf);
  const box = el('div');
  const tabs = el('div.bodytabs');
  const show = (name) => {
    box.replaceChildren(views[name]());
    for (const b of tabs.children) b.classList.toggle('on', b.dataset.v === name);
  };
  for (const name of Object.keys(views)) tabs.append(el('button', { type: 'button', text: name, dataset: { v: name }, onclick: () => show(name) }));
  show(Object.keys(views)[0]);
  return el('div', {}, tabs, box);
}

function cookieLines(hdrs, name) {
  return hdrs.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);
}

export function curlOf(x, reqBody) {
  const q = (s) => "'" + String(s).replace(/'/g, "'\\''") + "'";
  const { hdrs } = splitHead(x.request_head);
  const parts = ['curl'];
  if (x.method !== 'GET' && !(x.method === 'POST' && reqBody)) parts.push('-X ' + x.method);
  parts.push(q(x.url));
  for (const [k, v] of hdrs) {
    if (/^(content-length|host|proxy-connection|proxy-authorization)$/i.test(k)) continue;
    parts.push('-H ' + q(k + ': ' + v));
  }
  if (reqBody && reqBody.byteLength) parts.push('--data-binary ' + q(new TextDecoder().decode(reqBody)));
  return parts.join(' \\\n  ');
}

// The trailer fields of one direction ([{name, value}]) as a header table.
function trailersPart(title, fields) {
  if (!fields || !fields.length) return [];
  return [el('h4', { text: title }), headerTable(fields.map((f) => [f.name, f.value]))];
}

// A WebSocket message's payload as one line: text as is (cut to
// MSG_TEXT_MAX), binary as its first bytes in hex, a close as code + reason.
function msgPayload(m) {
  if (m.type === 'close' && m.close_code) return m.close_code + (m.close_reason ? ' ' + m.close_reason : '');
  let t;
  if (m.encoding === 'text') t = m.data;
  else {
    const raw = atob(m.data || '');
    if (m.type !== 'binary' && /^[\x20-\x7e]*$/.test(raw)) t = raw;   // a ping's words
    else t = Array.from(raw.slice(0, 32), (c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join(' ') + (raw.length > 32 ? ' …' : '');
  }
  return t.length > MSG_TEXT_MAX ? t.slice(0, MSG_TEXT_MAX) + ' …' : t;
}

// The messages of an upgraded exchange: direction, time, type, length and
// payload, one row each, as `ringcap show` lists them.
function messagesPart(x) {
  if (!x.messages) return [];
  const shown = x.messages.slice(0, MSG_ROWS_MAX);
  const more = x.messages.length - shown.length;
  const flags = (m) => [m.deflated ? 'deflated' : '', m.cut ? 'cut at max body' : ''].filter(Boolean).join(', ');
  return [el('h4', { text: 'WebSocket messages (' + x.messages.length + (x.messages_more ? '+' : '') + ')' }),
    shown.length ? el('table.grid#ws-messages', {},
      el('tr', {}, ...['', 'time', 'type', 'length', 'payload'].map((h) => el('th', { text: h }))),
      ...shown.map((m) => el('tr', { dataset: { dir: m.direction } },
        el('td', { text: m.direction === 'send' ? '↑ sent' : '↓ received' }),
        el('td', { text: dateTime(m.time) }),
        el('td', { text: m.type }),
        el('td.num', { text: bytes(m.length), title: flags(m) }),
        el('td.payload', { text: msgPayload(m) })))) : el('p.note', { text: 'none' }),
    more > 0 || x.messages_more ? el('p.hint', { text: 'more messages than listed: ringcap show ' + x.id + ' lists them all' }) : ''];
}

export class Details {
  constructor(pane, hooks) { this.pane = pane; this.hooks = hooks; this.cur = null; }

  close() { this.pane.hidden = true; this.cur = null; this.pane.parentNode.classList.remove('narrow'); }

  async show(sessionId, row) {
    this.pane.hidden = false;
    this.pane.parentNode.classList.add('narrow');   // the table drops duration and client
    const token = {};
    this.cur = token;
    this.pane.replaceChildren(el('p.note', { text: 'loading exchange ' + row.id + '…' }));
    const base = '/api/sessions/' + api.sid(sessionId) + '/exchanges/' + row.id;
    let x, req = null, resp = null;
    try {
      x = await api.get(base);
      if (x.request_body_bytes) req = await (await api.raw('GET', base + '/request_body')).arrayBuffer();
      if (x.response_body_bytes) resp = await (await api.raw('GET', base + '/response_body')).arrayBuffer();
      if (x.status === 101) {   // an upgrade: its WebSocket messages (the exchange route leaves them out)
        const m = await api.get(base + '/messages');
        x.messages = m.messages;
        x.messages_more = m.more;
      }
    } catch (e) {
      if (this.cur === token) this.pane.replaceChildren(el('p.err', { text: e.message }), el('button', { text: 'Close', onclick: () => this.close() }));
      return;
    }
    if (this.cur !== token) return;
    this.render(sessionId, x, req, resp, base);
  }

  render(sessionId, x, req, resp, base) {
    const rq = splitHead(x.request_head), rs = splitHead(x.response_head);
    const ctype = (rs.hdrs.find(([k]) => k.toLowerCase() === 'content-type') || [])[1] || '';
    const reqCt = (rq.hdrs.find(([k]) => k.toLowerCase() === 'content-type') || [])[1] || '';
    const status = el('span.s' + String(x.status || 0)[0], { text: x.status ? String(x.status) : x.error });
    const btns = el('div.btns', {},
      el('button', { text: 'Copy as curl', id: 'b-curl', onclick: async (e) => {
        const text = curlOf(x, req);
        this.lastCurl = text;
        try { await navigator.clipboard.writeText(text); e.target.textContent = 'Copied'; } catch (err) {
          e.target.textContent = 'Copy failed: shown below';
          this.pane.append(el('pre.curl', { text }));
        }
        setTimeout(() => { e.target.textContent = 'Copy as curl'; }, 1500);
      } }),
      req ? el('button', { text: 'Download request body', onclick: () => download(new Blob([req]), 'request-' + x.id + '.bin') }) : null,
      resp ? el('button', { text: 'Download response body', onclick: () => download(new Blob([resp], { type: ctype }), 'response-' + x.id + '.bin') }) : null,
      el('button.danger', { text: 'Delete', onclick: async () => {
        try { await api.json('DELETE', base); this.close(); this.hooks.deleted([x.id]); } catch (e) { this.hooks.error(e.message); }
      } }),
      el('button', { text: 'Close', onclick: () => { this.close(); this.hooks.closed(); } }));
    const respBody = () => {
      if (resp) return bodyView(resp, ctype);
      if (!x.responses_saved) return el('p.note', { text: 'not stored: the session does not save responses' });
      if (/^(image|audio|video|media)/.test(x.type) || /^(image|audio|video)\//i.test(ctype)) return el('p.note', { text: 'not stored: media' });
      return el('p.note', { text: 'empty' });
    };
    const sent = cookieLines(rq.hdrs, 'cookie'), set = cookieLines(rs.hdrs, 'set-cookie');
    const t = x.timings_ms || {};
    this.pane.replaceChildren(
      el('h3', {}, x.method + ' ', status, ' ', x.url),
      btns,
      el('table', {},
        el('tr', {}, el('td', { text: 'time' }), el('td', { text: dateTime(x.time) })),
        el('tr', {}, el('td', { text: 'client' }), el('td', { text: x.client + (x.client_name ? ' (' + x.client_name + ')' : '') })),
        x.server ? el('tr', {}, el('td', { text: 'server' }), el('td', { text: x.server })) : null,
        el('tr', {}, el('td', { text: 'protocol' }), el('td', { text: (x.http_version || 'HTTP/1.1') + (x.tunnel && x.tunnel !== 'none' ? ' (' + x.tunnel + ')' : '') })),
        el('tr', {}, el('td', { text: 'type' }), el('td', { text: x.type + (ctype ? ' (' + ctype + ')' : '') })),
        x.error && x.error !== 'none' ? el('tr', {}, el('td', { text: 'error' }), el('td.err', { text: x.error })) : null,
        x.truncated ? el('tr', {}, el('td', { text: 'note' }), el('td', { text: 'a body was cut at the session\'s max body' })) : null),
      el('h4', { text: 'Timing' }), waterfall(t), el('div.hint', { text: 'dns ' + ms(t.dns) + ' · connect ' + ms(t.connect) + ' · first byte ' + ms(t.first_byte) + ' · total ' + ms(t.total) }),
      el('h4', { text: 'Request' }), el('pre', { text: rq.first }), headerTable(rq.hdrs),
      el('h4', { text: 'Request body' + (req ? ' (' + bytes(req.byteLength) + ')' : '') }),
      req ? bodyView(req, reqCt) : el('p.note', { text: 'empty' }),
      ...trailersPart('Request trailers', x.trailers && x.trailers.request),
      el('h4', { text: 'Response' }), el('pre', { text: rs.first || '(no response)' }), headerTable(rs.hdrs),
      el('h4', { text: 'Response body' + (resp ? ' (' + bytes(resp.byteLength) + ')' : '') }),
      respBody(),
      ...trailersPart('Response trailers', x.trailers && x.trailers.response),
      x.trailers_cut ? el('p.hint', { text: 'trailers cut at the session\'s max body' }) : '',
      ...messagesPart(x),
      el('h4', { text: 'Cookies' }),
      sent.length || set.length ? el('table', {}, ...sent.map((c) => el('tr', {}, el('td', { text: 'sent' }), el('td', { text: c }))),
        ...set.map((c) => el('tr', {}, el('td', { text: 'set' }), el('td', { text: c })))) :
        el('p.note', { text: x.cookies_saved ? 'none' : 'none stored (capture cookies was off)' }));
  }
}
