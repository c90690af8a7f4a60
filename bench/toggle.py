#!/usr/bin/env python3
"""bench/toggle.py - capture-policy swaps under load (issue 5 benchmark).

Starts an nginx origin and ringcap (ports picked free, everything stopped
on exit), starts a session that captures everything (responses and cookies
saved), then per round:
  1. baseline: wrk through the proxy for DURATION s, no control traffic;
  2. toggling: the same wrk run while one keep-alive control connection
     makes TOGGLES changes spread evenly over the run, cycling through
     pause, resume, PATCH save_responses/capture_cookies, PATCH max_body.
It reports, per phase, req/s, p50/p99/max latency and wrk's errors (any
error or non-2xx answer = a lost request), the toggles done, failed and
their own latency, and the ratio p99(toggling) / p99(baseline).

usage: bench/toggle.py [--toggles 1000] [--duration 10] [--conns 50]
                       [--threads 2] [--file 100b] [--rounds 3] [--workers N]
Environment: RINGCAP_BIN [./build/tools/ringcap]; QUICK=1 smoke run (100
toggles, 1 s, 10 connections, 1 round; flags still override). Exits 1 when
ringcap does not stop cleanly (its log's tail on stderr: a sanitizer's
report when RINGCAP_BIN is a sanitizer build).
"""

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402


def api(conn, method, path, body=None):
    conn.request(method, path, body=json.dumps(body) if body is not None else None)
    r = conn.getresponse()
    data = r.read()
    return r.status, data


