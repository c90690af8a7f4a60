#!/usr/bin/env python3
"""Tunnels: CONNECT host:port → 200 then a blind byte tunnel (to a raw TCP
echo server and to the origin), CONNECT errors → 502, and a WebSocket
Upgrade → 101 then bytes tunnelled both ways."""

import base64
import os
import threading

import harness
from harness import ProxyCase, status_of
from origin import EchoServer, body_bytes, sha256_hex, ws_frame, ws_read_frame


class Tunnels(ProxyCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.echo = EchoServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.echo.stop()
        super().tearDownClass()

    def connect(self, authority):
        c = self.conn(timeout=20)
        c.send(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n"
                % (authority, authority)).encode())
        return c, c.read_response("CONNECT")

    def test_connect_echo_small(self):
        c, r = self.connect("127.0.0.1:%d" % self.echo.port)
        self.assertEqual(r.status, 200)
        for msg in (b"ping", b"\x00\x01\x02 binary \xff", b"GET / HTTP/1.1\r\n\r\n"):
            c.send(msg)
            self.assertEqual(c.read_exact(len(msg)), msg)

    def test_connect_echo_large_both_ways_at_once(self):
        c, r = self.connect("127.0.0.1:%d" % self.echo.port)
        self.assertEqual(r.status, 200)
        data = body_bytes(4 * 1024 * 1024)
        errors = []

        def writer():
            try:
                for off in range(0, len(data), 65536):
                    c.send(data[off:off + 65536])
            except OSError as e:
                errors.append(e)
        t = threading.Thread(target=writer)
        t.start()
        got = c.read_exact(len(data))
        t.join()
        self.assertEqual(errors, [])
        self.assertEqual(sha256_hex(got), sha256_hex(data))

    def test_connect_to_origin_then_http_inside(self):
        c, r = self.connect(self.origin.authority())
        self.assertEqual(r.status, 200)
        for n in (0, 100, 70000):
            c.send(("GET /size/%d HTTP/1.1\r\nHost: %s\r\n\r\n"
                    % (n, self.origin.authority())).encode())
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, body_bytes(n))

    def test_connect_half_close_reaches_target(self):
        # The client ends its side: the echo server sees EOF and closes,
        # and the tunnel then closes towards the client.
        c, r = self.connect("127.0.0.1:%d" % self.echo.port)
        self.assertEqual(r.status, 200)
        c.send(b"last words")
        self.assertEqual(c.read_exact(10), b"last words")
        import socket
        c.sock.shutdown(socket.SHUT_WR)
        self.assertTrue(c.wait_closed(10), "tunnel not closed after both ends "
                        "finished")

    def test_connect_refused_502(self):
        port = harness.refused_port()
        out, closed = self.raw(("CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d"
                                "\r\n\r\n" % (port, port)).encode(), timeout=10)
        self.assertEqual(status_of(out), 502, out[:300])

    def test_connect_unresolvable_502_names_host(self):
        host = "no-such-host-ringcap.invalid"
        out, closed = self.raw(("CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n\r\n"
                                % (host, host)).encode(), timeout=15)
        self.assertEqual(status_of(out), 502, out[:300])
        self.assertIn(host.encode(), out)

    # -- WebSocket -----------------------------------------------------------
    def ws_open(self, path="/ws"):
        c = self.conn(timeout=20)
        key = base64.b64encode(os.urandom(16)).decode()
        c.send(self.req("GET", path, [
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]))
        r = c.read_response()
        self.assertEqual(r.status, 101, r)
        self.assertEqual((r.header("upgrade") or "").lower(), "websocket")
        self.assertIn("upgrade", (r.header("connection") or "").lower())
        self.assertIsNotNone(r.header("sec-websocket-accept"))
        return c

    def test_websocket_frames_echoed(self):
        c = self.ws_open()
        mask = b"\x11\x22\x33\x44"
        for payload, opcode in ((b"hello", 1), (b"x" * 200, 1),
                                (body_bytes(70000), 2),
                                (body_bytes(1024 * 1024), 2)):
            c.send(ws_frame(payload, opcode, mask))
            op, got = ws_read_frame(c.read_exact)
            self.assertEqual(op, opcode)
            self.assertEqual(sha256_hex(got), sha256_hex(payload))
        c.send(ws_frame(b"\x03\xe8", 8, mask))
        op, _ = ws_read_frame(c.read_exact)
        self.assertEqual(op, 8)
        self.assertTrue(c.wait_closed(10))

    def test_websocket_raw_bytes_tunnelled(self):
        # After the 101 the proxy must not look at the bytes at all.
        c = self.ws_open("/ws?raw=1")
        for msg in (b"not a frame\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n", b"\x00" * 3000):
            c.send(msg)
            self.assertEqual(c.read_exact(len(msg)), msg)

    def test_upgrade_refused_by_origin_stays_http(self):
        # /status answers 200 to an Upgrade request: no tunnel, keep-alive HTTP.
        c = self.conn()
        c.send(self.req("GET", "/size/10", [
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13")]))
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, body_bytes(10))
        c.send(self.req("GET", "/size/11"))
        self.assertEqual(c.read_response().body, body_bytes(11))


if __name__ == "__main__":
    harness.main()
