// tabs.js - the Overview, Cookies, History and Devices tabs. Each renders
// into its <section> from the control API when it is shown.
import { el, bytes, duration, dateTime, download } from './util.js';
import * as api from './api.js';
import { bars, series } from './charts.js';

const base = (s) => '/api/sessions/' + api.sid(s.id);

function errorBox(sec, e) { sec.replaceChildren(el('p.err', { text: e.message })); }

function card(label, value, id) { return el('div.card', {}, el('div.v', { text: value, id }), el('div.l', { text: label })); }

// A button that asks once more before it acts (no blocking confirm()).
function confirmButton(text, act) {
  const b = el('button.danger', { text });
  let armed = false;
  b.addEventListener('click', async () => {
    if (!armed) { armed = true; b.textContent = text + '? click again'; setTimeout(() => { armed = false; b.textContent = text; }, 3000); return; }
    armed = false;
    await act(b);
  });
  return b;
}

export async function overview(sec, app) {
  const s = app.session;
  if (!s) { sec.replaceChildren(el('p.note', { text: 'no session: start one or open one from History' })); return; }
  const by = sec.dataset.by || 'method';
  let o, full;
  try {
    [o, full] = await Promise.all([api.get(base(s) + '/overview?by=' + by), api.get(base(s))]);
  } catch (e) { errorBox(sec, e); return; }
  const pick = el('select#ov-by', { 'aria-label': 'group by', onchange: (e) => { sec.dataset.by = e.target.value; overview(sec, app); } },
    ...['method', 'domain', 'type', 'status'].map((k) => el('option', { value: k, text: 'by ' + k, selected: k === by })));
  const rows = o.groups.map((g) => el('tr', { dataset: { key: g.key, count: g.count } },
    el('td', { text: g.key }), el('td.num', { text: g.count.toLocaleString() }),
    el('td.num', { text: bytes(g.request_bytes) }), el('td.num', { text: bytes(g.response_bytes) })));
  sec.replaceChildren(
    el('div.cards', {},
      card('started', dateTime(full.start)), card('duration', duration(full.duration_s)),
      card('exchanges', o.total.toLocaleString(), 'ov-total'), card('size on disk', bytes(full.bytes)),
      card('traffic', bytes(o.request_bytes + o.response_bytes)),
      card('sources', (full.clients || []).join(', ') + (full.clients_more ? ' …' : '') || '–')),
    el('div.toolbar', {}, pick, el('span.hint', { text: o.groups.length + ' groups' })),
    el('div.charts', {},
      el('div.chart', {}, el('h4', { text: 'exchanges by ' + by }), bars(o.groups.map((g) => ({ label: g.key, value: g.count })), (v) => v.toLocaleString())),
      el('div.chart', {}, el('h4', { text: 'response bytes by ' + by }), bars(o.groups.map((g) => ({ label: g.key, value: g.response_bytes })), bytes))),
    el('div.chart', {}, el('h4', { text: 'traffic over time' }), series(o.series.points, o.series.interval_ms)),
    el('table.grid#ov-table', {}, el('tr', {}, el('th', { text: by }), el('th.num', { text: 'count' }), el('th.num', { text: 'request bytes' }), el('th.num', { text: 'response bytes' })), ...rows));
}

export async function cookies(sec, app) {
  const s = app.session;
  if (!s) { sec.replaceChildren(el('p.note', { text: 'no session' })); return; }
  let list;
  try { list = await api.get(base(s) + '/cookies'); } catch (e) { errorBox(sec, e); return; }
  const q = sec.dataset.q || '';
  const sel = new Set();
  const err = el('span.err#ck-error');
  const shown = list.filter((c) => !q || (c.name + ' ' + c.value + ' ' + c.domain).toLowerCase().includes(q.toLowerCase()));
  const del = async (items) => {
    try { await api.json('DELETE', base(s) + '/cookies', items === 'all' ? { all: true } : { cookies: items }); cookies(sec, app); } catch (e) { err.textContent = e.message; }
  };
  const search = el('input#ck-search', { type: 'search', placeholder: 'search cookies', value: q });
  search.addEventListener('change', () => { sec.dataset.q = search.value; cookies(sec, app); });
  const flags = (c) => [c.http_only && 'HttpOnly', c.secure && 'Secure', c.same_site && 'SameSite=' + c.same_site, c.host_only && 'host-only'].filter(Boolean).join(' ');
  sec.replaceChildren(
    el('div.toolbar', {}, search,
      el('button', { text: 'Delete selected', onclick: () => del(shown.filter((c, i) => sel.has(i)).map((c) => ({ name: c.name, domain: c.domain, path: c.path }))) }),
      confirmButton('Delete all', () => del('all')),
      el('button', { text: 'Export cookies.txt', onclick: async () => {
        try { download(await (await api.raw('GET', base(s) + '/cookies?format=netscape')).blob(), 'cookies-' + s.name + '.txt'); } catch (e) { err.textContent = e.message; }
      } }), err),
    shown.length ? el('table.grid#ck-table', {}, el('tr', {}, ...['', 'name', 'value', 'domain', 'path', 'seen as', 'count', 'expires', 'flags'].map((h) => el('th', { text: h }))),
      ...shown.map((c, i) => el('tr', { dataset: { name: c.name } },
        el('td', {}, el('input', { type: 'checkbox', onchange: (e) => { if (e.target.checked) sel.add(i); else sel.delete(i); } })),
        el('td', { text: c.name }), el('td', { text: c.value }), el('td', { text: c.domain }), el('td', { text: c.path }),
        el('td', { text: c.direction === 'response' ? 'Set-Cookie' : c.direction === 'request' ? 'Cookie' : c.direction }),
        el('td.num', { text: c.count }), el('td', { text: c.expires ? new Date(typeof c.expires === 'number' ? c.expires * 1000 : c.expires).toLocaleString() : (c.max_age !== null ? 'max-age ' + c.max_age + ' s' : 'session') }),
        el('td', { text: flags(c) }))))
      : el('p.note', { text: s.settings && !s.settings.capture_cookies ? 'no cookies: this session does not capture cookies' : 'no cookies captured' }));
}

