#!/usr/bin/env python3
"""Helpers shared by bench/run.sh and bench/idle_conns.py.

Subcommands (used by run.sh):
  freeports N                     print N free TCP ports on 127.0.0.1
  waitport PORT SECONDS [PID]     exit 0 once 127.0.0.1:PORT accepts, 1 on timeout
                                  or as soon as process PID has exited
  conf nginx DIR PORT             write DIR/nginx.conf and DIR/www/{100b,64k,1m} plus
                                  the body kinds {64k,1m}-{text,rand} (body_bytes)
  conf haproxy DIR PORT BACKEND   write DIR/haproxy.cfg (forward proxy to BACKEND port)
  cpu PID                         CPU seconds (utime+stime) of PID and its descendants
  hwm PID                         summed VmHWM (KiB) of PID and its descendants
  rss PID                         summed VmRSS (KiB) of PID and its descendants
  resethwm PID                    reset VmHWM of PID and descendants (clear_refs 5)
  table RESULTS.tsv META.txt      print the Markdown report for a run

Process accounting reads /proc only: /proc/PID/stat fields 14-15 already sum all
threads of a process, and descendants cover multi-process proxies (nginx master and
worker, haproxy master-worker).
"""

import json
import os
import socket
import sys
import time

FILES = {"100b": 100, "64k": 64 * 1024, "1m": 1024 * 1024}
# Body kinds (issue 16): `x` bodies (above) shrink to nothing under zstd and
# flatter the store. "text" is JSON-like API output (compresses about like
# real JSON, 4-6x with zstd -1), "rand" is incompressible, as gzip/brotli-
# encoded responses and downloads look to the store.
KIND_FILES = {"64k-text": ("text", 64 * 1024), "64k-rand": ("rand", 64 * 1024),
              "1m-text": ("text", 1024 * 1024), "1m-rand": ("rand", 1024 * 1024)}
# Each kind file also comes in KIND_VARIANTS versions NAME.0, NAME.1, ...
# (different seeds) that wrk-req.lua cycles through (BENCH_VARIANTS): one
# body served again and again would let zstd find it in the previous
# exchange of the same frame, which real traffic rarely offers.
KIND_VARIANTS = 16
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray "
         "yankee zulu active pending shipped refunded premium basic trial").split()


def body_bytes(kind, size, seed=16):
    """Deterministic body of exactly size bytes: "text" (a JSON array of
    varied records) or "rand" (random bytes)."""
    import random
    rnd = random.Random(seed)
    if kind == "rand":
        return rnd.getrandbits(8 * size).to_bytes(size, "little")
    out, i = [], 0
    total = 1
    while total < size:
        rec = ('{"id": %d, "user": "%s.%s%d@example.com", "status": "%s", '
               '"amount": %d.%02d, "ts": "2026-%02d-%02dT%02d:%02d:%02dZ", '
               '"tags": ["%s", "%s"], "note": "%s %s %s", "ref": "%08x"}'
               % (1000 + i, rnd.choice(WORDS), rnd.choice(WORDS), rnd.randrange(100),
                  rnd.choice(WORDS[-8:]), rnd.randrange(10000), rnd.randrange(100),
                  rnd.randrange(1, 13), rnd.randrange(1, 29), rnd.randrange(24),
                  rnd.randrange(60), rnd.randrange(60), rnd.choice(WORDS),
                  rnd.choice(WORDS), rnd.choice(WORDS), rnd.choice(WORDS),
                  rnd.choice(WORDS), rnd.getrandbits(32)))
        out.append(rec)
        total += len(rec) + 2
        i += 1
    text = ("[" + ",\n".join(out) + "]").encode()
    return text[:size - 1] + b"\n"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def freeports(n):
    """Bind n sockets to port 0 at once so the ports differ, then release them."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def waitport(port, seconds, pid=None):
    """Wait until 127.0.0.1:port accepts; give up early when process pid is gone."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pid is not None and not os.path.exists(f"/proc/{pid}"):
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def nofile_hard():
    import resource
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def nginx_conf(d, port, worker_connections=None):
    """Origin server: one worker, no access log, open files cached."""
    if worker_connections is None:
        worker_connections = min(70000, nofile_hard() - 100)
    www = os.path.join(d, "www")
    os.makedirs(www, exist_ok=True)
    for name, size in FILES.items():
        with open(os.path.join(www, name), "wb") as f:
            f.write(b"x" * (size - 1) + b"\n")
    for name, (kind, size) in KIND_FILES.items():
        with open(os.path.join(www, name), "wb") as f:
            f.write(body_bytes(kind, size))
        for v in range(KIND_VARIANTS):
            with open(os.path.join(www, "%s.%d" % (name, v)), "wb") as f:
                f.write(body_bytes(kind, size, seed=1000 + v))
    conf = f"""# generated by bench/benchlib.py
daemon off;
user root;
worker_processes 1;
worker_rlimit_nofile {worker_connections + 100};
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
events {{ worker_connections {worker_connections}; multi_accept on; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    open_file_cache max=128 inactive=600s;
    open_file_cache_valid 600s;
    default_type application/octet-stream;
    client_body_temp_path {d}/tmp-body;
    proxy_temp_path {d}/tmp-proxy;
    fastcgi_temp_path {d}/tmp-fcgi;
    uwsgi_temp_path {d}/tmp-uwsgi;
    scgi_temp_path {d}/tmp-scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {www};
    }}
}}
"""
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    return path


