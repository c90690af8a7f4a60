// app.js - the web UI's entry point: sign-in, the header's live counters,
// the session bar (start, pause, resume, stop), the tabs, the event stream
// of the session on screen and the actions on selected rows.
import { $, $$, bytes, duration, download, parseFilterText } from './util.js';
import * as api from './api.js';
import { RequestTable } from './table.js';
import { Details } from './details.js';
import * as tabs from './tabs.js';

const POLL_MS = 1000;   // header counters and session bar
const LIVE_ROWS_PER_S = 200;    // live rows asked of the event stream (the rest are counted)

const app = {
  session: null,        // the session on screen (GET /api/sessions/ID, plus filterSpec)
  active: null,         // the active or paused session, from /api/status
  tab: 'requests',
  stream: null,
  lastMetrics: null,
  table: null,
  details: null,
  failing: false,
};
window.ringcap = app;   // for the browser tests and the console

function banner(text, kind) {
  const b = $('#banner');
  b.hidden = !text;
  b.textContent = text || '';
  b.className = kind || '';
  clearTimeout(banner.t);
  if (kind === 'good') banner.t = setTimeout(() => { b.hidden = true; }, 4000);
}

// ---- sign-in (off loopback) ----
function showLogin(msg) {
  $('#login').hidden = false;
  $('#app').hidden = true;
  $('#login-error').textContent = msg || '';
  $('#login-token').focus();
}

$('#login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  api.setToken($('#login-token').value.trim());
  $('#login-token').value = '';
  try {
    await loadInfo();
    $('#login').hidden = true;
    start();
  } catch (err) {
    api.setToken(null);
    $('#login-error').textContent = err.message;
  }
});

api.onUnauthorised(() => {
  const had = api.hasToken();
  api.setToken(null);
  showLogin(had ? 'the token was refused' : '');
});

// ---- header and footer ----
async function loadInfo() {
  const info = await api.get('/ui/info');
  $('#proxy-addrs').textContent = info.proxy.join('  ·  ') || '–';
  $('#ca-fp').textContent = info.ca_sha256 || 'interception off';
  return info;
}

function metric(text, name) {
  const m = new RegExp('^' + name + ' ([0-9.e+]+)$', 'm').exec(text);
  return m ? Number(m[1]) : null;
}

async function poll() {
  try {
    const [st, mt] = await Promise.all([api.get('/api/status'), api.raw('GET', '/metrics').then((r) => r.text())]);
    if (app.failing) { app.failing = false; $('#conn-state').textContent = ''; }
    app.active = st.active;
    const now = performance.now(), req = metric(mt, 'ringcap_requests_total');
    $('#c-conns').textContent = metric(mt, 'ringcap_connections_open') ?? '–';
    $('#c-captured').textContent = (metric(mt, 'ringcap_capture_exchanges_written_total') ?? 0).toLocaleString();
    if (app.lastMetrics && req !== null) {
      const rps = (req - app.lastMetrics.req) / ((now - app.lastMetrics.t) / 1000);
      $('#c-rps').textContent = Math.max(0, rps).toFixed(rps < 10 ? 1 : 0);
    }
    app.lastMetrics = { t: now, req };
    const pill = $('#capture-state');
    const state = st.active ? st.active.state : 'idle';
    pill.className = 'pill ' + state;
    pill.textContent = st.active ? (state === 'active' ? 'capturing' : 'paused') + ': ' + st.active.name : 'not capturing';
    if (app.session && st.active && st.active.id === app.session.id &&
        app.session.state !== 'active' && app.session.state !== 'paused') {
      refresh();   // continued after a restart (run --session): follow it again
    } else if (app.session && st.active && st.active.id === app.session.id) {
      Object.assign(app.session, { state: st.active.state, duration_s: st.active.duration_s, bytes: st.active.bytes, exchanges: st.active.exchanges });
      sessionBar();
    } else if (app.session && (app.session.state === 'active' || app.session.state === 'paused')) {
      refresh();   // it ended elsewhere (CLI, another page)
    }
  } catch (e) {
    if (e.status === 401) return;
    app.failing = true;
    $('#conn-state').textContent = 'control port unreachable: ' + e.message;
  }
}

// ---- session bar ----
function sessionBar() {
  const s = app.session;
  $('#s-name').textContent = s ? s.name : 'no session';
  const pill = $('#s-state');
  pill.hidden = !s;
  if (s) { pill.textContent = s.state; pill.className = 'pill ' + s.state; }
  $('#s-duration').textContent = s ? duration(s.duration_s) : '–';
  $('#s-count').textContent = s ? Number(s.exchanges).toLocaleString() : '–';
  $('#s-size').textContent = s ? bytes(s.bytes) : '–';
  $('#b-pause').hidden = !s || s.state !== 'active';
  $('#b-resume').hidden = !s || s.state !== 'paused';
  $('#b-stop').hidden = !s || (s.state !== 'active' && s.state !== 'paused');
}

