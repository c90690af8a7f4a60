#!/usr/bin/env python3
"""1,000 varied exchanges through the capturing proxy, then every stored
field compared with what was sent and received: methods GET POST PUT
DELETE PATCH HEAD OPTIONS; statuses 200 201 204 302 304 404 500; chunked
and Content-Length bodies both ways; empty, small, medium, large (> 1 MiB)
and binary bodies; about 10% over HTTPS through the CA ringcap generated.
Bodies are derivable from the URL (storelib), compared byte-exact through
`ringcap show --body`; the other fields through `ls --json` and
`show --json`. RINGCAP_VARIED_N changes the count (default 1000)."""

import concurrent.futures as cf
import json
import os
import random
import re
import tempfile
import time
import unittest

import harness
import storelib as sl

N = int(os.environ.get("RINGCAP_VARIED_N", "1000"))
CLIENTS = 4
METHODS = ["GET", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
STATUSES = [200, 200, 200, 201, 204, 302, 304, 404, 500]
TYPE_OF = {"json": "json", "html": "html", "bin": "binary", "text": "text", "js": "js"}


def size_of(rnd, big):
    x = rnd.random()
    if big:
        return rnd.randrange((1 << 20) + 1, (1 << 20) + 400000)
    if x < 0.2:
        return 0
    if x < 0.75:
        return rnd.randrange(1, 2000)
    return rnd.randrange(2000, 120000)


def specs(n):
    rnd = random.Random(1000)
    out = []
    for k in range(n):
        m = METHODS[rnd.randrange(len(METHODS))]
        big_resp = k % 97 == 13
        big_req = k % 131 == 7 and m in ("POST", "PUT", "PATCH")
        s = {"k": k, "method": m, "st": STATUSES[rnd.randrange(len(STATUSES))],
             "te": "c" if rnd.random() < 0.35 else "l",
             "ct": rnd.choice(list(TYPE_OF)),
             "sl": size_of(rnd, big_resp),
             "rl": size_of(rnd, big_req) if m in ("POST", "PUT", "PATCH") or
             (m in ("DELETE", "OPTIONS") and rnd.random() < 0.3) else 0,
             "req_chunked": rnd.random() < 0.3,
             "https": k % 10 == 4}
        if s["rl"] == 0:
            s["req_chunked"] = False
        if big_resp:
            s["st"], s["method"] = 200, "GET"
        out.append(s)
    return out


class Varied(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        cls.tmp = tempfile.mkdtemp(prefix="varied-", dir=harness._TMP)
        cls.cert, key = sl.make_cert(cls.tmp)
        cls.origin = sl.VOrigin()
        cls.torigin = sl.VOrigin(tls=(cls.cert, key))

    @classmethod
    def tearDownClass(cls):
        cls.origin.stop()
        cls.torigin.stop()

    def drive(self, p, ca, todo):
        plain, tls = sl.Client(p), sl.Client(p, self.torigin, ca)
        got = {}
        try:
            for s in todo:
                path = sl.path_of(s["k"], s["rl"], s["sl"], s["st"], s["ct"], s["te"])
                url = self.torigin.url(path, "localhost") if s["https"] else \
                    self.origin.url(path)
                c = tls if s["https"] else plain
                body = sl.body_of("q", s["k"], s["rl"])
                st, h, data = c.request(s["method"], path if s["https"] else url, body,
                                        chunked=s["req_chunked"])
                got[s["k"]] = (url, st, h, data)
        finally:
            plain.close()
            tls.close()
        return got

    def test_every_field(self):
        t0 = time.monotonic()
        data = os.path.join(self.tmp, "data")
        os.mkdir(data)
        p = sl.proxy_on(data, "varied", ["--upstream-ca", self.cert], workers=2,
                        name="varied").start()
        ca = os.path.join(data, "ca-cert.pem")
        all_specs = specs(N)
        try:
            with cf.ThreadPoolExecutor(CLIENTS) as ex:
                parts = list(ex.map(lambda i: self.drive(p, ca, all_specs[i::CLIENTS]),
                                    range(CLIENTS)))
        finally:
            self.assertEqual(p.stop(), 0, p.log())
        t1 = time.monotonic()
        got = {}
        for part in parts:
            got.update(part)
        self.assertEqual(len(got), N)
        for s in all_specs:   # what the client saw is right (the proxy forwards)
            url, st, h, data_ = got[s["k"]]
            self.assertEqual(st, s["st"], url)
            self.assertEqual(h.get("x-req-ok"), "1", "origin got a wrong body: %s" % url)
            nobody = s["method"] == "HEAD" or s["st"] in (204, 304)
            self.assertEqual(data_, b"" if nobody else sl.body_of("s", s["k"], s["sl"]), url)

        rows = sl.ls(data, "varied")
        # each client connection that went HTTPS made one CONNECT, stored
        # as an exchange of its own
        tunnels = [r for r in rows if r["method"] == "CONNECT"]
        want = sum(any(s["https"] for s in all_specs[i::CLIENTS]) for i in range(CLIENTS))
        self.assertEqual(len(tunnels), want, tunnels)
        for r in tunnels:
            self.assertEqual((r["url"], r["host"], r["status"], r["error"]),
                             ("localhost:%d" % self.torigin.port, "localhost", 200, "none"))
        rows = [r for r in rows if r["method"] != "CONNECT"]
        self.assertEqual(len(rows), N)
        self.assertEqual(len({r["id"] for r in rows}), N)
        by_k = {}
        for r in rows:
            k, _ = sl.parse_path(r["url"])
            by_k[k] = r
        self.assertEqual(sorted(by_k), list(range(N)))

        def check(s):
            r = by_k[s["k"]]
            url = got[s["k"]][0]
            errs = []

            def eq(a, b, what):
                if a != b:
                    errs.append("k=%d %s: stored %r, sent %r" % (s["k"], what, a, b))
            nobody = s["method"] == "HEAD" or s["st"] in (204, 304)
            eq(r["url"], url, "url")
            eq(r["method"], s["method"], "method")
            eq(r["host"], "localhost" if s["https"] else "127.0.0.1", "host")
            eq(r["status"], s["st"], "status")
            eq(r["type"], TYPE_OF[s["ct"]], "type")
            eq(r["client"], "127.0.0.1", "client")
            eq(r["error"], "none", "error")
            eq(r["truncated"], False, "truncated")
            x = sl.show_json(data, "varied", r["id"])
            eq(x["url"], url, "show url")
            eq(x["method"], s["method"], "show method")
            eq(x["status"], s["st"], "show status")
            target = url[url.index("/x/"):] if s["https"] else url
            eq(x["request_head"].split("\r\n")[0], "%s %s HTTP/1.1" % (s["method"], target),
               "request line")
            eq(x["request_head"].endswith("\r\n\r\n"), True, "request head end")
            eq(bool(re.search(r"(?i)\r\ntransfer-encoding: chunked\r\n", x["request_head"])),
               s["req_chunked"], "request framing header")
            eq(x["response_head"].split("\r\n")[0].split(" ")[:2], ["HTTP/1.1", str(s["st"])],
               "status line")
            eq("X-Req-Ok: 1\r\n" in x["response_head"], True, "response header")
            eq(x["request_body_bytes"], s["rl"], "request body bytes")
            want_resp = 0 if nobody else s["sl"]
            eq(x["response_body_bytes"], want_resp, "response body bytes")
            if not s["req_chunked"]:
                eq(r["request_size"], len(x["request_head"].encode("latin-1")) + s["rl"],
                   "request_size")
            if s["te"] == "l" and not nobody:
                eq(r["response_size"], len(x["response_head"].encode("latin-1")) + s["sl"],
                   "response_size")
            eq(x["timings_ms"]["total"] >= x["timings_ms"]["first_byte"] >= 0, True, "timings")
            if s["rl"]:
                eq(sl.show_body(data, "varied", r["id"], "request"),
                   sl.body_of("q", s["k"], s["rl"]), "request body")
            if want_resp:
                eq(sl.show_body(data, "varied", r["id"], "response"),
                   sl.body_of("s", s["k"], s["sl"]), "response body")
            return errs

        with cf.ThreadPoolExecutor(4) as ex:
            errs = [e for es in ex.map(check, all_specs) for e in es]
        self.assertEqual(errs[:20], [], "%d mismatches" % len(errs))
        t2 = time.monotonic()
        kinds = {
            "https": sum(s["https"] for s in all_specs),
            "chunked resp": sum(s["te"] == "c" for s in all_specs),
            "chunked req": sum(s["req_chunked"] for s in all_specs),
            "empty resp": sum(s["sl"] == 0 for s in all_specs),
            "> 1 MiB": sum(max(s["sl"], s["rl"]) > (1 << 20) for s in all_specs),
            "binary": sum(s["k"] % 3 == 0 for s in all_specs),
        }
        print("%d exchanges: traffic %.1f s, checks %.1f s; %s; methods %s; statuses %s" % (
            N, t1 - t0, t2 - t1, json.dumps(kinds),
            sorted({s["method"] for s in all_specs}), sorted({s["st"] for s in all_specs})))


if __name__ == "__main__":
    harness.main()
