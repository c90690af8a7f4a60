#!/usr/bin/env python3
"""Response framing with a raw scripted origin that sends exact bytes
(issue 7 item 1, the response side). What test_errors.py checks already
(the eight /bad/ responses give 502) is extended here with what it leaves
out:

- a bad upstream response gives 502 (or, when its head already went out,
  a cut connection, never a completed body) AND that upstream connection is
  discarded: the proxy closes it and the next request gets a new one;
- bytes after a HEAD, 204 or 304 response, or after a declared
  Content-Length or the last chunk, never reach the client, and that
  upstream connection is not reused (also when the bytes come late, after
  the connection was pooled);
- a 426 to an Upgrade request keeps the client connection in HTTP (no
  tunnel); a 101 that nobody asked for is a 502; a 200 carrying
  Upgrade/Connection: upgrade headers is no tunnel either.

One worker, so that "reused" is decided by one idle pool; a control case
shows the same check sees reuse when it happens."""

import socket
import threading
import time

import harness
import origin
from harness import ProxyCase, Conn, status_of

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

# name -> (bytes sent after the request head, bytes sent 50 ms later)
SCRIPTS = {
    "ok": (OK, b""),
    "reuse": (OK, b""),
    # malformed heads and bodies: 502 (or a cut), upstream discarded
    "cl_te": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5\r\nhello\r\n0\r\n\r\n", b""),
    "te_cl": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
              b"5\r\nhello\r\n0\r\n\r\n", b""),
    "dup_cl_same": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", b""),
    "dup_cl_diff": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!", b""),
    "cl_list": (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", b""),
    "cl_overflow": (b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551618\r\n\r\nok", b""),
    "cl_19_digits": (b"HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999999\r\n\r\nok", b""),
    "cl_plus": (b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", b""),
    "bare_lf_status": (b"HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nok", b""),
    "bare_lf_header": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\nok", b""),
    "bare_cr_header": (b"HTTP/1.1 200 OK\r\nX-A: b\rContent-Length: 2\r\n\r\nok", b""),
    "obs_fold": (b"HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 2\r\n\r\nok", b""),
    "space_colon": (b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", b""),
    "empty_name": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n: x\r\n\r\nok", b""),
    "nul_header": (b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok", b""),
    "ctl_reason": (b"HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\n\r\nok", b""),
    "status_600": (b"HTTP/1.1 600 Odd\r\nContent-Length: 2\r\n\r\nok", b""),
    "status_099": (b"HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nok", b""),
    "status_letters": (b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok", b""),
    "http10_chunked": (b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"2\r\nok\r\n0\r\n\r\n", b""),
    "te_gzip": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nok", b""),
    # found by the h1_split fuzzer: chunked to our check, an unknown coding
    # to llhttp, which read the rest up to the close as body: the client
    # saw a chunked response end and then bytes of the upstream's choosing
    "te_chunked_tab": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n"
                       b"2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n"
                       b"SMUGGLED", b""),
    "te_chunked_identity": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n"
                            b"2\r\nok\r\n0\r\n\r\n", b""),
    "http2_status": (b"HTTP/2 200 OK\r\nContent-Length: 2\r\n\r\nok", b""),
    "unasked_101": (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\n\r\nRAW-BYTES", b""),
    # bodies that break after a good head: 502 or a cut, never an end
    "chunk_size_bad": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n"
                       b"0\r\n\r\n", b""),
    "chunk_size_17": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"00000000000000002\r\nok\r\n0\r\n\r\n", b""),
    "chunk_size_u64": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"ffffffffffffffff\r\nok\r\n0\r\n\r\n", b""),
    "chunk_bare_lf": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\r\n0\r\n\r\n",
                      b""),
    "chunk_data_long": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nok\r\n"
                        b"0\r\n\r\n", b""),
    "trailer_obs_fold": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n"
                         b"0\r\nX-A: b\r\n c\r\n\r\n", b""),
    "trailer_cl": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n"
                   b"0\r\nContent-Length: 9\r\n\r\n", b""),
    "chunk_ext_over_16k": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;"
                           + b"e" * 16400 + b"\r\nok\r\n0\r\n\r\n", b""),
    # a complete response, then bytes that belong to nothing
    "extra_after_cl": (OK + b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED", b""),
    "extra_after_cl_late": (OK, b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED"),
    "extra_after_chunked": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n"
                            b"0\r\n\r\nSMUGGLED", b""),
    "extra_after_204": (b"HTTP/1.1 204 No Content\r\n\r\nSMUGGLED", b""),
    "extra_after_204_cl": (b"HTTP/1.1 204 No Content\r\nContent-Length: 8\r\n\r\nSMUGGLED", b""),
    "extra_after_304": (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 8\r\n\r\nSMUGGLED", b""),
    "extra_after_304_late": (b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", b"SMUGGLED"),
    "extra_after_head": (b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED", b""),
    "extra_after_head_chunked": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 b"8\r\nSMUGGLED\r\n0\r\n\r\n", b""),
    # upgrades
    "426": (b"HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Content-Length: 3\r\n\r\nno!", b""),
    "200_with_upgrade": (b"HTTP/1.1 200 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Content-Length: 2\r\n\r\nok", b""),
}

BAD_HEADS = ["cl_te", "te_cl", "dup_cl_same", "dup_cl_diff", "cl_list", "cl_overflow",
             "cl_19_digits", "cl_plus", "bare_lf_status", "bare_lf_header", "bare_cr_header",
             "obs_fold", "space_colon", "empty_name", "nul_header", "ctl_reason", "status_600",
             "status_099", "status_letters", "http10_chunked", "te_gzip", "te_chunked_tab",
             "te_chunked_identity", "http2_status", "unasked_101"]
BAD_BODIES = ["chunk_size_bad", "chunk_size_17", "chunk_size_u64", "chunk_bare_lf",
              "chunk_data_long", "trailer_obs_fold", "trailer_cl", "chunk_ext_over_16k"]


class ScriptOrigin:
    """Loopback server: reads a request head, answers /s/NAME with the exact
    bytes of SCRIPTS[NAME], keeps the connection for the next request. Logs
    per connection: the scripts served and whether the peer closed it."""

    def __init__(self):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = []          # dicts: served (list of names), closed (bool)

    def authority(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self):
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()

    def _accept(self):
        while True:
            try:
                sock, _ = self.lsock.accept()
            except OSError:
                return
            st = {"served": [], "closed": False}
            with self.lock:
                self.conns.append(st)
            threading.Thread(target=self._serve, args=(sock, st), daemon=True).start()

    def _serve(self, sock, st):
        buf = b""
        try:
            while True:
                head, buf = origin.read_head(sock, buf)
                if head is None:
                    return
                name = head.split(b" ")[1].decode().rsplit("/", 1)[-1]
                now, late = SCRIPTS[name]
                with self.lock:
                    st["served"].append(name)
                sock.sendall(now)
                if late:
                    time.sleep(0.05)
                    sock.sendall(late)
        except (OSError, KeyError, IndexError):
            pass
        finally:
            with self.lock:
                st["closed"] = True
            sock.close()

    def conn_of(self, name):
        """Index of the last connection that served `name`."""
        with self.lock:
            for i in range(len(self.conns) - 1, -1, -1):
                if name in self.conns[i]["served"]:
                    return i
        return None

    def closed(self, idx, timeout=3.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if self.conns[idx]["closed"]:
                    return True
            time.sleep(0.01)
        return False


class ResponseFraming(ProxyCase):
    WORKERS = 1

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.script = ScriptOrigin().start()

    @classmethod
    def tearDownClass(cls):
        cls.script.stop()
        super().tearDownClass()

    def setUp(self):
        pass   # connection logs stay: pooled connections span tests

    def sreq(self, name, method="GET", headers=()):
        auth = self.script.authority()
        out = "%s http://%s/s/%s HTTP/1.1\r\nHost: %s\r\n" % (method, auth, name, auth)
        for k, v in headers:
            out += "%s: %s\r\n" % (k, v)
        return (out + "\r\n").encode()

    def assert_discarded(self, name):
        """The upstream connection that served `name` is closed by the proxy
        and a following request is served on another connection."""
        idx = self.script.conn_of(name)
        self.assertIsNotNone(idx, "%s never reached the origin" % name)
        self.assertTrue(self.script.closed(idx), "%s: upstream connection kept" % name)
        c = self.conn()
        c.send(self.sreq("ok"))
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, b"ok"))
        with self.script.lock:
            self.assertEqual(self.script.conns[idx]["served"][-1], name,
                             "%s: its upstream connection was reused" % name)

    def test_control_good_response_is_reused(self):
        # the check above can fail: a clean response does go back to the pool
        for _ in range(2):
            c = self.conn()
            c.send(self.sreq("reuse"))
            self.assertEqual(c.read_response().body, b"ok")
            c.close()
        idx = self.script.conn_of("reuse")
        with self.script.lock:
            self.assertEqual(self.script.conns[idx]["served"].count("reuse"), 2)

    def test_bad_heads_502_and_upstream_discarded(self):
        for name in BAD_HEADS:
            with self.subTest(case=name):
                out, closed = self.raw(self.sreq(name))
                self.assertEqual(status_of(out), 502, "%s: %r" % (name, out[:200]))
                self.assertTrue(closed, name)
                self.assertIn(b"connection: close", out.split(b"\r\n\r\n")[0].lower())
                self.assertNotIn(b"RAW-BYTES", out)
                self.assertNotIn(b"SMUGGLED", out)
                self.assert_discarded(name)

    def test_bad_bodies_502_or_cut_and_upstream_discarded(self):
        for name in BAD_BODIES:
            with self.subTest(case=name):
                out, closed = self.raw(self.sreq(name))
                self.assertTrue(closed, "%s: client connection left open" % name)
                if status_of(out) != 502:
                    # the head went out first: only a cut is honest
                    self.assertEqual(status_of(out), 200, out[:200])
                    self.assertNotIn(b"0\r\n\r\n", out.split(b"\r\n\r\n", 1)[1],
                                     "%s: the bad body was completed" % name)
                self.assert_discarded(name)

    def test_bytes_after_the_end_never_reach_the_client(self):
        cases = [("extra_after_cl", "GET", 200, b"ok"),
                 ("extra_after_cl_late", "GET", 200, b"ok"),
                 ("extra_after_chunked", "GET", 200, b"ok"),
                 ("extra_after_204", "GET", 204, b""),
                 ("extra_after_204_cl", "GET", 204, b""),
                 ("extra_after_304", "GET", 304, b""),
                 ("extra_after_304_late", "GET", 304, b""),
                 ("extra_after_head", "HEAD", 200, b""),
                 ("extra_after_head_chunked", "HEAD", 200, b"")]
        for name, method, status, body in cases:
            with self.subTest(case=name):
                c = self.conn()
                c.send(self.sreq(name, method))
                r = c.read_response(method)
                self.assertEqual((r.status, r.body), (status, body), name)
                time.sleep(0.1)   # the late bytes arrive meanwhile
                # the same client connection goes on, on another upstream
                c.send(self.sreq("ok"))
                r = c.read_response()
                self.assertEqual((r.status, r.body), (200, b"ok"), name)
                self.assertNotIn(b"SMUGGLED", bytes(c.buf), name)
                idx = self.script.conn_of(name)
                self.assertTrue(self.script.closed(idx), "%s: upstream kept" % name)
                with self.script.lock:
                    self.assertEqual(self.script.conns[idx]["served"][-1], name,
                                     "%s: upstream reused" % name)

    def upgrade_req(self, name):
        return self.sreq(name, headers=[
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13")])

    def test_426_keeps_http(self):
        for name, status, body in (("426", 426, b"no!"), ("200_with_upgrade", 200, b"ok")):
            with self.subTest(case=name):
                c = self.conn()
                c.send(self.upgrade_req(name))
                r = c.read_response()
                self.assertEqual((r.status, r.body), (status, body))
                # no tunnel: the next bytes are parsed as HTTP again
                c.send(self.sreq("ok"))
                r = c.read_response()
                self.assertEqual((r.status, r.body), (200, b"ok"))
                c.send(b"NOT HTTP AT ALL\r\n\r\n")
                r = c.read_response()
                self.assertEqual(r.status, 400)

    def test_101_unasked_is_502(self):
        out, closed = self.raw(self.sreq("unasked_101"))
        self.assertEqual(status_of(out), 502, out[:200])
        self.assertTrue(closed)
        self.assertNotIn(b"RAW-BYTES", out)


if __name__ == "__main__":
    harness.main()
