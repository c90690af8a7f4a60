#!/usr/bin/env python3
"""Access control and resource limits (issue 7 items 2-3, issue 5 loop
refusal and --identify-by):

- --auth / --auth-file: 407 with Proxy-Authenticate on every request of a
  keep-alive connection and on CONNECT, the header never forwarded, failed
  logins rate-limited per address (429 + Retry-After), the CA install page
  reachable without credentials;
- --identify-by auth: the Proxy-Authorization user names the client in the
  capture (with and without --auth, also inside an intercepted tunnel), and
  no capture keeps the credentials;
- --connect-ports: CONNECT elsewhere gets 403 with a reason;
- requests whose RESOLVED address is the proxy, its control port, or a
  link-local / metadata address get 403 (--allow-upstream lifts the last);
- --max-conns-per-client: 503 past the cap, across workers;
- accept backs off on EMFILE without spinning and recovers;
- uploads to a slow upstream are held back, not buffered (small version of
  bench/upload_backpressure.py).
"""

import base64
import json
import os
import resource
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

import harness
from harness import Proxy, ProxyCase, status_of
from origin import EchoServer, body_bytes

TMP = tempfile.mkdtemp(prefix="ringcap-hard-")
AUTH_FILE = os.path.join(TMP, "users")
with open(AUTH_FILE, "w") as f:
    f.write("# device lab\n\nbob:pw with spaces\r\ncarol:c:olon\n")


def basic(user, pw):
    return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()


