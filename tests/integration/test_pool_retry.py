#!/usr/bin/env python3
"""A pooled upstream connection that the server closes just as a request is
written to it: ringcap resends an idempotent, body-less request once on a
fresh connection; a POST is not resent and gets a 502."""

import socket
import threading
import unittest

import harness
from harness import Proxy


class FlakyOrigin:
    """Answers the first request of each connection (keep-alive) and closes
    the connection, unanswered, when a second request arrives on it."""

    def __init__(self):
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.connections = 0
        self.lock = threading.Lock()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self.conn, args=(c,), daemon=True).start()

    def conn(self, c):
        buf = b""
        answered = 0
        with c:
            while True:
                try:
                    data = c.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:
                    _, buf = buf.split(b"\r\n\r\n", 1)
                    if answered == 1:
                        return          # close without a response
                    answered += 1
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def stop(self):
        self.lsock.close()


class PoolRetry(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        cls.origin = FlakyOrigin()
        cls.proxy = Proxy(["--upstream-idle-timeout", "60s"], 1, cls.__name__).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.proxy.stop()
        cls.origin.stop()
        if rc not in (None, 0):
            raise AssertionError("ringcap exit code %r; stderr:\n%s" % (rc, cls.proxy.log()))

    def get(self, method="GET", body=b""):
        c = harness.Conn(self.proxy.host, self.proxy.port, 10)
        try:
            auth = "127.0.0.1:%d" % self.origin.port
            c.send(("%s http://%s/x HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n"
                    % (method, auth, auth, len(body))).encode() + body)
            return c.read_response(method)
        finally:
            c.close()

    def test_get_resent_on_fresh_connection(self):
        before = self.origin.connections
        self.assertEqual(self.get().status, 200)     # pools the connection
        r = self.get()                                # pooled one closes: resent
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"ok")
        self.assertEqual(self.origin.connections - before, 2)

    def test_post_not_resent(self):
        self.assertEqual(self.get().status, 200)
        r = self.get("POST", b"data")
        self.assertEqual(r.status, 502)
        self.assertIn(b"without a response", r.body)


if __name__ == "__main__":
    harness.main()