async function action(name) {
  try {
    const s = await api.json('POST', '/api/sessions/' + api.sid(app.session.id) + '/' + name);
    $('#start-error').textContent = '';   // a "stop it first" no longer holds
    setSession(s, true);
    poll();
  } catch (e) { banner(e.message, 'bad'); }
}
$('#b-pause').addEventListener('click', () => action('pause'));
$('#b-resume').addEventListener('click', () => action('resume'));
$('#b-stop').addEventListener('click', () => action('stop'));

$('#start-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('#start-error').textContent = '';
  const body = { save_responses: $('#n-save').checked, capture_cookies: $('#n-cookies').checked };
  if ($('#n-name').value.trim()) body.name = $('#n-name').value.trim();
  try {
    const spec = parseFilterText($('#n-filter').value.trim(), true);
    if (Object.keys(spec).length) body.filter = spec;
    const s = await api.json('POST', '/api/sessions', body);
    $('#n-name').value = '';
    $('#n-filter').value = '';   // the session shows it in the header icons now
    open(s.id, 'requests');
    poll();
  } catch (err) { $('#start-error').textContent = err.message; }
});

// ---- the session on screen ----
function setSession(s, keepView) {
  if (s) s.filterSpec = parseFilterText(s.settings && s.settings.filter);
  const changed = !app.session || !s || app.session.id !== s.id;
  const wasRunning = app.session && (app.session.state === 'active' || app.session.state === 'paused');
  const before = app.session && s && app.session.id === s.id ? app.session.state : null;
  app.session = s;
  if (before && before !== 'interrupted' && s.state === 'interrupted')
    banner('the daemon restarted: session "' + s.name + '" was interrupted (ringcap run --session "' +
      s.name + '" continues it)', 'bad');
  else if (before === 'interrupted' && s.state === 'active')
    banner('session "' + s.name + '" continues after a restart: following it again', 'good');
  sessionBar();
  app.table.setSession(s, keepView);
  const running = s && (s.state === 'active' || s.state === 'paused');
  if (changed || running !== wasRunning) follow();
  if (changed) app.details.close();
}

function follow() {
  if (app.stream) { app.stream.close(); app.stream = null; }
  const s = app.session;
  if (!s || (s.state !== 'active' && s.state !== 'paused')) return;
  // a page shows page 0 and a count: LIVE_ROWS_PER_S rows a second are
  // plenty, the server counts the rest (a flood costs neither side more)
  app.stream = api.stream('/api/sessions/' + api.sid(s.id) + '/events?rows_per_s=' + LIVE_ROWS_PER_S, {
    event: (row) => app.table.push(row),
    skipped: (n) => app.table.skip(n),
    open: (again) => {
      $('#conn-state').textContent = '';
      if (again) { banner('event stream reconnected: live rows follow again', 'good'); app.table.reload(); }
    },
    lost: (n, err) => {
      const why = err ? err.message : 'the stream ended';
      banner('event stream lost (' + why + '): reconnecting, attempt ' + n + '…', 'bad');
    },
    end: () => { app.stream = null; refresh(); },
  });
}

// A hidden tab holds no event stream (each costs the control port a
// thread's worth of index reads per tick); shown again, it catches up.
document.addEventListener('visibilitychange', () => {
  if (!app.table) return;
  if (document.hidden) {
    if (app.stream) { app.stream.close(); app.stream = null; }
  } else if (app.session && !app.stream) {
    follow();
    app.table.reload();
  }
});

async function refresh() {
  if (!app.session) return;
  try {
    const s = await api.get('/api/sessions/' + api.sid(app.session.id));
    setSession(s, true);
  } catch (e) { banner(e.message, 'bad'); }
}
app.refresh = refresh;

async function open(id, tab) {
  if (tab) app.tab = tab;
  if (!id) {
    setSession(null);
    location.hash = '';
    showTab(app.tab);
    return;
  }
  if (!app.session || (app.session.id !== id && app.session.name !== id)) {
    // the rows do not wait for the session's metadata (its client list
    // costs a scan of the whole index on the server): same id, no reload
    app.table.setSession({ id, name: id, state: 'loading', settings: {} });
    // first rows first: both requests scan the index and share two cores
    await app.table.loading.catch(() => {});
  }
  try {
    const s = await api.get('/api/sessions/' + api.sid(id));
    banner('');
    setSession(s, true);   // a new session reloads anyway; the placeholder's rows stay
    const want = '#/s/' + encodeURIComponent(s.id) + '/' + app.tab;
    if (location.hash !== want) history.replaceState(null, '', want);
  } catch (e) {
    banner(e.message, 'bad');   // e.g. "no session 'xyz'"
    setSession(null);
  }
  showTab(app.tab);
}
app.open = open;

