// table.js - the live requests table: virtual scrolling over a server-side
// sorted, filtered and paged listing (/api/sessions/ID/exchanges), live rows
// from the event stream applied on an animation frame (at most twice a second), a "new rows"
// marker instead of moving what the user is looking at, filter icons in the
// column headers, row selection.
import { el, $, bytes, ms, clock, list } from './util.js';
import * as api from './api.js';

const ROW_H = 26;          // px, also --row in app.css
const PAGE = 200;          // rows per listing request
const PAGES_KEPT = 40;     // pages cached (8,000 rows): memory stays bounded on huge sessions
const MAX_SCROLL_PX = 8e6; // spacer height cap; beyond, scroll position maps proportionally
const SEEN_MAX = 5000;     // live ids remembered to drop a duplicate event
const LIVE_HEAD = /^\{"id":(\d+),"time":"([^"]+)"/;   // the start of an event's row
const LIVE_MIN_MS = 500;   // live rows repaint the table at most twice a second: 5 following
                           // pages repainting on every 200 ms tick took headless Chromium
                           // ~3 s of CPU in 10 s on the 2-core bench box (bench/webui.py)

const COLS = [
  { key: 'sel' },
  { key: 'time', label: 'Time', sort: 'time', get: (r) => clock(r.time) },
  { key: 'status', label: 'Status', sort: 'status', filter: 'status', get: (r) => r.status || (r.error !== 'none' ? r.error : '') },
  { key: 'method', label: 'Method', sort: 'method', filter: 'method', get: (r) => r.method },
  { key: 'url', label: 'URL', sort: 'url', filter: 'url', get: (r) => r.url },
  { key: 'type', label: 'Type', sort: 'type', filter: 'type', get: (r) => r.type },
  { key: 'size', label: 'Size', sort: 'size', num: true, get: (r) => bytes(r.response_size) },
  { key: 'duration', label: 'Duration', sort: 'duration', num: true, get: (r) => ms(r.duration_ms) },
  { key: 'client', label: 'Client', get: (r) => r.client },
];

// The header filter fields, per column icon: [spec key, label, placeholder].
const FILTER_FIELDS = {
  status: [['status', 'status codes or classes', '2xx, 404']],
  method: [['methods', 'methods', 'GET, POST']],
  url: [['url_contains', 'URL contains (any of)', '/api, login'],
    ['url_excludes', 'URL does not contain (none of)', '.png, /health'],
    ['url_regex', 'URL regex', '^https://[^/]+/v[0-9]+/']],
  type: [['types', 'content types', 'json, html, image, text/plain']],
};

export class RequestTable {
  constructor(hooks) {
    this.hooks = hooks;            // open(row), selection(n), error(msg), info(text)
    this.viewport = $('#viewport');
    this.spacer = $('#spacer');
    this.rowsEl = $('#rows');       // moved to the scroll position, as high as the viewport
    this.inner = el('div');         // the pool of rows, shifted by the partial row on top
    this.rowsEl.append(this.inner);
    this.marker = $('#new-rows');
    this.foot = $('#table-foot');
    this.session = null;
    this.sort = 'time';
    this.reverse = true;           // newest first
    this.search = '';
    this.viewFilter = {};          // query-time filter (stopped session, device)
    this.captureFilter = {};       // a running session's capture filter (shown in the icons)
    this.client = null;            // device filter
    this.selected = new Set();
    this.openId = null;
    this.pool = [];
    this.queue = [];               // live rows waiting for the next frame
    this.frame = 0;
    this.gen = 0;                  // bumps on every reload: late answers are dropped
    this.loading = Promise.resolve();   // the last setSession's first page
    this.reset();
    this.buildHead();
    this.viewport.addEventListener('scroll', () => this.onScroll());
    new ResizeObserver(() => this.render()).observe(this.viewport);
    this.rowsEl.addEventListener('click', (e) => this.onClick(e));
    this.marker.addEventListener('click', () => this.jumpToNew());
  }

