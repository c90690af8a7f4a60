#!/usr/bin/env python3
"""HTTP/2 with clients (issue 15 item 1): curl --http2 and a raw h2 client
(h2raw.py) through ringcap's intercepted TLS to an HTTP/1.1-only TLS
origin (origin.py behind TLS). Many concurrent streams on one connection,
large bodies both ways (Content-Length and chunked uploads), a stream
reset mid-body recorded as an error while its siblings finish, and the
version recorded: ls/show JSON say HTTP/2, HAR says HTTP/2.0, and the
stored bodies are the bytes that went through. --no-h2 offers http/1.1
only."""

import atexit
import hashlib
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.request

import harness
from harness import Proxy
from h2raw import H2, CANCEL
from origin import Origin, body_bytes

TMP = tempfile.mkdtemp(prefix="ringcap-h2-")
atexit.register(shutil.rmtree, TMP, True)


def rc(*args):
    r = subprocess.run([harness.RINGCAP_BIN] + list(args), capture_output=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def tls_origin():
    key, cert = os.path.join(TMP, "o-key.pem"), os.path.join(TMP, "o-cert.pem")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "30", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
    o = Origin()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])   # an HTTP/1.1-only origin
    # handshakes on the connection threads, not in the accept loop: one
    # stalled handshake must not stop every other connection
    o.lsock = ctx.wrap_socket(o.lsock, server_side=True, do_handshake_on_connect=False)
    o.start()
    return o, cert


def metric(proxy, name, label=None):
    argv = proxy.argv()
    url = "http://%s/metrics" % argv[argv.index("--control") + 1]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for attempt in range(50):   # the control port may come up after the proxy's
        try:
            text = opener.open(url, timeout=10).read().decode()
            break
        except OSError:
            if attempt == 49:
                raise
            time.sleep(0.1)
    pat = r"^ringcap_%s%s (\d+)$" % (name, re.escape("{%s}" % label) if label else "")
    m = re.search(pat, text, re.M)
    return int(m.group(1)) if m else None


class H2Case(unittest.TestCase):
    EXTRA = []

    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        cls.origin, cert = tls_origin()
        cls.proxy = Proxy(["--upstream-ca", cert] + cls.EXTRA, 2, cls.__name__)
        argv = cls.proxy.argv()
        cls.datadir = argv[argv.index("--data") + 1]
        cls.proxy.argv = lambda: list(argv)
        cls.proxy.start()
        cls.ca = os.path.join(cls.datadir, "ca-cert.pem")
        cls.authority = "localhost:%d" % cls.origin.port

    @classmethod
    def tearDownClass(cls):
        rc_ = cls.proxy.stop()
        cls.origin.stop()
        if rc_ not in (None, 0):
            raise AssertionError("ringcap exit %r:\n%s" % (rc_, cls.proxy.log()))

    def curl(self, *args, timeout=60):
        cmd = ["curl", "-sS", "--max-time", str(timeout), "--http2", "-x",
               "http://%s:%d" % (self.proxy.host, self.proxy.port), "--cacert", self.ca]
        return subprocess.run(cmd + list(args), capture_output=True, timeout=timeout + 10)

    def url(self, path):
        return "https://%s%s" % (self.authority, path)

    def h2(self):
        return H2(self.proxy.host, self.proxy.port, self.authority, self.ca)


