#!/usr/bin/env python3
"""WebSocket messages captured (issue 15, item 5): Debian's
python3-websockets on both ends, a server on a 127.0.0.1 origin (plain and
TLS), a client through ringcap: over plain HTTP (websockets 10.4 has no
proxy support: its client speaks over a socket to the proxy and writes the
absolute-form request line a proxy needs) and over CONNECT with TLS
interception (the library's own handshake inside the intercepted tunnel).
Text, binary, fragmented, ping/pong, close with code and reason,
permessage-deflate with and without context takeover; every message
byte-exact in `ringcap show --json`, in GET .../messages of the control API
and in HAR's _webSocketMessages; a message over --max-body flagged cut.
Capture rules: a message begun while the session is paused is not stored,
and an exchange a filter leaves out keeps none."""

import asyncio
import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

import harness
from test_sessions import Daemon, rc
from test_tls import make_origin_cert

try:
    import websockets
except ImportError:   # pyenv's python3 does not see Debian's dist-packages
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import websockets
    except ImportError:
        websockets = None
if websockets:
    import websockets.legacy.client as ws_client
    import websockets.legacy.server as ws_server

MAX_BODY = 65536
BIG = 100000            # over --max-body: stored cut
WAIT_S = 20
SEND, RECV = "send", "receive"
UTEXT = "hello \u00fc\u2603 \U0001F600"
RANDOM = os.urandom(BIG)


class Origin:
    """A websockets server in its own event loop thread: echoes every data
    message (same type), answers pings (the library does), and when told
    "close-me" closes with 4001 "origin bye"."""

    def __init__(self, tls=None, compression="deflate", server_no_takeover=False):
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.tls = tls
        self.compression = compression
        self.server_no_takeover = server_no_takeover
        threading.Thread(target=self._run, daemon=True).start()
        assert self.ready.wait(10)

    async def _handler(self, ws, path):
        try:
            async for m in ws:
                if m == "close-me":
                    await ws.close(4001, "origin bye")
                    return
                await ws.send(m)
        except websockets.exceptions.ConnectionClosed:
            pass   # a close code other than 1000/1001 ends the loop so

    def _run(self):
        asyncio.set_event_loop(self.loop)
        ext = None
        if self.compression and self.server_no_takeover:
            from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
            ext = [ServerPerMessageDeflateFactory(server_no_context_takeover=True,
                                                  client_no_context_takeover=True,
                                                  server_max_window_bits=10)]
        kw = {"extensions": ext} if ext else {"compression": self.compression}
        self.server = self.loop.run_until_complete(ws_server.serve(
            self._handler, "127.0.0.1", 0, ssl=self.tls, max_size=None, **kw))
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    def stop(self):
        async def close():
            self.server.close()
            await self.server.wait_closed()
        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


if websockets:
    class AbsoluteForm(ws_client.WebSocketClientProtocol):
        """A client that talks to a forward proxy: the request line names
        the whole URL (RFC 9112 3.2.2), the rest is the library's."""
        target = ""

        def write_http_request(self, path, headers):
            super().write_http_request(self.target + path, headers)


def script():
    """What each conversation sends, in order: (kind, payload)."""
    return [
        ("send", UTEXT),
        ("send", bytes(range(256)) * 3),
        ("send", ["frag", "ment", "ed \u00e9"]),    # three frames, one message
        ("ping", b"ping-data"),
        ("send", RANDOM),                            # cut at --max-body
        ("send", ""),                                # an empty text message
    ]


def expected(deflate, close_code, close_reason, closer):
    """The messages the store must hold for script(), in order."""
    out = []
    for kind, p in script():
        if kind == "ping":
            out.append((SEND, 9, p))
            out.append((RECV, 10, p))
            continue
        if isinstance(p, list):
            p = "".join(p)
        op = 1 if isinstance(p, str) else 2
        data = p.encode() if isinstance(p, str) else p
        out.append((SEND, op, data))
        out.append((RECV, op, data))
    if closer == "server":
        out.append((SEND, 1, b"close-me"))   # the client asks, the origin closes
    code = close_code.to_bytes(2, "big") + close_reason.encode()
    first, second = (SEND, RECV) if closer == "client" else (RECV, SEND)
    out.append((first, 8, code))
    out.append((second, 8, code))
    return out


