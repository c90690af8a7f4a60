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
import tlsorigin
from harness import Proxy

TMP = tempfile.mkdtemp(prefix="ringcap-tls-")


def make_origin_cert(san="DNS:localhost,IP:127.0.0.1", tag="o"):
    key, cert = os.path.join(TMP, tag + "-key.pem"), os.path.join(TMP, tag + "-cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "30", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=" + san],
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


class Server(http.server.ThreadingHTTPServer):
    # socketserver's listen backlog is 5: 200 concurrent CONNECTs then lose
    # SYNs, and the retransmits (1 s, 3 s) run into the proxy's connect timeout
    request_queue_size = 1024


class TlsOrigin:
    def __init__(self, san="DNS:localhost,IP:127.0.0.1", tag="o"):
        self.key, self.cert = make_origin_cert(san, tag)
        self.srv = Server(("127.0.0.1", 0), Handler)
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
    SAN = "DNS:localhost,IP:127.0.0.1"

    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        cls.origin = TlsOrigin(cls.SAN, cls.__name__)
        cls.proxy = Proxy(cls.args(), 2, cls.__name__)
        argv = cls.proxy.argv()          # one data directory across restarts
        cls.datadir = argv[argv.index("--data") + 1]
        cls.proxy.argv = lambda: list(argv)
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


    def test_s_client_sees_ringcap_issuer_and_san(self):
        host = "localhost:%d" % self.origin.port
        r = subprocess.run(["openssl", "s_client", "-proxy", "%s:%d" % (self.proxy.host,
                            self.proxy.port), "-connect", host, "-servername", "localhost",
                            "-CAfile", self.ca, "-verify_return_error", "-showcerts"],
                           input=b"", capture_output=True, timeout=20)
        out = r.stdout.decode("latin-1")
        self.assertIn("Verify return code: 0 (ok)", out, out[-800:])
        first = out[out.index("-----BEGIN CERTIFICATE-----"):]
        first = first[:first.index("-----END CERTIFICATE-----") + 25]
        text = subprocess.run(["openssl", "x509", "-noout", "-issuer", "-ext",
                               "subjectAltName,basicConstraints,extendedKeyUsage"],
                              input=first.encode(), capture_output=True).stdout.decode()
        self.assertIn("ringcap", text.split("\n")[0])
        self.assertIn("DNS:localhost", text)
        self.assertIn("CA:FALSE", text)
        self.assertIn("TLS Web Server Authentication", text)

    def test_many_names_concurrently(self):
        # 200 handshakes, 50 SNI names: each leaf is minted for its SNI
        host = "127.0.0.1:%d" % self.origin.port
        ctx = ssl.create_default_context(cafile=self.ca)
        errors = []

        def one(i):
            name = "name-%d.ringcap.test" % (i % 50)
            try:
                s = socket.create_connection((self.proxy.host, self.proxy.port), timeout=30)
                s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (host, host)).encode())
                if not s.recv(100).startswith(b"HTTP/1.1 200"):
                    raise AssertionError("no 200")
                t = ctx.wrap_socket(s, server_hostname=name)
                if name not in str(t.getpeercert().get("subjectAltName")):
                    raise AssertionError("leaf not for %s" % name)
                t.close()
            except Exception as e:   # collected, asserted below
                errors.append("%s: %r" % (name, e))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        # the worker still serves
        self.assertEqual(self.curl(self.url("/after")).returncode, 0)


class OneWriteOrigin:
    """TLS origin whose every answer (head and body) is one sendall, so it
    reaches ringcap as one record in one recv: what the proxy then sends
    the client is its own record layout, not the origin's."""

    def __init__(self, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        t = None
        try:
            t = self.ctx.wrap_socket(c, server_side=True)
            for head in tlsorigin.request_heads(t):
                n = int(head.split(b" ")[1].rsplit(b"/", 1)[1])
                t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n +
                          bytes(i % 251 for i in range(n)))
        except (OSError, ValueError, IndexError):
            pass
        finally:
            (t or c).close()

    def stop(self):
        self.sock.close()


