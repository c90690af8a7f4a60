#!/usr/bin/env python3
"""Bodies through the proxy: GET/POST/PUT with 0 B, 1 KiB and 10 MiB bodies
compared by sha256, chunked uploads and downloads, with zero-copy sends at
the default threshold, forced on for every send (--zc-threshold 1) and
from 64 KiB on (--zc-threshold 64k)."""

import os
import tempfile

import harness
from harness import ProxyCase
from origin import body_bytes, sha256_hex

SIZES = [0, 1024, 10 * 1024 * 1024]
_FILES = {}


def upload_file(n):
    """A temp file holding body_bytes(n) reversed (differs from downloads)."""
    if n not in _FILES:
        fd, path = tempfile.mkstemp(prefix="up-%d-" % n, dir=harness._TMP)
        with os.fdopen(fd, "wb") as f:
            f.write(body_bytes(n)[::-1])
        _FILES[n] = path
    return _FILES[n]


class BodiesDefault(ProxyCase):
    """Default options."""

    def check_get(self, path, n):
        rc, out, err = self.curl(self.ourl(path))
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(out), n)
        self.assertEqual(sha256_hex(out), sha256_hex(body_bytes(n)))

    def check_upload(self, n, *curl_args):
        path = upload_file(n)
        args = list(curl_args)
        args[-1] = args[-1] + path      # "@" + path, or "" + path after -T
        rc, out, err = self.curl(*args, self.ourl("/echo"))
        self.assertEqual(rc, 0, err)
        import json
        js = json.loads(out)
        self.assertEqual(js["length"], n)
        with open(path, "rb") as f:
            self.assertEqual(js["sha256"], sha256_hex(f.read()))
        return js

    def test_get_sizes(self):
        for n in SIZES:
            with self.subTest(size=n):
                self.check_get("/size/%d" % n, n)

    def test_get_chunked_sizes(self):
        for n in SIZES:
            with self.subTest(size=n):
                self.check_get("/chunked/%d" % n, n)

    def test_post_sizes(self):
        for n in SIZES:
            with self.subTest(size=n):
                self.check_upload(n, "-H", "Expect:", "--data-binary", "@")

    def test_put_sizes(self):
        # curl -T sends PUT; above 1 MiB it adds Expect: 100-continue.
        for n in SIZES:
            with self.subTest(size=n):
                js = self.check_upload(n, "-T", "")
                self.assertEqual(js["method"], "PUT")

    def test_chunked_upload_sizes(self):
        for n in SIZES:
            with self.subTest(size=n):
                js = self.check_upload(n, "-H", "Transfer-Encoding: chunked",
                                       "-H", "Expect:", "--data-binary", "@")
                self.assertEqual(js["method"], "POST")

    def test_chunked_upload_raw_with_extensions_and_trailer(self):
        c = self.conn()
        body = (b"5;name=value\r\nhello\r\n"
                b"1\r\n \r\n"
                b"5\r\nworld\r\n"
                b"0\r\nX-Trailer: t\r\n\r\n")
        c.send(self.req("POST", "/echo", [("Transfer-Encoding", "chunked")]) + body)
        r = c.read_response()
        self.assertEqual(r.status, 200, r.body[:200])
        js = r.json()
        self.assertEqual(js["length"], 11)
        self.assertEqual(js["sha256"], sha256_hex(b"hello world"))

    def test_raw_download_framing_kept_exact(self):
        # A 10 MiB chunked body read by our own strict parser, then a second
        # request on the same connection proves the framing ended right.
        c = self.conn(timeout=30)
        n = 10 * 1024 * 1024
        c.send(self.req("GET", "/chunked/%d" % n))
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(sha256_hex(r.body), sha256_hex(body_bytes(n)))
        c.send(self.req("GET", "/size/%d" % n))
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(sha256_hex(r.body), sha256_hex(body_bytes(n)))

    def test_parallel_large_downloads(self):
        # Four 10 MiB downloads at once: backpressure must not mix or drop.
        import concurrent.futures as cf
        n = 10 * 1024 * 1024
        want = sha256_hex(body_bytes(n))

        def one(i):
            path = "/size/%d" % n if i % 2 else "/chunked/%d" % n
            rc, out, err = self.curl(self.ourl(path))
            return rc, sha256_hex(out), err
        with cf.ThreadPoolExecutor(4) as ex:
            for rc, got, err in ex.map(one, range(4)):
                self.assertEqual(rc, 0, err)
                self.assertEqual(got, want)


class BodiesZeroCopyOn(BodiesDefault):
    """--zc-threshold 1: every send above 1 byte goes through SEND_ZC."""
    PROXY_ARGS = ["--zc-threshold", "1"]
    OWN_PROXY = True


class BodiesZeroCopyMixed(BodiesDefault):
    """--zc-threshold 64k: small sends plain, large ones zero-copy."""
    PROXY_ARGS = ["--zc-threshold", "64k"]
    OWN_PROXY = True


if __name__ == "__main__":
    harness.main()
