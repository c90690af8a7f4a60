#!/usr/bin/env python3
"""Keep-alive and pipelining on both sides: pipelined requests answered in
order, N requests on one client connection over one upstream connection,
sequential client connections reusing the per-worker upstream pool, origin
closes handled, many concurrent clients."""

import concurrent.futures as cf
import time

import harness
from harness import ProxyCase
from origin import body_bytes, sha256_hex


class KeepAlive(ProxyCase):

    def test_pipelined_requests_answered_in_order(self):
        c = self.conn()
        reqs = [self.req("GET", "/headers?seq=1"),
                self.req("GET", "/size/10"),
                self.req("POST", "/echo", body=b"pipelined body"),
                self.req("HEAD", "/size/500"),
                self.req("GET", "/chunked/33"),
                self.req("GET", "/headers?seq=6")]
        c.send(b"".join(reqs))   # one write
        r = c.read_response()
        self.assertEqual(r.json()["target"].split("?")[-1], "seq=1")
        r = c.read_response()
        self.assertEqual(r.body, body_bytes(10))
        r = c.read_response()
        self.assertEqual(r.json()["sha256"], sha256_hex(b"pipelined body"))
        r = c.read_response("HEAD")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-length"), "500")
        r = c.read_response()
        self.assertEqual(r.body, body_bytes(33))
        r = c.read_response()
        self.assertEqual(r.json()["target"].split("?")[-1], "seq=6")
        self.assertEqual(len(self.origin.stats()["requests"]), 6)

    def test_pipelined_byte_by_byte_split(self):
        # Three requests written in odd fragments that cut heads anywhere.
        c = self.conn()
        data = b"".join(self.req("GET", "/size/%d" % n) for n in (1, 2, 3))
        for i in range(0, len(data), 7):
            c.send(data[i:i + 7])
            time.sleep(0.002)
        for n in (1, 2, 3):
            self.assertEqual(c.read_response().body, body_bytes(n))

    def test_origin_closing_is_not_reused(self):
        c = self.conn()
        c.send(self.req("GET", "/size/5?close=1"))
        r = c.read_response()
        self.assertEqual(r.body, body_bytes(5))
        if "close" in (r.header("connection") or "").lower():
            c = self.conn()   # allowed: the proxy closes the client side too
        for i in range(3):
            c.send(self.req("GET", "/size/%d" % (6 + i)))
            self.assertEqual(c.read_response().body, body_bytes(6 + i))

    def test_origin_drops_idle_pooled_connection(self):
        c = self.conn()
        c.send(self.req("GET", "/size/5"))
        self.assertEqual(c.read_response().body, body_bytes(5))
        time.sleep(0.1)
        self.origin.drop_idle()
        time.sleep(0.3)
        for i in range(3):
            c.send(self.req("GET", "/size/%d" % (6 + i)))
            r = c.read_response()
            self.assertEqual(r.status, 200, "request after the origin closed "
                             "the pooled connection: %r" % r)
            self.assertEqual(r.body, body_bytes(6 + i))

    def test_client_connection_close_honoured(self):
        c = self.conn()
        c.send(self.req("GET", "/size/10", [("Connection", "close")]))
        r = c.read_response()
        self.assertEqual(r.body, body_bytes(10))
        self.assertTrue(c.wait_closed(5), "proxy kept a Connection: close "
                        "client connection open")

    def test_http10_client(self):
        c = self.conn()
        auth = self.origin.authority()
        c.send(("GET http://%s/size/20 HTTP/1.0\r\nHost: %s\r\n\r\n"
                % (auth, auth)).encode())
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, body_bytes(20))
        self.assertTrue(c.wait_closed(5), "HTTP/1.0 client connection left open")

    def test_many_concurrent_clients(self):
        def client(i):
            c = harness.Conn(self.proxy.host, self.proxy.port, timeout=30)
            try:
                for j in range(5):
                    n = 1000 + i * 7 + j
                    path = "/size/%d" % n if (i + j) % 2 else "/chunked/%d" % n
                    c.send(self.req("GET", path))
                    r = c.read_response()
                    if r.status != 200 or r.body != body_bytes(n):
                        return "client %d request %d: %r" % (i, j, r)
                c.send(self.req("POST", "/echo", body=body_bytes(5000 + i)))
                js = c.read_response().json()
                if js["sha256"] != sha256_hex(body_bytes(5000 + i)):
                    return "client %d: echo mismatch" % i
            finally:
                c.close()
            return None
        with cf.ThreadPoolExecutor(64) as ex:
            errors = [e for e in ex.map(client, range(64)) if e]
        self.assertEqual(errors, [])
        self.assertEqual(len(self.origin.stats()["requests"]), 64 * 6)


class KeepAliveReuse(ProxyCase):
    """Upstream reuse counted on a fresh proxy whose pool starts empty (a
    pool full of connections from other tests may rotate among them)."""

    def test_one_client_connection_one_upstream_connection(self):
        c = self.conn()
        for i in range(8):
            c.send(self.req("GET", "/size/%d" % (100 + i)))
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, body_bytes(100 + i))
        st = self.origin.stats()
        self.assertEqual(len(st["requests"]), 8)
        used = len(set(st["request_peers"]))
        self.assertEqual(used, 1, "8 requests on one client connection used %d "
                         "upstream connections" % used)

    def test_sequential_clients_reuse_pool(self):
        # Pools are per worker: at most one upstream connection per worker.
        for i in range(8):
            c = harness.Conn(self.proxy.host, self.proxy.port)
            c.send(self.req("GET", "/size/%d" % i))
            self.assertEqual(c.read_response().body, body_bytes(i))
            c.close()
            time.sleep(0.05)
        st = self.origin.stats()
        self.assertEqual(len(st["requests"]), 8)
        used = len(set(st["request_peers"]))
        self.assertLessEqual(used, max(self.WORKERS, 1),
                             "8 sequential client connections used %d upstream "
                             "connections" % used)


class KeepAliveOneWorker(ProxyCase):
    """With one worker every client shares one upstream pool."""
    WORKERS = 1
    OWN_PROXY = True

    def test_two_sequential_clients_one_upstream(self):
        for i in range(2):
            c = harness.Conn(self.proxy.host, self.proxy.port)
            for j in range(3):
                c.send(self.req("GET", "/size/%d" % (i * 10 + j)))
                self.assertEqual(c.read_response().body, body_bytes(i * 10 + j))
            c.close()
            time.sleep(0.1)
        st = self.origin.stats()
        self.assertEqual(len(st["requests"]), 6)
        self.assertEqual(len(set(st["request_peers"])), 1, "the second client "
                         "did not reuse the pooled upstream connection")


if __name__ == "__main__":
    harness.main()