  reset() {
    this.pages = new Map();        // page index -> rows | 'loading'
    this.total = 0;
    this.shift = 0;                // rows added above since the view was loaded
    this.pending = 0;              // live rows not shown (the marker's count)
    this.skipped = 0;              // live rows the server counted but did not send
    this.seen = new Set();
    this.gen++;
  }

  running() { return this.session && (this.session.state === 'active' || this.session.state === 'paused'); }

  setSession(s, keepView) {
    // a placeholder opened by name or id is the same session once it is known
    const same = this.session && s && (this.session.id === s.id ||
      (this.session.state === 'loading' && this.session.id === s.name));
    this.session = s;
    if (!same) {
      this.selected.clear();
      this.openId = null;
      this.viewFilter = {};
      this.client = null;
      this.hooks.selection(0);
    }
    this.captureFilter = s && this.running() ? JSON.parse(JSON.stringify(s.filterSpec || {})) : {};
    this.updateIcons();
    if (!same || !keepView) this.loading = this.reload();
  }

  setSearch(q) { this.search = q; this.reload(); }
  setClient(c) { this.client = c; this.reload(); }

  params(offset, limit) {
    const p = new URLSearchParams({ sort: this.sort, offset, limit });
    if (this.reverse) p.set('reverse', '1');
    if (this.search) p.set('search', this.search);
    const f = this.queryFilter();
    if (f) p.set('filter', JSON.stringify(f));
    return p.toString();
  }

  queryFilter() {
    const f = Object.assign({}, this.running() ? {} : this.viewFilter);
    if (this.client) f.clients = [this.client];
    return Object.keys(f).length ? f : null;
  }

  // True when live rows land at the top in arrival order and match the view.
  liveOnTop() { return this.sort === 'time' && this.reverse && !this.search && !this.queryFilter(); }
  liveAtEnd() { return this.sort === 'time' && !this.reverse && !this.search && !this.queryFilter(); }

  async reload() {
    this.reset();
    this.marker.hidden = true;
    if (!this.session) { this.render(); return; }
    try {
      await this.fetchPage(0, true);
    } catch (e) {
      return;   // hooks.error has shown it under the table
    }
    this.render();
  }

  async fetchPage(p, first) {
    if (this.pages.has(p)) return;
    const gen = this.gen;
    this.pages.set(p, 'loading');
    try {
      const j = await api.get('/api/sessions/' + api.sid(this.session.id) + '/exchanges?' +
        this.params(p * PAGE + this.shift, PAGE));
      if (gen !== this.gen) return;
      this.pages.set(p, j.exchanges);
      if (first || p === 0) for (const r of j.exchanges) this.seen.add(r.id);
      if (first) this.total = j.total;
      if (this.pages.size > PAGES_KEPT) this.evict(p);
      this.hooks.error('');
      this.render();
    } catch (e) {
      if (gen !== this.gen) return;
      this.pages.delete(p);
      this.hooks.error(e.message);
      if (first) { this.total = 0; this.render(); }
      throw e;
    }
  }

  evict(keep) {
    let far = null, d = -1;
    for (const k of this.pages.keys()) if (Math.abs(k - keep) > d && k !== 0) { d = Math.abs(k - keep); far = k; }
    if (far !== null) this.pages.delete(far);
  }

  rowAt(i) {
    const pg = this.pages.get(Math.floor(i / PAGE));
    return Array.isArray(pg) ? pg[i % PAGE] : undefined;
  }

  // ---- live rows ----
  // Rows arrive as the event's JSON text: under thousands of rows a second
  // only the ones that can be seen are parsed (id and time are read from
  // the text's fixed start, `{"id":N,"time":"..."`, as rc_row_json writes it).
  push(text) {
    this.queue.push(text);
    this.later();
  }

  // The next flush: on an animation frame, at least LIVE_MIN_MS after the last.
  later() {
    if (this.frame) return;
    const wait = (this.lastFlush || 0) + LIVE_MIN_MS - performance.now();
    if (wait <= 0) { this.frame = requestAnimationFrame(() => this.flush()); return; }
    this.frame = setTimeout(() => { this.frame = requestAnimationFrame(() => this.flush()); }, wait);
  }