def rc(*args):
    r = subprocess.run([harness.RINGCAP_BIN] + list(args), capture_output=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def loopback_name():
    """A host name other than "localhost" that resolves to loopback."""
    for name in ("vm", "runsc", socket.gethostname(), "localhost.localdomain",
                 "ip6-localhost"):
        try:
            infos = socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)
        except OSError:
            continue
        if name != "localhost" and infos and all(
                i[4][0].startswith("127.") or i[4][0] == "::1" for i in infos):
            return name
    return None


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])    # utime + stime


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Auth(ProxyCase):
    PROXY_ARGS = ["--auth", "alice:s3cret", "--auth-file", AUTH_FILE]
    OWN_PROXY = True

    def test_missing_credentials_407_and_connection_kept(self):
        c = self.conn()
        c.send(self.req("GET", "/size/3"))
        r = c.read_response()
        self.assertEqual(r.status, 407)
        self.assertEqual(r.header("proxy-authenticate")[:21], 'Basic realm="ringcap"')
        self.assertNotEqual((r.header("connection") or "").lower(), "close")
        c.send(self.req("GET", "/size/3", [("Proxy-Authorization", basic("alice", "s3cret"))]))
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, body_bytes(3)))
        self.assertEqual(len(self.origin.stats()["requests"]), 1)

    def test_every_keepalive_request_checked_and_header_not_forwarded(self):
        c = self.conn()
        good = [("Proxy-Authorization", basic("alice", "s3cret"))]
        c.send(self.req("GET", "/headers", good))
        r = c.read_response()
        self.assertEqual(r.status, 200)
        names = [k.lower() for k, _ in r.json()["headers"]]
        self.assertNotIn("proxy-authorization", names)
        c.send(self.req("GET", "/size/2"))
        self.assertEqual(c.read_response().status, 407)
        c.send(self.req("GET", "/size/2", good))
        self.assertEqual(c.read_response().status, 200)
        self.assertEqual(len(self.origin.stats()["requests"]), 2)

    def test_wrong_password_and_unknown_user_407(self):
        for cred in (basic("alice", "wrong"), basic("mallory", "s3cret"), "Basic !!!",
                     "Bearer abc", basic("alice", "s3cret") + "AA"):
            c = self.conn()
            c.send(self.req("GET", "/size/1", [("Proxy-Authorization", cred)]))
            self.assertEqual(c.read_response().status, 407, cred)
        self.assert_origin_saw_nothing()

    def test_two_credentials_refused(self):
        c = self.conn()
        good = ("Proxy-Authorization", basic("alice", "s3cret"))
        c.send(self.req("GET", "/size/1", [good, good]))
        self.assertEqual(c.read_response().status, 407)
        self.assert_origin_saw_nothing()

    def test_auth_file_users(self):
        for user, pw in (("bob", "pw with spaces"), ("carol", "c:olon")):
            c = self.conn()
            c.send(self.req("GET", "/size/4", [("Proxy-Authorization", basic(user, pw))]))
            self.assertEqual(c.read_response().status, 200, user)

    def test_curl_proxy_user(self):
        code, out, err = self.curl("-o", "/dev/null", "-w", "%{http_code}", self.ourl("/size/9"))
        self.assertEqual(out, b"407", err)
        code, out, err = self.curl("-U", "alice:s3cret", self.ourl("/size/9"))
        self.assertEqual((code, out), (0, body_bytes(9)), err)

    def test_connect_requires_auth(self):
        echo = EchoServer().start()
        self.addCleanup(echo.stop)
        target = "127.0.0.1:%d" % echo.port
        head = "CONNECT %s HTTP/1.1\r\nHost: %s\r\n" % (target, target)
        c = self.conn()
        c.send((head + "\r\n").encode())
        r = c.read_response("CONNECT")
        self.assertEqual(r.status, 407)
        self.assertIn("Basic", r.header("proxy-authenticate"))
        if (r.header("connection") or "").lower() == "close":
            c = self.conn()
        c.send((head + "Proxy-Authorization: %s\r\n\r\n" % basic("alice", "s3cret")).encode())
        self.assertEqual(c.read_response("CONNECT").status, 200)
        c.send(b"ping through the tunnel")
        self.assertEqual(c.read_exact(23), b"ping through the tunnel")

    def test_onboarding_page_without_auth(self):
        c = self.conn()
        c.send(b"GET http://ringcap.cert/ HTTP/1.1\r\nHost: ringcap.cert\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 200)
        c.send(b"GET http://ringcap.cert/ca.pem HTTP/1.1\r\nHost: ringcap.cert\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertTrue(r.body.startswith(b"-----BEGIN CERTIFICATE-----"))

    def test_status_page_needs_auth(self):
        c = self.conn()
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(c.read_response().status, 407)


class AuthRateLimit(ProxyCase):
    PROXY_ARGS = ["--auth", "dev:pw", "--auth-fail-max", "3", "--auth-fail-window", "2s"]
    OWN_PROXY = True

    def test_lockout_then_recovery(self):
        bad = [("Proxy-Authorization", basic("dev", "guess"))]
        good = [("Proxy-Authorization", basic("dev", "pw"))]
        c = self.conn()
        c.send(self.req("GET", "/size/1"))   # no header: not a failure
        self.assertEqual(c.read_response().status, 407)
        for _ in range(3):
            c.send(self.req("GET", "/size/1", bad))
            self.assertEqual(c.read_response().status, 407)
        c.send(self.req("GET", "/size/1", good))   # right, but locked out
        r = c.read_response()
        self.assertEqual(r.status, 429, r.body)
        self.assertGreaterEqual(int(r.header("retry-after")), 1)
        self.assertEqual(r.header("connection").lower(), "close")
        self.assertIn(b"--auth-fail-max", r.body)
        c2 = self.conn()   # another connection from the same address, other worker
        c2.send(self.req("GET", "/size/1", good))
        self.assertEqual(c2.read_response().status, 429)
        self.assert_origin_saw_nothing(0.1)
        time.sleep(2.3)
        c3 = self.conn()
        c3.send(self.req("GET", "/size/1", good))
        self.assertEqual(c3.read_response().status, 200)


class ConnectPorts(ProxyCase):
    OWN_PROXY = True

    @classmethod
    def setUpClass(cls):
        cls.echo = EchoServer().start()
        cls.PROXY_ARGS = ["--connect-ports", "443,80,%d" % cls.echo.port]
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.echo.stop()

    def connect(self, port):
        t = "127.0.0.1:%d" % port
        return self.raw(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (t, t)).encode(), 2.0)

    def test_other_port_403(self):
        out, _ = self.connect(self.origin.port)
        self.assertEqual(status_of(out), 403, out)
        self.assertIn(b"CONNECT to port %d is not allowed" % self.origin.port, out)
        self.assertIn(b"--connect-ports", out)
        self.assert_origin_saw_nothing()

    def test_listed_port_allowed(self):
        c = self.conn()
        t = "127.0.0.1:%d" % self.echo.port
        c.send(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (t, t)).encode())
        self.assertEqual(c.read_response("CONNECT").status, 200)
        c.send(b"x")
        self.assertEqual(c.read_exact(1), b"x")

    def test_plain_requests_any_port(self):
        c = self.conn()
        c.send(self.req("GET", "/size/2"))
        self.assertEqual(c.read_response().status, 200)