def haproxy_conf(d, port, backend_port, maxconn=None):
    """HAProxy as the fast non-capturing reference.

    It is not a general forward proxy: every request, absolute-form included, goes to
    the one nginx backend. HAProxy keeps the absolute-form target on the way out, which
    nginx accepts. http-reuse always shares idle server connections between clients.
    HAProxy wants about two descriptors per maxconn and refuses to start when it cannot
    raise RLIMIT_NOFILE that far, so maxconn follows the hard limit.
    """
    if maxconn is None:
        maxconn = min(70000, (nofile_hard() - 200) // 2)
    # HAPROXY_THREADS: nbthread (default: HAProxy's own, one thread per CPU)
    threads = os.environ.get("HAPROXY_THREADS", "")
    nbthread = f"    nbthread {int(threads)}\n" if threads else ""
    # HAPROXY_OPTS: extra lines for the defaults section, e.g. "option http-no-delay"
    extra = "".join(f"    {o.strip()}\n" for o in
                    os.environ.get("HAPROXY_OPTS", "").split(";") if o.strip())
    conf = f"""# generated by bench/benchlib.py
global
{nbthread}    maxconn {maxconn}
    log stderr format raw local0 emerg
defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    timeout http-keep-alive 120s
    maxconn {maxconn}
{extra}frontend fwd
    bind 127.0.0.1:{port}
    default_backend origin
backend origin
    http-reuse always
    server nginx 127.0.0.1:{backend_port}
"""
    path = os.path.join(d, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(conf)
    return path


def tree(pid):
    """PID and all its descendants (bounded by the number of processes)."""
    children = {}
    for ent in os.listdir("/proc"):
        if not ent.isdigit():
            continue
        try:
            with open(f"/proc/{ent}/stat") as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(ent))
    out, todo = [], [pid]
    while todo and len(out) < 100000:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])   # utime, stime (fields 14, 15)
    return total / CLK_TCK


def status_kib(pid, key):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def reset_hwm(pid):
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass


# ---------------------------------------------------------------- report table

CASE_ORDER = ["100b-ka", "100b-close", "64k-ka", "64k-close", "1m-ka", "1m-close",
              "64k-text-ka", "64k-rand-ka", "1m-text-ka", "1m-rand-ka"]
TARGET_ORDER = ["direct", "haproxy", "ringcap", "ringcap-cap", "ringcap-b", "ringcap-b-cap",
                "mitmdump"]


