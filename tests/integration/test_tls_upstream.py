#!/usr/bin/env python3
"""Upstream TLS per intercepted tunnel (issue 16): the origin counts the TCP
connections and TLS handshakes it sees (tlsorigin.py).

- One upstream connection per tunnel: the connection made when the CONNECT
  arrives carries the tunnel's requests; no second one is opened, whether
  the client's request arrives before or after the upstream handshake.
  Each test has an origin of its own (a new port), so no pooled connection
  of an earlier test serves it.
- With the pool on, a new tunnel uses an idle TLS connection to the origin
  and makes no handshake at all (its CONNECT's TCP connection is closed);
  classes with POOL False run with --upstream-idle-max 0, where every
  request needs a connection of its own.
- A failing upstream (certificate not trusted) is contacted once, and the
  client still gets a 502 that says why.
- Upstream sessions are resumed on a tunnel's new upstream connection
  (--upstream-sessions, one per origin), and resumption skips no check: an
  origin restarted with a certificate the CA does not sign is refused."""

import os
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import harness
from harness import Proxy
from tlsorigin import CountingTlsOrigin, make_ca, make_leaf

TMP = tempfile.mkdtemp(prefix="ringcap-tlsup-")
CA = make_ca(TMP, "up-ca")
GOOD = make_leaf(TMP, "good", CA)


class UpstreamCase(unittest.TestCase):
    TRUST = True            # --upstream-ca CA
    HANDSHAKE_DELAY = 0.0
    POOL = True             # False: --upstream-idle-max 0
    EXTRA = []

    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        args = (["--upstream-ca", CA[1]] if cls.TRUST else []) + cls.EXTRA
        if not cls.POOL:
            args += ["--upstream-idle-max", "0"]
        # one worker: every tunnel sees the same upstream pool
        cls.proxy = Proxy(args, 1, cls.__name__).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.proxy.stop()
        if rc not in (None, 0):
            raise AssertionError("ringcap exit %r:\n%s" % (rc, cls.proxy.log()))

    def setUp(self):
        self.origin = CountingTlsOrigin(*GOOD, handshake_delay=self.HANDSHAKE_DELAY)
        self.addCleanup(lambda: self.origin.stop())

    def proxy_ca(self):
        with open("/proc/%d/cmdline" % self.proxy.proc.pid, "rb") as f:
            argv = f.read().split(b"\0")
        data = argv[argv.index(b"--data") + 1].decode()
        return os.path.join(data, "ca-cert.pem")

    def curl(self, *args):
        cmd = ["curl", "-sS", "--max-time", "20", "--noproxy", "", "-x",
               "http://%s:%d" % (self.proxy.host, self.proxy.port),
               "--cacert", self.proxy_ca()]
        return subprocess.run(cmd + list(args), capture_output=True)

    def url(self, path):
        return "https://localhost:%d%s" % (self.origin.port, path)

    def tunnel(self):
        """A CONNECT tunnel through the proxy, TLS done; returns the socket."""
        s = socket.create_connection((self.proxy.host, self.proxy.port), timeout=20)
        host = "localhost:%d" % self.origin.port
        s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (host, host)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            b = s.recv(1)
            self.assertTrue(b, "proxy closed during CONNECT")
            head += b
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        ctx = ssl.create_default_context(cafile=self.proxy_ca())
        return ctx.wrap_socket(s, server_hostname="localhost")

    def get(self, t, path, close=False):
        host = "localhost:%d" % self.origin.port
        t.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" %
                   (path, host, "Connection: close\r\n" if close else "")).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            b = t.recv(65536)
            self.assertTrue(b, "closed before a response head: %r" % buf)
            buf += b
        head, body = buf.split(b"\r\n\r\n", 1)
        n = int([l.split(b":")[1] for l in head.split(b"\r\n")
                 if l.lower().startswith(b"content-length:")][0])
        while len(body) < n:
            b = t.recv(65536)
            self.assertTrue(b, "closed mid-body")
            body += b
        return head, body

    def delta(self, before):
        now = self.origin.settle()
        return {k: now[k] - before[k] for k in now}