class DefaultConnectPorts(ProxyCase):
    PROXY_ARGS = ["--connect-ports", "443,80"]   # the default, after the harness's "*"
    OWN_PROXY = True

    def test_default_refuses_other_ports(self):
        self.assertIn("[443,80]", harness.run_help())
        t = self.origin.authority()
        out, _ = self.raw(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (t, t)).encode(), 2.0)
        self.assertEqual(status_of(out), 403, out)


class Loops(ProxyCase):
    """Decided on the resolved address: names and odd literals included."""
    CONTROL = harness.free_port()
    PROXY_ARGS = ["--control", "127.0.0.1:%d" % CONTROL, "--connect-timeout", "1s"]
    OWN_PROXY = True

    def get(self, authority, path="/"):
        data = ("GET http://%s%s HTTP/1.1\r\nHost: %s\r\n\r\n" % (authority, path, authority))
        return self.raw(data.encode(), 3.0)[0]

    def assert_403(self, out, words):
        self.assertEqual(status_of(out), 403, out[:300])
        self.assertIn(words, out)

    def test_control_port_refused(self):
        self.assert_403(self.get("127.0.0.1:%d" % self.CONTROL, "/metrics"), b"control port")
        self.assert_403(self.get("localhost:%d" % self.CONTROL, "/ca.pem"), b"control port")
        t = "127.0.0.1:%d" % self.CONTROL
        out, _ = self.raw(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (t, t)).encode(), 3.0)
        self.assert_403(out, b"control port")

    def test_control_port_by_other_name(self):
        name = loopback_name()
        if name is None:
            raise unittest.SkipTest("no second name for loopback in /etc/hosts")
        self.assert_403(self.get("%s:%d" % (name, self.CONTROL), "/metrics"), b"control port")

    def test_proxy_itself_by_name_and_odd_literals(self):
        port = self.proxy.port
        name = loopback_name()
        targets = ["[::ffff:127.0.0.1]:%d" % port, "0.0.0.0:%d" % port]
        if name:
            targets.append("%s:%d" % (name, port))
        for t in targets:
            self.assert_403(self.get(t), b"this proxy")

    def test_metadata_refused(self):
        for t in ("169.254.169.254", "169.254.169.254:8080", "[::ffff:169.254.169.254]",
                  "[fd00:ec2::254]", "[fe80::1]:80"):
            self.assert_403(self.get(t, "/latest/meta-data/"), b"--allow-upstream")

    def test_other_loopback_ports_allowed(self):
        c = self.conn()
        c.send(self.req("GET", "/size/7", host="localhost:%d" % self.origin.port))
        self.assertEqual(c.read_response().body, body_bytes(7))


