#!/usr/bin/env python3
"""bench/idle_conns.py — memory cost of idle keep-alive client connections.

Starts its own nginx origin and a proxy on 127.0.0.1, opens COUNT client connections
through the proxy one after another (each sends one small absolute-form GET, reads the
whole response and then stays open, idle), holds them, and reports the proxy's RSS
growth per connection. Sequential requests keep the upstream side to one pooled
connection, so the growth is the cost of client connections. Everything is closed and
stopped at the end; the whole run is bounded by --max-seconds.

  bench/idle_conns.py                          # ringcap, 10,000 connections
  bench/idle_conns.py --target haproxy         # the reference, same measurement
  bench/idle_conns.py --attach PID:PORT        # a proxy you started yourself

RSS is what the proxy process holds in user space (VmRSS summed over its processes).
Kernel socket buffers are not in it; the TCP memory of the whole system from
/proc/net/sockstat is printed alongside (both ends of every loopback connection).
Target from issue 2: at most 4 KiB RSS per idle client connection.
QUICK=1: smoke run (200 connections held 0.5 s after 200 warm-up
exchanges, 60 s budget; flags still override).
"""

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TARGET_KIB = 4.0


def raise_nofile(need):
    """Soft limit up to the hard one (and the hard one up when allowed)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(hard, need)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def proc_nofile(pid):
    try:
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    return int(line.split()[3])
    except (OSError, ValueError, IndexError):
        pass
    return None


def tcp_mem_pages():
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                parts = line.split()
                return int(parts[parts.index("mem") + 1])
    return 0


def read_response(sock, deadline):
    """Read one response with Content-Length; return bytes of body, raise on error."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        if time.monotonic() > deadline or len(buf) > 65536:
            raise TimeoutError("no response head")
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before response head")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" ":
        raise ConnectionError(f"status line {status!r}")
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length is None:
        raise ConnectionError("no Content-Length in response")
    while len(body) < length:
        if time.monotonic() > deadline:
            raise TimeoutError("short body")
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        body += chunk
    return len(body)


def one_request(sock, request, seconds=10.0):
    sock.sendall(request)
    return read_response(sock, time.monotonic() + seconds)


def start(cmd, log, name):
    print(f"# starting {name}: {' '.join(cmd)}", file=sys.stderr)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)


def start_proxy(args, tmp, port, origin_port, log):
    if args.target == "ringcap":
        if not os.access(args.ringcap_bin, os.X_OK):
            sys.exit(f"idle_conns: ringcap not available ({args.ringcap_bin} missing)")
        cmd = [args.ringcap_bin, "run", "--listen", f"127.0.0.1:{port}",
               "--workers", str(args.workers), "--data", os.path.join(tmp, "data")]
        try:
            h = subprocess.run([args.ringcap_bin, "run", "--help"],
                               capture_output=True, text=True, timeout=5)
            helptext = h.stdout + h.stderr
        except subprocess.TimeoutExpired:
            helptext = ""
        if "--control" in helptext:
            cmd += ["--control", f"127.0.0.1:{benchlib.freeports(1)[0]}"]
        if "--max-conns-per-client" in helptext:   # every connection is ours
            cmd += ["--max-conns-per-client", "0"]
        cmd += args.ringcap_args.split()
    elif args.target == "haproxy":
        cfg = benchlib.haproxy_conf(tmp, port, origin_port)
        cmd = ["haproxy", "-db", "-f", cfg]
    else:
        cmd = ["mitmdump", "-q", "--listen-host", "127.0.0.1", "-p", str(port),
               "--set", f"confdir={os.path.join(tmp, 'mitm')}"]
    # The child inherits our raised RLIMIT_NOFILE; prlimit states it explicitly.
    if shutil.which("prlimit"):
        lim = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        cmd = ["prlimit", f"--nofile={lim}:{lim}", "--"] + cmd
    return start(cmd, log, args.target)


def warm_up(port, request, total, nconn=8):
    """Exchanges before the baseline, spread over several connections so that every
    worker sees some. Enough of them to cycle a proxy's preallocated receive buffers
    once: pages first touched later would otherwise count as per-connection cost."""
    conns = [socket.create_connection(("127.0.0.1", port), timeout=10)
             for _ in range(nconn)]
    try:
        for i in range(total):
            one_request(conns[i % nconn], request)
    finally:
        for c in conns:
            c.close()


