#!/usr/bin/env python3
"""Upstream error paths a user can read: unresolvable host → 502 naming the
host, connection refused → 502, upstream timeout → 504, connect timeout,
upstream closing mid-response → the client connection is closed (never a
silently short body), malformed responses → 502, response head too large →
502; and the worker keeps serving everyone else after each."""

import socket
import threading
import time

import harness
from harness import Closed, ProxyCase, status_of
from origin import BAD_KINDS, body_bytes


class UpstreamErrors(ProxyCase):

    def assert_still_serving(self):
        c = self.conn()
        c.send(self.req("GET", "/size/42"))
        r = c.read_response()
        self.assertEqual(r.body, body_bytes(42), "proxy stopped serving")

    def test_unresolvable_host_502_names_host(self):
        host = "no-such-host-ringcap.invalid"
        out, closed = self.raw(("GET http://%s/x HTTP/1.1\r\nHost: %s\r\n\r\n"
                                % (host, host)).encode(), timeout=15)
        self.assertEqual(status_of(out), 502, out[:300])
        self.assert_close_announced(out, closed)
        body = out.split(b"\r\n\r\n", 1)[-1]
        self.assertIn(host.encode(), body, "the 502 body does not name the host")
        self.assert_still_serving()

    def test_unresolvable_host_with_curl(self):
        rc, out, err = self.curl("-o", "/dev/null", "-w", "%{http_code}",
                                 "http://another-missing-ringcap.invalid:8080/")
        self.assertEqual(out, b"502", err)

    def test_connection_refused_502(self):
        port = harness.refused_port()
        out, closed = self.raw(self.req("GET", "/", host="127.0.0.1:%d" % port), 15)
        self.assertEqual(status_of(out), 502, out[:300])
        self.assert_close_announced(out, closed)
        self.assert_still_serving()

    def test_close_mid_response_closes_client(self):
        n = 200000
        c = self.conn(timeout=15)
        c.send(self.req("GET", "/close-mid/%d" % n))
        try:
            r = c.read_response()
        except Closed as e:
            # The head went out with Content-Length n; the body stopped short
            # and the proxy closed: the client can tell it is truncated.
            self.assertLess(len(e.partial), n)
            return
        self.assertNotEqual((r.status, len(r.body)), (200, n),
                            "a truncated upstream body reached the client whole?")
        self.assertGreaterEqual(r.status, 500, "short body answered with %r" % r)

    def test_close_mid_chunked_response_closes_client(self):
        n = 200000
        c = self.conn(timeout=15)
        c.send(self.req("GET", "/close-mid-chunked/%d" % n))
        try:
            r = c.read_response()
        except Closed as e:
            self.assertLess(len(e.partial), n)
            return
        self.assertGreaterEqual(r.status, 500,
                                "chunked body cut by the origin was completed by the "
                                "proxy: %r (%d bytes)" % (r, len(r.body)))

    def test_bad_responses_502(self):
        for kind in BAD_KINDS:
            with self.subTest(kind=kind):
                out, closed = self.raw(self.req("GET", "/bad/%s" % kind), timeout=10)
                if kind == "chunk-size" and status_of(out) != 502:
                    # the head is valid and may be streamed before the body
                    # is seen: then the client must see a cut, never an end
                    self.assertTrue(closed, "connection left open")
                    self.assertNotIn(b"\r\n0\r\n\r\n", out,
                                     "the bad chunked body was completed: %r" % out)
                    continue
                self.assertEqual(status_of(out), 502,
                                 "response %s: %r" % (kind, out[:200]))
                self.assert_close_announced(out, closed)
        self.assert_still_serving()

    def test_response_head_too_large_502(self):
        out, _ = self.raw(self.req("GET", "/bighead/100000"), timeout=10)
        self.assertEqual(status_of(out), 502, out[:200])
        c = self.conn()
        c.send(self.req("GET", "/bighead/20000"))
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"ok")


class UpstreamTimeouts(ProxyCase):
    PROXY_ARGS = ["--upstream-timeout", "1s", "--connect-timeout", "1s"]
    OWN_PROXY = True

    def test_upstream_timeout_504_while_others_served(self):
        result = {}

        def slow():
            t0 = time.monotonic()
            out, closed = self.raw(self.req("GET", "/delay/4000"), timeout=20)
            result["out"], result["t"] = out, time.monotonic() - t0
            result["closed"] = closed
        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.2)
        for i in range(5):
            c = self.conn()
            c.send(self.req("GET", "/size/%d" % i))
            self.assertEqual(c.read_response().body, body_bytes(i))
        t.join()
        self.assertEqual(status_of(result["out"]), 504, result["out"][:300])
        self.assert_close_announced(result["out"], result["closed"])
        self.assertLess(result["t"], 3.9, "504 came only after the origin answered")

    def test_connect_timeout(self):
        # A listener whose accept queue is full: SYNs are dropped, connect hangs.
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(0)
        port = lsock.getsockname()[1]
        fillers = []
        for _ in range(8):
            s = socket.socket()
            s.settimeout(0.3)
            fillers.append(s)
            try:
                s.connect(("127.0.0.1", port))
            except OSError:
                break
        try:
            t0 = time.monotonic()
            out, _ = self.raw(self.req("GET", "/", host="127.0.0.1:%d" % port), 20)
            self.assertIn(status_of(out), (502, 504), out[:300])
            self.assertLess(time.monotonic() - t0, 10)
        finally:
            for s in fillers:
                s.close()
            lsock.close()


if __name__ == "__main__":
    harness.main()