async def converse(ws, closer):
    for kind, p in script():
        if kind == "ping":
            await asyncio.wait_for(await ws.ping(p), 10)
            continue
        await ws.send(p)
        got = await asyncio.wait_for(ws.recv(), 10)
        want = "".join(p) if isinstance(p, list) else p
        assert got == want, "echo differs"
    if closer == "client":
        await ws.close(4000, "client done")
    else:
        await ws.send("close-me")
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except websockets.exceptions.ConnectionClosed:
            pass
        await ws.wait_closed()


def run(coro):
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def proxy_socket(proxy):
    return socket.create_connection((proxy.host, proxy.port), timeout=10)


def run_plain(proxy, origin, compression="deflate", closer="client"):
    async def go():
        sock = proxy_socket(proxy)
        sock.setblocking(False)
        AbsoluteForm.target = "http://127.0.0.1:%d" % origin.port
        ws = await ws_client.connect("ws://127.0.0.1:%d/echo" % origin.port, sock=sock,
                                     create_protocol=AbsoluteForm, compression=compression,
                                     max_size=None, open_timeout=10)
        exts = [type(e).__name__ for e in ws.extensions]
        if ws.extensions:   # what the 101 said the server compresses with
            e = ws.extensions[0]
            exts.append((e.remote_no_context_takeover, e.remote_max_window_bits))
        await converse(ws, closer)
        return exts
    return run(go())


def run_tls(proxy, origin, ca, compression="deflate", closer="client"):
    async def go():
        s = proxy_socket(proxy)
        target = "localhost:%d" % origin.port
        s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, target)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            b = s.recv(1)
            if not b:
                break
            head += b
        assert head.startswith(b"HTTP/1.1 200"), head
        s.setblocking(False)
        ctx = ssl.create_default_context(cafile=ca)
        ws = await ws_client.connect("wss://localhost:%d/echo" % origin.port, sock=s, ssl=ctx,
                                     server_hostname="localhost", compression=compression,
                                     max_size=None, open_timeout=10)
        exts = [type(e).__name__ for e in ws.extensions]
        await converse(ws, closer)
        return exts
    return run(go())


def payload(m):
    """A message's stored bytes from its JSON form."""
    if m["encoding"] == "text":
        return m["data"].encode()
    return base64.b64decode(m["data"])


