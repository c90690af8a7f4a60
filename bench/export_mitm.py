#!/usr/bin/env python3
"""bench/export_mitm.py - mitmproxy's HAR export beside ringcap's, on the
same recorded traffic (issue 12), for bench/export.sh.

Sends N GET requests to a loopback origin (this process: a threaded
http.server answering ~200 B JSON bodies, distinct URLs), each one twice:

    client thread -> mitmdump -w FLOWS            -> origin
                  -> ringcap run --session mitmflows -> origin

so mitmdump's flow file and ringcap's session hold the same requests and
responses. (Not one chain through both: a flow file that mitmdump 8.1.1
writes in upstream mode does not load back - "Cannot change server.via on
open connection" - and ringcap has no upstream proxy.) Then, RUNS times each, it times
    mitmdump -n -r FLOWS -s har_dump.py --set hardump=OUT.har
    ringcap export mitmflows --format har -o OUT.har
under GNU time (wall, user + sys, peak RSS), checks that each HAR has N
entries, and prints Markdown rows in bench/export.sh's table format, then
ratio lines (ringcap / mitmdump exchanges/s, same traffic; and ringcap's
own HAR row of the big session, per exchange, when given).
mitmdump's figures include its start-up (Python imports), printed apart.

    export_mitm.py RINGCAP DIR N RUNS [RC_WALL_RATE RC_CPU_RATE]
"""
import http.client
import http.server
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402

HAR_DUMP = "/usr/share/doc/mitmproxy/examples/contrib/har_dump.py"
CLIENT_THREADS = 4
SESSION = "mitmflows"


