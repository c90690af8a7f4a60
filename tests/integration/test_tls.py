#!/usr/bin/env python3
"""HTTPS interception end to end: curl and Python's ssl trust only the CA
that ringcap generated in its data directory; the origin is a real TLS
server on loopback whose certificate ringcap trusts through --upstream-ca
(or not, for the failure cases)."""

import hashlib
import http.server
import os
import re
import socket
import ssl
import subprocess
import tempfile
import threading
import unittest

import harness
from harness import Proxy

TMP = tempfile.mkdtemp(prefix="ringcap-tls-")


def make_origin_cert():
    key, cert = os.path.join(TMP, "o-key.pem"), os.path.join(TMP, "o-cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "30", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return key, cert


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = ("path=%s host=%s via=%s" % (self.path, self.headers.get("Host"),
                                            self.headers.get("Via"))).encode()
        if self.path.startswith("/size/"):
            body = bytes(i % 251 for i in range(int(self.path[6:])))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = hashlib.sha256(data).hexdigest().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class TlsOrigin:
    def __init__(self):
        self.key, self.cert = make_origin_cert()
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.port = self.srv.server_address[1]
        self.connections = 0
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        self.srv.shutdown()


class TlsCase(unittest.TestCase):
    EXTRA = []

    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        cls.origin = TlsOrigin()
        cls.proxy = Proxy(cls.args(), 2, cls.__name__)
        cls.datadir = None
        argv = cls.proxy.argv
        def argv_keep():
            a = argv()
            cls.datadir = a[a.index("--data") + 1]
            return a
        cls.proxy.argv = argv_keep
        cls.proxy.start()
        cls.ca = os.path.join(cls.datadir, "ca-cert.pem")

    @classmethod
    def args(cls):
        return ["--upstream-ca", cls.origin.cert] + cls.EXTRA

    @classmethod
    def tearDownClass(cls):
        rc = cls.proxy.stop()
        cls.origin.stop()
        if rc not in (None, 0):
            raise AssertionError("ringcap exit %r:\n%s" % (rc, cls.proxy.log()))

    def curl(self, *args, cacert=None):
        cmd = ["curl", "-sS", "--max-time", "20", "-x",
               "http://%s:%d" % (self.proxy.host, self.proxy.port)]
        if cacert is not False:
            cmd += ["--cacert", cacert or self.ca]
        return subprocess.run(cmd + list(args), capture_output=True)

    def url(self, path, host="localhost"):
        return "https://%s:%d%s" % (host, self.origin.port, path)


class Intercept(TlsCase):
    EXTRA = ["--keylog", os.path.join(TMP, "keys.log")]

    def test_get_through_generated_ca(self):
        r = self.curl(self.url("/hello"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"path=/hello", r.stdout)
        self.assertIn(b"host=localhost:%d" % self.origin.port, r.stdout)
        self.assertIn(b"via=1.1 ringcap", r.stdout)

    def test_leaf_for_ip_literal(self):
        r = self.curl(self.url("/ip", "127.0.0.1"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"path=/ip", r.stdout)

    def test_keep_alive_inside_tunnel(self):
        r = self.curl(self.url("/a"), self.url("/b"), "-w", "%{num_connects}\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"path=/a", r.stdout)
        self.assertIn(b"path=/b", r.stdout)
        self.assertTrue(r.stdout.endswith(b"0\n"), r.stdout[-20:])   # one tunnel

    def test_large_bodies_both_ways(self):
        data = os.urandom(3 * 1024 * 1024 + 17)
        path = os.path.join(TMP, "up.bin")
        with open(path, "wb") as f:
            f.write(data)
        r = self.curl("--data-binary", "@" + path, self.url("/post"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), hashlib.sha256(data).hexdigest())
        n = 5 * 1024 * 1024
        r = self.curl(self.url("/size/%d" % n))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, bytes(i % 251 for i in range(n)))

    def test_tls12_and_tls13(self):
        for flag in ("--tlsv1.2 --tls-max 1.2", "--tlsv1.3"):
            r = self.curl(*flag.split(), self.url("/v"))
            self.assertEqual(r.returncode, 0, (flag, r.stderr))

    def test_python_ssl_default_checks(self):
        s = socket.create_connection((self.proxy.host, self.proxy.port), timeout=10)
        host = "localhost:%d" % self.origin.port
        s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (host, host)).encode())
        self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 200"))
        ctx = ssl.create_default_context(cafile=self.ca)
        t = ctx.wrap_socket(s, server_hostname="localhost")
        t.sendall(("GET /py HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host).encode())
        out = b""
        while True:
            b = t.recv(65536)
            if not b:
                break
            out += b
        self.assertIn(b"path=/py", out)
        t.close()

    def test_untrusting_client_fails_and_is_listed(self):
        r = self.curl(self.url("/pinned"), cacert=False)
        self.assertNotEqual(r.returncode, 0)
        page = self.curl("http://%s:%d/" % (self.proxy.host, self.proxy.port), cacert=False)
        self.assertIn(b"refused the ringcap certificate", page.stdout)
        self.assertIn(b"localhost", page.stdout)

    def test_garbage_hello_closes(self):
        s = socket.create_connection((self.proxy.host, self.proxy.port), timeout=10)
        host = "localhost:%d" % self.origin.port
        s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (host, host)).encode())
        self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 200"))
        s.sendall(b"\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00")   # not a ClientHello
        s.settimeout(5)
        self.assertEqual(s.recv(100), b"")

    def test_keylog_written(self):
        self.assertEqual(self.curl(self.url("/k")).returncode, 0)
        with open(os.path.join(TMP, "keys.log")) as f:
            lines = f.read().splitlines()
        self.assertTrue(any(l.startswith("CLIENT_TRAFFIC_SECRET_0 ") or
                            l.startswith("CLIENT_RANDOM ") for l in lines), lines[:3])

    def test_onboarding_page_and_files(self):
        base = "http://ringcap.cert"
        page = self.curl(base + "/", cacert=False)
        self.assertEqual(page.returncode, 0)
        fp = subprocess.run(["openssl", "x509", "-in", self.ca, "-noout", "-fingerprint",
                             "-sha256"], capture_output=True, text=True).stdout
        fp = fp.strip().split("=", 1)[1]
        self.assertIn(fp.encode(), page.stdout)
        for name in (b"iOS", b"Android", b"Windows", b"Firefox"):
            self.assertIn(name, page.stdout)
        der = self.curl(base + "/ca.crt", cacert=False).stdout
        pem_from_der = subprocess.run(["openssl", "x509", "-inform", "der"], input=der,
                                      capture_output=True).stdout
        with open(self.ca, "rb") as f:
            self.assertEqual(pem_from_der.strip(), f.read().strip())
        self.assertEqual(self.curl(base + "/nothing", "-o", "/dev/null", "-w",
                                   "%{http_code}", cacert=False).stdout, b"404")


class Verification(TlsCase):
    """No --upstream-ca: the origin's self-signed certificate is refused."""

    @classmethod
    def args(cls):
        return []

    def test_unknown_issuer_is_a_502_with_reason(self):
        r = self.curl("-i", self.url("/x"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"502 Bad Gateway", r.stdout)
        self.assertIn(b"unknown issuer", r.stdout)


class Insecure(TlsCase):
    @classmethod
    def args(cls):
        return ["--upstream-insecure", "localhost"]

    def test_named_host_not_verified(self):
        r = self.curl(self.url("/ok"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"path=/ok", r.stdout)
        r = self.curl("-i", self.url("/no", "127.0.0.1"))   # not named: verified
        self.assertIn(b"502 Bad Gateway", r.stdout)


class Passthrough(TlsCase):
    @classmethod
    def args(cls):
        return ["--passthrough", "local*"]

    def test_passthrough_shows_origin_certificate(self):
        r = self.curl(self.url("/pt"), cacert=self.origin.cert)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"path=/pt", r.stdout)
        self.assertIn(b"via=None", r.stdout)   # ringcap never saw the request


if __name__ == "__main__":
    harness.main()