class AllowUpstream(ProxyCase):
    PROXY_ARGS = ["--allow-upstream", "169.254.0.0/16", "--connect-timeout", "1s"]
    OWN_PROXY = True

    def test_allowed_metadata_is_tried(self):
        data = b"GET http://169.254.169.254:9/ HTTP/1.1\r\nHost: 169.254.169.254:9\r\n\r\n"
        out, _ = self.raw(data, 5.0)
        # whatever the network makes of it (502, 504, or a sandbox's own
        # answer): ringcap tried instead of refusing
        self.assertIsNotNone(status_of(out), out[:300])
        self.assertNotIn(b"refused to connect", out)


def metrics_text(control):
    """GET /metrics of the control port at 127.0.0.1:control. It answers
    503 "starting" until `run` hands the control port its engine, which
    happens once every worker is up: on a slow (sanitizer) build one worker
    may already serve a test's first requests before that."""
    for _ in range(100):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % control,
                                        timeout=10) as r:
                return r.read().decode()
        except urllib.error.HTTPError as e:
            if e.code != 503:
                raise
            time.sleep(0.1)
    raise AssertionError("/metrics still 503 after 10 s")


class PerClientCap(ProxyCase):
    CONTROL = harness.free_port()
    PROXY_ARGS = ["--max-conns-per-client", "5", "--control", "127.0.0.1:%d" % CONTROL]
    OWN_PROXY = True

    def test_cap_across_workers(self):
        held = []
        for i in range(5):
            c = self.conn()
            c.send(self.req("GET", "/size/1"))
            self.assertEqual(c.read_response().status, 200, i)
            held.append(c)
        out, closed = self.raw(self.req("GET", "/size/1"), 3.0)
        self.assertEqual(status_of(out), 503, out)
        self.assertIn(b"--max-conns-per-client", out)
        self.assertTrue(closed)
        text = metrics_text(self.CONTROL)
        self.assertRegex(text, r'(?m)^ringcap_errors_total\{kind="client_limit"\} 1$')
        self.assertRegex(text, r"(?m)^ringcap_connections_rejected_total 1$")
        held.pop().close()
        for _ in range(50):   # the close reaches the proxy asynchronously
            out, _ = self.raw(self.req("GET", "/size/1"), 3.0)
            if status_of(out) == 200:
                break
            time.sleep(0.1)
        self.assertEqual(status_of(out), 200, out)


class PerClientFlood(ProxyCase):
    """A flood beyond --max-conns-per-client is closed without a 503 once
    every answer slot is busy (by design); /metrics counts those closes."""
    CONTROL = harness.free_port()
    PROXY_ARGS = ["--max-conns-per-client", "1", "--control", "127.0.0.1:%d" % CONTROL]
    OWN_PROXY = True

    def metric(self, name):
        text = metrics_text(self.CONTROL)
        for line in text.splitlines():
            if line.startswith(name + " "):
                return int(line.split()[1])
        self.fail("no %s in /metrics" % name)

    def test_flood_counted(self):
        # the harness's port probe may still hold the one slot a moment
        for _ in range(50):
            held = self.conn()
            held.send(self.req("GET", "/size/1"))
            if held.read_response().status == 200:
                break
            held.close()
            time.sleep(0.1)
        else:
            self.fail("the first connection never got its slot")
        self.assertEqual(self.metric("ringcap_connections_unanswered_total"), 0)
        flood = []
        try:
            # the 503s linger up to 2 s each: 400 connections outrun the
            # 64 answer slots of each worker
            for _ in range(400):
                s = socket.create_connection((self.proxy.host, self.proxy.port), timeout=5)
                flood.append(s)
            deadline = time.monotonic() + 10
            n = 0
            while time.monotonic() < deadline:
                n = self.metric("ringcap_connections_unanswered_total")
                if n > 0:
                    break
                time.sleep(0.1)
            self.assertGreater(n, 0)
            self.assertLessEqual(n, self.metric("ringcap_connections_rejected_total"))
        finally:
            for s in flood:
                s.close()