class RecordLayout(TlsCase):
    """Issue 16: a small response's head and body reach the client in one
    TLS record (they were sealed one record each: two seals in ringcap,
    two opens in the client), and a large body in full records."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.one = OneWriteOrigin(cls.origin.cert, cls.origin.key)

    @classmethod
    def tearDownClass(cls):
        cls.one.stop()
        super().tearDownClass()

    def exchange(self, sock, tls, bios, path, n):
        """Sends GET PATH, reads the response of body size N; returns the
        sizes of the application-data records it came in."""
        tls.write(b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path.encode())
        incoming, outgoing = bios
        sock.sendall(outgoing.read())
        raw, plain, sizes = b"", b"", []
        while b"\r\n\r\n" not in plain or len(plain.split(b"\r\n\r\n", 1)[1]) < n:
            b = sock.recv(65536)
            self.assertTrue(b, "connection closed mid-response")
            raw += b
            while len(raw) >= 5 and len(raw) >= 5 + int.from_bytes(raw[3:5], "big"):
                size = int.from_bytes(raw[3:5], "big")
                if raw[0] == 23:
                    sizes.append(size)
                incoming.write(raw[:5 + size])
                raw = raw[5 + size:]
            try:
                while True:
                    plain += tls.read(65536)
            except ssl.SSLWantReadError:
                pass
        self.assertEqual(raw, b"")
        head, body = plain.split(b"\r\n\r\n", 1)
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        self.assertEqual(body, bytes(i % 251 for i in range(n)))
        return sizes

    def layout(self, version):
        s = socket.create_connection((self.proxy.host, self.proxy.port), timeout=10)
        self.addCleanup(s.close)
        target = "localhost:%d" % self.one.port
        s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, target)).encode())
        got = b""
        while b"\r\n\r\n" not in got:
            got += s.recv(1)
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got)
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.minimum_version = ctx.maximum_version = version
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                s.sendall(outgoing.read())
                b = s.recv(65536)
                self.assertTrue(b, "closed during the handshake")
                incoming.write(b)
        s.sendall(outgoing.read())
        # the first exchange also carries TLS 1.3's session tickets
        self.exchange(s, tls, (incoming, outgoing), "/n/100", 100)
        for _ in range(3):
            self.assertEqual(len(self.exchange(s, tls, (incoming, outgoing), "/n/100", 100)), 1,
                             "head and body of a 100 B response in separate records")
        sizes = self.exchange(s, tls, (incoming, outgoing), "/n/200000", 200000)
        full = [x for x in sizes if x >= 16384]
        self.assertGreaterEqual(len(full), 200000 // 16384 - 1, sizes)
        self.close_after(s, tls, incoming, outgoing)

    def close_after(self, s, tls, incoming, outgoing):
        """Connection: close on a small response: its head and body (sealed
        together at the flush) come whole, then close_notify, then FIN."""
        tls.write(b"GET /n/100 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        s.sendall(outgoing.read())
        plain, notified = b"", False
        for _ in range(1000):
            b = s.recv(65536)
            if not b:
                break
            incoming.write(b)
            try:
                while not notified:
                    b = tls.read(65536)
                    plain += b
                    notified = b == b""   # CPython's answer to close_notify
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                notified = True
        self.assertTrue(notified, "no close_notify before the FIN: %r" % plain[-60:])
        self.assertIn(b"\r\n\r\n", plain, "close_notify came before the response")
        head, body = plain.split(b"\r\n\r\n", 1)
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        self.assertEqual(body, bytes(i % 251 for i in range(100)))

    def test_small_response_is_one_record_tls13(self):
        self.layout(ssl.TLSVersion.TLSv1_3)

    def test_small_response_is_one_record_tls12(self):
        self.layout(ssl.TLSVersion.TLSv1_2)


class Restart(TlsCase):
    def test_restart_keeps_the_ca(self):
        r1 = subprocess.run([harness.RINGCAP_BIN, "ca", "--data", self.datadir],
                            capture_output=True, text=True)
        self.assertEqual(r1.returncode, 0, r1.stderr)
        self.assertIn("created:     no", r1.stdout)
        key = os.path.join(self.datadir, "ca-key.pem")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        fp = re.search(r"sha256:\s+(\S+)", r1.stdout).group(1)
        rc = self.proxy.stop()
        self.assertEqual(rc, 0)
        self.proxy.start()
        r2 = subprocess.run([harness.RINGCAP_BIN, "ca", "--data", self.datadir],
                            capture_output=True, text=True)
        self.assertIn(fp, r2.stdout)
        r = self.curl(self.url("/again"))
        self.assertEqual(r.returncode, 0, r.stderr)


class WrongName(TlsCase):
    """The origin's certificate names another host (trusted via --upstream-ca)."""
    SAN = "DNS:elsewhere.example"

    def test_name_mismatch_is_a_502_with_reason(self):
        r = self.curl("-i", self.url("/x"))
        self.assertRegex(r.stdout, rb"HTTP/(1\.1 502 Bad Gateway|2 502 )", r.stdout[-300:])
        self.assertIn(b"name mismatch", r.stdout)
        self.assertIn(b"elsewhere.example", r.stdout)


class Verification(TlsCase):
    """No --upstream-ca: the origin's self-signed certificate is refused."""

    @classmethod
    def args(cls):
        return []

    def test_unknown_issuer_is_a_502_with_reason(self):
        r = self.curl("-i", self.url("/x"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, rb"HTTP/(1\.1 502 Bad Gateway|2 502 )")
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
        self.assertRegex(r.stdout, rb"HTTP/(1\.1 502 Bad Gateway|2 502 )")


class Passthrough(TlsCase):
    @classmethod
    def args(cls):
        return ["--passthrough", "local*"]

    def test_passthrough_shows_origin_certificate(self):
        r = self.curl(self.url("/pt"), cacert=self.origin.cert)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"path=/pt", r.stdout)
        self.assertIn(b"via=None", r.stdout)   # ringcap never saw the request