def wrk(args, proxy_port, origin_port, duration):
    env = dict(os.environ, BENCH_PATH="http://127.0.0.1:%d/%s" % (origin_port, args.file),
               BENCH_HOST="127.0.0.1:%d" % origin_port)
    out = subprocess.run(["wrk", "-t", str(args.threads), "-c", str(args.conns), "-d",
                          "%ds" % duration, "--timeout", "10s", "-s",
                          os.path.join(HERE, "wrk-req.lua"),
                          "http://127.0.0.1:%d/" % proxy_port],
                         capture_output=True, text=True, env=env, timeout=duration + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCHJSON "):
            return json.loads(line[len("BENCHJSON "):])
    raise RuntimeError("wrk printed no result:\n" + out.stdout + out.stderr)


def toggler(ctl_port, n, span_s, result):
    """n changes spread over span_s seconds on one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", ctl_port, timeout=30)
    steps = [("POST", "/api/sessions/active/pause", None),
             ("POST", "/api/sessions/active/resume", None),
             ("PATCH", "/api/sessions/active", {"save_responses": False,
                                                "capture_cookies": False}),
             ("PATCH", "/api/sessions/active", {"save_responses": True,
                                                "capture_cookies": True}),
             ("PATCH", "/api/sessions/active", {"max_body": 65536}),
             ("PATCH", "/api/sessions/active", {"max_body": 16 << 20})]
    lat, failed = [], 0
    t0 = time.monotonic()
    for i in range(n):
        slot = t0 + span_s * i / n
        now = time.monotonic()
        if slot > now:
            time.sleep(slot - now)
        method, path, body = steps[i % len(steps)]
        a = time.monotonic()
        try:
            st, data = api(conn, method, path, body)
        except (OSError, http.client.HTTPException) as e:
            st, data = 0, str(e).encode()
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", ctl_port, timeout=30)
        lat.append(time.monotonic() - a)
        if st != 200:
            failed += 1
            if failed <= 3:
                print("toggle %d: %s %s" % (i, st, data[:200]), file=sys.stderr)
    # leave it capturing, as it began
    api(conn, "PATCH", "/api/sessions/active", {"save_responses": True, "capture_cookies": True,
                                                "max_body": 16 << 20})
    conn.close()
    lat.sort()
    result.update(done=n, failed=failed, elapsed=time.monotonic() - t0,
                  p50_ms=lat[len(lat) // 2] * 1e3, p99_ms=lat[int(len(lat) * 0.99)] * 1e3,
                  max_ms=lat[-1] * 1e3)


def main():
    quick = os.environ.get("QUICK") == "1"
    ap = argparse.ArgumentParser()
    ap.add_argument("--toggles", type=int, default=100 if quick else 1000)
    ap.add_argument("--duration", type=int, default=1 if quick else 10)
    ap.add_argument("--conns", type=int, default=10 if quick else 50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--file", default="100b")
    ap.add_argument("--rounds", type=int, default=1 if quick else 3)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    args = ap.parse_args()
    rbin = os.environ.get("RINGCAP_BIN", os.path.join(os.path.dirname(HERE), "build/tools/ringcap"))
    tmp = tempfile.mkdtemp(prefix="ringcap-toggle-")
    procs = []
    try:
        origin, proxy, ctl = benchlib.freeports(3)
        os.makedirs(os.path.join(tmp, "nginx"))
        conf = benchlib.nginx_conf(os.path.join(tmp, "nginx"), origin)
        procs.append(subprocess.Popen(["nginx", "-p", os.path.join(tmp, "nginx"), "-c", conf],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        log = open(os.path.join(tmp, "ringcap.log"), "wb")
        procs.append(subprocess.Popen([rbin, "run", "--listen", "127.0.0.1:%d" % proxy,
                                       "--control", "127.0.0.1:%d" % ctl, "--data",
                                       os.path.join(tmp, "data"), "--workers", str(args.workers)],
                                      stdout=log, stderr=log))
        for port, p in ((origin, procs[0]), (proxy, procs[1]), (ctl, procs[1])):
            if not benchlib.waitport(port, 20, p.pid):
                raise RuntimeError("port %d did not open" % port)
        conn = http.client.HTTPConnection("127.0.0.1", ctl, timeout=30)
        st, data = api(conn, "POST", "/api/sessions", {"name": "bench", "save_responses": True,
                                                       "capture_cookies": True})
        assert st == 201, data
        conn.close()
        wrk(args, proxy, origin, 1)   # warm-up
        rows = []
        for rnd in range(args.rounds):
            base = wrk(args, proxy, origin, args.duration)
            tog = {}
            t = threading.Thread(target=toggler, args=(ctl, args.toggles,
                                                        args.duration * 0.9, tog))
            t.start()
            load = wrk(args, proxy, origin, args.duration)
            t.join()
            rows.append((base, load, tog))
            print("round %d: baseline p99 %.2f ms, toggling p99 %.2f ms, toggles %d/%d ok in "
                  "%.1f s" % (rnd + 1, base["p99_us"] / 1e3, load["p99_us"] / 1e3,
                              tog["done"] - tog["failed"], tog["done"], tog["elapsed"]),
                  file=sys.stderr)
        conn = http.client.HTTPConnection("127.0.0.1", ctl, timeout=30)
        st, data = api(conn, "GET", "/api/sessions/bench/exchanges?limit=1")
        captured = json.loads(data)["total"]
        conn.close()
        report(args, rows, captured)
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        if procs and procs[-1].returncode not in (0, None, -15):
            with open(os.path.join(tmp, "ringcap.log"), "rb") as f:
                tail = f.read()[-20000:].decode("utf-8", "replace")
            print("ringcap exit code %r; log in %s, its tail:\n%s"
                  % (procs[-1].returncode, tmp, tail), file=sys.stderr)
            sys.exit(1)
        shutil.rmtree(tmp, ignore_errors=True)


def errs(r):
    return sum(r["errors"].values())


def report(args, rows, captured):
    print("toggles per round %d over %d s of wrk (-t%d -c%d, %s keep-alive), %d workers"
          % (args.toggles, args.duration, args.threads, args.conns, args.file, args.workers))
    print()
    print("| round | phase | req/s | p50 ms | p99 ms | max ms | errors | toggles ok/failed "
          "| toggle p50/p99/max ms |")
    print("|---|---|---:|---:|---:|---:|---:|---|---|")
    ratios = []
    for i, (b, l, t) in enumerate(rows, 1):
        for name, r in (("baseline", b), ("toggling", l)):
            tg = ("%d/%d" % (t["done"] - t["failed"], t["failed"]),
                  "%.2f / %.2f / %.2f" % (t["p50_ms"], t["p99_ms"], t["max_ms"])) \
                if name == "toggling" else ("-", "-")
            print("| %d | %s | %.0f | %.2f | %.2f | %.2f | %d | %s | %s |"
                  % (i, name, r["requests"] / (r["duration_us"] / 1e6), r["p50_us"] / 1e3,
                     r["p99_us"] / 1e3, r["max_us"] / 1e3, errs(r), tg[0], tg[1]))
        ratios.append(l["p99_us"] / max(1, b["p99_us"]))
    total = sum(b["requests"] + l["requests"] for b, l, _ in rows)
    lost = sum(errs(b) + errs(l) for b, l, _ in rows)
    print()
    print("p99 ratio toggling/baseline per round: %s (median %.2f)"
          % (", ".join("%.2f" % r for r in ratios), sorted(ratios)[len(ratios) // 2]))
    print("requests %d, lost (wrk errors or non-2xx) %d; exchanges captured %d "
          "(fewer than requests: nothing is captured while paused, by design)"
          % (total, lost, captured))


if __name__ == "__main__":
    main()