  // Rows stored but not sent (the stream's rows_per_s): counted like live
  // rows that are not on screen; the server places them when fetched.
  skip(n) {
    this.skipped += n;
    this.later();
  }

  flush() {
    this.frame = 0;
    this.lastFlush = performance.now();
    const texts = this.queue, skipped = this.skipped;
    this.queue = [];
    this.skipped = 0;
    if (!this.session) return;
    const rows = [];
    for (const t of texts) {
      const m = LIVE_HEAD.exec(t);
      const r = m ? { id: Number(m[1]), time: m[2], text: t } : JSON.parse(t);
      if (this.seen.has(r.id)) continue;
      this.seen.add(r.id);
      rows.push(r);
    }
    if (!rows.length && !skipped) return;
    if (this.seen.size > SEEN_MAX) this.seen = new Set([...this.seen].slice(-SEEN_MAX / 2));
    // a batch comes in index order (worker by worker): put it in time order
    rows.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.id - b.id));
    const full = (r) => (r.text ? JSON.parse(r.text) : r);
    if (this.liveOnTop() && this.following()) {
      // newest first and looking at the top: merge into page 0 by time (a
      // worker's rows can reach the disk after a later row of another
      // worker), keep page 0 only; a row that falls past it is the server's
      const p0 = this.pages.get(0);
      const fresh = rows.slice(-PAGE).reverse().map(full).concat(Array.isArray(p0) ? p0 : [])
        .sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0)).slice(0, PAGE);
      this.pages = new Map([[0, fresh]]);
      this.total += rows.length + skipped;
      this.shift = 0;
    } else if (this.liveOnTop()) {
      this.shift += rows.length + skipped;   // offsets move down under the rows the user sees
      this.pending += rows.length + skipped;
    } else if (this.liveAtEnd()) {
      if (skipped) {   // somewhere among the last rows: the last page is fetched again
        this.pages.delete(Math.floor(this.total / PAGE));
        this.total += skipped;
        this.pages.delete(Math.floor(this.total / PAGE));
      }
      for (const r of rows) {
        const pg = this.pages.get(Math.floor(this.total / PAGE));
        if (this.total % PAGE && Array.isArray(pg)) pg.push(full(r));
        else this.pages.delete(Math.floor(this.total / PAGE));   // fetched when seen
        this.total++;
      }
    } else {
      this.pending += rows.length + skipped;   // sorted or filtered elsewhere: the server places them
    }
    this.showMarker();
    this.render();
  }

  following() { return this.viewport.scrollTop < ROW_H; }

  showMarker() {
    this.marker.hidden = this.pending === 0;
    this.marker.textContent = (this.liveOnTop() ? '▲ ' : '↻ ') + this.pending + ' new row' + (this.pending === 1 ? '' : 's');
  }

  jumpToNew() {
    this.viewport.scrollTop = 0;
    this.reload();
  }

  onScroll() {
    if (this.pending && this.following() && this.liveOnTop()) { this.jumpToNew(); return; }
    this.render();
  }

  // ---- rendering ----
  scale() {
    const h = this.total * ROW_H;
    return h > MAX_SCROLL_PX ? (this.total * ROW_H - this.viewport.clientHeight) / (MAX_SCROLL_PX - this.viewport.clientHeight) : 1;
  }

  render() {
    const vh = this.viewport.clientHeight || 400;
    const scale = this.scale();
    this.spacer.style.height = Math.min(this.total * ROW_H, MAX_SCROLL_PX) + 'px';
    const top = this.viewport.scrollTop;
    const first = Math.max(0, Math.min(Math.floor(top * scale / ROW_H), Math.max(0, this.total - 1)));
    const count = Math.min(Math.ceil(vh / ROW_H) + 2, Math.max(0, this.total - first));
    // #rows is clipped to the viewport's height so that it never extends the
    // scrollable area past the spacer (that would move the scroll bar's end)
    this.rowsEl.style.transform = 'translateY(' + top + 'px)';
    this.rowsEl.style.height = vh + 'px';
    this.inner.style.transform = 'translateY(' + -((top * scale) % ROW_H) + 'px)';
    while (this.pool.length < count) {
      const r = el('div.row', {}, ...COLS.map((c) => c.key === 'sel'
        ? el('span', {}, el('input', { type: 'checkbox', 'aria-label': 'select row' }))
        : el('span', { class: c.num ? 'num c-' + c.key : 'c-' + c.key })));
      this.pool.push(r);
      this.inner.append(r);
    }
    const want = new Set();
    for (let k = 0; k < this.pool.length; k++) {
      const node = this.pool[k];
      if (k >= count) { node.hidden = true; continue; }
      node.hidden = false;
      const i = first + k;
      const row = this.rowAt(i);
      if (!row) { want.add(Math.floor(i / PAGE)); this.paint(node, null, i); continue; }
      this.paint(node, row, i);
    }
    for (const p of want) this.fetchPage(p).catch(() => {});
    const n = this.total;
    this.foot.textContent = n ? (first + 1) + '–' + Math.min(first + count, n) + ' of ' + n.toLocaleString() +
      (this.selected.size ? ' · ' + this.selected.size + ' selected' : '') : (this.session ? 'no exchanges yet' : 'no session');
  }

  paint(node, row, i) {
    node.dataset.index = i;
    node.classList.toggle('loading', !row);
    node.dataset.id = row ? row.id : '';
    node.classList.toggle('sel', !!row && this.selected.has(row.id));
    node.classList.toggle('open', !!row && this.openId === row.id);
    const cells = node.children;
    cells[0].firstChild.checked = !!row && this.selected.has(row.id);
    for (let c = 1; c < COLS.length; c++) {
      const v = row ? String(COLS[c].get(row) ?? '') : (c === 4 ? '…' : '');
      if (cells[c].textContent !== v) cells[c].textContent = v;
      if (c === 4 || c === 8) cells[c].title = v;   // URL and client are cut to fit
    }
    cells[2].className = row ? 's' + String(row.status || 0)[0] : '';
  }

  onClick(e) {
    const node = e.target.closest('.row');
    if (!node || !node.dataset.id) return;
    const id = Number(node.dataset.id);
    if (e.target.type === 'checkbox') {
      if (e.target.checked) this.selected.add(id); else this.selected.delete(id);
      this.hooks.selection(this.selected.size);
      this.render();
      return;
    }
    this.openId = id;
    this.render();
    this.hooks.open(this.rowAt(Number(node.dataset.index)));
  }

  selectAll(on) {
    if (!on) this.selected.clear();
    else for (const pg of this.pages.values()) if (Array.isArray(pg)) for (const r of pg) this.selected.add(r.id);
    this.hooks.selection(this.selected.size);
    this.render();
  }

  // ---- header: sort and filter icons ----
  buildHead() {
    const head = $('#thead');
    head.replaceChildren(...COLS.map((c) => {
      if (c.key === 'sel') return el('span', {}, el('input', { type: 'checkbox', id: 'sel-all', title: 'select all loaded rows', onchange: (e) => this.selectAll(e.target.checked) }));
      const cell = el('span', { class: (c.num ? 'num ' : '') + (c.sort ? 'sortable' : ''), dataset: { col: c.key }, title: c.sort ? 'sort by ' + c.label.toLowerCase() : 'not sortable' },
        c.label, el('span.arrow'));
      if (c.sort) cell.addEventListener('click', (e) => { if (!e.target.closest('.ficon')) this.sortBy(c.sort); });
      if (c.filter) cell.append(el('button.ficon', { title: 'filter ' + c.label.toLowerCase(), dataset: { filter: c.filter }, text: '▼',
        onclick: (e) => { e.stopPropagation(); this.openFilter(c.filter, cell); } }));
      return cell;
    }));
    this.updateArrows();
  }

  sortBy(key) {
    if (this.sort === key) this.reverse = !this.reverse;
    else { this.sort = key; this.reverse = key === 'time' || key === 'size' || key === 'duration'; }
    this.updateArrows();
    this.viewport.scrollTop = 0;
    this.reload();
  }

  updateArrows() {
    for (const a of document.querySelectorAll('#thead [data-col]')) {
      const c = COLS.find((x) => x.key === a.dataset.col);
      a.querySelector('.arrow').textContent = c.sort === this.sort ? (this.reverse ? '▼' : '▲') : '';
    }
  }

  activeSpec() { return this.running() ? this.captureFilter : this.viewFilter; }

  updateIcons() {
    const spec = this.activeSpec();
    for (const b of document.querySelectorAll('#thead .ficon')) {
      const on = FILTER_FIELDS[b.dataset.filter].some(([k]) => spec[k] && spec[k].length);
      b.classList.toggle('on', on);
    }
    this.hooks.info(this.running()
      ? 'header filters change the capture filter of the running session'
      : (this.session ? 'header filters filter this view' : ''));
  }

  openFilter(which, cell) {
    document.querySelectorAll('.popover').forEach((p) => p.remove());
    const spec = this.activeSpec();
    const inputs = FILTER_FIELDS[which].map(([k, label, ph]) => {
      const v = (spec[k] || []).join(which === 'url' && k === 'url_regex' ? '\n' : ', ');
      return [k, el('input', { name: k, value: v, placeholder: ph, 'aria-label': label })];
    });
    const err = el('div.err.ferr');
    const pop = el('form.popover', { dataset: { filter: which } },
      el('b', { text: this.running() ? 'Capture filter (running session)' : 'View filter' }),
      ...inputs.map(([k, inp]) => el('label', {}, FILTER_FIELDS[which].find((f) => f[0] === k)[1], inp)),
      err,
      el('div.btns', {}, el('button', { type: 'button', text: 'Clear', onclick: () => { inputs.forEach(([, i]) => { i.value = ''; }); } }),
        el('button', { type: 'button', text: 'Cancel', onclick: () => pop.remove() }),
        el('button', { type: 'submit', text: 'Apply' })));
    pop.addEventListener('submit', async (e) => {
      e.preventDefault();
      const next = Object.assign({}, spec);
      for (const [k, inp] of inputs) {
        const vals = k === 'url_regex' ? (inp.value.trim() ? [inp.value.trim()] : []) : list(inp.value);
        if (vals.length) next[k] = vals; else delete next[k];
      }
      err.textContent = '';
      try {
        await this.applyFilter(next);
        pop.remove();
      } catch (ex) {
        err.textContent = ex.message;   // the API's own words, next to the fields
      }
    });
    const r = cell.getBoundingClientRect(), wrap = $('#table-wrap').getBoundingClientRect();
    pop.style.left = Math.max(0, Math.min(r.left - wrap.left, wrap.width - 310)) + 'px';
    pop.style.top = (r.bottom - wrap.top + 2) + 'px';
    $('#table-wrap').append(pop);
    inputs[0][1].focus();
  }

  async applyFilter(spec) {
    if (this.running()) {
      const body = { filter: Object.keys(spec).length ? spec : null };
      const s = await api.json('PATCH', '/api/sessions/' + api.sid(this.session.id), body);
      this.captureFilter = spec;
      this.hooks.changed(s);
    } else {
      const old = this.viewFilter;
      this.viewFilter = spec;
      this.reset();
      try {
        await this.fetchPage(0, true);
      } catch (e) {
        this.viewFilter = old;
        this.reload();
        throw e;
      }
      this.render();
    }
    this.updateIcons();
  }

  visibleIds() { return [...this.selected]; }
  removeIds(ids) {
    for (const id of ids) this.selected.delete(id);
    this.hooks.selection(this.selected.size);
    this.reload();
  }
}