class Emfile(unittest.TestCase):
    """RLIMIT_NOFILE reached: accept backs off (no spinning) and recovers."""

    def test_backoff_and_recovery(self):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        from origin import Origin
        origin = Origin().start()
        self.addCleanup(origin.stop)
        probe = Proxy(["--workers", "1"], 1, "emfile-probe").start()
        base = len(os.listdir("/proc/%d/fd" % probe.proc.pid))
        self.assertEqual(probe.stop(), 0)
        limit = base + 12
        p = Proxy(["--workers", "1"], 1, "emfile")
        argv = p.argv()
        p.argv = lambda: ["prlimit", "--nofile=%d:%d" % (limit, limit), "--"] + argv
        p.start()
        self.addCleanup(p.stop)
        held = []
        for _ in range(40):
            s = socket.create_connection((p.host, p.port), timeout=5)
            held.append(s)
        time.sleep(0.5)
        t0 = cpu_ticks(p.proc.pid)
        time.sleep(1.0)
        used = cpu_ticks(p.proc.pid) - t0
        hz = os.sysconf("SC_CLK_TCK")
        print("EMFILE: %d descriptors of headroom, 40 clients, proxy CPU %d/%d ticks in 1 s"
              % (limit - base, used, hz))
        self.assertLess(used, hz * 0.2, "proxy used %d ticks in 1 s at EMFILE" % used)
        req = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n"
               % (origin.url("/size/5"), origin.authority())).encode()
        out, _ = harness.send_recv_all(p.host, p.port, req, 1.0)
        self.assertEqual(out, b"", "served although out of descriptors: no EMFILE drill")
        for s in held:
            s.close()
        deadline = time.monotonic() + 8
        status = None
        while time.monotonic() < deadline:
            out, _ = harness.send_recv_all(p.host, p.port, req, 2.0)
            status = status_of(out)
            if status == 200:
                break
            time.sleep(0.2)
        self.assertEqual(status, 200, "no recovery after the descriptors came back")
        self.assertEqual(p.stop(), 0)


