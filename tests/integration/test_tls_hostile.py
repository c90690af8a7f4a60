#!/usr/bin/env python3
"""Hostile TLS peers (issue 7, item 4): a truncated or silent ClientHello,
an SNI that disagrees with the CONNECT host, an upstream that fails
verification, and attempts to fetch the CA key. Each has one deterministic
outcome, checked here against a real TLS origin on loopback."""

import os
import socket
import ssl
import time
import unittest
import urllib.request

import harness
from harness import Proxy
from test_tls import TlsOrigin, make_origin_cert  # noqa: F401  (a real TLS origin)


def connect_tunnel(proxy, host):
    s = socket.create_connection((proxy.host, proxy.port), timeout=10)
    s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (host, host)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1000)
        if not chunk:
            break
        head += chunk
    return s, head


def closed_within(s, seconds):
    """True when the peer closes (EOF or reset) within seconds."""
    s.settimeout(seconds)
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            if s.recv(4096) == b"":
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    return False


class Hostile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        cls.origin = TlsOrigin(tag="hostile")
        cls.proxy = Proxy(["--upstream-ca", cls.origin.cert, "--header-timeout", "1s"],
                          2, "tls-hostile")
        argv = cls.proxy.argv()
        cls.datadir = argv[argv.index("--data") + 1]
        cls.proxy.argv = lambda: list(argv)
        cls.proxy.start()
        cls.ca = os.path.join(cls.datadir, "ca-cert.pem")
        cls.target = "localhost:%d" % cls.origin.port

    @classmethod
    def tearDownClass(cls):
        rc = cls.proxy.stop()
        cls.origin.stop()
        if rc not in (None, 0):
            raise AssertionError("ringcap exit %r:\n%s" % (rc, cls.proxy.log()))

    def hello_bytes(self, sni):
        """A real ClientHello for sni, as Python's ssl writes it."""
        ctx = ssl.create_default_context()
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inc, out, server_hostname=sni)
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return out.read()

    def test_truncated_hello_then_eof_closes_at_once(self):
        s, head = connect_tunnel(self.proxy, self.target)
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        hello = self.hello_bytes("localhost")
        s.sendall(hello[: len(hello) // 2])
        s.shutdown(socket.SHUT_WR)
        self.assertTrue(closed_within(s, 3))
        s.close()

    def test_truncated_hello_then_silence_closes_at_header_timeout(self):
        s, head = connect_tunnel(self.proxy, self.target)
        hello = self.hello_bytes("localhost")
        s.sendall(hello[:7])
        t0 = time.monotonic()
        self.assertTrue(closed_within(s, 6))
        self.assertLess(time.monotonic() - t0, 5)
        s.close()

    def test_record_header_lying_about_length_closes(self):
        s, head = connect_tunnel(self.proxy, self.target)
        # a handshake record that claims 16 KiB + 1 (over the TLS limit)
        s.sendall(b"\x16\x03\x01\x40\x01" + b"\x01" * 64)
        self.assertTrue(closed_within(s, 3))
        s.close()

    def test_sni_other_than_connect_host_still_goes_to_connect_host(self):
        """The upstream is always the CONNECT target, whatever the SNI says:
        SNI cannot steer the proxy elsewhere. The leaf is minted for the
        name the client asked for in SNI, so the client's own check is
        the one it asked for."""
        s, head = connect_tunnel(self.proxy, self.target)
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        ctx = ssl.create_default_context(cafile=self.ca)
        t = ctx.wrap_socket(s, server_hostname="elsewhere.example")
        sans = [v for k, v in t.getpeercert().get("subjectAltName", ()) if k == "DNS"]
        self.assertEqual(sans, ["elsewhere.example"])
        t.sendall(b"GET /sni HTTP/1.1\r\nHost: elsewhere.example\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = t.recv(4096)
            if not chunk:
                break
            data += chunk
        t.close()
        self.assertIn(b"200 OK", data.split(b"\r\n")[0])
        self.assertIn(b"path=/sni", data)   # answered by the CONNECT target

    def test_failed_upstream_verification_never_forwards(self):
        bad = TlsOrigin(san="DNS:wrong.example", tag="hostile-bad")
        try:
            hits = []
            orig = bad.srv.RequestHandlerClass.do_GET

            def counting(handler):
                hits.append(handler.path)
                return orig(handler)
            bad.srv.RequestHandlerClass = type("Counting", (bad.srv.RequestHandlerClass,),
                                               {"do_GET": counting})
            s, head = connect_tunnel(self.proxy, "localhost:%d" % bad.port)
            ctx = ssl.create_default_context(cafile=self.ca)
            t = ctx.wrap_socket(s, server_hostname="localhost")
            t.sendall(b"GET /secret HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            t.settimeout(10)
            while True:
                chunk = t.recv(4096)
                if not chunk:
                    break
                data += chunk
            t.close()
            self.assertTrue(data.startswith(b"HTTP/1.1 502"), data[:200])
            self.assertEqual(hits, [])
            # the counter does count: a direct request shows up in it
            raw = ssl._create_unverified_context().wrap_socket(
                socket.create_connection(("127.0.0.1", bad.port), timeout=10))
            raw.sendall(b"GET /direct HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while raw.recv(4096):
                pass
            raw.close()
            self.assertEqual(hits, ["/direct"])
        finally:
            bad.stop()

    def test_ca_key_is_never_served(self):
        opener = urllib.request.build_opener(urllib.request.ProxyHandler(
            {"http": "http://%s:%d" % (self.proxy.host, self.proxy.port)}))
        for path in ("/ca-key.pem", "/ca.key", "/ca-key", "/../ca-key.pem", "/ca.p12"):
            try:
                body = opener.open("http://ringcap.cert" + path, timeout=10).read()
            except urllib.error.HTTPError as e:
                self.assertEqual(e.code, 404, path)
                body = e.read()
            self.assertNotIn(b"PRIVATE KEY", body, path)
        with open(os.path.join(self.datadir, "ca-key.pem"), "rb") as f:
            key = f.read()
        self.assertIn(b"PRIVATE KEY", key)
        self.assertEqual(os.stat(os.path.join(self.datadir, "ca-key.pem")).st_mode & 0o777,
                         0o600)


if __name__ == "__main__":
    harness.main()
