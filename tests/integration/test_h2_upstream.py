#!/usr/bin/env python3
"""HTTP/2 towards the origin (issue 15 item 2, opt-in --upstream-h2): an
h2-only origin (nghttpd from Debian nghttp2-server, which refuses
http/1.1 in ALPN) reached through ringcap by an HTTP/1.1 client and by an
HTTP/2 client: GETs of small and large files, 404, HEAD, uploads with
Content-Length and chunked (nghttpd --echo-upload answers with the body),
keep-alive over a pooled h2 upstream, and the stored exchanges. Without
--upstream-h2 the same origin is a 502 (ALPN offers http/1.1 only)."""

import atexit
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import harness
from harness import Proxy

TMP = tempfile.mkdtemp(prefix="ringcap-h2up-")
atexit.register(shutil.rmtree, TMP, True)


def rc(*args):
    r = subprocess.run([harness.RINGCAP_BIN] + list(args), capture_output=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


class Upstream(unittest.TestCase):
    EXTRA = ["--upstream-h2", "--session", "up"]
    NGHTTPD_EXTRA = []

    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        if shutil.which("nghttpd") is None:
            raise unittest.SkipTest("nghttpd not installed (nghttp2-server)")
        key, cert = os.path.join(TMP, cls.__name__ + "-k.pem"), os.path.join(TMP, cls.__name__ + "-c.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "30", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
        cls.www = os.path.join(TMP, "www-" + cls.__name__)
        os.makedirs(cls.www)
        cls.big = os.urandom(3 * 1024 * 1024 + 5)
        with open(os.path.join(cls.www, "big"), "wb") as f:
            f.write(cls.big)
        with open(os.path.join(cls.www, "small"), "wb") as f:
            f.write(b"hello\n")
        cls.port = harness.free_port()
        cls.nghttpd = subprocess.Popen(["nghttpd", "-d", cls.www, "--echo-upload"] +
                                       cls.NGHTTPD_EXTRA + [str(cls.port), key, cert],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not harness.wait_port("127.0.0.1", cls.port, 10, cls.nghttpd):
            raise RuntimeError("nghttpd did not start")
        cls.proxy = Proxy(["--upstream-ca", cert] + cls.EXTRA, 2, cls.__name__)
        argv = cls.proxy.argv()
        cls.datadir = argv[argv.index("--data") + 1]
        cls.proxy.argv = lambda: list(argv)
        cls.proxy.start()
        cls.ca = os.path.join(cls.datadir, "ca-cert.pem")

    @classmethod
    def tearDownClass(cls):
        rc_ = cls.proxy.stop()
        cls.nghttpd.terminate()
        cls.nghttpd.wait(10)
        if rc_ not in (None, 0):
            raise AssertionError("ringcap exit %r:\n%s" % (rc_, cls.proxy.log()))

    def curl(self, *args, stdin=None):
        cmd = ["curl", "-sS", "--max-time", "30", "-x",
               "http://%s:%d" % (self.proxy.host, self.proxy.port), "--cacert", self.ca]
        return subprocess.run(cmd + list(args), capture_output=True, stdin=stdin, timeout=40)

    def url(self, path):
        return "https://localhost:%d%s" % (self.port, path)

    def test_h1_client_to_h2_origin(self):
        r = self.curl("--http1.1", self.url("/small"), self.url("/big"), self.url("/nope"),
                      "-o", os.path.join(TMP, "a"), "-o", os.path.join(TMP, "b"),
                      "-o", "/dev/null", "-w", "%{http_code} %{num_connects};")
        self.assertEqual(r.returncode, 0, r.stderr)
        # one tunnel: the second and third requests reuse the connection
        self.assertEqual(r.stdout, b"200 1;200 0;404 0;")
        with open(os.path.join(TMP, "a"), "rb") as f:
            self.assertEqual(f.read(), b"hello\n")
        with open(os.path.join(TMP, "b"), "rb") as f:
            self.assertEqual(f.read(), self.big)
        r = self.curl("--http1.1", "-I", self.url("/small"))
        self.assertIn(b"HTTP/1.1 200", r.stdout)

    def test_uploads(self):
        up = os.urandom(700000)
        path = os.path.join(TMP, "up")
        with open(path, "wb") as f:
            f.write(up)
        r = self.curl("--http1.1", "--data-binary", "@" + path, self.url("/small"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, up)
        with open(path, "rb") as f:   # no Content-Length: chunked from the client
            r = self.curl("--http1.1", "-X", "POST", "-T", "-", self.url("/small"), stdin=f)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, up)

    def test_h2_client_to_h2_origin(self):
        # three rounds: a stream whose last DATA sat decrypted inside TLS
        # while the input queue was full used to stall before its end
        # about one round in three (eng_h2u_in_consumed)
        args = []
        for i in range(8):
            args += ["-o", os.path.join(TMP, "h2-%d" % i), self.url("/big")]
        for _ in range(3):
            r = self.curl("--http2", "--parallel", "--parallel-max", "8", *args)
            self.assertEqual(r.returncode, 0, r.stderr[-300:])
            for i in range(8):
                with open(os.path.join(TMP, "h2-%d" % i), "rb") as f:
                    self.assertEqual(f.read(), self.big, i)

    def test_z_stored(self):
        self.assertEqual(self.curl("--http1.1", self.url("/small")).returncode, 0)
        self.assertEqual(self.proxy.stop(), 0)   # runs last: the session ends here
        code, out, err = rc("ls", "up", "--data", self.datadir, "--json")
        self.assertEqual(code, 0, err)
        rows = [x for x in json.loads(out) if x["url"] == self.url("/small") and
                x["method"] == "GET"]
        self.assertTrue(rows)
        code, out, err = rc("show", "up", str(rows[-1]["id"]), "--data", self.datadir,
                            "--body", "response")
        self.assertEqual(out, b"hello\n")


class Trailers(Upstream):
    """An h2 origin's trailing HEADERS (gRPC's grpc-status) reach h2 and
    h1 clients and are stored with the exchange."""
    EXTRA = ["--upstream-h2", "--session", "tr"]
    NGHTTPD_EXTRA = ["--trailer", "grpc-status: 0", "--trailer", "grpc-message: ok"]

    def test_trailers_forwarded_and_stored(self):
        for ver in ("--http2", "--http1.1"):
            r = self.curl(ver, "-D", "-", "-o", os.path.join(TMP, "tr-small"),
                          self.url("/small"))
            self.assertEqual(r.returncode, 0, r.stderr)
            head, _, rest = r.stdout.decode("latin-1").rpartition("HTTP/")[2].partition(
                "\r\n\r\n")
            self.assertIn("grpc-status: 0", rest, (ver, r.stdout))
            with open(os.path.join(TMP, "tr-small"), "rb") as f:
                self.assertEqual(f.read(), b"hello\n")
        self.assertEqual(self.proxy.stop(), 0)
        code, out, err = rc("ls", "tr", "--data", self.datadir, "--json")
        self.assertEqual(code, 0, err)
        rows = [x for x in json.loads(out) if x["method"] == "GET"]
        self.assertEqual(sorted(x["http_version"] for x in rows), ["HTTP/1.1", "HTTP/2"])
        for x in rows:
            code, out, err = rc("show", "tr", str(x["id"]), "--data", self.datadir, "--json")
            self.assertEqual(code, 0, err)
            self.assertEqual(json.loads(out)["trailers"]["response"],
                             [{"name": "grpc-status", "value": "0"},
                              {"name": "grpc-message", "value": "ok"}], x)

    test_h1_client_to_h2_origin = test_uploads = test_h2_client_to_h2_origin = None
    test_z_stored = None


class NotOffered(Upstream):
    """Without --upstream-h2 an h2-only origin refuses the handshake: 502."""
    EXTRA = []

    def test_h1_client_to_h2_origin(self):
        r = self.curl("--http1.1", self.url("/small"), "-w", "%{http_code}", "-o", "/dev/null")
        self.assertEqual(r.stdout, b"502")

    test_uploads = test_h2_client_to_h2_origin = test_z_stored = None


if __name__ == "__main__":
    harness.main()