export async function history(sec, app) {
  let list;
  try { list = await api.get('/api/sessions'); } catch (e) { errorBox(sec, e); return; }
  list.sort((a, b) => (a.start < b.start ? 1 : -1));
  const err = el('span.err#hist-error');
  const rename = (s, cell) => {
    const inp = el('input.rename', { value: s.name, 'aria-label': 'new name' });
    const save = async () => {
      try { await api.json('PATCH', base(s), { name: inp.value }); app.refresh(); history(sec, app); } catch (e) { err.textContent = e.message; }
    };
    inp.addEventListener('keydown', (e) => { if (e.key === 'Enter') save(); if (e.key === 'Escape') history(sec, app); });
    cell.replaceChildren(inp, el('button', { text: 'Save', onclick: save }));
    inp.focus();
    inp.select();
  };
  sec.replaceChildren(el('div.toolbar', {}, el('b', { text: list.length + ' sessions' }), err),
    el('table.grid#hist-table', {}, el('tr', {}, ...['name', 'state', 'start', 'duration', 'exchanges', 'size', ''].map((h) => el('th', { text: h }))),
      ...list.map((s) => {
        const name = el('td.name', { text: s.name });
        return el('tr', { class: app.session && app.session.id === s.id ? 'cur' : '', dataset: { id: s.id } },
          name, el('td', {}, el('span.pill.' + s.state, { text: s.state })),
          el('td', { text: dateTime(s.start) }), el('td.num', { text: duration(s.duration_s) }),
          el('td.num', { text: s.exchanges.toLocaleString() }), el('td.num', { text: bytes(s.bytes) }),
          el('td', {}, el('button', { text: 'Open', onclick: () => app.open(s.id, 'requests') }), ' ',
            el('button', { text: 'Rename', onclick: () => rename(s, name) }), ' ',
            confirmButton('Delete', async () => {
              try { await api.json('DELETE', base(s)); if (app.session && app.session.id === s.id) app.open(null); history(sec, app); } catch (e) { err.textContent = e.message; }
            })));
      })));
}

export async function devices(sec, app) {
  const s = app.session;
  if (!s) { sec.replaceChildren(el('p.note', { text: 'no session' })); return; }
  let full;
  try { full = await api.get(base(s)); } catch (e) { errorBox(sec, e); return; }
  const clients = full.clients || [];
  const counts = await Promise.all(clients.map((c) =>
    api.get(base(s) + '/exchanges?limit=1&filter=' + encodeURIComponent(JSON.stringify({ clients: [c] }))).then((j) => j.total, () => null)));
  sec.replaceChildren(
    el('p.hint', { text: 'Clients seen in this session (address, or proxy-auth name with --identify-by auth). "Filter" shows only its requests.' }),
    clients.length ? el('table.grid#dev-table', {}, el('tr', {}, el('th', { text: 'client' }), el('th.num', { text: 'exchanges' }), el('th', { text: '' })),
      ...clients.map((c, i) => el('tr', { dataset: { client: c } }, el('td', { text: c }), el('td.num', { text: counts[i] === null ? '?' : counts[i].toLocaleString() }),
        el('td', {}, el('button', { text: 'Filter', onclick: () => app.filterClient(c) })))))
      : el('p.note', { text: 'no clients yet' }),
    full.clients_more ? el('p.hint', { text: 'more clients than listed' }) : '');
}