app.filterClient = (c) => {
  app.table.setClient(c);
  const chip = $('#device-filter');
  chip.hidden = false;
  chip.textContent = 'client ' + c + ' ✕';
  showTab('requests');
};
$('#device-filter').addEventListener('click', () => { app.table.setClient(null); $('#device-filter').hidden = true; });

// ---- tabs ----
function showTab(name) {
  app.tab = name;
  for (const b of $$('#tabs button')) b.classList.toggle('on', b.dataset.tab === name);
  for (const sec of $$('.tab')) sec.hidden = sec.id !== 'tab-' + name;
  if (app.session) history.replaceState(null, '', '#/s/' + encodeURIComponent(app.session.id) + '/' + name);
  if (name === 'requests') app.table.render();
  else tabs[name]($('#tab-' + name), app);
}
app.showTab = showTab;
for (const b of $$('#tabs button')) b.addEventListener('click', () => showTab(b.dataset.tab));

// ---- selection: delete, save requests ----
function selection(n) {
  $('#sel-count').textContent = n ? n + ' selected' : '';
  $('#b-delete-sel').disabled = !n;
  $('#b-save-sel').disabled = !n;
  if (!n) $('#sel-all').checked = false;
}

$('#b-delete-sel').addEventListener('click', async () => {
  const ids = app.table.visibleIds();
  $('#sel-error').textContent = '';
  try {
    await api.json('POST', '/api/sessions/' + api.sid(app.session.id) + '/exchanges/delete', { ids });
    app.table.removeIds(ids);
  } catch (e) { $('#sel-error').textContent = e.message; }
});

$('#b-save-sel').addEventListener('click', async () => {
  const ids = app.table.visibleIds();
  const fmt = $('#export-format').value;
  const p = new URLSearchParams({ format: fmt, ids: ids.join(','), group: $('#export-group').value, name: app.session.name });
  $('#sel-error').textContent = '';
  try {
    const r = await api.raw('GET', '/api/sessions/' + api.sid(app.session.id) + '/export?' + p);
    const cd = /filename="?([^";]+)"?/.exec(r.headers.get('content-disposition') || '');
    download(await r.blob(), cd ? cd[1] : app.session.name + (fmt === 'har' ? '.har' : '.postman_collection.json'));
    $('#sel-error').textContent = '';
  } catch (e) { $('#sel-error').textContent = 'Save Requests: ' + e.message; }
});

// ---- boot ----
function routeFromHash() {
  const m = /^#\/s\/([^/]+)(?:\/(\w+))?/.exec(location.hash);
  return m ? { id: decodeURIComponent(m[1]), tab: m[2] } : null;
}

let searchTimer = 0;
async function start() {
  $('#app').hidden = false;
  if (!app.table) {
    app.table = new RequestTable({
      open: (row) => row && app.details.show(app.session.id, row),
      selection,
      error: (m) => { $('#table-foot').classList.toggle('err', !!m); if (m) $('#table-foot').textContent = m; },
      info: (t) => { $('#filter-mode').textContent = t; },
      changed: (s) => setSession(s, true),
    });
    app.details = new Details($('#details'), {
      deleted: (ids) => app.table.removeIds(ids),
      closed: () => { app.table.openId = null; app.table.render(); },
      error: (m) => banner(m, 'bad'),
    });
    $('#search').addEventListener('input', (e) => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => app.table.setSearch(e.target.value.trim()), 250);
    });
    $('#qr').addEventListener('click', () => $('#qr').classList.toggle('big'));
    window.addEventListener('hashchange', () => {
      const r = routeFromHash();
      if (r && (!app.session || r.id !== app.session.id)) open(r.id, r.tab || 'requests');
    });
    setInterval(poll, POLL_MS);
  }
  await poll();
  const r = routeFromHash();
  if (r) return open(r.id, r.tab || 'requests');
  if (app.active) return open(app.active.id, 'requests');
  try {
    const all = await api.get('/api/sessions');
    all.sort((a, b) => (a.start < b.start ? 1 : -1));
    return open(all.length ? all[0].id : null, 'requests');
  } catch (e) { banner(e.message, 'bad'); }
}

(async () => {
  try {
    await loadInfo();
    start();
  } catch (e) {
    if (e.status !== 401) { $('#app').hidden = false; banner(e.message, 'bad'); }
  }
})();