class Origin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # head and body are two writes: no 40 ms delayed-ACK stall

    def do_GET(self):
        body = json.dumps({"path": self.path, "id": self.path.rsplit("/", 1)[-1],
                           "items": list(range(20)), "ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def client(proxy_ports, origin_port, ids, errors):
    """GETs every id in ids through each proxy, one keep-alive connection each."""
    conns = [http.client.HTTPConnection("127.0.0.1", p, timeout=30) for p in proxy_ports]
    for i in ids:
        url = "http://127.0.0.1:%d/api/v1/items/%d?page=%d&sort=name" % (origin_port, i, i % 7)
        for k, conn in enumerate(conns):
            try:
                conn.request("GET", url, headers={"User-Agent": "ringcap-bench/1",
                                                   "Accept": "application/json"})
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    errors.append("status %d for %s via %d" % (r.status, url, proxy_ports[k]))
            except (OSError, http.client.HTTPException) as e:
                errors.append("%s via %d: %s" % (url, proxy_ports[k], e))
                conn.close()
                conns[k] = http.client.HTTPConnection("127.0.0.1", proxy_ports[k], timeout=30)
    for conn in conns:
        conn.close()


def stop(p, sig=signal.SIGINT):
    """Asks p to exit (mitmdump flushes its flow file, ringcap its session)."""
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def record(ringcap, tmp, n):
    """Returns the flow file after the same n exchanges went through mitmdump and ringcap."""
    origin_port, rc_port, ctl_port, mitm_port = benchlib.freeports(4)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", origin_port), Origin)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    flows = os.path.join(tmp, "flows.mitm")
    logs = open(os.path.join(tmp, "record.log"), "w")
    rc = subprocess.Popen([ringcap, "run", "--listen", "127.0.0.1:%d" % rc_port,
                           "--control", "127.0.0.1:%d" % ctl_port, "--data", tmp,
                           "--workers", "1", "--session", SESSION],
                          stdout=logs, stderr=subprocess.STDOUT)
    mitm = subprocess.Popen(["mitmdump", "-q", "--listen-host", "127.0.0.1", "-p", str(mitm_port),
                             "--set", "confdir=%s" % os.path.join(tmp, "mitmconf"),
                             "-w", flows], stdout=logs, stderr=subprocess.STDOUT)
    try:
        if not benchlib.waitport(rc_port, 20, rc.pid):
            sys.exit("export_mitm: ringcap did not start (%s)" % logs.name)
        if not benchlib.waitport(mitm_port, 30, mitm.pid):
            sys.exit("export_mitm: mitmdump did not start (%s)" % logs.name)
        errors, threads = [], []
        t0 = time.monotonic()
        for k in range(CLIENT_THREADS):
            t = threading.Thread(target=client,
                                 args=((mitm_port, rc_port), origin_port, range(k, n, CLIENT_THREADS), errors))
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        took = time.monotonic() - t0
        if errors:
            sys.exit("export_mitm: %d of %d requests failed, first: %s" % (len(errors), n, errors[0]))
    finally:
        stop(mitm)
        stop(rc, signal.SIGTERM)
        srv.shutdown()
        logs.close()
    return flows, took


def timed(argv):
    """Returns (wall s, CPU s, peak RSS MiB) of one run of argv: wait4()'s
    rusage (microseconds; GNU time's own %e %U %S are too coarse for ringcap
    on a few thousand exchanges; Linux counts GNU time's waited child in).
    The peak RSS is GNU time's %M: a fork of this Python process would carry
    Python's RSS into the exec and into its own ru_maxrss."""
    rss = os.path.join(tempfile.gettempdir(), "export_mitm.%d.rss" % os.getpid())
    t0 = time.perf_counter()
    p = subprocess.Popen(["/usr/bin/time", "-o", rss, "-f", "%M"] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit("export_mitm: %s exited %d" % (" ".join(argv), p.returncode))
    with open(rss) as f:
        peak = int(f.read().split()[-1])
    os.unlink(rss)
    return wall, ru.ru_utime + ru.ru_stime, peak / 1024


def measure(argv, runs, har, n):
    """Medians over runs of argv, which writes har; checks har's entry count."""
    walls, cpus, rss = [], [], []
    for _ in range(runs):
        if os.path.exists(har):
            os.unlink(har)
        w, c, m = timed(argv)
        walls.append(w)
        cpus.append(c)
        rss.append(m)
        with open(har) as f:
            got = len(json.load(f)["log"]["entries"])
        if got != n:
            sys.exit("export_mitm: %s has %d entries, expected %d" % (har, got, n))
    return statistics.median(walls), statistics.median(cpus), max(rss)


def row(label, n, fmt, w, c, m):
    print("| %s | %d | %s | %.3f | %.3f | %.0f | %.0f | %.0f |" % (
        label, n, fmt, w, c, n / w if w else 0, n / c if c else 0, m))


def main():
    ringcap, tmp, n, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    big = [float(x) for x in sys.argv[5:7]]
    flows, took = record(ringcap, tmp, n)
    mh = os.path.join(tmp, "mitm.har")
    # its confdir too: mitmdump creates a CA there even with -n, not in ~/.mitmproxy
    conf = "confdir=%s" % os.path.join(tmp, "mitmconf")
    mw, mc, mm = measure(["mitmdump", "-n", "-q", "--set", conf, "-r", flows, "-s", HAR_DUMP,
                          "--set", "hardump=%s" % mh], runs, mh, n)
    row("same traffic, mitmdump flow file", n, "mitmdump HAR (har_dump.py)", mw, mc, mm)
    rh = os.path.join(tmp, "ringcap.har")
    rw, rcpu, rm = measure([ringcap, "export", SESSION, "--data", tmp, "--format", "har",
                            "-o", rh], runs, rh, n)
    row("same traffic, ringcap session", n, "HAR", rw, rcpu, rm)
    # mitmdump's fixed cost: the same command on an empty flow file
    empty = os.path.join(tmp, "empty.mitm")
    open(empty, "wb").close()
    sw, sc, _ = timed(["mitmdump", "-n", "-q", "--set", conf, "-r", empty, "-s", HAR_DUMP,
                       "--set", "hardump=%s" % os.path.join(tmp, "empty.har")])
    print()
    print("- same traffic: %d GETs (~200 B JSON bodies, distinct URLs), each sent through "
          "mitmdump -w and through ringcap run --session to one Python origin (%.0f pairs/s); "
          "flow file %d KiB" % (n, n / took, os.path.getsize(flows) >> 10))
    print("- mitmdump %s start-up with an empty flow file: %.2f s wall, %.2f s CPU "
          "(included above; without it mitmdump's row is %s exchanges/s by CPU time); "
          "HAR sizes: mitmdump %d KiB, ringcap %d KiB" % (
              mitm_version(), sw, sc, "%.0f" % (n / (mc - sc)) if mc > sc else "-",
              os.path.getsize(mh) >> 10, os.path.getsize(rh) >> 10))
    print("- ringcap / mitmdump HAR export, same %d exchanges: %.1fx (wall), %.1fx (CPU)" % (
        n, (mw / rw) if rw else 0, (mc / rcpu) if rcpu else 0))
    if len(big) == 2 and mw and mc:
        print("- ringcap / mitmdump HAR export per exchange, ringcap's nobody HAR row vs the "
              "mitmdump row: %.1fx (wall), %.1fx (CPU)" % (big[0] / (n / mw), big[1] / (n / mc)))


def mitm_version():
    try:
        return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "mitmproxy"],
                              capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
