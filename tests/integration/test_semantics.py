#!/usr/bin/env python3
"""HTTP semantics through the proxy: Expect: 100-continue, HEAD/204/304
framing, hop-by-hop headers removed both ways, Via added, origin-form and a
rewritten Host upstream, Max-Forwards on OPTIONS/TRACE, and the status page
for an origin-form request addressed to the proxy itself."""

import time

import harness
from harness import ProxyCase
from origin import body_bytes, sha256_hex

HOP_REQUEST = [
    ("Connection", "keep-alive, X-Drop-Me"), ("X-Drop-Me", "1"),
    ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "keep-alive"),
    ("Proxy-Authorization", "Basic dXNlcjpwYXNz"), ("TE", "trailers"),
    ("Trailer", "X-Checksum"), ("Upgrade", "h2c"), ("X-Keep-Me", "yes")]


def names(headers):
    return [k.lower() for k, _ in headers]


class Semantics(ProxyCase):

    # -- Expect: 100-continue --------------------------------------------
    def test_expect_100_continue(self):
        c = self.conn(timeout=15)
        body = body_bytes(100000)
        c.send(self.req("POST", "/expect", [("Expect", "100-continue"),
                                            ("Content-Length", str(len(body)))]))
        r = c.read_response(interim=True)
        self.assertEqual(r.status, 100, "no 100 Continue before the body: %r" % r)
        c.send(body)
        r = c.read_response()
        self.assertEqual(r.status, 200)
        js = r.json()
        self.assertEqual(js["sha256"], sha256_hex(body))
        self.assertEqual(js["length"], len(body))

    def test_expect_rejected_final_status_reaches_client(self):
        c = self.conn(timeout=15)
        c.send(self.req("POST", "/expect?reject=1", [("Expect", "100-continue"),
                                                     ("Content-Length", "5000")]))
        r = c.read_response(interim=True)
        if r.status == 100:   # a proxy may answer 100 itself: send the body
            c.send(b"x" * 5000)
            r = c.read_response()
        self.assertEqual(r.status, 417, r)

    def test_expect_with_curl(self):
        import os
        import tempfile
        fd, path = tempfile.mkstemp(dir=harness._TMP)
        os.write(fd, body_bytes(3000))
        os.close(fd)
        rc, out, err = self.curl("-H", "Expect: 100-continue", "--data-binary",
                                 "@" + path, self.ourl("/expect"))
        self.assertEqual(rc, 0, err)
        import json
        self.assertEqual(json.loads(out)["sha256"], sha256_hex(body_bytes(3000)))

    # -- HEAD / 204 / 304 ------------------------------------------------
    def test_head_204_304_framing_on_one_connection(self):
        c = self.conn(timeout=5)
        steps = [("HEAD", "/size/1000", 200, "1000"),
                 ("HEAD", "/chunked/1000", 200, None),
                 ("GET", "/head-test/204", 204, None),
                 ("GET", "/head-test/304", 304, "1000"),
                 ("GET", "/status/204", 204, None),
                 ("HEAD", "/head-test", 200, "1000")]
        for i, (method, path, code, cl) in enumerate(steps):
            c.send(self.req(method, path))
            r = c.read_response(method)
            self.assertEqual(r.status, code, path)
            if cl is not None:
                self.assertEqual(r.header("content-length"), cl, path)
            # the next response must start right here: no body bytes leaked
            c.send(self.req("GET", "/size/%d" % (i + 1)))
            r = c.read_response()
            self.assertEqual(r.body, body_bytes(i + 1), "after %s %s" % (method, path))

    def test_head_204_304_pipelined(self):
        c = self.conn(timeout=5)
        c.send(self.req("HEAD", "/size/1000") + self.req("GET", "/head-test/304") +
               self.req("GET", "/head-test/204") + self.req("HEAD", "/chunked/99") +
               self.req("GET", "/size/7"))
        self.assertEqual(c.read_response("HEAD").status, 200)
        self.assertEqual(c.read_response().status, 304)
        self.assertEqual(c.read_response().status, 204)
        self.assertEqual(c.read_response("HEAD").status, 200)
        self.assertEqual(c.read_response().body, body_bytes(7))

    # -- other response framings -------------------------------------------
    def test_interim_103_then_final(self):
        c = self.conn()
        c.send(self.req("GET", "/early-hints") + self.req("GET", "/size/4"))
        r = c.read_response()          # skips any 1xx
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"after hints\n")
        self.assertEqual(c.read_response().body, body_bytes(4))

    def test_close_delimited_response(self):
        n = 300000
        c = self.conn(timeout=15)
        c.send(self.req("GET", "/until-close/%d" % n))
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.body), n)
        self.assertEqual(sha256_hex(r.body), sha256_hex(body_bytes(n)))

    def test_chunked_response_with_trailer(self):
        c = self.conn()
        c.send(self.req("GET", "/chunked-trailer/5000") + self.req("GET", "/size/6"))
        r = c.read_response()
        self.assertEqual(r.body, body_bytes(5000))
        self.assertEqual(c.read_response().body, body_bytes(6))

    def test_request_target_preserved(self):
        target = "/headers?a=1&b=%20x&c=%E2%82%AC;p=q"
        c = self.conn()
        c.send(self.req("GET", target))
        r = c.read_response()
        self.assertEqual(r.json()["target"], target)

    # -- headers -----------------------------------------------------------
    def origin_view(self, headers, method="GET", host=None):
        c = self.conn()
        c.send(self.req(method, "/headers?x=1", headers) if host is None else
               self.req_with_host(method, "/headers?x=1", headers, host))
        r = c.read_response(method)
        self.assertEqual(r.status, 200, r.body[:300])
        return r.json()

    def req_with_host(self, method, path, headers, host):
        auth = self.origin.authority()
        out = "%s http://%s%s HTTP/1.1\r\nHost: %s\r\n" % (method, auth, path, host)
        for k, v in headers:
            out += "%s: %s\r\n" % (k, v)
        return out.encode() + b"\r\n"

    def test_hop_by_hop_request_headers_removed(self):
        js = self.origin_view(HOP_REQUEST)
        got = names(js["headers"])
        for h in ("x-drop-me", "keep-alive", "proxy-connection",
                  "proxy-authorization", "te", "trailer", "upgrade"):
            self.assertNotIn(h, got, "hop-by-hop %s forwarded: %r" % (h, js["headers"]))
        for k, v in js["headers"]:
            if k.lower() == "connection":
                self.assertNotIn("x-drop-me", v.lower())
        self.assertIn("x-keep-me", got)

    def test_via_added_upstream(self):
        js = self.origin_view([])
        via = [v for k, v in js["headers"] if k.lower() == "via"]
        self.assertTrue(via and "ringcap" in via[-1], "Via at origin: %r" % via)
        self.assertTrue(via[-1].startswith("1.1 "), via)

    def test_existing_via_kept_and_appended(self):
        js = self.origin_view([("Via", "1.0 fred")])
        via = ", ".join(v for k, v in js["headers"] if k.lower() == "via")
        self.assertIn("1.0 fred", via)
        self.assertIn("ringcap", via)

    def test_origin_form_and_host_from_absolute_uri(self):
        # RFC 9112 3.2.2: the absolute URI wins over a different Host header.
        js = self.origin_view([], host="wrong.example")
        self.assertTrue(js["target"].startswith("/headers"),
                        "origin got request-target %r" % js["target"])
        hosts = [v for k, v in js["headers"] if k.lower() == "host"]
        self.assertEqual(hosts, [self.origin.authority()])

    def test_hop_by_hop_response_headers_removed(self):
        c = self.conn()
        c.send(self.req("GET", "/hop-response"))
        r = c.read_response()
        self.assertEqual(r.status, 200)
        got = names(r.headers)
        for h in ("x-resp-drop", "keep-alive", "proxy-connection", "trailer",
                  "upgrade"):
            self.assertNotIn(h, got, "hop-by-hop %s forwarded to the client: %r"
                             % (h, r.headers))
        self.assertIn("x-resp-keep", got)
        self.assertEqual(r.body, b"hop\n")

    def test_via_added_to_response(self):
        c = self.conn()
        c.send(self.req("GET", "/size/1"))
        r = c.read_response()
        via = ", ".join(r.header_all("via"))
        self.assertIn("ringcap", via, "no Via on the response: %r" % r.headers)

    def test_hostname_resolved(self):
        # A name, not an address: goes through the resolver (twice: cache).
        for i in range(2):
            c = self.conn()
            c.send(self.req("GET", "/headers", host="localhost:%d" % self.origin.port))
            r = c.read_response()
            self.assertEqual(r.status, 200, r)
            hosts = [v for k, v in r.json()["headers"] if k.lower() == "host"]
            self.assertEqual(hosts, ["localhost:%d" % self.origin.port])

    # -- Max-Forwards -------------------------------------------------------
    def test_options_max_forwards_zero_answered_by_proxy(self):
        c = self.conn()
        c.send(self.req("OPTIONS", "/headers", [("Max-Forwards", "0")]))
        r = c.read_response("OPTIONS")
        self.assertEqual(r.status, 200, r)
        self.assert_origin_saw_nothing()

    def test_trace_max_forwards_zero_answered_by_proxy(self):
        c = self.conn()
        c.send(self.req("TRACE", "/headers", [("Max-Forwards", "0"),
                                              ("X-Trace-Me", "1")]))
        r = c.read_response("TRACE")
        self.assertEqual(r.status, 200, r)
        self.assertIn(b"TRACE", r.body)
        self.assert_origin_saw_nothing()

    def test_max_forwards_decremented(self):
        js = self.origin_view([("Max-Forwards", "5")], method="OPTIONS")
        mf = [v for k, v in js["headers"] if k.lower() == "max-forwards"]
        self.assertEqual(mf, ["4"])

    def test_max_forwards_ignored_for_get(self):
        js = self.origin_view([("Max-Forwards", "0")])
        self.assertEqual(js["method"], "GET")

    def test_trace_max_forwards_zero_leaves_credentials_out(self):
        # RFC 9110 9.3.8: a TRACE echo must not carry Cookie or Authorization
        c = self.conn()
        c.send(self.req("TRACE", "/headers", [("Max-Forwards", "0"),
                                              ("Cookie", "session=s3cr3t"),
                                              ("Authorization", "Bearer t0ken"),
                                              ("X-Trace-Me", "1")]))
        r = c.read_response("TRACE")
        self.assertEqual(r.status, 200, r)
        self.assertIn(b"X-Trace-Me: 1", r.body)
        self.assertNotIn(b"s3cr3t", r.body)
        self.assertNotIn(b"t0ken", r.body)
        self.assertNotIn(b"cookie:", r.body.lower())
        self.assertNotIn(b"authorization:", r.body.lower())

    def test_options_without_path_goes_out_as_asterisk(self):
        c = self.conn()
        auth = self.origin.authority()
        c.send(("OPTIONS http://%s HTTP/1.1\r\nHost: %s\r\n\r\n" % (auth, auth)).encode())
        r = c.read_response("OPTIONS")
        self.assertTrue(r.status > 0)
        self.assertEqual(self.origin.stats()["requests"], ["OPTIONS * HTTP/1.1"])

    def test_two_max_forwards_refused(self):
        self.assert_refused_and_closed(self.req("OPTIONS", "/headers", [
            ("Max-Forwards", "3"), ("Max-Forwards", "0")]))
        self.assert_origin_saw_nothing()

    def test_connect_with_body_refused(self):
        auth = self.origin.authority()
        for extra, body in (("Content-Length: 5\r\n", b"hello"),
                            ("Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n")):
            self.assert_refused_and_closed(
                ("CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (auth, auth, extra)).encode()
                + body)
        self.assert_origin_saw_nothing()

    # -- the proxy's own status page ------------------------------------------
    def test_origin_form_to_proxy_gets_status_page(self):
        c = self.conn()
        c.send(("GET / HTTP/1.1\r\nHost: %s:%d\r\n\r\n"
                % (self.proxy.host, self.proxy.port)).encode())
        t0 = time.monotonic()
        r = c.read_response()
        self.assertLess(time.monotonic() - t0, 5, "status page took long: a loop?")
        self.assertEqual(r.status, 200, r)
        self.assertIn(b"ringcap", r.body.lower())
        self.assert_origin_saw_nothing()

    def test_absolute_form_to_proxy_itself_is_not_a_loop(self):
        c = self.conn()
        auth = "%s:%d" % (self.proxy.host, self.proxy.port)
        c.send(("GET http://%s/ HTTP/1.1\r\nHost: %s\r\n\r\n" % (auth, auth)).encode())
        t0 = time.monotonic()
        r = c.read_response()
        self.assertLess(time.monotonic() - t0, 5, "answer took long: a loop?")
        self.assertTrue(200 <= r.status < 600, r)
        if r.status == 200:
            self.assertIn(b"ringcap", r.body.lower())
        c2 = self.conn()
        c2.send(self.req("GET", "/size/3"))
        self.assertEqual(c2.read_response().body, body_bytes(3))


if __name__ == "__main__":
    harness.main()