class OneUpstreamPerTunnel(UpstreamCase):
    def test_curl_one_request(self):
        before = self.origin.settle()
        r = self.curl(self.url("/one"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"path=/one", r.stdout)
        d = self.delta(before)
        self.assertEqual(d["accepted"], 1, d)
        self.assertEqual(d["handshakes"], 1, d)
        self.assertEqual(d["requests"], 1, d)

    def test_keep_alive_in_one_tunnel(self):
        before = self.origin.settle()
        r = self.curl(self.url("/a"), self.url("/b"), self.url("/c"))
        self.assertEqual(r.returncode, 0, r.stderr)
        d = self.delta(before)
        self.assertEqual(d["accepted"], 1, d)
        self.assertEqual(d["requests"], 3, d)

    def test_request_after_upstream_is_ready(self):
        # the client waits until the upstream handshake surely finished:
        # the connection made ahead is the one that serves it
        before = self.origin.settle()
        t = self.tunnel()
        self.origin.settle()
        _, body = self.get(t, "/late")
        self.assertIn(b"path=/late", body)
        _, body2 = self.get(t, "/late2")
        t.close()
        d = self.delta(before)
        self.assertEqual(d["accepted"], 1, d)
        self.assertEqual(d["handshakes"], 1, d)
        self.assertEqual(body.split(b"conn=")[1], body2.split(b"conn=")[1])


class UpstreamResumption(UpstreamCase):
    """No pool: each tunnel makes its upstream connection, and resumes."""
    POOL = False

    def test_sequential_tunnels_resume(self):
        before = self.origin.settle()
        for i in range(4):
            r = self.curl(self.url("/seq%d" % i))
            self.assertEqual(r.returncode, 0, r.stderr)
        d = self.delta(before)
        self.assertEqual(d["accepted"], 4, d)
        self.assertEqual(d["handshakes"], 4, d)
        self.assertEqual(d["requests"], 4, d)
        self.assertGreaterEqual(d["resumed"], 3, d)   # the first is full


class PooledAcrossTunnels(UpstreamCase):
    """Default pool: the first tunnel's upstream serves the next tunnels."""
    POOL = True

    def test_no_handshake_when_pooled(self):
        before = self.origin.settle()
        conns = set()
        for i in range(4):
            r = self.curl(self.url("/pooled%d" % i))
            self.assertEqual(r.returncode, 0, r.stderr)
            conns.add(r.stdout.split(b"conn=")[1])
        d = self.delta(before)
        self.assertEqual(d["handshakes"], 1, d)
        self.assertEqual(d["requests"], 4, d)
        self.assertEqual(len(conns), 1, conns)
        # each CONNECT still reached the origin (TCP, then closed unused)
        self.assertEqual(d["accepted"], 4, d)


class SlowUpstreamHandshake(UpstreamCase):
    """The origin answers the handshake late: the client's request arrives
    while the upstream handshake is still going on, and waits for it."""
    HANDSHAKE_DELAY = 0.4

    def test_request_before_upstream_is_ready(self):
        before = self.origin.settle()
        r = self.curl(self.url("/early"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"path=/early", r.stdout)
        d = self.delta(before)
        self.assertEqual(d["accepted"], 1, d)
        self.assertEqual(d["handshakes"], 1, d)


class FailingUpstream(UpstreamCase):
    """No --upstream-ca: the origin's certificate is refused, once."""
    TRUST = False

    def test_contacted_once_and_502(self):
        before = self.origin.settle()
        r = self.curl("-i", self.url("/x"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, rb"HTTP/(1\.1 502 Bad Gateway|2 502 )")
        self.assertIn(b"unknown issuer", r.stdout)
        d = self.delta(before)
        self.assertEqual(d["accepted"], 1, d)
        self.assertEqual(d["handshakes"], 0, d)

    def test_late_request_still_gets_the_reason(self):
        before = self.origin.settle()
        t = self.tunnel()
        self.origin.settle()            # the upstream handshake failed by now
        head, body = self.get(t, "/late")
        t.close()
        self.assertIn(b"502", head.split(b"\r\n")[0])
        self.assertIn(b"unknown issuer", body)
        d = self.delta(before)
        self.assertEqual(d["accepted"], 1, d)


class NoUpstreamResumption(UpstreamCase):
    EXTRA = ["--upstream-sessions", "0"]
    POOL = False

    def test_every_tunnel_full_handshake(self):
        before = self.origin.settle()
        for i in range(3):
            r = self.curl(self.url("/full%d" % i))
            self.assertEqual(r.returncode, 0, r.stderr)
        d = self.delta(before)
        self.assertEqual(d["handshakes"], 3, d)
        self.assertEqual(d["resumed"], 0, d)


class ChangedCertificate(UpstreamCase):
    """The origin restarts on the same port with another certificate: the
    session kept from before is no way around verifying it."""
    POOL = False

    def restart(self, leaf):
        port = self.origin.port
        self.origin.stop()
        time.sleep(0.2)
        self.origin = CountingTlsOrigin(*leaf, port=port)

    def test_untrusted_after_restart_is_refused(self):
        for i in range(2):
            r = self.curl(self.url("/before%d" % i))
            self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreaterEqual(self.origin.settle()["resumed"], 1)
        self.restart(make_leaf(TMP, "selfsigned", None))
        r = self.curl("-i", self.url("/after"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, rb"HTTP/(1\.1 502 Bad Gateway|2 502 )", r.stdout[-400:])
        self.assertIn(b"unknown issuer", r.stdout)
        c = self.origin.settle()
        self.assertEqual(c["requests"], 0, c)
        self.assertEqual(c["accepted"], 1, c)
        # back with a certificate the CA signs: a full handshake, verified
        self.restart(make_leaf(TMP, "good2", CA))
        r = self.curl(self.url("/again"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"path=/again", r.stdout)
        c = self.origin.settle()
        self.assertEqual((c["handshakes"], c["resumed"]), (1, 0), c)


if __name__ == "__main__":
    harness.main()