def open_idle(count, port, request, deadline):
    socks, errors = [], []
    for i in range(count):
        if time.monotonic() > deadline:
            errors.append(f"time budget exhausted after {i} connections")
            break
        s = None
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            one_request(s, request)
            s.setblocking(False)   # idle from here on; still_open() peeks without waiting
            socks.append(s)
        except OSError as e:   # includes timeouts and ConnectionError
            if s is not None:
                s.close()
            errors.append(f"connection {i}: {e}")
            if len(errors) >= 20:
                break
        if (i + 1) % 2000 == 0:
            print(f"# {i + 1} connections open", file=sys.stderr)
    return socks, errors


def still_open(socks):
    """Count connections the proxy has not closed (no EOF, no stray bytes)."""
    alive = 0
    for s in socks:
        try:
            s.recv(1, socket.MSG_PEEK)   # EOF or stray bytes: not an idle connection
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    return alive


def measure(args, proxy_pid, port, origin_port):
    host = f"127.0.0.1:{origin_port}"
    request = (f"GET http://{host}/100b HTTP/1.1\r\nHost: {host}\r\n"
               f"User-Agent: ringcap-idle-bench\r\n\r\n").encode()
    deadline = time.monotonic() + args.max_seconds
    time.sleep(1.0)   # listening is not the end of start-up for every worker
    rss_start = benchlib.status_kib(proxy_pid, "VmRSS")
    warm_up(port, request, args.warmup_requests)
    time.sleep(0.5)
    rss0 = benchlib.status_kib(proxy_pid, "VmRSS")
    tcp0 = tcp_mem_pages()
    t0 = time.monotonic()
    half = args.count // 2
    socks, errors = open_idle(half, port, request, deadline - args.hold - 10)
    rss_half = benchlib.status_kib(proxy_pid, "VmRSS")
    more, errors2 = open_idle(args.count - half, port, request,
                              deadline - args.hold - 10)
    socks += more
    errors += errors2
    opened = time.monotonic() - t0
    time.sleep(args.hold)
    rss1 = benchlib.status_kib(proxy_pid, "VmRSS")
    n_second = len(socks) - half
    slope = (rss1 - rss_half) * 1024 / n_second if n_second > 0 else None
    hwm = benchlib.status_kib(proxy_pid, "VmHWM")
    tcp1 = tcp_mem_pages()
    alive = still_open(socks)
    print(f"# {alive} of {len(socks)} connections still open; checking a sample",
          file=sys.stderr)
    # a sample of the idle connections must still serve a request
    sample_ok = 0
    sample = socks[:: max(1, len(socks) // 100)][:100]
    for s in sample:
        if time.monotonic() > deadline:
            break
        try:
            s.settimeout(2.0)
            one_request(s, request, 2.0)
            sample_ok += 1
        except OSError:
            pass
    for s in socks:
        s.close()
    n = len(socks)
    return {
        "n": n, "opened_s": opened, "rss0": rss0, "rss1": rss1, "hwm": hwm,
        "per_conn_b": (rss1 - rss0) * 1024 / n if n else None,
        "slope_b": slope, "rss_half": rss_half, "rss_start": rss_start,
        "tcp_kib": (tcp1 - tcp0) * os.sysconf("SC_PAGE_SIZE") / 1024,
        "alive": alive, "sample": len(sample), "sample_ok": sample_ok,
        "errors": errors,
    }


def report(args, r, nofile):
    per = r["per_conn_b"]
    lines = [
        f"## idle keep-alive connections through {args.target} — "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"- {r['n']:,} of {args.count:,} connections opened in {r['opened_s']:.1f} s "
        f"(one GET of 100 B each), held idle {args.hold:g} s; proxy RLIMIT_NOFILE {nofile}",
        f"- still open after the hold: {r['alive']:,}; sample of {r['sample']} served "
        f"a second request: {r['sample_ok']}",
        f"- proxy RSS at start (before any request): {r['rss_start']:,} KiB; memory a "
        f"proxy preallocates and touches at start (connection slabs, buffers) is in "
        f"the baseline, not in the per-connection growth; RSS after ÷ connections: "
        f"{r['rss1'] * 1024 / max(1, r['n']):,.0f} B",
        f"- system TCP memory grew by {r['tcp_kib']:,.0f} KiB (kernel, both ends, "
        f"not in RSS)",
    ]
    if r["errors"]:
        lines.append(f"- errors ({len(r['errors'])}): " + "; ".join(r["errors"][:3]))
    lines += [
        "",
        "| target | connections | RSS before KiB | RSS after KiB | peak RSS KiB "
        "| RSS per connection | marginal, 2nd half | target ≤ 4 KiB |",
        "|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    if per is None:
        verdict, per_s = "not measured", "–"
    else:
        verdict = "MET" if per <= TARGET_KIB * 1024 else "NOT MET"
        per_s = f"{per:,.0f} B ({per / 1024:.2f} KiB)"
    slope = r["slope_b"]
    slope_s = "–" if slope is None else f"{slope:,.0f} B ({slope / 1024:.2f} KiB)"
    lines.append(f"| {args.target} | {r['n']:,} | {r['rss0']:,} | {r['rss1']:,} | "
                 f"{r['hwm']:,} | {per_s} | {slope_s} | {verdict} |")
    return "\n".join(lines)


def parse_args():
    quick = os.environ.get("QUICK") == "1"
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", choices=["ringcap", "haproxy", "mitmdump"],
                   default="ringcap")
    p.add_argument("--count", type=int, default=200 if quick else 10000)
    p.add_argument("--hold", type=float, default=0.5 if quick else 3.0,
                   help="seconds to hold the connections idle before measuring")
    p.add_argument("--warmup-requests", type=int, default=200 if quick else 10000,
                   help="exchanges before the baseline (cycles receive buffer rings)")
    p.add_argument("--max-seconds", type=float, default=60.0 if quick else 180.0,
                   help="time budget for the whole measurement")
    p.add_argument("--ringcap-bin",
                   default=os.environ.get("RINGCAP_BIN",
                                          os.path.join(ROOT, "build/tools/ringcap")))
    p.add_argument("--workers", type=int,
                   default=int(os.environ.get("RINGCAP_WORKERS", os.cpu_count() or 1)))
    p.add_argument("--ringcap-args", default=os.environ.get("RINGCAP_ARGS", ""),
                   help="extra arguments for ringcap run, e.g. a longer idle timeout")
    p.add_argument("--attach", metavar="PID:PORT",
                   help="measure an already running proxy instead of starting one")
    p.add_argument("--out-dir", default=os.path.join(HERE, "out"))
    return p.parse_args()


def main():
    args = parse_args()
    nofile = raise_nofile(args.count * 2 + 200)
    if nofile < args.count + 100:
        sys.exit(f"idle_conns: need {args.count + 100} descriptors, limit is {nofile}")
    if args.target == "haproxy":
        # HAProxy reserves two descriptors per maxconn (see benchlib.haproxy_conf).
        maxconn = min(70000, (benchlib.nofile_hard() - 200) // 2)
        if args.count > maxconn - 50:
            print(f"# haproxy maxconn is {maxconn} under this RLIMIT_NOFILE: "
                  f"count lowered to {maxconn - 50}", file=sys.stderr)
            args.count = maxconn - 50
    tmp = tempfile.mkdtemp(prefix="ringcap-idle.")
    procs = []
    log = open(os.path.join(tmp, "procs.log"), "w")
    try:
        origin_port, port = benchlib.freeports(2)
        conf = benchlib.nginx_conf(tmp, origin_port)
        nginx = start(["nginx", "-p", tmp, "-c", conf], log, "nginx")
        procs.append(nginx)
        if not benchlib.waitport(origin_port, 20, nginx.pid):
            sys.exit("idle_conns: nginx origin did not start")
        if args.attach:
            pid_s, _, port_s = args.attach.partition(":")
            proxy_pid, port = int(pid_s), int(port_s)
            args.target = f"pid {proxy_pid}"
        else:
            proxy = start_proxy(args, tmp, port, origin_port, log)
            procs.append(proxy)
            proxy_pid = proxy.pid
            if not benchlib.waitport(port, 30, proxy.pid):
                log.flush()
                with open(os.path.join(tmp, "procs.log")) as f:
                    tail = f.read()[-300:]
                sys.exit(f"idle_conns: {args.target} did not start: {tail}")
        r = measure(args, proxy_pid, port, origin_port)
        text = report(args, r, proc_nofile(proxy_pid))
        print(text)
        os.makedirs(args.out_dir, exist_ok=True)
        name = f"idle-{args.target.replace(' ', '')}-{time.strftime('%Y%m%d-%H%M%S')}.md"
        with open(os.path.join(args.out_dir, name), "w") as f:
            f.write(text + "\n")
        return 0 if r["n"] == args.count and not r["errors"] else 1
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