class TunnelKinds(TlsCase):
    """Issue 18: a CONNECT row says what its tunnel was (intercepted,
    passthrough by host or SNI, not TLS, refused by the client), in ls,
    show and the JSON; a refused certificate is an error of its own kind
    (issue 17)."""
    SESSION = "kinds"

    @classmethod
    def args(cls):
        return ["--upstream-ca", cls.origin.cert, "--session", cls.SESSION,
                "--passthrough", "bank.example"]

    def rc(self, *args):
        r = subprocess.run([harness.RINGCAP_BIN] + list(args) + ["--data", self.datadir],
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.decode("utf-8", "replace")

    def connect_row(self, port, host, kind=None):
        """The CONNECT rows to host:port, once one (of that kind) is stored."""
        import json
        import time
        deadline = time.monotonic() + 10
        rows = []
        while time.monotonic() < deadline:
            rows = [r for r in json.loads(self.rc("ls", self.SESSION, "--json"))
                    if r["method"] == "CONNECT" and r["url"] == "%s:%d" % (host, port)]
            if rows and (kind is None or kind in {r["tunnel"] for r in rows}):
                return rows
            time.sleep(0.1)
        self.fail("no CONNECT row to port %d: %r" % (port, rows))

    def raw_connect(self, target):
        s = socket.create_connection((self.proxy.host, self.proxy.port), timeout=10)
        s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, target)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            b = s.recv(1)
            if not b:
                break
            head += b
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        return s

    def test_intercepted(self):
        r = self.curl(self.url("/kind-intercepted"))
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [x for x in self.connect_row(self.origin.port, "localhost", "intercepted")
                if x["tunnel"] == "intercepted"]
        self.assertTrue(rows)
        for x in rows:
            self.assertEqual(x["error"], "none")
            self.assertEqual(x["status"], 200)

    def test_passthrough_by_sni(self):
        # CONNECT by address, SNI bank.example (listed): blind, the origin's
        # own certificate reaches the client
        s = self.raw_connect("127.0.0.1:%d" % self.origin.port)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        t = ctx.wrap_socket(s, server_hostname="bank.example")
        with open(self.origin.cert) as f:
            want = ssl.PEM_cert_to_DER_cert(f.read())
        self.assertEqual(t.getpeercert(binary_form=True), want,
                         "the SNI did not pass the tunnel through")
        t.sendall(b"GET /sni HTTP/1.1\r\nHost: bank.example\r\nConnection: close\r\n\r\n")
        out = b""
        while True:
            b = t.recv(65536)
            if not b:
                break
            out += b
        t.close()
        self.assertIn(b"path=/sni", out)
        self.assertIn(b"via=None", out)   # ringcap never saw the request
        rows = self.connect_row(self.origin.port, "127.0.0.1", "passthrough")
        self.assertIn("passthrough", {x["tunnel"] for x in rows})

    def test_not_tls(self):
        from origin import EchoServer
        echo = EchoServer().start()
        self.addCleanup(echo.stop)
        s = self.raw_connect("127.0.0.1:%d" % echo.port)
        s.sendall(b"plain bytes\n")
        got = b""
        while len(got) < 12:
            b = s.recv(100)
            if not b:
                break
            got += b
        self.assertEqual(got, b"plain bytes\n")
        s.close()
        rows = self.connect_row(echo.port, "127.0.0.1")
        self.assertEqual([x["tunnel"] for x in rows], ["not_tls"])
        table = self.rc("ls", self.SESSION, "--tunnels", "--wide")
        self.assertIn("127.0.0.1:%d (not_tls)" % echo.port, table)

    def test_refused_by_client(self):
        r = self.curl(self.url("/refused", "127.0.0.1"), cacert=False)
        self.assertNotEqual(r.returncode, 0)
        rows = [x for x in self.connect_row(self.origin.port, "127.0.0.1", "refused")
                if x["tunnel"] == "refused"]
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0]["error"], "cert_refused")
        text = self.rc("show", self.SESSION, str(rows[0]["id"]))
        self.assertIn("tunnel   refused by the client", text)
        self.assertIn("refused our certificate", text)
        self.assertNotIn("error    none", text)
        # shown by default: a refused tunnel is not an intercepted one
        self.assertIn("127.0.0.1:%d (refused)" % self.origin.port,
                      self.rc("ls", self.SESSION, "--wide"))

    def test_aborted_handshake_is_refused(self):
        # a pinned app often hangs up on the certificate without an alert
        s = self.raw_connect("localhost:%d" % self.origin.port)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inb, outb, server_hostname="localhost")
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        s.sendall(outb.read())          # the ClientHello
        s.settimeout(5)
        self.assertTrue(s.recv(1))      # our certificate is on its way
        s.close()                       # and the client hangs up
        rows = [x for x in self.connect_row(self.origin.port, "localhost", "refused")
                if x["tunnel"] == "refused"]
        self.assertEqual(len(rows), 1, rows)
        self.assertNotEqual(rows[0]["error"], "none")


if __name__ == "__main__":
    harness.main()
