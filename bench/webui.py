#!/usr/bin/env python3
"""The web UI under load, measured in a real browser (headless Chromium).

1. Big session: a synthetic session of N exchanges (bench/gen_session.c,
   1,000,000; QUICK=1: 100,000) served by `ringcap run`: time from
   navigation to the first rendered rows of the requests table, and from a
   click on the Duration header to the re-sorted rows. Goals (issue 13):
   first rows <= 1 s, a sort <= 1 s.
2. Live load: wrk sends RATE req/s (2,000) for SECONDS (30; QUICK=1: 8)
   through the proxy to nginx while a session captures and the page follows
   it. Every second the bench clicks a row and times the click to the
   rendered details pane (goal: <= 200 ms), and reads the page's JS heap
   (performance.memory, --enable-precise-memory-info): it must stay bounded
   (the table keeps at most 40 pages of 200 rows).

3. Pages open vs none: wrk as fast as it goes (50 connections, PAGES_S
   seconds, 10; QUICK=1: 2) through the capturing proxy with no page, then
   with 5 browser windows following the session, ROUNDS times (2; QUICK=1:
   1) in alternating order, the best req/s of each kept: req/s, the ratio
   5 pages / none, and the ringcap process's CPU per 1,000 requests (the
   difference is the control port serving 5 event streams). Goal (issue
   13): req/s with 5 pages >= 0.95 x with none. The windows run on the
   same cores, so on a small box this ratio also counts the browser's own
   CPU (reported too). So a third configuration runs 5 browserless
   clients that do what a page does (its event stream with the page's
   rows_per_s, /api/status and /metrics each second): the control port's
   own cost to the data plane. And a fourth runs the 5 browser windows at
   nice 19 and SCHED_IDLE ("pages, browsers niced"): they still follow the
   session, but yield the cores to the proxy, as pages on the engineers'
   own machines would; what is left of the difference is what ringcap
   spends on them (and what the browsers' cache and memory traffic cost).

PARTS (big,live,pages) picks the parts to run. Prints one line per
measurement, a table (the one bench/smoke.py checks) and a
"BENCHJSON {...}" summary. Needs
chromium, chromium-driver, python3-selenium, wrk, nginx; ringcap from
./build/tools/ringcap and the generator from ./build/bench/
rc_gen_session (RINGCAP_BIN, GEN_BIN override). Loopback only; every
process started is stopped by its pid.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

try:
    from selenium import webdriver
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    from selenium import webdriver
from selenium.webdriver.chrome.service import Service  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = os.environ.get("QUICK") == "1"
RINGCAP = os.environ.get("RINGCAP_BIN", os.path.join(ROOT, "build/tools/ringcap"))
GEN = os.environ.get("GEN_BIN", os.path.join(ROOT, "build/bench/rc_gen_session"))
BIG_N = int(os.environ.get("BIG_N", 20000 if QUICK else 1000000))
RATE = int(os.environ.get("RATE", 2000))
SECONDS = int(os.environ.get("SECONDS", 5 if QUICK else 30))
PAGES_S = int(os.environ.get("PAGES_S", 2 if QUICK else 10))
ROUNDS = int(os.environ.get("ROUNDS", 1 if QUICK else 2))
PARTS = os.environ.get("PARTS", "big,live,pages").split(",")
UI_ROWS_PER_S = 200                   # the page's ?rows_per_s (LIVE_ROWS_PER_S, ui/app.js)
CONNS = 24                            # wrk connections; delay = CONNS * 1000 / RATE ms
                                      # (latency comes on top: ~1,700 req/s with 20)

# Clicks the first visible row and resolves with the ms until its details
# pane shows that exchange (the pane renders after the exchange and its
# bodies are fetched).
CLICK_JS = """
const done = arguments[arguments.length - 1];
const row = [...document.querySelectorAll('#rows .row')].find(r => r.dataset.id && !r.hidden);
if (!row) { done(-1); return; }
const id = row.dataset.id, url = row.children[4].textContent, t0 = performance.now();
row.children[4].click();
(function poll() {
  const h = document.querySelector('#details h3');
  if (h && h.textContent.endsWith(url) && !document.querySelector('#details p.note:only-child'))
    done(performance.now() - t0);
  else if (performance.now() - t0 > 5000) done(99999);
  else requestAnimationFrame(poll);
})();"""

HEAP_JS = "return performance.memory ? performance.memory.usedJSHeapSize : -1"

FIRST_ROWS_JS = """
const done = arguments[arguments.length - 1];
(function poll() {
  if (document.querySelector('#rows .row[data-id]:not([data-id=""])'))
    done(performance.now());
  else if (performance.now() > 60000) done(-1);
  else setTimeout(poll, 5);
})();"""

SORT_JS = """
const done = arguments[arguments.length - 1];
const t = window.ringcap.table, before = (t.rowAt(0) || {}).id, t0 = performance.now();
document.querySelector('#thead [data-col=duration]').click();
(function poll() {
  const r = t.rowAt(0);
  const row = document.querySelector('#rows .row');
  if (t.sort === 'duration' && r && row && row.dataset.id === String(r.id) &&
      (r.id !== before || t.total <= 1))
    done([performance.now() - t0, r.duration_ms]);
  else if (performance.now() - t0 > 60000) done([-1, 0]);
  else requestAnimationFrame(poll);
})();"""


def browser():
    """A headless Chromium; quit it with quit_browser (its profile goes too)."""
    o = webdriver.ChromeOptions()
    profile = tempfile.mkdtemp(prefix="chr-")
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run",
              "--disable-dev-shm-usage", "--enable-precise-memory-info",
              "--window-size=1280,800", "--user-data-dir=" + profile):
        o.add_argument(a)
    o.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    d = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                         options=o)
    d.set_script_timeout(90)
    d.ringcap_profile = profile
    return d


def quit_browser(d):
    d.quit()
    shutil.rmtree(d.ringcap_profile, ignore_errors=True)


def start_ringcap(tmp, data, extra):
    proxy, ctl = benchlib.freeports(2)
    log = open(os.path.join(tmp, "ringcap.log"), "wb")
    p = subprocess.Popen([RINGCAP, "run", "--listen", "127.0.0.1:%d" % proxy, "--control",
                          "127.0.0.1:%d" % ctl, "--data", data, "--connect-ports", "*"] + extra,
                         stdout=log, stderr=log)
    if not benchlib.waitport(ctl, 30, p.pid):
        sys.exit("ringcap did not start: see %s/ringcap.log" % tmp)
    return p, proxy, ctl


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def big_session(tmp, out):
    data = os.path.join(tmp, "big")
    t = time.monotonic()
    subprocess.run([GEN, "--data", data, "--name", "big", str(BIG_N)], check=True,
                   stdout=subprocess.DEVNULL)
    print("generated %d exchanges in %.1f s" % (BIG_N, time.monotonic() - t), flush=True)
    p, _, ctl = start_ringcap(tmp, data, [])
    d = browser()
    try:
        d.get("http://127.0.0.1:%d/" % ctl)   # warm: the assets are cached after this
        time.sleep(1)
        d.get("about:blank")   # a new document: performance.now() counts from its navigation
        d.get("http://127.0.0.1:%d/#/s/big/requests" % ctl)
        first = d.execute_async_script(FIRST_ROWS_JS)
        sort_ms, top = d.execute_async_script(SORT_JS)
        total = d.execute_script("return window.ringcap.table.total")
        print("big session: %d exchanges; first rows %.0f ms after navigation; sort by "
              "duration %.0f ms (top %.1f ms)" % (total, first, sort_ms, top), flush=True)
        out.update(big_exchanges=total, first_rows_ms=round(first), sort_ms=round(sort_ms))
    finally:
        quit_browser(d)
        stop(p)


def live_load(tmp, out):
    data = os.path.join(tmp, "live")
    (nginx_port,) = benchlib.freeports(1)
    ndir = os.path.join(tmp, "nginx")
    benchlib.nginx_conf(ndir, nginx_port)
    nginx = subprocess.Popen(["nginx", "-p", ndir, "-c", os.path.join(ndir, "nginx.conf")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    benchlib.waitport(nginx_port, 10, nginx.pid)
    p, proxy, ctl = start_ringcap(tmp, data, ["--session", "load"])
    d = browser()
    wrk = None
    try:
        d.get("http://127.0.0.1:%d/" % ctl)
        time.sleep(1.5)
        env = dict(os.environ, BENCH_PATH="http://127.0.0.1:%d/100b" % nginx_port,
                   BENCH_HOST="127.0.0.1:%d" % nginx_port,
                   BENCH_DELAY_MS=str(CONNS * 1000 // RATE))
        wrk = subprocess.Popen(["wrk", "-t1", "-c%d" % CONNS, "-d%ds" % SECONDS, "--timeout", "5s",
                                "-s", os.path.join(ROOT, "bench/webui-rate.lua"),
                                "http://127.0.0.1:%d" % proxy], env=env, stdout=subprocess.PIPE,
                               text=True)
        cpu0 = benchlib.cpu_seconds(p.pid)
        clicks, heaps = [], []
        t_end = time.monotonic() + SECONDS
        # the clicks start once a live row shows (the first rows wait out the
        # stream's ordering delay and the table's repaint interval)
        while time.monotonic() < t_end and not d.execute_script(
                "return !!document.querySelector('#rows .row[data-id]:not([data-id=\"\"])')"):
            time.sleep(0.1)
        while time.monotonic() < t_end:
            t = time.monotonic()
            clicks.append(d.execute_async_script(CLICK_JS))
            heaps.append(d.execute_script(HEAP_JS))
            time.sleep(max(0, 1 - (time.monotonic() - t)))
        wout, _ = wrk.communicate(timeout=SECONDS + 30)
        cpu = benchlib.cpu_seconds(p.pid) - cpu0
        res = json.loads(wout.split("BENCHJSON ", 1)[1])
        rps = res["requests"] / (res["duration_us"] / 1e6)
        st = json.loads(urllib.request.urlopen("http://127.0.0.1:%d/api/status" % ctl).read())
        shown = d.execute_script("return window.ringcap.table.total + window.ringcap.table.pending")
        ok = [c for c in clicks if c >= 0]
        print("live load: %.0f req/s for %d s, %d captured, page shows %d; click to details: "
              "median %.0f ms, max %.0f ms over %d clicks; JS heap %.1f -> max %.1f MiB; "
              "ringcap CPU %.1f s" % (rps, SECONDS, st["active"]["exchanges"], shown,
                                      sorted(ok)[len(ok) // 2] if ok else -1,
                                      max(ok) if ok else -1, len(ok), heaps[0] / 2**20,
                                      max(heaps) / 2**20, cpu), flush=True)
        out.update(load_rps=round(rps), load_s=SECONDS, captured=st["active"]["exchanges"],
                   page_rows=shown, click_ms_max=round(max(ok)) if ok else None,
                   click_ms_median=round(sorted(ok)[len(ok) // 2]) if ok else None,
                   heap_mib_start=round(heaps[0] / 2**20, 1),
                   heap_mib_max=round(max(heaps) / 2**20, 1), ringcap_cpu_s=round(cpu, 1))
    finally:
        if wrk and wrk.poll() is None:
            wrk.kill()
            wrk.wait()
        quit_browser(d)
        stop(p)
        stop(nginx)


def unthrottled(tmp, nginx_port, proxy, seconds):
    """wrk at full speed through the proxy; (req/s, p99 ms)."""
    env = dict(os.environ, BENCH_PATH="http://127.0.0.1:%d/100b" % nginx_port,
               BENCH_HOST="127.0.0.1:%d" % nginx_port)
    out = subprocess.run(["wrk", "-t1", "-c50", "-d%ds" % seconds, "-s",
                          os.path.join(ROOT, "bench/wrk-req.lua"), "http://127.0.0.1:%d" % proxy],
                         env=env, capture_output=True, text=True, timeout=seconds + 60).stdout
    res = json.loads(out.split("BENCHJSON ", 1)[1])
    return res["requests"] / (res["duration_us"] / 1e6), res["p99_us"] / 1000


def control_cpu(pid):
    """CPU seconds of the control port's threads: libmicrohttpd's pool and
    the ticker that feeds the event streams."""
    total = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, t)) as f:
                if f.read().strip() not in ("MHD-worker", "rc-ticker"):
                    continue
            with open("/proc/%d/task/%s/stat" % (pid, t)) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wait_engine(ctl):
    """Until /metrics answers (503 "starting" before the engine runs)."""
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/metrics" % ctl, timeout=5).read()
            return
        except OSError:
            time.sleep(0.1)


class Streams:
    """n clients doing what a page does without a browser: the event stream
    of the active session with the page's rows_per_s, read and dropped,
    and /api/status plus /metrics once a second."""

    def __init__(self, ctl, n):
        self.ctl, self.stop_at, self.bytes, self.socks = ctl, None, 0, []
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(n)]

    def start(self):
        for t in self.threads:
            t.start()

    def run(self):
        s = socket.create_connection(("127.0.0.1", self.ctl), timeout=1)
        self.socks.append(s)
        s.sendall(("GET /api/sessions/active/events?rows_per_s=%d HTTP/1.1\r\nHost: x\r\n\r\n"
                   % UI_ROWS_PER_S).encode())
        next_poll = 0
        while self.stop_at is None:
            try:
                got = s.recv(65536)
                if not got:
                    break
                self.bytes += len(got)
            except socket.timeout:
                pass
            except OSError:
                break
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + 1
                for path in ("/api/status", "/metrics"):
                    try:   # as the page, which shows a failed poll and polls on
                        urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.ctl, path),
                                               timeout=5).read()
                    except OSError:
                        pass

    def close(self):
        self.stop_at = time.monotonic()
        for t in self.threads:
            t.join(5)
        for s in self.socks:
            s.close()


def renice(pid, nice):
    """Every thread of pid and its descendants at this nice value and the
    SCHED_IDLE policy: they run only on a core nothing else wants (Linux
    keeps both per thread; threads and children made later inherit them)."""
    for p in benchlib.tree(pid):
        try:
            tids = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue   # gone since (a helper process of Chromium)
        for t in tids:
            try:
                os.setpriority(os.PRIO_PROCESS, int(t), nice)
                os.sched_setscheduler(int(t), os.SCHED_IDLE, os.sched_param(0))
            except OSError:
                pass


def pages_round(tmp, nginx_port, mode, tag):
    """One run of wrk with nothing ("none"), 5 browser windows ("pages") or
    5 browserless clients ("streams") following the session: (req/s, p99 ms,
    ringcap CPU s, client CPU s)."""
    p, proxy, ctl = start_ringcap(tmp, os.path.join(tmp, "pages-%s" % tag), ["--session", "pages"])
    d = browser() if mode in ("pages", "pages-nice") else None
    st = Streams(ctl, 5) if mode == "streams" else None
    try:
        for k in range(5 if d else 0):
            if k:
                d.switch_to.new_window("window")
            d.get("http://127.0.0.1:%d/" % ctl)
        if st:
            wait_engine(ctl)
            st.start()
        time.sleep(2 if mode != "none" else 0.5)
        if d:
            following = 0
            for h in d.window_handles:
                d.switch_to.window(h)
                following += d.execute_script(
                    "return !!(window.ringcap && window.ringcap.stream)")
            assert following == 5, "every window follows the session"
            if mode == "pages-nice":
                renice(d.service.process.pid, 19)
        cpu0, ccpu0 = benchlib.cpu_seconds(p.pid), control_cpu(p.pid)
        bcpu0 = benchlib.cpu_seconds(d.service.process.pid) if d else 0
        t0 = time.process_time()
        rps, p99 = unthrottled(tmp, nginx_port, proxy, PAGES_S)
        cpu, ccpu = benchlib.cpu_seconds(p.pid) - cpu0, control_cpu(p.pid) - ccpu0
        bcpu = benchlib.cpu_seconds(d.service.process.pid) - bcpu0 if d else 0
        if st:
            bcpu = time.process_time() - t0
    finally:
        if d:
            quit_browser(d)
        if st:
            st.close()
        stop(p)
    print("%s: %.0f req/s (p99 %.1f ms), ringcap CPU %.1f s (control port %.2f s), client CPU "
          "%.1f s over %d s%s" % ({"none": "no page", "pages": "5 pages", "pages-nice": "5 pages niced",
                                   "streams": "5 streams"}[mode],
                                  rps, p99, cpu, ccpu, bcpu, PAGES_S,
                                  ", %d KiB of events" % (st.bytes >> 10) if st else ""),
          flush=True)
    return rps, p99, cpu, bcpu, ccpu


def pages_vs_none(tmp, out):
    (nginx_port,) = benchlib.freeports(1)
    ndir = os.path.join(tmp, "nginx2")
    benchlib.nginx_conf(ndir, nginx_port)
    nginx = subprocess.Popen(["nginx", "-p", ndir, "-c", os.path.join(ndir, "nginx.conf")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    benchlib.waitport(nginx_port, 10, nginx.pid)
    best = {}
    modes = ["none", "pages", "pages-nice", "streams"]
    try:
        for r in range(ROUNDS):
            for mode in (modes if r % 2 == 0 else modes[::-1]):
                got = pages_round(tmp, nginx_port, mode, "%d-%s" % (r, mode))
                if mode not in best or got[0] > best[mode][0]:
                    best[mode] = got
    finally:
        stop(nginx)
    base = best["none"][0]
    ratio = {m: best[m][0] / base if base else 0 for m in modes}
    per_k = {m: v[2] / (v[0] * PAGES_S / 1000) if v[0] else 0 for m, v in best.items()}
    print("req/s with 5 pages / with none: %.2f (browsers niced: %.2f); with 5 streams / none: "
          "%.2f" % (ratio["pages"], ratio["pages-nice"], ratio["streams"]), flush=True)
    out.update(rps_0_pages=round(base), rps_5_pages=round(best["pages"][0]),
               rps_5_streams=round(best["streams"][0]),
               rps_5_pages_nice=round(best["pages-nice"][0]),
               ratio_5_pages_nice=round(ratio["pages-nice"], 2),
               ratio_5_pages=round(ratio["pages"], 2), ratio_5_streams=round(ratio["streams"], 2),
               cpu_s_0_pages=round(best["none"][2], 1), cpu_s_5_pages=round(best["pages"][2], 1),
               browser_cpu_s_5_pages=round(best["pages"][3], 1),
               cpu_ms_per_1k_0_pages=round(per_k["none"] * 1000, 1),
               cpu_ms_per_1k_5_pages=round(per_k["pages"] * 1000, 1),
               cpu_ms_per_1k_5_streams=round(per_k["streams"] * 1000, 1),
               control_cpu_s={m: round(best[m][4], 2) for m in modes})


def table(out):
    """The results as a Markdown table (bench/smoke.py looks for its rows)."""
    print("\n| measurement | result | goal |\n| --- | --- | --- |")
    if "first_rows_ms" in out:
        print("| first rows, %d-exchange session | %d ms | <= 1000 ms |"
              % (out["big_exchanges"], out["first_rows_ms"]))
        print("| sort by duration | %d ms | <= 1000 ms |" % out["sort_ms"])
    if "load_rps" in out:
        print("| click to details under %d req/s | median %s ms, max %s ms | <= 200 ms |"
              % (out["load_rps"], out["click_ms_median"], out["click_ms_max"]))
        print("| JS heap under load | %.1f -> max %.1f MiB | bounded |"
              % (out["heap_mib_start"], out["heap_mib_max"]))
    if "ratio_5_pages" in out:
        print("| req/s, no page | %d | |" % out["rps_0_pages"])
        print("| req/s, 5 pages following | %d | |" % out["rps_5_pages"])
        print("| ratio 5 pages / none | %.2f | >= 0.95 |" % out["ratio_5_pages"])
        print("| req/s, 5 pages following, browsers at nice 19 + SCHED_IDLE | %d | |" % out["rps_5_pages_nice"])
        print("| ratio 5 pages (browsers at nice 19) / none | %.2f | >= 0.95 |"
              % out["ratio_5_pages_nice"])
        print("| req/s, 5 browserless streams like the pages' | %d | |" % out["rps_5_streams"])
        print("| ratio 5 streams / none | %.2f | |" % out["ratio_5_streams"])
        print("| ringcap CPU per 1,000 requests, none / 5 pages / 5 streams | %.1f / %.1f / "
              "%.1f ms | |" % (out["cpu_ms_per_1k_0_pages"], out["cpu_ms_per_1k_5_pages"],
                               out["cpu_ms_per_1k_5_streams"]))
        print("| browser CPU, 5 pages | %.1f s over %d s | |"
              % (out["browser_cpu_s_5_pages"], PAGES_S))
        c = out["control_cpu_s"]
        print("| control port CPU (HTTP pool + ticker), none / 5 pages / 5 pages niced / 5 streams "
              "| %.2f / %.2f / %.2f / %.2f s over %d s | |"
              % (c["none"], c["pages"], c["pages-nice"], c["streams"], PAGES_S))


def main():
    for f in (RINGCAP, GEN):
        if not os.access(f, os.X_OK):
            sys.exit("%s: not built (meson setup build && ninja -C build)" % f)
    tmp = tempfile.mkdtemp(prefix="ringcap-webui-bench-")
    out = {"quick": QUICK}
    try:
        if "big" in PARTS:
            big_session(tmp, out)
        if "live" in PARTS:
            live_load(tmp, out)
        if "pages" in PARTS:
            pages_vs_none(tmp, out)
    finally:
        table(out)
        print("BENCHJSON " + json.dumps(out))
        if not os.environ.get("KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