class SlowUpstream:
    """Accepts connections and reads them at a trickle (backpressure)."""

    def __init__(self, rate_per_conn=4096):
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4096)
        self.port = self.lsock.getsockname()[1]
        self.conns = []
        self.rate = rate_per_conn
        self.stop_flag = False
        self.received = 0
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
                    self.received += len(s.recv(self.rate // 10))
                except OSError:
                    pass
            time.sleep(0.1)

    def stop(self):
        self.stop_flag = True
        self.lsock.close()
        for s in self.conns:
            s.close()


def upload_drill(proxy, upstream_port, count, body_size, seconds, probe=None):
    """count clients each start a body_size upload; returns the bytes the
    clients got into the system, the proxy's peak RSS growth (KiB), its RSS
    before, and what probe() returned halfway through."""
    pid = proxy.proc.pid if proxy.proc else None
    rss0 = rss_kib(pid)
    socks = []
    head = ("POST http://127.0.0.1:%d/up HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            "Content-Length: %d\r\n\r\n" % (upstream_port, upstream_port, body_size)).encode()
    for _ in range(count):
        s = socket.create_connection((proxy.host, proxy.port), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
        s.sendall(head)
        s.setblocking(False)
        socks.append(s)
    chunk = b"u" * 65536
    sent = [0] * count
    peak = rss0
    t0 = time.monotonic()
    end, probed = t0 + seconds, None
    while time.monotonic() < end:
        if probe and probed is None and time.monotonic() > t0 + seconds / 2:
            probed = probe()
        progress = 0
        for i, s in enumerate(socks):
            if sent[i] >= body_size:
                continue
            try:
                n = s.send(chunk[:min(len(chunk), body_size - sent[i])])
                sent[i] += n
                progress += n
            except (BlockingIOError, InterruptedError):
                pass
        peak = max(peak, rss_kib(pid))
        if progress == 0:
            time.sleep(0.05)
    for s in socks:
        s.close()
    return sum(sent), peak - rss0, rss0, probed


class UploadBackpressure(ProxyCase):
    """CI-sized: 100 uploads of 64 MiB each to an upstream reading 4 KiB/s."""
    OWN_PROXY = True
    WORKERS = 2

    def test_rss_bounded(self):
        raise_nofile()
        up = SlowUpstream()
        self.addCleanup(up.stop)
        def probe():
            t0 = time.monotonic()
            out, _ = self.raw(self.req("GET", "/size/3", [("Connection", "close")]), 5.0)
            return status_of(out), time.monotonic() - t0

        sent, growth, rss0, probed = upload_drill(self.proxy, up.port, 100, 64 << 20, 3.0,
                                                  probe)
        # other clients are served while the uploads stall (buffer pressure
        # keeps a reserve of the receive rings for them)
        self.assertEqual(probed[0], 200, "a GET during the stalled uploads: %r" % (probed,))
        # the receive rings are 2 x 16 MiB (--buf-count x --buf-size): the
        # proxy may fill them, never more, whatever the clients push
        print("uploads: RSS %d KiB + %d KiB, clients pushed %d bytes, GET during: %.3f s"
              % (rss0, growth, sent, probed[1]))
        self.assertLess(growth, 48 * 1024, "RSS grew by %d KiB (sent %d bytes)" % (growth, sent))
        self.assertLess(sent, 100 * (64 << 20) // 4, "uploads were not held back")
        # stalled uploads hold the receive rings (docs/hardening.md); once
        # the upstream lets go, everything comes back
        up.stop()
        deadline, status = time.monotonic() + 10, None
        while time.monotonic() < deadline and status != 200:
            out, _ = self.raw(self.req("GET", "/size/3"), 2.0)
            status = status_of(out)
        self.assertEqual(status, 200)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Identify(unittest.TestCase):
    """--identify-by auth names clients in the capture; no capture keeps
    credentials."""

    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        from origin import Origin
        cls.origin = Origin().start()

    @classmethod
    def tearDownClass(cls):
        cls.origin.stop()

    def start(self, name, *extra):
        p = Proxy(["--session", name] + list(extra), 2, "identify-" + name)
        argv = p.argv()
        self.data = argv[argv.index("--data") + 1]
        p.argv = lambda: list(argv)
        return p.start()

    def exchanges(self, name):
        code, out, err = rc("ls", name, "--data", self.data, "--json")
        self.assertEqual(code, 0, err)
        shown = []
        for row in json.loads(out):
            code, out, err = rc("show", name, str(row["id"]), "--data", self.data, "--json")
            self.assertEqual(code, 0, err)
            shown.append(json.loads(out))
        return shown

    def send(self, p, headers):
        c = harness.Conn(p.host, p.port)
        self.addCleanup(c.close)
        auth = self.origin.authority()
        data = "GET http://%s/size/3 HTTP/1.1\r\nHost: %s\r\n" % (auth, auth)
        data += "".join("%s: %s\r\n" % h for h in headers) + "\r\n"
        c.send(data.encode())
        return c.read_response()

    def test_names_without_passwords(self):
        p = self.start("lab", "--identify-by", "auth")
        self.assertEqual(self.send(p, [("Proxy-Authorization", basic("phone-7", "x"))]).status, 200)
        self.assertEqual(self.send(p, []).status, 200)
        self.assertEqual(p.stop(), 0)
        # ids come from two workers: tell the exchanges apart by their heads
        xs = sorted(self.exchanges("lab"), key=lambda x: "Proxy-Auth" not in x["request_head"])
        self.assertEqual([x["client_name"] for x in xs], ["phone-7", ""])
        self.assertNotIn(base64.b64encode(b"phone-7:x").decode(), xs[0]["request_head"])
        self.assertIn("Proxy-Authorization: Basic ****", xs[0]["request_head"])

    def test_by_address_keeps_no_name_and_no_credentials(self):
        p = self.start("addr", "--auth", "u1:pw1")
        self.assertEqual(self.send(p, [("Proxy-Authorization", basic("u1", "pw1"))]).status, 200)
        self.assertEqual(p.stop(), 0)
        xs = self.exchanges("addr")
        self.assertEqual(len(xs), 1)
        self.assertEqual(xs[0]["client_name"], "")
        self.assertNotIn(base64.b64encode(b"u1:pw1").decode(), xs[0]["request_head"])

    def test_name_inside_intercepted_tunnel(self):
        import test_tls
        tls_origin = test_tls.TlsOrigin(tag="ident")
        self.addCleanup(tls_origin.stop)
        p = self.start("tun", "--auth", "tablet:pw", "--identify-by", "auth",
                       "--upstream-ca", tls_origin.cert)
        url = "https://localhost:%d/a" % tls_origin.port
        base = ["curl", "-sS", "--max-time", "20", "-x", p.url(),
                "--cacert", os.path.join(self.data, "ca-cert.pem")]
        r = subprocess.run(base + [url], capture_output=True)
        self.assertNotEqual(r.returncode, 0)   # CONNECT refused: 407
        r = subprocess.run(base + ["-U", "tablet:pw", url, url.replace("/a", "/b")],
                           capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"path=/b", r.stdout)
        self.assertEqual(p.stop(), 0)
        xs = self.exchanges("tun")
        inner = [x for x in xs if x["method"] == "GET"]
        self.assertEqual(len(inner), 2, xs)
        self.assertTrue(all(x["client_name"] == "tablet" for x in xs), xs)


class BadValues(unittest.TestCase):
    def run_bad(self, *args):
        r = subprocess.run([harness.RINGCAP_BIN, "run"] + list(args), capture_output=True,
                           text=True, timeout=20)
        self.assertEqual(r.returncode, 2, r.stderr)
        return r.stderr

    def test_messages(self):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs the ringcap binary")
        self.assertIn("'nocolon' is not USER:PASSWORD", self.run_bad("--auth", "nocolon"))
        self.assertIn("password", self.run_bad("--auth", "u:"))
        self.assertIn("user name", self.run_bad("--auth", ":pw"))
        self.assertIn("given twice", self.run_bad("--auth", "u:a", "--auth", "u:b"))
        bad = os.path.join(TMP, "bad-users")
        with open(bad, "w") as f:
            f.write("ok:fine\njust-a-name\n")
        err = self.run_bad("--auth-file", bad)
        self.assertIn("line 2", err)
        self.assertIn("'just-a-name'", err)
        self.assertIn("no users", self.run_bad("--auth-file", os.devnull))
        self.assertIn("cannot read", self.run_bad("--auth-file", os.path.join(TMP, "nope")))
        self.assertIn("'80,x'", self.run_bad("--connect-ports", "80,x"))
        self.assertIn("'0'", self.run_bad("--connect-ports", "0"))
        self.assertIn("'9-1'", self.run_bad("--connect-ports", "9-1"))
        self.assertIn("'who'", self.run_bad("--identify-by", "who"))
        self.assertIn("10.0.0.1/8", self.run_bad("--allow-upstream", "10.0.0.1/8"))
        self.assertIn("out of range", self.run_bad("--max-conns-per-client", "65536"))
        self.assertIn("out of range", self.run_bad("--auth-fail-window", "0ms"))

    def test_every_option_in_help(self):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs the ringcap binary")
        for opt in ("--auth", "--auth-file", "--auth-fail-max", "--auth-fail-window",
                    "--identify-by", "--connect-ports", "--allow-upstream",
                    "--max-conns-per-client"):
            self.assertTrue(harness.run_has_option(opt), opt)


if __name__ == "__main__":
    harness.main()
