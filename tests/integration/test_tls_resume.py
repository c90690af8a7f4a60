#!/usr/bin/env python3
"""Client-side TLS session resumption through ringcap (issue 16): tickets
sealed with a key that all workers share, kept in memory and replaced every
--tls-ticket-rotate.

- A client that kept its session resumes on its next tunnel (Python ssl,
  TLS 1.2 tickets and TLS 1.3 PSK), whichever worker takes the connection.
- openssl s_client -sess_out / -sess_in reports "Reused".
- With a two-second rotation, a ticket from before two rotations falls
  back to a full handshake that still works."""

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

TMP = tempfile.mkdtemp(prefix="ringcap-tlsres-")
CA = make_ca(TMP, "res-ca")
LEAF = make_leaf(TMP, "res-leaf", CA)


class ResumeCase(unittest.TestCase):
    EXTRA = []
    WORKERS = 2

    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        cls.origin = CountingTlsOrigin(*LEAF)
        cls.proxy = Proxy(["--upstream-ca", CA[1]] + cls.EXTRA, cls.WORKERS,
                          cls.__name__).start()
        with open("/proc/%d/cmdline" % cls.proxy.proc.pid, "rb") as f:
            argv = f.read().split(b"\0")
        cls.ca = os.path.join(argv[argv.index(b"--data") + 1].decode(), "ca-cert.pem")
        cls.ctxs = {}

    @classmethod
    def tearDownClass(cls):
        rc = cls.proxy.stop()
        cls.origin.stop()
        if rc not in (None, 0):
            raise AssertionError("ringcap exit %r:\n%s" % (rc, cls.proxy.log()))

    def ctx(self, version):
        # one context per version: Python reuses a session only with the
        # context that made it
        if version not in self.ctxs:
            c = ssl.create_default_context(cafile=self.ca)
            c.minimum_version = c.maximum_version = version
            self.ctxs[version] = c
        return self.ctxs[version]

    def fetch(self, version, session=None, path="/r"):
        """One tunnel, one request; returns (resumed, session, body)."""
        s = socket.create_connection((self.proxy.host, self.proxy.port), timeout=20)
        host = "localhost:%d" % self.origin.port
        s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (host, host)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            b = s.recv(1)
            self.assertTrue(b, "proxy closed during CONNECT")
            head += b
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        t = self.ctx(version).wrap_socket(s, server_hostname="localhost", session=session)
        t.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                   % (path, host)).encode())
        out = b""
        while True:
            b = t.recv(65536)
            if not b:
                break
            out += b
        # TLS 1.3 tickets came with the response: the session is resumable
        resumed, sess = t.session_reused, t.session
        t.close()
        self.assertIn(b"200 OK", out.split(b"\r\n")[0])
        return resumed, sess, out


class Resume(ResumeCase):
    def check_version(self, version):
        resumed, sess, out = self.fetch(version)
        self.assertFalse(resumed)
        self.assertIn(b"path=/r", out)
        # several tunnels: with two workers, connections land on both
        for i in range(6):
            resumed, sess2, out = self.fetch(version, sess, "/again%d" % i)
            self.assertTrue(resumed, "tunnel %d did a full handshake" % i)
            self.assertIn(b"path=/again%d" % i, out)
            sess = sess2 if sess2 is not None else sess

    def test_tls13_psk(self):
        self.check_version(ssl.TLSVersion.TLSv1_3)

    def test_tls12_ticket(self):
        self.check_version(ssl.TLSVersion.TLSv1_2)

    def test_s_client_reused(self):
        sess = os.path.join(TMP, "s_client.sess")
        host = "localhost:%d" % self.origin.port
        req = ("GET /s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host).encode()
        outs = []
        for flag in ("-sess_out", "-sess_in"):
            r = subprocess.run(["openssl", "s_client", "-proxy", "%s:%d" % (
                self.proxy.host, self.proxy.port), "-connect", host, "-servername",
                "localhost", "-CAfile", self.ca, "-verify_return_error", "-ign_eof",
                flag, sess], input=req, capture_output=True, timeout=20)
            outs.append(r.stdout.decode("latin-1"))
            self.assertIn("path=/s", outs[-1], outs[-1][-600:])
        self.assertIn("\nNew, TLSv1.3", outs[0])
        self.assertIn("Server Temp Key: X25519", outs[0])
        self.assertIn("\nReused, TLSv1.3", outs[1], outs[1][:1500])


class Rotation(ResumeCase):
    """--tls-ticket-rotate 2s: tickets live two seconds, keys open four."""
    EXTRA = ["--tls-ticket-rotate", "2s"]

    def check_version(self, version):
        _, sess, _ = self.fetch(version)
        resumed, _, _ = self.fetch(version, sess)
        self.assertTrue(resumed, "not resumed right away")
        time.sleep(5)            # two rotations: no key opens the ticket
        resumed, sess2, out = self.fetch(version, sess, "/after")
        self.assertFalse(resumed, "a ticket from before two rotations was accepted")
        self.assertIn(b"path=/after", out)
        # and a new ticket works again. A ticket lives 2 s: on a loaded box a
        # fetch can take that long and the client then no longer offers it,
        # so a fresh ticket gets three tries
        for _ in range(3):
            resumed, sess3, _ = self.fetch(version, sess2)
            if resumed:
                break
            sess2 = sess3 if sess3 is not None else sess2
        self.assertTrue(resumed, "a ticket issued after the rotations was not accepted")

    def test_tls13(self):
        self.check_version(ssl.TLSVersion.TLSv1_3)

    def test_tls12(self):
        self.check_version(ssl.TLSVersion.TLSv1_2)


if __name__ == "__main__":
    harness.main()
