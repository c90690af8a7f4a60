#!/usr/bin/env python3
"""bench/upload_backpressure.py — memory bound under many large uploads to a slow upstream.

Starts ringcap on 127.0.0.1 and an in-process upstream that accepts every connection
and reads each one at a trickle (--rate bytes/s). COUNT clients each send a POST head
declaring a BODY_SIZE body, then push body bytes as fast as their sockets take them for
--seconds. Backpressure means the proxy stops reading a client whose upstream is slow:
its RSS must stay bounded by its receive rings (--buf-count x --buf-size per worker),
whatever the clients try to push. Reported: RSS before and at peak, bytes the clients
got into the system, bytes the upstream read, the proxy's in-flight bytes from
/metrics (from clients minus to upstreams), whether a small GET through the proxy is
answered while the uploads stall (other clients' service), and how long the proxy
takes to serve again once the upstream closes everything.

  bench/upload_backpressure.py                   # 1,000 uploads of 1 GiB, 10 s
  bench/upload_backpressure.py --count 100 --seconds 3    # what CI runs (smaller)

The CI version is tests/integration/test_hardening.py UploadBackpressure.
QUICK=1: smoke run (20 uploads of 64 MiB for 1 s; flags still override).
"""

import argparse
import http.server
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class SlowUpstream:
    """Accepts every connection; reads each at `rate` bytes/s, never answers."""

    def __init__(self, rate):
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4096)
        self.port = self.lsock.getsockname()[1]
        self.conns, self.rate, self.received, self.stop_flag = [], rate, 0, False
        threading.Thread(target=self._accept, daemon=True).start()
        threading.Thread(target=self._read, daemon=True).start()

    def _accept(self):
        while not self.stop_flag:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            s.setblocking(False)
            self.conns.append(s)

    def _read(self):
        while not self.stop_flag:
            for s in list(self.conns):
                try:
                    self.received += len(s.recv(max(1, self.rate // 10)))
                except OSError:
                    pass
            time.sleep(0.1)

    def stop(self):
        self.stop_flag = True
        self.lsock.close()
        for s in self.conns:
            s.close()


class Fast(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


def metric(control, name):
    try:
        with urllib.request.urlopen(f"http://{control}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    m = re.search(r"(?m)^%s (\d+)" % re.escape(name), text)
    return int(m.group(1)) if m else None


def probe(port, fast_port, timeout):
    """One GET through the proxy to a fast origin: seconds, or None on timeout."""
    req = (f"GET http://127.0.0.1:{fast_port}/ HTTP/1.1\r\nHost: 127.0.0.1:{fast_port}\r\n"
           "Connection: close\r\n\r\n").encode()
    t0 = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.sendall(req)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return None
            data += chunk
        s.close()
        return time.monotonic() - t0 if b" 200 " in data.split(b"\r\n")[0] + b" " else None
    except OSError:
        return None


def drill(args, pid, port, control, up, fast_port):
    head = (f"POST http://127.0.0.1:{up.port}/up HTTP/1.1\r\nHost: 127.0.0.1:{up.port}\r\n"
            f"Content-Length: {args.body_size}\r\n\r\n").encode()
    rss0 = benchlib.status_kib(pid, "VmRSS")
    benchlib.reset_hwm(pid)
    socks = []
    for _ in range(args.count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
        s.sendall(head)
        s.setblocking(False)
        socks.append(s)
    chunk, sent = b"u" * 65536, [0] * args.count
    peak, probe_s, probe_done = rss0, None, False
    t0 = time.monotonic()
    end = t0 + args.seconds
    while time.monotonic() < end:
        progress = 0
        for i, s in enumerate(socks):
            if sent[i] >= args.body_size:
                continue
            try:
                n = s.send(chunk[:min(len(chunk), args.body_size - sent[i])])
                sent[i] += n
                progress += n
            except (BlockingIOError, InterruptedError, ConnectionError):
                pass
        peak = max(peak, benchlib.status_kib(pid, "VmRSS"))
        if not probe_done and time.monotonic() > t0 + args.seconds / 2:
            # the slowest of three: other clients must be served throughout
            ps = [probe(port, fast_port, args.probe_timeout) for _ in range(3)]
            probe_s = None if None in ps else max(ps)
            probe_done = True
        if progress == 0:
            time.sleep(0.05)
    inflight = metric(control, "ringcap_bytes_from_clients")
    hwm = benchlib.status_kib(pid, "VmHWM")
    up.stop()
    t1, recovered = time.monotonic(), None
    while time.monotonic() < t1 + 30:
        if probe(port, fast_port, 2.0) is not None:
            recovered = time.monotonic() - t1
            break
    for s in socks:
        s.close()
    return {"rss0": rss0, "peak": max(peak, hwm), "sent": sum(sent),
            "received": up.received, "inflight": inflight, "probe": probe_s,
            "recovered": recovered}


def report(args, r):
    ring_kib = args.workers * args.buf_count * args.buf_size // 1024
    growth = r["peak"] - r["rss0"]
    bounded = growth <= ring_kib + 16 * 1024
    probe = "answered in %.2f s" % r["probe"] if r["probe"] is not None \
        else "NOT answered within %g s" % args.probe_timeout
    rec = "%.2f s" % r["recovered"] if r["recovered"] is not None else "not within 30 s"
    mib = 1024 * 1024
    return "\n".join([
        f"## {args.count:,} uploads of {args.body_size / mib:,.0f} MiB to an upstream reading "
        f"{args.rate:,} B/s each — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"- ringcap, {args.workers} workers, receive rings {args.workers} x "
        f"{args.buf_count} x {args.buf_size // 1024} KiB = {ring_kib / 1024:.0f} MiB",
        f"- pushed for {args.seconds:g} s: clients got {r['sent'] / mib:,.1f} MiB into the "
        f"system (kernel buffers included), the upstream read {r['received'] / mib:,.1f} MiB",
        f"- the proxy read {'–' if r['inflight'] is None else '%.1f MiB' % (r['inflight'] / mib)}"
        f" of it (/metrics ringcap_bytes_from_clients); the rest waits in the clients' "
        f"and the proxy's kernel socket buffers",
        f"- RSS {r['rss0']:,} KiB before, peak {r['peak']:,} KiB: growth {growth:,} KiB "
        f"({'BOUNDED by the rings' if bounded else 'OVER the ring bound'})",
        f"- three GETs through the proxy while the uploads stall: slowest {probe}",
        f"- after the upstream closed everything, served again in: {rec}",
    ]), bounded


def main():
    quick = os.environ.get("QUICK") == "1"
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=20 if quick else 1000)
    p.add_argument("--body-size", type=int, default=64 << 20 if quick else 1 << 30)
    p.add_argument("--seconds", type=float, default=1.0 if quick else 10.0)
    p.add_argument("--rate", type=int, default=4096, help="upstream read rate per connection")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--buf-count", type=int, default=1024)
    p.add_argument("--buf-size", type=int, default=16384)
    p.add_argument("--probe-timeout", type=float, default=5.0)
    p.add_argument("--ringcap-bin", default=os.environ.get(
        "RINGCAP_BIN", os.path.join(ROOT, "build/tools/ringcap")))
    p.add_argument("--out-dir", default=os.path.join(HERE, "out"))
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 3 * args.count + 100:
        sys.exit(f"upload_backpressure: need {3 * args.count + 100} descriptors, have {hard}")
    tmp = tempfile.mkdtemp(prefix="ringcap-upload.")
    port, ctl = benchlib.freeports(2)
    up = SlowUpstream(args.rate)
    fast = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fast)
    threading.Thread(target=fast.serve_forever, daemon=True).start()
    cmd = [args.ringcap_bin, "run", "--listen", f"127.0.0.1:{port}", "--control",
           f"127.0.0.1:{ctl}", "--data", os.path.join(tmp, "data"), "--workers",
           str(args.workers), "--buf-count", str(args.buf_count), "--buf-size",
           str(args.buf_size), "--max-conns-per-client", "0", "--connect-ports", "*"]
    log = open(os.path.join(tmp, "ringcap.log"), "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        if not benchlib.waitport(port, 30, proc.pid):
            sys.exit("upload_backpressure: ringcap did not start")
        time.sleep(0.5)
        r = drill(args, proc.pid, port, f"127.0.0.1:{ctl}", up, fast.server_address[1])
        text, bounded = report(args, r)
        print(text)
        os.makedirs(args.out_dir, exist_ok=True)
        name = f"upload-{time.strftime('%Y%m%d-%H%M%S')}.md"
        with open(os.path.join(args.out_dir, name), "w") as f:
            f.write(text + "\n")
        ok = bounded and r["recovered"] is not None and r["probe"] is not None
        return 0 if ok else 1
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        fast.shutdown()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