def fmt(v, nd=0):
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if nd == 0:
        return f"{v:,.0f}"
    return f"{v:,.{nd}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def load_results(path):
    rows = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            target, case, cpu, hwm, wrkjson = line.split("\t", 4)
            r = {"target": target, "case": case}
            try:
                w = json.loads(wrkjson)
            except ValueError:
                w = None
            if w is None:
                r["error"] = wrkjson[:60] or "wrk failed"
            else:
                dur = w["duration_us"] / 1e6
                r["rps"] = w["requests"] / dur if dur else None
                r["mbps"] = w["bytes"] / dur / 1e6 if dur else None
                r["p50_ms"] = w["p50_us"] / 1000.0
                r["p99_ms"] = w["p99_us"] / 1000.0
                r["errors"] = sum(w["errors"].values())
                r["requests"] = w["requests"]
                r["bytes"] = w["bytes"]
                if "disk_bytes" in w and dur:
                    r["disk_mbps"] = w["disk_bytes"] / dur / 1e6
            r["cpu_s"] = float(cpu) if cpu not in ("", "-") else None
            r["hwm_kib"] = int(hwm) if hwm not in ("", "-") else None
            if r.get("requests") and r["cpu_s"] is not None:
                r["cpu_us_req"] = r["cpu_s"] * 1e6 / r["requests"]
            if r.get("bytes") and r["cpu_s"] is not None:
                # proxy CPU per MiB forwarded (= per MiB stored for ringcap-cap)
                r["cpu_ms_mib"] = r["cpu_s"] * 1e3 / (r["bytes"] / 1048576)
            # REPEAT > 1: keep the round with the best req/s (least disturbed)
            old = rows.get((target, case))
            if old is None or (r.get("rps") or 0) > (old.get("rps") or 0):
                rows[(target, case)] = r
    return rows


def table(results_path, meta_path):
    rows = load_results(results_path)
    out = []
    if meta_path and os.path.exists(meta_path):
        with open(meta_path) as f:
            out.append(f.read().rstrip())
        out.append("")
    out.append("| case | target | req/s | MB/s | p50 ms | p99 ms | errors | proxy CPU s"
               " | CPU µs/req | proxy peak RSS MiB | × direct | × haproxy | × mitmdump"
               " | CPU ms/MiB | disk MB/s | × capture off |")
    out.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    unavailable = {}
    cases = [c for c in CASE_ORDER if any(k[1] == c for k in rows)]
    targets = [t for t in TARGET_ORDER if any(k[0] == t for k in rows)]
    for c in cases:
        direct = rows.get(("direct", c), {}).get("rps")
        hap = rows.get(("haproxy", c), {}).get("rps")
        mitm = rows.get(("mitmdump", c), {}).get("rps")
        off = rows.get(("ringcap", c), {})
        off_b = rows.get(("ringcap-b", c), {})
        for t in targets:
            r = rows.get((t, c))
            if r is None:
                continue
            if "error" in r:
                if r["error"].startswith("not available"):
                    unavailable.setdefault(t, r["error"])
                else:
                    out.append(f"| {c} | {t} | {r['error']} |" + " |" * 13)
                continue
            hwm = r["hwm_kib"] / 1024 if r["hwm_kib"] is not None else None
            out.append("| " + " | ".join([
                c, t, fmt(r["rps"]), fmt(r["mbps"], 1), fmt(r["p50_ms"], 2),
                fmt(r["p99_ms"], 2), fmt(r["errors"]), fmt(r["cpu_s"], 2),
                fmt(r.get("cpu_us_req"), 1), fmt(hwm, 1),
                fmt(ratio(r["rps"], direct), 2) if t != "direct" else "1.00",
                fmt(ratio(r["rps"], hap), 2) if t != "haproxy" else "1.00",
                fmt(ratio(r["rps"], mitm), 1) if t != "mitmdump" else "1.0",
                fmt(r.get("cpu_ms_mib"), 2), fmt(r.get("disk_mbps"), 1),
                fmt(ratio(r["rps"], off.get("rps")), 2) if t == "ringcap-cap" else
                fmt(ratio(r["rps"], off_b.get("rps")), 2) if t == "ringcap-b-cap" else "–",
            ]) + " |")
    out.append("")
    for t, why in unavailable.items():
        out.append(f"{t}: {why}")
        out.append("")
    out.append(targets_section(rows))
    return "\n".join(out)


