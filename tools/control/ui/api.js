// api.js - the control API from the page: fetch with the bearer token (kept
// in sessionStorage, never in a URL), errors as the API's own words, and
// the Server-Sent Events stream read through fetch (EventSource cannot send
// an Authorization header), with reconnection.

const TOKEN_KEY = 'ringcap.token';

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

let unauthorised = () => {};
export function onUnauthorised(fn) { unauthorised = fn; }
export function setToken(t) { if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY); }
export function hasToken() { return !!sessionStorage.getItem(TOKEN_KEY); }

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const t = sessionStorage.getItem(TOKEN_KEY);
  if (t) h.Authorization = 'Bearer ' + t;
  return h;
}

async function errorOf(r) {
  let msg = r.status + ' ' + r.statusText;
  try {
    const j = await r.json();
    if (j && j.error) msg = j.error;
  } catch (e) { /* not JSON: keep the status line */ }
  return new ApiError(r.status, msg);
}

// The Response of a request that succeeded (2xx), else throws ApiError.
export async function raw(method, path, body, signal) {
  const init = { method, headers: headers(), cache: 'no-store', signal };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'the control port does not answer (' + e.message + ')');
  }
  if (r.status === 401) { unauthorised(); throw await errorOf(r); }
  if (!r.ok) throw await errorOf(r);
  return r;
}

export async function json(method, path, body, signal) {
  const r = await raw(method, path, body, signal);
  return r.json();
}

export const get = (path, signal) => json('GET', path, undefined, signal);

export function sid(s) { return encodeURIComponent(s); }

// Follows /api/sessions/ID/events. handlers: event(json text) per exchange,
// skipped(count) for rows the server left out (?rows_per_s), open(reconnected),
// lost(attempt, error), end(error?). Returns {close()}.
export function stream(path, h) {
  let stopped = false, ctrl = null, attempt = 0;
  const sleep = (t) => new Promise((res) => setTimeout(res, t));
  async function once() {
    ctrl = new AbortController();
    const r = await raw('GET', path, undefined, ctrl.signal);
    h.open(attempt > 0);
    attempt = 0;
    const rd = r.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await rd.read();
      if (done) return false;
      buf += dec.decode(value, { stream: true });
      const blocks = buf.split('\n\n');
      buf = blocks.pop();   // an incomplete event waits for the next read
      for (const block of blocks) {
        let ev = 'message', data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) ev = line.slice(6).trim();
          else if (line.startsWith('data:')) data += line.slice(5).trim();
        }
        if (ev === 'end') return true;
        if (ev === 'exchange' && data) h.event(data);   // JSON text: parsed when shown
        else if (ev === 'skipped' && data && h.skipped) h.skipped(JSON.parse(data).count);
      }
    }
  }
  (async () => {
    while (!stopped) {
      let ended = false, err = null;
      try { ended = await once(); } catch (e) { err = e; }
      if (stopped) return;
      if (ended || (err && (err.status === 404 || err.status === 401))) { h.end(err); return; }
      attempt++;
      h.lost(attempt, err);
      await sleep(Math.min(500 * attempt, 3000));
    }
  })();
  return { close() { stopped = true; if (ctrl) ctrl.abort(); } };
}
