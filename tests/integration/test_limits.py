#!/usr/bin/env python3
"""Limits: request head larger than --max-request-head → 431, more headers
than --max-headers → 431, a slowloris client closed with 408 after
--header-timeout while others are served, idle client and upstream
keep-alive connections closed after their timeouts, --max-conns exceeded →
503 (or refused) while existing clients keep working; a stalled client
does not make the proxy buffer a whole body.

A refused request whose bytes the proxy did not read may come back as a
TCP reset that eats the error response: answer with a lingering close
(shut down the write side, drain a little, then close)."""

import socket
import threading
import time

import harness
from harness import ProxyCase, status_of
from origin import body_bytes


class HeadLimits(ProxyCase):
    PROXY_ARGS = ["--max-request-head", "4k", "--max-headers", "20"]
    OWN_PROXY = True

    def big_head(self, size):
        return self.req("GET", "/size/5", [("X-Pad", "p" * size)])

    def test_head_over_limit_431(self):
        out, closed = self.raw(self.big_head(8000))
        self.assertEqual(status_of(out), 431, out[:300])
        self.assert_close_announced(out, closed)
        self.assert_origin_saw_nothing()

    def test_head_far_over_limit_431(self):
        out, closed = self.raw(self.big_head(100000))
        self.assertEqual(status_of(out), 431, out[:300])
        self.assert_close_announced(out, closed)
        self.assertTrue(closed)
        self.assert_origin_saw_nothing()

    def test_head_under_limit_served(self):
        c = self.conn()
        c.send(self.big_head(3000))
        self.assertEqual(c.read_response().body, body_bytes(5))

    def test_too_many_headers_431(self):
        hdrs = [("X-H%d" % i, "v") for i in range(30)]
        out, closed = self.raw(self.req("GET", "/size/5", hdrs))
        self.assertEqual(status_of(out), 431, out[:300])
        self.assert_close_announced(out, closed)
        self.assert_origin_saw_nothing()

    def test_few_headers_served(self):
        c = self.conn()
        c.send(self.req("GET", "/size/5", [("X-H%d" % i, "v") for i in range(10)]))
        self.assertEqual(c.read_response().body, body_bytes(5))

    def test_head_limit_on_second_request_of_connection(self):
        c = self.conn()
        c.send(self.req("GET", "/size/5"))
        self.assertEqual(c.read_response().body, body_bytes(5))
        c.send(self.big_head(8000))
        r = c.read_response()
        self.assertEqual(r.status, 431)


class RequestLine(ProxyCase):
    """--max-request-line (8 KiB default, as nginx): 414 though the whole
    head is under --max-request-head (32 KiB)."""
    OWN_PROXY = True

    def test_request_line_over_default_414(self):
        out, closed = self.raw(self.req("GET", "/size/5?" + "q" * 8000))
        self.assertEqual(status_of(out), 200, out[:300])
        self.origin.reset()
        out, closed = self.raw(self.req("GET", "/size/5?" + "q" * 16384))
        self.assertEqual(status_of(out), 414, out[:300])
        self.assertTrue(closed)
        self.assert_close_announced(out, closed)
        self.assert_origin_saw_nothing()


class RequestLineOption(ProxyCase):
    PROXY_ARGS = ["--max-request-line", "1k"]
    OWN_PROXY = True

    def test_request_line_option_414(self):
        out, _ = self.raw(self.req("GET", "/size/5?" + "q" * 900))
        self.assertEqual(status_of(out), 200, out[:300])
        self.origin.reset()
        out, closed = self.raw(self.req("GET", "/size/5?" + "q" * 1100))
        self.assertEqual(status_of(out), 414, out[:300])
        self.assert_origin_saw_nothing()


class Timeouts(ProxyCase):
    PROXY_ARGS = ["--header-timeout", "1s", "--idle-timeout", "2s",
                  "--upstream-idle-timeout", "1s"]
    OWN_PROXY = True

    def test_slowloris_408_while_others_served(self):
        result = {}

        def slow():
            s = socket.create_connection((self.proxy.host, self.proxy.port))
            t0 = time.monotonic()
            data = self.req("GET", "/size/1", [("X-Slow", "s" * 200)])
            got = b""
            try:
                # one byte every 0.4 s: never idle for a whole second, so
                # only a limit on the whole head catches it
                for i in range(len(data) - 2):
                    if time.monotonic() - t0 > 20:
                        break
                    try:
                        s.sendall(data[i:i + 1])
                    except OSError:
                        break
                    s.settimeout(0.4)
                    try:
                        chunk = s.recv(4096)
                    except socket.timeout:
                        continue
                    except OSError:
                        break
                    got += chunk
                    if not chunk:
                        break
                s.settimeout(2)
                try:
                    for _ in range(10):
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        got += chunk
                except OSError:
                    pass
            finally:
                result["t"] = time.monotonic() - t0
                result["out"] = got
                s.close()
        t = threading.Thread(target=slow)
        t.start()
        served = 0
        while t.is_alive() and served < 50:
            rc, out, err = self.curl(self.ourl("/size/100"), timeout=10)
            self.assertEqual(rc, 0, err)
            self.assertEqual(out, body_bytes(100))
            served += 1
            time.sleep(0.1)
        t.join()
        self.assertGreater(served, 0)
        self.assertEqual(status_of(result["out"]), 408, result["out"][:300])
        self.assert_close_announced(result["out"], True)
        self.assertLess(result["t"], 15, "slowloris client kept for %.1fs" % result["t"])
        self.assertEqual(self.origin.stats()["requests"].count(
            "GET /size/1 HTTP/1.1"), 0)

    def test_silent_client_closed(self):
        c = self.conn()
        t0 = time.monotonic()
        self.assertTrue(c.wait_closed(12), "a client that never sent a byte was "
                        "kept open")
        self.assertGreater(time.monotonic() - t0, 0.5)

    def test_idle_keepalive_client_closed(self):
        c = self.conn()
        c.send(self.req("GET", "/size/5"))
        self.assertEqual(c.read_response().body, body_bytes(5))
        time.sleep(0.3)   # well inside the idle timeout: still usable
        c.send(self.req("GET", "/size/6"))
        self.assertEqual(c.read_response().body, body_bytes(6))
        t0 = time.monotonic()
        self.assertTrue(c.wait_closed(15), "idle client connection not closed")
        self.assertGreater(time.monotonic() - t0, 0.5)

    def test_upstream_idle_connection_closed(self):
        c = self.conn()
        c.send(self.req("GET", "/size/5"))
        self.assertEqual(c.read_response().body, body_bytes(5))
        c.close()
        self.assertTrue(self.origin.wait_idle_closed(15),
                        "pooled upstream connection still open long after "
                        "--upstream-idle-timeout")