def targets_section(rows):
    """Issue 2 targets for ringcap, evaluated on this run's numbers."""
    def get(t, c, k):
        return rows.get((t, c), {}).get(k)
    rc = get("ringcap", "100b-ka", "rps")
    lines = ["Targets (issue 2):", ""]
    checks = [
        ("req/s 100b-ka ≥ 0.9 × haproxy", rc, get("haproxy", "100b-ka", "rps"), 0.9),
        ("req/s 100b-ka ≥ 20 × mitmdump", rc, get("mitmdump", "100b-ka", "rps"), 20.0),
        ("MB/s 1m-ka ≥ 0.8 × direct", get("ringcap", "1m-ka", "mbps"),
         get("direct", "1m-ka", "mbps"), 0.8),
        ("MB/s 1m-close ≥ 0.8 × direct", get("ringcap", "1m-close", "mbps"),
         get("direct", "1m-close", "mbps"), 0.8),
    ]
    for name, a, b, want in checks:
        r = ratio(a, b)
        if r is None:
            lines.append(f"- {name}: not measured")
        else:
            verdict = "MET" if r >= want else "NOT MET"
            lines.append(f"- {name}: {r:.2f}× — {verdict}")
    lines.append("- RSS per idle client connection ≤ 4 KiB: see bench/idle_conns.py")
    lines += ["", "Targets (issue 16, ringcap-cap = capture of every exchange on):", ""]
    checks = [(f"req/s {c} ringcap-cap ≥ {w} × haproxy", get("ringcap-cap", c, "rps"),
               get("haproxy", c, "rps"), w)
              for c, w in (("100b-ka", 1.0), ("100b-close", 1.0), ("64k-text-ka", 1.0),
                           ("1m-text-ka", 1.0), ("1m-rand-ka", 0.8))]
    cap, off = get("ringcap-cap", "1m-rand-ka", "cpu_ms_mib"), get("ringcap", "1m-rand-ka", "cpu_ms_mib")
    for name, a, b, want in checks:
        r = ratio(a, b)
        if r is None:
            lines.append(f"- {name}: not measured")
        else:
            lines.append(f"- {name}: {r:.2f}× — {'MET' if r >= want else 'NOT MET'}")
    r = ratio(cap, off)
    if r is None:
        lines.append("- CPU per MiB 1m-rand-ka ringcap-cap ≤ 1.5 × ringcap: not measured")
    else:
        lines.append(f"- CPU per MiB 1m-rand-ka ringcap-cap ≤ 1.5 × ringcap: {r:.2f}× — "
                     f"{'MET' if r <= 1.5 else 'NOT MET'}")
    return "\n".join(lines)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == "freeports":
        print(" ".join(str(p) for p in freeports(int(args[0]))))
    elif cmd == "waitport":
        pid = int(args[2]) if len(args) > 2 else None
        return 0 if waitport(int(args[0]), float(args[1]), pid) else 1
    elif cmd == "conf" and args[0] == "nginx":
        print(nginx_conf(args[1], int(args[2])))
    elif cmd == "conf" and args[0] == "haproxy":
        print(haproxy_conf(args[1], int(args[2]), int(args[3])))
    elif cmd == "cpu":
        print(f"{cpu_seconds(int(args[0])):.2f}")
    elif cmd == "hwm":
        print(status_kib(int(args[0]), "VmHWM"))
    elif cmd == "rss":
        print(status_kib(int(args[0]), "VmRSS"))
    elif cmd == "resethwm":
        reset_hwm(int(args[0]))
    elif cmd == "table":
        print(table(args[0], args[1] if len(args) > 1 else None))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