class Streams(H2Case):
    def test_alpn_selects_h2(self):
        r = self.curl("-w", "%{http_version}", "-o", "/dev/null", self.url("/size/10"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"2")

    def test_many_concurrent_streams_one_connection(self):
        conns = metric(self.proxy, "h2_connections_total")
        streams = metric(self.proxy, "h2_streams_total")
        n = 100
        args = ["--parallel", "--parallel-max", str(n)]
        for i in range(n):
            args += ["-o", os.path.join(TMP, "p%d" % i), self.url("/size/%d" % (i * 1013 + 1))]
        r = self.curl(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        for i in range(n):
            with open(os.path.join(TMP, "p%d" % i), "rb") as f:
                self.assertEqual(f.read(), body_bytes(i * 1013 + 1), i)
        self.assertEqual(metric(self.proxy, "h2_streams_total") - streams, n)
        self.assertLessEqual(metric(self.proxy, "h2_connections_total") - conns, 2)

    def test_large_bodies_both_ways(self):
        up = os.urandom(3 * 1024 * 1024 + 7)
        path = os.path.join(TMP, "up.bin")
        with open(path, "wb") as f:
            f.write(up)
        # Content-Length upload
        r = self.curl("--data-binary", "@" + path, self.url("/echo"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["sha256"], hashlib.sha256(up).hexdigest())
        # no Content-Length: chunked towards the HTTP/1.1 origin
        with open(path, "rb") as f:
            r = subprocess.run(["curl", "-sS", "--max-time", "60", "--http2", "-x",
                                "http://%s:%d" % (self.proxy.host, self.proxy.port),
                                "--cacert", self.ca, "-X", "POST", "-T", "-",
                                self.url("/echo")], stdin=f, capture_output=True, timeout=70)
        self.assertEqual(r.returncode, 0, r.stderr)
        echo = json.loads(r.stdout)
        self.assertEqual(echo["sha256"], hashlib.sha256(up).hexdigest())
        self.assertEqual(echo["length"], len(up))
        n = 6 * 1024 * 1024 + 1
        r = self.curl(self.url("/size/%d" % n))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, body_bytes(n))
        r = self.curl(self.url("/chunked/%d" % n))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, body_bytes(n))

    def test_te_trailers_kept_and_fields_forwarded(self):
        c = self.h2()
        c.headers(1, c.request_fields("GET", "/headers", [("te", "trailers"),
                                                          ("cookie", "a=1"), ("x-one", "1"),
                                                          ("cookie", "b=2")]))
        self.assertTrue(c.wait([1]))
        seen = json.loads(c.streams[1]["body"])
        c.close()
        names = {k.lower(): v for k, v in seen["headers"]}
        self.assertEqual(names.get("te"), "trailers")
        self.assertEqual(names.get("x-one"), "1")
        self.assertEqual(names.get("host"), self.authority)
        # cookie crumbs joined into one line for HTTP/1.1 (RFC 9113 8.2.3)
        self.assertEqual([v for k, v in seen["headers"] if k.lower() == "cookie"], ["a=1; b=2"])
        self.assertEqual(seen["version"], "HTTP/1.1")

    def test_request_trailers_carried(self):
        c = self.h2()
        c.headers(1, c.request_fields("POST", "/echo"), end_stream=False)
        c.data(1, b"x" * 1000)
        c.headers(1, [("x-checksum", "abc")], end_stream=True)
        self.assertTrue(c.wait([1]))
        echo = json.loads(c.streams[1]["body"])
        c.close()
        self.assertEqual(echo["length"], 1000)
        self.assertIn("x-checksum: abc", echo["trailers"])

    def test_response_trailers_carried(self):
        """An HTTP/1.1 origin's chunked trailers reach the h2 client as a
        trailing HEADERS frame that ends the stream."""
        c = self.h2()
        c.get(1, "/chunked-trailer/5000")
        c.get(3, "/chunked/5000")
        self.assertTrue(c.wait([1, 3]))
        c.close()
        self.assertEqual(c.streams[1]["body"], body_bytes(5000))
        self.assertEqual(c.streams[1]["headers"], 2)   # response head + trailers
        self.assertEqual(c.streams[3]["headers"], 1)

    def test_upload_window_follows_the_upstream(self):
        """Flow control is back-pressure: while the origin does not read, the
        proxy opens the stream's window only as far as the upstream socket
        takes bytes (kernel buffers), far less than the body; once it
        reads, the rest flows and arrives intact."""
        c = self.h2()
        size = 48 << 20
        body = os.urandom(size)
        c.headers(1, c.request_fields("POST", "/echo?stall=2500",
                                      [("content-length", str(size))]), end_stream=False)
        self.assertFalse(c.send_body(1, body, timeout=1.5))
        stalled = c.sent[1]
        self.assertLess(stalled, 24 << 20)
        self.assertGreater(stalled, 0)
        self.assertTrue(c.send_body(1, body[stalled:], timeout=60))
        self.assertTrue(c.wait([1], timeout=60))
        echo = json.loads(c.streams[1]["body"])
        c.close()
        self.assertEqual(echo["sha256"], hashlib.sha256(body).hexdigest())

    def test_plain_bodies_end_right(self):
        """A plain (not chunked) HTTP/1.1 body goes out as NO_COPY DATA
        frames straight from the stream's queue: one delimited by the
        origin's close still ends the stream, one cut short is reset.
        Close-delimited bodies larger than the input the engine decrypts
        ahead (ENG_IN_BUFS_MAX buffers, 128 KiB) came out short, for h2 and
        HTTP/1.1 clients alike, until the origin's FIN waited for the
        ciphertext queued before it."""
        for n in (70000, 150000, 2000000):
            for proto in ("--http2", "--http1.1"):
                r = self.curl(proto, self.url("/until-close/%d" % n))
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(len(r.stdout), n, (n, proto))
                self.assertEqual(r.stdout, body_bytes(n), (n, proto))
        n = 300001
        r = self.curl(self.url("/close-mid/%d" % n))
        self.assertNotEqual(r.returncode, 0)
        self.assertLess(len(r.stdout), n)
        c = self.h2()
        for sid, size in ((1, 70000), (3, 1), (5, 16384), (7, 16385)):
            c.get(sid, "/size/%d" % size)
        self.assertTrue(c.wait([1, 3, 5, 7]))
        for sid, size in ((1, 70000), (3, 1), (5, 16384), (7, 16385)):
            self.assertEqual(c.streams[sid]["body"], body_bytes(size), sid)
        c.close()

    def test_reset_mid_body_others_unaffected(self):
        c = self.h2()
        big = 64 * 1024 * 1024
        c.get(1, "/size/%d" % big)
        c.get(3, "/size/300000")
        c.get(5, "/chunked/200000")
        got = 0
        while got < 256 * 1024:
            f = c.read_frame()
            self.assertIsNotNone(f)
            got = len(c.streams.get(1, {"body": b""})["body"])
        c.rst(1, CANCEL)
        c.get(7, "/size/1000")
        self.assertTrue(c.wait([3, 5, 7]))
        self.assertEqual(c.streams[3]["body"], body_bytes(300000))
        self.assertEqual(c.streams[5]["body"], body_bytes(200000))
        self.assertEqual(c.streams[7]["body"], body_bytes(1000))
        self.assertFalse(c.streams[1]["end"])
        c.close()


class Store(H2Case):
    """What a session stores of h2 streams: the version, errors, bodies."""
    EXTRA = ["--session", "h2"]

    def test_recorded(self):
        up = os.urandom(200000)
        path = os.path.join(TMP, "up2.bin")
        with open(path, "wb") as f:
            f.write(up)
        r = self.curl("--data-binary", "@" + path, self.url("/echo"))
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.curl(self.url("/chunked/70000"))
        self.assertEqual(r.returncode, 0, r.stderr)
        c = self.h2()
        c.get(1, "/size/%d" % (64 << 20))
        while len(c.streams.get(1, {"body": b""})["body"]) < 128 * 1024:
            self.assertIsNotNone(c.read_frame())
        c.rst(1, CANCEL)
        c.get(3, "/size/5000")
        self.assertTrue(c.wait([3]))
        c.close()
        self.assertEqual(self.proxy.stop(), 0)
        code, out, err = rc("ls", "h2", "--data", self.datadir, "--json")
        self.assertEqual(code, 0, err)
        rows = json.loads(out)
        streams = [x for x in rows if x["method"] != "CONNECT"]
        self.assertEqual(len(streams), 4, rows)
        for x in streams:
            self.assertEqual(x["http_version"], "HTTP/2", x)
        for x in rows:
            if x["method"] == "CONNECT":
                self.assertEqual(x["http_version"], "HTTP/1.1", x)
        by = {x["url"]: x for x in streams}
        reset = by[self.url("/size/%d" % (64 << 20))]
        self.assertEqual(reset["error"], "client_closed", reset)
        self.assertEqual(by[self.url("/size/5000")]["error"], "none")
        self.assertEqual(by[self.url("/size/5000")]["status"], 200)

        def show(url, *args):
            code, out, err = rc("show", "h2", str(by[url]["id"]), "--data", self.datadir,
                                *args)
            self.assertEqual(code, 0, err)
            return out
        self.assertEqual(show(self.url("/echo"), "--body", "request"), up)
        self.assertEqual(show(self.url("/chunked/70000"), "--body", "response"),
                         body_bytes(70000))
        self.assertEqual(show(self.url("/size/5000"), "--body", "response"), body_bytes(5000))
        j = json.loads(show(self.url("/size/5000"), "--json"))
        self.assertEqual(j["http_version"], "HTTP/2")
        code, out, err = rc("export", "h2", "--format", "har", "--data", self.datadir)
        self.assertEqual(code, 0, err)
        entries = json.loads(out)["log"]["entries"]
        vers = {e["request"]["url"]: e["request"]["httpVersion"] for e in entries}
        self.assertEqual(vers[self.url("/size/5000")], "HTTP/2.0")


class Filtered(H2Case):
    """Capture filters and toggles decide for streams as for HTTP/1.1."""
    EXTRA = ["--session", "f", "--url-contains", "/size/", "--status", "2xx",
             "--no-save-responses"]

    def test_filter_and_toggle_apply_to_streams(self):
        c = self.h2()
        c.get(1, "/size/100")
        c.get(3, "/status/404")
        c.headers(5, c.request_fields("POST", "/echo", [("content-length", "3")]),
                  end_stream=False)
        c.data(5, b"abc", end_stream=True)
        self.assertTrue(c.wait([1, 3, 5]))
        self.assertEqual(c.streams[1]["body"], body_bytes(100))
        c.close()
        self.assertEqual(self.proxy.stop(), 0)
        code, out, err = rc("ls", "f", "--data", self.datadir, "--json")
        self.assertEqual(code, 0, err)
        rows = json.loads(out)
        self.assertEqual([r["url"] for r in rows], [self.url("/size/100")], rows)
        self.assertEqual(rows[0]["http_version"], "HTTP/2")
        code, out, err = rc("show", "f", str(rows[0]["id"]), "--data", self.datadir, "--json")
        self.assertEqual(code, 0, err)
        j = json.loads(out)
        self.assertFalse(j["responses_saved"])
        # no response body stored for the stream (100 bytes went through)
        self.assertEqual(j["response_body_bytes"], 0)
        self.assertEqual(j["response_head"], "")
        code, out, err = rc("show", "f", str(rows[0]["id"]), "--data", self.datadir,
                            "--body", "response")
        self.assertEqual((code, out), (0, b""), err)


class Grpc(H2Case):
    """Trailer sections are stored (issue 15: "a gRPC-shaped exchange is
    stored with its trailers"): an HTTP/1.1 origin's chunked trailers reach
    an h2 client as trailing HEADERS and an h1 client as a trailer section,
    and both exchanges are stored with them; an h2 client's request
    trailers are stored too. show, show --json and HAR export show them."""
    EXTRA = ["--session", "g"]

    GRPC = [{"name": "grpc-status", "value": "0"}, {"name": "grpc-message", "value": "ok"}]

    def grpc_call(self, version, msg):
        path = os.path.join(TMP, "grpc-%s.req" % version)
        with open(path, "wb") as f:
            f.write(msg)
        dump = os.path.join(TMP, "grpc-%s.head" % version)
        r = self.curl(version, "-D", dump, "-H", "content-type: application/grpc",
                      "-H", "te: trailers", "--data-binary", "@" + path, self.url("/grpc"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"\x00" + len(msg).to_bytes(4, "big") + msg)
        with open(dump, "rb") as f:
            head = f.read().decode("latin-1")
        # the origin sends grpc-status only in its trailer section: seen by
        # the client after the response head, so it came as trailers
        resp = head[head.rindex("HTTP/"):]
        first, _, rest = resp.partition("\r\n\r\n")
        self.assertNotIn("grpc-status", first.lower())
        self.assertIn("grpc-status: 0", rest)
        self.assertIn("grpc-message: ok", rest)
        return resp

    def test_trailers_stored(self):
        msg = b"\x00\x00\x00\x00\x05hello"
        self.assertTrue(self.grpc_call("--http2", msg).startswith("HTTP/2 200"))
        self.assertTrue(self.grpc_call("--http1.1", msg).startswith("HTTP/1.1 200"))
        c = self.h2()
        c.headers(1, c.request_fields("POST", "/echo"), end_stream=False)
        c.data(1, b"x" * 100)
        c.headers(1, [("x-checksum", "abc"), ("x-two", "2")], end_stream=True)
        c.get(3, "/size/10")
        self.assertTrue(c.wait([1, 3]))
        c.close()
        r = self.curl("--http1.1", self.url("/chunked-trailer/100"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.proxy.stop(), 0)

        code, out, err = rc("ls", "g", "--data", self.datadir, "--json")
        self.assertEqual(code, 0, err)
        rows = [x for x in json.loads(out) if x["method"] != "CONNECT"]
        by = {(x["url"], x["http_version"]): x for x in rows}
        self.assertEqual(len(by), 5, rows)

        def show(url, ver, *args):
            code, out, err = rc("show", "g", str(by[(self.url(url), ver)]["id"]),
                                "--data", self.datadir, *args)
            self.assertEqual(code, 0, err)
            return json.loads(out) if "--json" in args else out.decode()
        for ver in ("HTTP/2", "HTTP/1.1"):
            j = show("/grpc", ver, "--json")
            self.assertEqual(j["trailers"]["response"], self.GRPC, j)
            self.assertEqual(j["trailers"]["request"], [])
            self.assertFalse(j["trailers_cut"])
            self.assertIn("application/grpc", j["response_head"])
            self.assertIn("trailers\ngrpc-status: 0\ngrpc-message: ok\n",
                          show("/grpc", ver))
        j = show("/echo", "HTTP/2", "--json")
        self.assertEqual(j["trailers"]["request"],
                         [{"name": "x-checksum", "value": "abc"}, {"name": "x-two", "value": "2"}])
        self.assertEqual(j["trailers"]["response"], [])
        j = show("/chunked-trailer/100", "HTTP/1.1", "--json")
        self.assertEqual([t["name"] for t in j["trailers"]["response"]], ["X-Sum"])
        self.assertEqual(j["trailers"]["response"][0]["value"],
                         hashlib.sha256(body_bytes(100)).hexdigest())
        self.assertNotIn("trailers", show("/size/10", "HTTP/2", "--json"))

        code, out, err = rc("export", "g", "--format", "har", "--data", self.datadir)
        self.assertEqual(code, 0, err)
        entries = json.loads(out)["log"]["entries"]
        grpc = [e for e in entries if e["request"]["url"] == self.url("/grpc")]
        self.assertEqual(len(grpc), 2)
        for e in grpc:
            self.assertEqual(e["response"]["_trailers"], self.GRPC)
            self.assertNotIn("_trailers", e["request"])
        echo = [e for e in entries if e["request"]["url"] == self.url("/echo")][0]
        self.assertEqual(echo["request"]["_trailers"][0], {"name": "x-checksum", "value": "abc"})
        size = [e for e in entries if e["request"]["url"] == self.url("/size/10")][0]
        self.assertNotIn("_trailers", size["response"])
        # imported, the trailers come back: the same HAR out again
        har = os.path.join(self.datadir, "g.har")
        with open(har, "wb") as f:
            f.write(out)
        code, _, err = rc("import", har, "--session", "g-back", "--data", self.datadir)
        self.assertEqual(code, 0, err)
        code, out2, err = rc("export", "g-back", "--format", "har", "--data", self.datadir)
        self.assertEqual(code, 0, err)
        back = json.loads(out2)["log"]["entries"]
        self.assertEqual([(e["request"].get("_trailers"), e["response"].get("_trailers"))
                          for e in back],
                         [(e["request"].get("_trailers"), e["response"].get("_trailers"))
                          for e in entries])


class GrpcCut(H2Case):
    """A trailer section larger than the engine keeps (half a head buffer:
    --max-*-head 2k) is stored cut at a line, flagged, and still forwarded
    whole."""
    EXTRA = ["--session", "gc", "--max-request-head", "2k", "--max-response-head", "2k"]

    def test_cut_trailers(self):
        dump = os.path.join(TMP, "grpc-cut.head")
        r = self.curl("--http1.1", "-D", dump, "-o", "/dev/null", "--data-binary", "x",
                      self.url("/grpc?pad=3000"))
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(dump, "rb") as f:
            self.assertIn(b"x-pad: " + b"p" * 3000, f.read())
        self.assertEqual(self.proxy.stop(), 0)
        code, out, err = rc("ls", "gc", "--data", self.datadir, "--json")
        self.assertEqual(code, 0, err)
        row = [x for x in json.loads(out) if x["method"] == "POST"][0]
        code, out, err = rc("show", "gc", str(row["id"]), "--data", self.datadir, "--json")
        self.assertEqual(code, 0, err)
        j = json.loads(out)
        self.assertEqual(j["trailers"]["response"], Grpc.GRPC)
        self.assertTrue(j["trailers_cut"])
        code, out, err = rc("show", "gc", str(row["id"]), "--data", self.datadir)
        self.assertIn(b"grpc-message: ok\n(the first 34 of ", out)


class Paused(H2Case):
    """Item 6: the capture filter, pause and resume decide for streams as
    for HTTP/1.1 exchanges, on one h2 connection that stays open."""
    EXTRA = ["--session", "p", "--url-excludes", "skipme"]

    def api(self, path):
        argv = self.proxy.argv()
        url = "http://%s%s" % (argv[argv.index("--control") + 1], path)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        req = urllib.request.Request(url, data=b"", method="POST")
        return json.loads(opener.open(req, timeout=10).read())

    def test_filter_pause_resume_on_streams(self):
        c = self.h2()
        c.get(1, "/size/101")
        c.get(3, "/headers?skipme=1")
        self.assertTrue(c.wait([1, 3]))
        self.assertEqual(self.api("/api/sessions/active/pause")["state"], "paused")
        c.get(5, "/size/103")
        c.get(7, "/size/104")
        self.assertTrue(c.wait([5, 7]))   # traffic flows while paused
        self.assertEqual(c.streams[5]["body"], body_bytes(103))
        self.assertEqual(self.api("/api/sessions/active/resume")["state"], "active")
        c.get(9, "/size/105")
        c.get(11, "/size/106?skipme")
        self.assertTrue(c.wait([9, 11]))
        c.close()
        self.assertEqual(self.proxy.stop(), 0)
        code, out, err = rc("ls", "p", "--data", self.datadir, "--json")
        self.assertEqual(code, 0, err)
        rows = [x for x in json.loads(out) if x["method"] != "CONNECT"]
        self.assertEqual(sorted(x["url"] for x in rows),
                         [self.url("/size/101"), self.url("/size/105")], rows)
        for x in rows:
            self.assertEqual(x["http_version"], "HTTP/2")


class NotReading(H2Case):
    """A client that stops reading (its stream window stays shut) does not
    hold its connection: the stalled stream ends at --upstream-timeout, the
    then idle connection at --idle-timeout."""
    EXTRA = ["--idle-timeout", "1s", "--upstream-timeout", "1s"]

    def test_closed_after_idle_timeout(self):
        c = H2(self.proxy.host, self.proxy.port, self.authority, self.ca, window=16384)
        c.get(1, "/size/%d" % (8 << 20))
        t0 = time.time()
        self.assertTrue(c.wait_closed(10))
        self.assertLess(time.time() - t0, 6)
        self.assertLessEqual(len(c.streams[1]["body"]), 16384)
        c.close()


class Drain(H2Case):
    """SIGTERM: h2 connections get GOAWAY, a stream in flight finishes,
    idle connections close, and ringcap exits well within its grace."""

    def test_goaway_on_shutdown(self):
        idle = self.h2()
        idle.get(1, "/size/100")
        self.assertTrue(idle.wait([1]))
        busy = self.h2()
        busy.get(1, "/delay/1500")
        time.sleep(0.3)
        t0 = time.time()
        self.proxy.signal(signal.SIGTERM)
        self.assertTrue(busy.wait([1], 15))
        self.assertEqual(busy.streams[1]["body"], b"delayed\n")
        self.assertEqual(busy.goaway, 0)           # NO_ERROR
        self.assertTrue(idle.wait_closed(10))
        self.assertEqual(idle.goaway, 0)
        self.assertEqual(self.proxy.stop(), 0)
        self.assertLess(time.time() - t0, 10)
        busy.close()
        idle.close()


class Browser(H2Case):
    """Headless Chromium loads a page through ringcap over h2."""
    EXTRA = ["--session", "br"]

    def test_chromium_page_over_h2(self):
        if not os.access("/usr/bin/chromium", os.X_OK):
            self.skipTest("chromium not installed")
        prof = tempfile.mkdtemp(dir=TMP)
        r = subprocess.run(["/usr/bin/chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
                            "--disable-dev-shm-usage", "--disable-background-networking",
                            "--proxy-bypass-list=<-loopback>",   # loopback via the proxy too
                            "--user-data-dir=" + prof, "--ignore-certificate-errors",
                            "--proxy-server=http://%s:%d" % (self.proxy.host, self.proxy.port),
                            "--dump-dom", self.url("/headers")], capture_output=True, timeout=90)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertIn(b"1.1 ringcap", r.stdout)   # our Via reached the origin
        self.assertEqual(self.proxy.stop(), 0)
        code, out, err = rc("ls", "br", "--data", self.datadir, "--json")
        self.assertEqual(code, 0, err)
        page = [x for x in json.loads(out) if x["url"] == self.url("/headers")]
        self.assertEqual(len(page), 1, out[-2000:])
        self.assertEqual((page[0]["status"], page[0]["http_version"]), (200, "HTTP/2"))


class NoH2(H2Case):
    EXTRA = ["--no-h2"]

    def test_offers_http11_only(self):
        r = self.curl("-w", "%{http_version}", "-o", "/dev/null", self.url("/size/10"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"1.1")


if __name__ == "__main__":
    harness.main()