class MaxConns(ProxyCase):
    PROXY_ARGS = ["--max-conns", "2"]
    WORKERS = 2
    OWN_PROXY = True

    def try_request(self, i):
        """Returns ('ok', conn) | ('503', None) | ('closed', None) | ('hang', None)."""
        try:
            c = harness.Conn(self.proxy.host, self.proxy.port, timeout=5)
        except OSError:
            return "closed", None
        try:
            c.send(self.req("GET", "/size/%d" % i))
            r = c.read_response()
        except (harness.Closed, ConnectionError, BrokenPipeError):
            c.close()
            return "closed", None
        except socket.timeout:
            c.close()
            return "hang", None
        if r.status == 200:
            return "ok", c
        c.close()
        return str(r.status), None

    def test_over_limit_refused_existing_served(self):
        existing = []
        for i in range(2):
            kind, c = self.try_request(i)
            self.assertEqual(kind, "ok")
            existing.append(c)
        kinds, extra = [], []
        for i in range(10):
            kind, c = self.try_request(100 + i)
            kinds.append(kind)
            if c:
                extra.append(c)
        try:
            self.assertEqual(kinds.count("hang"), 0,
                             "over the limit a client got no answer: %r" % kinds)
            self.assertLessEqual(kinds.count("ok"), 2, kinds)
            for k in kinds:
                self.assertIn(k, ("ok", "503", "closed"), kinds)
            for i, c in enumerate(existing):
                c.send(self.req("GET", "/size/%d" % (50 + i)))
                self.assertEqual(c.read_response().body, body_bytes(50 + i))
        finally:
            for c in existing + extra:
                c.close()
        time.sleep(0.5)
        kind, c = self.try_request(7)
        self.assertEqual(kind, "ok", "slots not freed after clients closed")
        c.close()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Backpressure(ProxyCase):
    """A client that stops reading must stall the origin, not fill the
    proxy: memory stays bounded by the (small) buffer configuration."""
    PROXY_ARGS = ["--buf-count", "64", "--buf-size", "16k"]
    WORKERS = 1
    OWN_PROXY = True

    def warm_up(self):
        """One full exchange first, so that memory the worker allocates
        lazily (and MALLOC_PERTURB_, set by meson, touches) is counted in
        the baseline rather than as growth."""
        c = self.conn(timeout=30)
        c.send(self.req("GET", "/size/%d" % (1 << 20)))
        self.assertEqual(len(c.read_response().body), 1 << 20)
        c.send(self.req("POST", "/echo", body=body_bytes(1 << 20)))
        self.assertEqual(c.read_response().status, 200)
        c.close()
        time.sleep(0.2)

    def test_stalled_download_bounded_memory(self):
        n = 64 * 1024 * 1024
        c = self.conn(timeout=30)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        self.warm_up()
        pid = self.proxy.proc.pid
        before = rss_kib(pid)
        c.send(self.req("GET", "/size/%d" % n))
        time.sleep(2.0)        # not reading: the proxy must stop reading too
        stalled = rss_kib(pid)
        got = harness.origin_mod.sha256_hex
        r = c.read_response()
        self.assertEqual(len(r.body), n)
        self.assertEqual(got(r.body), got(body_bytes(n)))
        self.assertLess(stalled - before, 24 * 1024,
                        "proxy RSS grew by %d KiB while its client stalled on a "
                        "64 MiB body" % (stalled - before))

    def test_stalled_upload_bounded_memory(self):
        n = 64 * 1024 * 1024
        body = body_bytes(n)
        self.warm_up()
        pid = self.proxy.proc.pid
        before = rss_kib(pid)
        peak = [before]
        done = threading.Event()

        def watch():
            while not done.is_set():
                peak[0] = max(peak[0], rss_kib(pid))
                time.sleep(0.05)
        w = threading.Thread(target=watch)
        w.start()
        try:
            c = self.conn(timeout=60)
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
            c.send(self.req("POST", "/echo?stall=2000",
                            [("Content-Length", str(n))]) + body)
            r = c.read_response()
        finally:
            done.set()
            w.join()
        self.assertEqual(r.json()["sha256"], harness.origin_mod.sha256_hex(body))
        self.assertLess(peak[0] - before, 24 * 1024,
                        "proxy RSS grew by %d KiB while the origin stalled on a "
                        "64 MiB upload" % (peak[0] - before))


if __name__ == "__main__":
    harness.main()