@unittest.skipIf(websockets is None, "python3-websockets is not installed")
class Capture(harness.OriginCase):
    SESSION = "ws"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key, cls.cert = make_origin_cert(tag="ws")
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cls.cert, cls.key)
        cls.plain = Origin()
        cls.plain_nodefl = Origin(compression=None)
        cls.plain_notakeover = Origin(server_no_takeover=True)
        cls.tls = Origin(tls=tls)
        cls.d = Daemon("ws", extra=["--session", cls.SESSION, "--max-body", str(MAX_BODY),
                                    "--upstream-ca", cls.cert]).start()
        cls.ca = os.path.join(cls.d.data, "ca-cert.pem")
        cls.seen = set()

    @classmethod
    def tearDownClass(cls):
        code = cls.d.stop()
        for o in (cls.plain, cls.plain_nodefl, cls.plain_notakeover, cls.tls):
            o.stop()
        super().tearDownClass()
        if code not in (None, 0):
            raise AssertionError("ringcap exit %r:\n%s" % (code, cls.d.p.log()))

    def rc_json(self, *args):
        code, out, err = rc(*args, "--data", self.d.data, "--json")
        self.assertEqual(code, 0, err)
        return json.loads(out)

    def new_row(self, port):
        """The 101 exchange to port that appeared since the last call."""
        end = time.monotonic() + WAIT_S
        while time.monotonic() < end:
            rows = [r for r in self.rc_json("ls", self.SESSION)
                    if r["status"] == 101 and (":%d/" % port) in r["url"]
                    and r["id"] not in self.seen]
            if rows:
                self.seen.add(rows[0]["id"])
                return rows[0]
            time.sleep(0.1)
        self.fail("no 101 exchange to port %d in the listing" % port)

    def check(self, row, want, deflate):
        x = self.rc_json("show", self.SESSION, str(row["id"]))
        msgs = x.get("messages")
        self.assertIsNotNone(msgs, x)
        got = [(m["direction"], m["opcode"], payload(m)) for m in msgs]
        want_cut = [(d, op, p[:MAX_BODY]) for d, op, p in want]
        self.assertEqual(len(got), len(want), [(d, op, len(p)) for d, op, p in got])
        for i, (g, w) in enumerate(zip(got, want_cut)):
            self.assertEqual(g[:2], w[:2], "message %d" % i)
            self.assertEqual(g[2], w[2], "message %d: payload differs" % i)
        for m, (d, op, p) in zip(msgs, want):
            self.assertEqual(m["length"], len(p))
            self.assertEqual(m["cut"], len(p) > MAX_BODY, m)
            self.assertEqual(m["deflated"], deflate and op < 8, m)
            if op == 1 and len(p) <= MAX_BODY:
                self.assertEqual(m["encoding"], "text")
            if op == 2:
                self.assertEqual(m["encoding"], "base64")
            if op == 8:
                self.assertEqual(m["close_code"], int.from_bytes(p[:2], "big"))
                self.assertEqual(m["close_reason"], p[2:].decode())
        times = [m["time_ns"] for m in msgs]
        self.assertEqual(times, sorted(times))
        self.assertGreaterEqual(times[0], int(row_time_ns(x)))
        return x

    def test_plain_deflate(self):
        exts = run_plain(self.d.p, self.plain)
        self.assertEqual(exts, ["PerMessageDeflate", (False, 12)])   # websockets: 12 bits
        self.check(self.new_row(self.plain.port),
                   expected(True, 4000, "client done", "client"), True)

    def test_plain_no_deflate_server_closes(self):
        exts = run_plain(self.d.p, self.plain_nodefl, compression=None, closer="server")
        self.assertEqual(exts, [])
        self.check(self.new_row(self.plain_nodefl.port),
                   expected(False, 4001, "origin bye", "server"), False)

    def test_plain_deflate_no_context_takeover(self):
        exts = run_plain(self.d.p, self.plain_notakeover)
        self.assertEqual(exts, ["PerMessageDeflate", (True, 10)])
        self.check(self.new_row(self.plain_notakeover.port),
                   expected(True, 4000, "client done", "client"), True)

    def test_tls_intercepted_deflate(self):
        exts = run_tls(self.d.p, self.tls, self.ca)
        self.assertEqual(exts, ["PerMessageDeflate"])
        row = self.new_row(self.tls.port)
        self.assertTrue(row["url"].startswith("https://localhost:%d/echo" % self.tls.port), row)
        self.check(row, expected(True, 4000, "client done", "client"), True)

    def ws_metric(self, name):
        st, text, _ = self.d.api("GET", "/metrics")
        self.assertEqual(st, 200)
        for line in text.decode().splitlines():
            if line.startswith("ringcap_websocket_%s_total " % name):
                return int(line.split()[1])
        self.fail("no ringcap_websocket_%s_total" % name)

    def test_broken_frames_flow_on(self):
        """A frame that breaks RFC 6455 (reserved opcode 3) ends the
        observation of its direction, not the tunnel: the origin's close
        (1002) still reaches the client, the message before it is stored."""
        broken = self.ws_metric("broken")
        s = proxy_socket(self.d.p)
        port = self.plain_nodefl.port
        s.sendall(("GET http://127.0.0.1:%d/echo HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n" % (port, port)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            b = s.recv(1)
            self.assertTrue(b, head)
            head += b
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
        key = b"\x01\x02\x03\x04"
        masked = lambda p: bytes(c ^ key[i % 4] for i, c in enumerate(p))
        s.sendall(b"\x81\x82" + key + masked(b"ok"))
        got = b""
        while len(got) < 4:
            b = s.recv(4 - len(got))
            self.assertTrue(b)
            got += b
        self.assertEqual(got, b"\x81\x02ok")   # the echo
        s.sendall(b"\x83\x81" + key + masked(b"x"))   # opcode 3: reserved
        got = b""
        while True:
            b = s.recv(64)
            if not b:
                break
            got += b
        s.close()
        self.assertTrue(got.startswith(b"\x88"), got)   # the origin's close...
        self.assertEqual(got[2:4], (1002).to_bytes(2, "big"))   # ...protocol error
        row = self.new_row(port)
        x = self.rc_json("show", self.SESSION, str(row["id"]))
        got = [(m["direction"], m["type"], payload(m)) for m in x["messages"]]
        self.assertEqual(got[:2], [(SEND, "text", b"ok"), (RECV, "text", b"ok")])
        closes = [p for d, t, p in got[2:] if d == RECV and t == "close"]
        self.assertEqual([p[:2] for p in closes], [(1002).to_bytes(2, "big")])
        self.assertEqual(self.ws_metric("broken"), broken + 1)

    def test_bytes_riding_with_the_heads(self):
        """A client frame sent right behind the request head (before the
        101) and a server frame in the same segment as the 101 are both
        forwarded and captured."""
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        got_from_client = []

        def origin():
            c, _ = srv.accept()
            c.settimeout(10)
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += c.recv(4096)
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\n\r\n\x81\x05first")
            rest = buf.split(b"\r\n\r\n", 1)[1]
            while len(rest) < 12:
                rest += c.recv(4096)
            got_from_client.append(rest)
            c.sendall(b"\x88\x02\x03\xe8")
            c.close()
        t = threading.Thread(target=origin, daemon=True)
        t.start()
        key = b"\x09\x08\x07\x06"
        frame = b"\x81\x86" + key + bytes(c ^ key[i % 4] for i, c in enumerate(b"early!"))
        s = proxy_socket(self.d.p)
        s.sendall(("GET http://127.0.0.1:%d/early HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                   % (port, port)).encode() + frame)
        out = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            out += b
        s.close()
        t.join(10)
        srv.close()
        self.assertEqual(got_from_client, [frame])
        self.assertTrue(out.startswith(b"HTTP/1.1 101"), out)
        self.assertTrue(out.endswith(b"\r\n\r\n\x81\x05first\x88\x02\x03\xe8"), out)
        row = self.new_row(port)
        x = self.rc_json("show", self.SESSION, str(row["id"]))
        got = sorted((m["direction"], m["type"], payload(m)) for m in x["messages"])
        self.assertEqual(got, sorted([(RECV, "text", b"first"), (SEND, "text", b"early!"),
                                      (RECV, "close", b"\x03\xe8")]))

    def test_api_and_har(self):
        run_plain(self.d.p, self.plain, compression=None)
        row = self.new_row(self.plain.port)
        want = expected(False, 4000, "client done", "client")
        x = self.check(row, want, False)
        st, api, _ = self.d.api("GET", "/api/sessions/%s/exchanges/%d/messages"
                                % (self.SESSION, row["id"]))
        self.assertEqual(st, 200, api)
        self.assertEqual(api["messages"], x["messages"])
        self.assertFalse(api["more"])
        st, _, _ = self.d.api("GET", "/api/sessions/%s/exchanges/999999/messages" % self.SESSION)
        self.assertEqual(st, 404)
        st, text, _ = self.d.api("GET", "/metrics")
        self.assertEqual(st, 200)
        counts = {l.split()[0]: int(l.split()[1]) for l in text.decode().splitlines()
                  if l.startswith("ringcap_websocket_")}
        self.assertGreaterEqual(counts["ringcap_websocket_messages_total"], len(want))
        self.assertEqual(counts["ringcap_websocket_broken_total"], 0)
        self.assertEqual(counts["ringcap_websocket_unobserved_total"], 0)
        # fsck reads the message records as sound
        code, out, err = rc("fsck", self.SESSION, "--data", self.d.data)
        self.assertEqual(code, 0, err + out.decode())
        # the text view lists them too
        code, out, err = rc("show", self.SESSION, str(row["id"]), "--data", self.d.data)
        self.assertEqual(code, 0, err)
        self.assertIn(b"WebSocket messages (%d):" % len(want), out)
        self.assertIn(b"-> ", out)
        self.assertIn(b"close  13 bytes, code 4000", out)
        self.assertIn(b"binary 100000 bytes, cut (65536 stored)", out)
        code, out, err = rc("export", self.SESSION, "--format", "har", "--data", self.d.data)
        self.assertEqual(code, 0, err)
        har = json.loads(out)
        entries = [e for e in har["log"]["entries"] if e.get("_id") == row["id"]]
        self.assertEqual(len(entries), 1)
        hm = entries[0]["_webSocketMessages"]
        self.assertEqual(len(hm), len(want))
        for m, (d, op, p) in zip(hm, want):
            self.assertEqual(m["type"], d)
            self.assertEqual(m["opcode"], op)
            self.assertIsInstance(m["time"], float)
            p = p[:MAX_BODY]
            if op == 1:
                self.assertEqual(m["data"], p.decode())
            else:
                self.assertEqual(base64.b64decode(m["data"]), p)
        # imported, the messages come back: the same _webSocketMessages out
        path = os.path.join(self.d.data, "ws.har")
        with open(path, "wb") as f:
            f.write(out)
        code, _, err = rc("import", path, "--session", "ws-back", "--data", self.d.data)
        self.assertEqual(code, 0, err)
        code, out, err = rc("export", "ws-back", "--format", "har", "--data", self.d.data)
        self.assertEqual(code, 0, err)
        back = [e for e in json.loads(out)["log"]["entries"]
                if e["request"]["url"] == entries[0]["request"]["url"]]
        self.assertEqual(len(back), 1)
        hm2 = back[0]["_webSocketMessages"]
        self.assertEqual([(m["type"], m["opcode"], m["data"]) for m in hm2],
                         [(m["type"], m["opcode"], m["data"]) for m in hm])
        for m, m2 in zip(hm, hm2):
            self.assertAlmostEqual(m["time"], m2["time"], delta=1e-5)


def row_time_ns(x):
    """An exchange's start from its ISO time, in ns (ms precision)."""
    import datetime
    t = datetime.datetime.strptime(x["time"].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f")
    return (t.replace(tzinfo=datetime.timezone.utc).timestamp() - 0.001) * 1e9


@unittest.skipIf(websockets is None, "python3-websockets is not installed")
class Rules(harness.OriginCase):
    """Pause and filters apply to messages as to exchanges."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ws = Origin(compression=None)
        cls.d = Daemon("wsrules").start()

    @classmethod
    def tearDownClass(cls):
        code = cls.d.stop()
        cls.ws.stop()
        super().tearDownClass()
        if code not in (None, 0):
            raise AssertionError("ringcap exit %r:\n%s" % (code, cls.d.p.log()))

    def test_pause_and_filter(self):
        d = self.d
        st, s, _ = d.api("POST", "/api/sessions", {"name": "rules"})
        self.assertEqual(st, 201, s)
        sid = s["id"]

        async def conversation(pause_after_first):
            sock = proxy_socket(d.p)
            sock.setblocking(False)
            AbsoluteForm.target = "http://127.0.0.1:%d" % self.ws.port
            ws = await ws_client.connect("ws://127.0.0.1:%d/echo" % self.ws.port, sock=sock,
                                         create_protocol=AbsoluteForm, compression=None,
                                         open_timeout=10)
            await ws.send("before")
            await ws.recv()
            if pause_after_first:
                st, _, _ = d.api("POST", "/api/sessions/%s/pause" % sid)
                assert st == 200
                await ws.send("while paused")
                await ws.recv()
                st, _, _ = d.api("POST", "/api/sessions/%s/resume" % sid)
                assert st == 200
                await ws.send("after")
                await ws.recv()
            await ws.close(1000, "")

        run(conversation(True))
        rows = d.wait_exchanges(sid, 1)
        self.assertEqual(len(rows), 1)
        st, m, _ = d.api("GET", "/api/sessions/%s/exchanges/%d/messages" % (sid, rows[0]["id"]))
        self.assertEqual(st, 200, m)
        texts = [x["data"] for x in m["messages"] if x["opcode"] == 1]
        self.assertEqual(texts, ["before", "before", "after", "after"])
        st, _, _ = d.api("POST", "/api/sessions/%s/stop" % sid)
        self.assertEqual(st, 200)

        # a session whose filter leaves the upgrade out stores nothing of it
        st, s, _ = d.api("POST", "/api/sessions", {"name": "filtered", "filter": {
            "url_excludes": ["/echo"]}})
        self.assertEqual(st, 201, s)
        sid = s["id"]
        run(conversation(False))
        d.curl(self.origin.url("/size/10"))
        rows = d.wait_exchanges(sid, 1)
        self.assertEqual([r["url"] for r in rows], [self.origin.url("/size/10")])
        st, _, _ = d.api("POST", "/api/sessions/%s/stop" % sid)
        self.assertEqual(st, 200)

        # "save responses" off: the server's messages keep direction, time,
        # type and length, not their payload (flagged cut); the client's do
        st, s, _ = d.api("POST", "/api/sessions", {"name": "noresp", "save_responses": False})
        self.assertEqual(st, 201, s)
        sid = s["id"]
        run(conversation(False))
        rows = d.wait_exchanges(sid, 1)
        self.assertEqual(len(rows), 1)
        st, m, _ = d.api("GET", "/api/sessions/%s/exchanges/%d/messages" % (sid, rows[0]["id"]))
        self.assertEqual(st, 200, m)
        got = [(x["direction"], x["type"], x["data"], x["length"], x["cut"])
               for x in m["messages"]]
        self.assertEqual(got, [(SEND, "text", "before", 6, False),
                               (RECV, "text", "", 6, True),
                               (SEND, "close", "A+g=", 2, False),
                               (RECV, "close", "", 2, True)])


if __name__ == "__main__":
    harness.main()
