#!/usr/bin/env python3
"""Harness for ringcap's real-traffic integration tests (stdlib only).

- ProxyCase: a unittest.TestCase base. setUpClass starts an in-process
  Origin (origin.py) and the ringcap binary from $RINGCAP_BIN with
  `run --listen 127.0.0.1:PORT --workers N` plus the class's PROXY_ARGS,
  waits until the port accepts and captures stderr to a file; tearDownClass
  stops it with SIGTERM and asserts exit code 0.
- $RINGCAP_TEST_PROXY=HOST:PORT targets an already running proxy instead
  (mitmdump, haproxy, a ringcap you started): classes that need their own
  proxy options (OWN_PROXY = True) are skipped then.
- curl(), raw sockets (connect, send_recv_all, read_response), free_port().
- main(): runs the file's tests, prints the captured proxy stderr of the
  run when anything failed, exits 0/1.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import origin as origin_mod  # noqa: E402

EXTERNAL = os.environ.get("RINGCAP_TEST_PROXY")
RINGCAP_BIN = os.environ.get("RINGCAP_BIN", "")
# A fixed origin port, for validating against a reverse proxy (haproxy)
# whose backend must be known in advance; 0 picks a free port.
ORIGIN_PORT = int(os.environ.get("RINGCAP_TEST_ORIGIN_PORT", "0"))
# RINGCAP_TEST_FORCE=1 runs OWN_PROXY classes against the external proxy too
# (configure it by hand to match the class's PROXY_ARGS).
FORCE = os.environ.get("RINGCAP_TEST_FORCE") == "1"
_LOGS = []           # (name, path) of every proxy stderr file of this run
_TMP = tempfile.mkdtemp(prefix="ringcap-itest-")


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def refused_port():
    """A loopback port where nothing listens (connect gets ECONNREFUSED)."""
    for _ in range(50):
        p = free_port()
        s = socket.socket()
        try:
            s.settimeout(1)
            s.connect(("127.0.0.1", p))
        except ConnectionRefusedError:
            return p
        except OSError:
            pass
        finally:
            s.close()
    raise RuntimeError("no refused port found")


def wait_port(host, port, timeout, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            s = socket.create_connection((host, port), timeout=0.5)
            s.close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


_HELP = {}


def run_help():
    """The text of `ringcap run --help` (cached; empty when it fails)."""
    if "text" not in _HELP:
        try:
            p = subprocess.run([RINGCAP_BIN, "run", "--help"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=10)
            _HELP["text"] = p.stdout.decode("utf-8", "replace")
        except (OSError, subprocess.SubprocessError):
            _HELP["text"] = ""
    return _HELP["text"]


def run_has_option(opt):
    import re
    return re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(opt), run_help()) is not None


class _EarlyExit(RuntimeError):
    pass


class Proxy:
    """One ringcap process (or the external proxy of $RINGCAP_TEST_PROXY)."""

    def __init__(self, args=(), workers=2, name="proxy"):
        self.name = name
        self.args = list(args)
        self.workers = workers
        self.proc = None
        self.log_path = None
        if EXTERNAL:
            host, _, port = EXTERNAL.rpartition(":")
            self.host, self.port = host, int(port)
        else:
            self.host, self.port = "127.0.0.1", free_port()

    def argv(self):
        datadir = tempfile.mkdtemp(prefix="data-", dir=_TMP)
        argv = [RINGCAP_BIN, "run", "--listen", "%s:%d" % (self.host, self.port)]
        if run_has_option("--control"):
            ctl = free_port()
            while ctl == self.port:   # two free picks can coincide
                ctl = free_port()
            argv += ["--control", "127.0.0.1:%d" % ctl]
        if run_has_option("--connect-ports"):
            # the origins listen on free ports; classes that test the
            # default (443,80) pass their own --connect-ports (last wins)
            argv += ["--connect-ports", "*"]
        return argv + ["--data", datadir, "--workers", str(self.workers)] + self.args

    def start(self, timeout=20):
        """Starts ringcap; retries on a new port when it exits before
        accepting (another test may have taken the free-picked port)."""
        if EXTERNAL:
            return self
        for attempt in range(3):
            try:
                return self._start_once(timeout)
            except _EarlyExit:
                if attempt == 2 or "--listen" in self.args:
                    raise
                self.port = free_port()
        return self

    def _start_once(self, timeout):
        if not RINGCAP_BIN or not os.access(RINGCAP_BIN, os.X_OK):
            raise RuntimeError("RINGCAP_BIN is not an executable: %r" % RINGCAP_BIN)
        fd, self.log_path = tempfile.mkstemp(prefix=self.name + "-",
                                             suffix=".stderr", dir=_TMP)
        os.close(fd)
        _LOGS.append((self.name, self.log_path))
        self.errf = open(self.log_path, "wb")
        argv = self.argv()
        self.errf.write(("# " + " ".join(argv) + "\n").encode())
        self.errf.flush()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.errf, stderr=self.errf)
        if not wait_port(self.host, self.port, timeout, self.proc):
            rc = self.proc.poll()
            if rc is None:
                self.proc.kill()
                self.proc.wait()
            else:
                self.errf.close()
                if "in use" in self.log().lower():
                    raise _EarlyExit(self.log())
            raise RuntimeError("ringcap did not accept on port %d (exit %r):\n%s"
                               % (self.port, rc, self.log()))
        return self

    def log(self):
        if not self.log_path:
            return ""
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=25):
        """SIGTERM, wait; returns the exit code (None for an external proxy)."""
        if EXTERNAL or self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = "hung after SIGTERM (killed)"
        self.errf.close()
        return rc

    def url(self):
        return "http://%s:%d" % (self.host, self.port)


class Response:
    def __init__(self, version, status, reason, headers, body, raw_head):
        self.version, self.status, self.reason = version, status, reason
        self.headers, self.body, self.raw_head = headers, body, raw_head

    def header(self, name, default=None):
        return origin_mod.header_get(self.headers, name, default)

    def header_all(self, name):
        return origin_mod.header_all(self.headers, name)

    def json(self):
        import json
        return json.loads(self.body.decode())

    def __repr__(self):
        return "<Response %s %s, %d body bytes>" % (self.status, self.reason,
                                                   len(self.body))


class Closed(Exception):
    """The peer closed before a complete response; .partial holds what came."""

    def __init__(self, msg, partial=b"", response=None):
        super().__init__(msg)
        self.partial = partial
        self.response = response


class Conn:
    """A raw client socket with a strict-enough HTTP/1.1 response reader."""

    def __init__(self, host, port, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self):
        if self.eof:
            raise Closed("connection closed", bytes(self.buf))
        try:
            data = self.sock.recv(1 << 16)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            raise Closed("connection closed", bytes(self.buf))
        self.buf += data

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_line(self):
        while b"\n" not in self.buf:
            if len(self.buf) > (1 << 20):
                raise AssertionError("line too long in response")
            self._fill()
        i = self.buf.index(b"\n")
        out = bytes(self.buf[:i + 1])
        del self.buf[:i + 1]
        return out

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > (1 << 21):
                raise AssertionError("response head too long")
            self._fill()
        i = self.buf.index(b"\r\n\r\n")
        out = bytes(self.buf[:i + 4])
        del self.buf[:i + 4]
        return out

    def read_response(self, method="GET", interim=False):
        """Reads one response; skips 1xx (other than 101) unless interim."""
        for _ in range(100):
            raw = self.read_head()
            lines = raw.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/"):
                raise AssertionError("bad status line %r" % lines[0])
            status = int(parts[1])
            reason = parts[2] if len(parts) > 2 else ""
            headers = []
            for line in lines[1:]:
                if not line:
                    continue
                k, _, v = line.partition(":")
                headers.append((k, v.strip()))
            if 100 <= status < 200 and status != 101 and not interim:
                continue
            resp = Response(parts[0], status, reason, headers, b"", raw)
            resp.body = self._read_body(resp, method)
            return resp
        raise AssertionError("too many interim responses")

    def _read_body(self, resp, method):
        if method == "HEAD" or resp.status < 200 or resp.status in (204, 304):
            return b""
        if method == "CONNECT" and 200 <= resp.status < 300:
            return b""
        te = resp.header("transfer-encoding")
        if te is not None and "chunked" in te.lower():
            return self._read_chunked(resp)
        cl = resp.header("content-length")
        if cl is not None:
            n = int(cl)
            try:
                return self.read_exact(n)
            except Closed as e:
                raise Closed("closed after %d of %d body bytes"
                             % (len(e.partial), n), e.partial, resp)
        body = bytearray()
        try:
            for _ in range(1 << 30):
                self._fill()
                body += self.buf
                self.buf.clear()
        except Closed:
            pass
        return bytes(body)

    def _read_chunked(self, resp):
        body = bytearray()
        try:
            for _ in range(1 << 24):
                line = self.read_line().rstrip(b"\r\n")
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    break
                body += self.read_exact(size)
                if self.read_exact(2) != b"\r\n":
                    raise AssertionError("chunk not followed by CRLF")
            for _ in range(1000):
                if self.read_line() in (b"\r\n", b"\n"):
                    break
        except Closed as e:
            raise Closed("closed inside a chunked body after %d bytes"
                         % len(body), bytes(body), resp)
        return bytes(body)

    def wait_closed(self, timeout=5.0):
        """True when the peer closes within timeout (data is discarded)."""
        end = time.monotonic() + timeout
        self.buf.clear()
        if self.eof:
            return True
        while time.monotonic() < end:
            self.sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not data:
                self.eof = True
                return True
        return False


def send_recv_all(host, port, data, timeout=5.0, parts=1):
    """Sends data on a new connection (in `parts` TCP segments: TCP_NODELAY
    and a short pause between them), reads until close or timeout.
    Returns (bytes, closed_by_peer)."""
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    out = bytearray()
    closed = False
    try:
        cuts = sorted({len(data) * i // parts for i in range(1, parts)} | {len(data)})
        start = 0
        for cut in cuts:
            try:
                s.sendall(data[start:cut])
            except (BrokenPipeError, ConnectionResetError):
                break   # the proxy may answer and close before reading it all
            start = cut
            if cut < len(data):
                time.sleep(0.005)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            s.settimeout(max(0.05, end - time.monotonic()))
            try:
                chunk = s.recv(1 << 16)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            out += chunk
    finally:
        s.close()
    return bytes(out), closed


def status_of(raw):
    """Status code of the first response line in raw bytes, or None."""
    if not raw.startswith(b"HTTP/"):
        return None
    try:
        return int(raw.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


class OriginCase(unittest.TestCase):
    """Base class for tests that start their own ringcap processes: one
    origin per class (skipped against an external proxy)."""

    @classmethod
    def setUpClass(cls):
        if EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        cls.origin = origin_mod.Origin().start()

    @classmethod
    def tearDownClass(cls):
        cls.origin.stop()


class ProxyCase(unittest.TestCase):
    """Base class: one origin and one proxy per test class."""

    PROXY_ARGS = []
    WORKERS = 2
    OWN_PROXY = False      # True: needs ringcap with these options, no external
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        if EXTERNAL and cls.OWN_PROXY and not FORCE:
            raise unittest.SkipTest("needs its own ringcap (RINGCAP_TEST_PROXY set)")
        cls.origin = origin_mod.Origin(port=ORIGIN_PORT).start()
        cls.proxy = Proxy(cls.PROXY_ARGS, cls.WORKERS, cls.__name__)
        try:
            cls.proxy.start()
        except Exception:
            cls.origin.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        rc = cls.proxy.stop()
        cls.origin.stop()
        if rc not in (None, 0):
            raise AssertionError("ringcap exit code %r after SIGTERM; stderr:\n%s"
                                 % (rc, cls.proxy.log()))

    # -- helpers -----------------------------------------------------------
    def setUp(self):
        self.origin.reset()

    def conn(self, timeout=10):
        c = Conn(self.proxy.host, self.proxy.port, timeout)
        self.addCleanup(c.close)
        return c

    def ourl(self, path):
        return self.origin.url(path)

    def req(self, method, path, headers=(), body=b"", host=None):
        """Bytes of an absolute-form request to the origin."""
        auth = host or self.origin.authority()
        out = "%s http://%s%s HTTP/1.1\r\nHost: %s\r\n" % (method, auth, path, auth)
        for k, v in headers:
            out += "%s: %s\r\n" % (k, v)
        if body and not any(k.lower() in ("content-length", "transfer-encoding")
                            for k, _ in headers):
            out += "Content-Length: %d\r\n" % len(body)
        return out.encode("latin-1") + b"\r\n" + body

    def curl(self, *args, data_file=None, timeout=60):
        """Runs curl through the proxy; returns (rc, stdout, stderr)."""
        argv = ["curl", "-sS", "--noproxy", "", "-x", self.proxy.url()]
        argv += list(args)
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, env=dict(os.environ, http_proxy="",
                                                     HTTP_PROXY=""))
        return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")

    def raw(self, data, timeout=5.0):
        return send_recv_all(self.proxy.host, self.proxy.port, data, timeout)

    def assert_origin_saw_nothing(self, settle=0.3):
        time.sleep(settle)
        st = self.origin.stats()
        self.assertEqual(st["requests"], [], "the origin received requests")
        self.assertEqual(st["bytes"], 0, "the origin received bytes: %r"
                         % st["raw"][:300])

    def assert_close_announced(self, out, closed):
        """An error the proxy made and then closed on says Connection: close."""
        if closed and b"\r\n\r\n" in out:
            head = out.split(b"\r\n\r\n", 1)[0].lower()
            self.assertIn(b"connection: close", head, "closed after %r without "
                          "Connection: close" % out[:200])

    def assert_refused_and_closed(self, data, expect=400, timeout=5.0):
        out, closed = self.raw(data, timeout)
        self.assertEqual(status_of(out), expect, "response: %r" % out[:300])
        self.assertTrue(closed, "connection left open after %d" % expect)
        if b"\r\n\r\n" in out:
            head = out.split(b"\r\n\r\n", 1)[0].lower()
            self.assertIn(b"connection: close", head,
                          "error response without Connection: close")
        return out


def main():
    """Runs the calling file's tests; exits 0 when all passed."""
    prog = unittest.main(module="__main__", exit=False, verbosity=2)
    res = prog.result
    ok = res.wasSuccessful()
    if not ok:
        for name, path in _LOGS:
            try:
                with open(path, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            print("---- ringcap stderr (%s) ----\n%s" % (name, text[-20000:]))
    bad = {getattr(t, "test_case", t).id() for t, _ in res.failures + res.errors}
    passed = max(0, res.testsRun - len(bad) - len(res.skipped))
    print("SUMMARY: %d run, %d passed, %d failures, %d errors, %d skipped"
          % (res.testsRun, passed, len(res.failures), len(res.errors),
             len(res.skipped)))
    if ok:
        import shutil
        shutil.rmtree(_TMP, ignore_errors=True)
    else:
        print("kept logs and data under %s" % _TMP)
    if ok and passed <= 0:
        sys.exit(77)      # everything skipped: meson reports SKIP
    sys.exit(0 if ok else 1)
