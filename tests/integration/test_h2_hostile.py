#!/usr/bin/env python3
"""Hostile HTTP/2 against the real binary (issue 15 item 4), with frames
built by hand (h2raw.py): smuggling through the h2 -> HTTP/1.1 downgrade
(CR/LF in values, Transfer-Encoding, a Content-Length the DATA does not
match, a Host other than :authority, upper-case names), rapid reset,
CONTINUATION flood, a broken HPACK block, a PING flood from a client that
does not read, stream id misuse and streams over --h2-max-streams. Each is
refused (stream reset or connection closed), nothing of it reaches the
origin as a request, the kind is counted in /metrics, and the proxy keeps
serving."""

import struct
import time
import unittest

import harness
from h2raw import (H2, frame, block, CONTINUATION, GOAWAY, HEADERS, PING, RST_STREAM,
                   END_HEADERS, END_STREAM, PROTOCOL_ERROR, CANCEL)
from origin import body_bytes
from test_h2 import H2Case, metric


class Hostile(H2Case):
    EXTRA = ["--h2-max-streams", "8"]

    def bad(self, kind):
        return metric(self.proxy, "h2_refused_total", 'kind="%s"' % kind)

    def assert_still_serves(self):
        c = self.h2()
        c.get(1, "/size/1234")
        self.assertTrue(c.wait([1]))
        self.assertEqual(c.streams[1]["body"], body_bytes(1234))
        c.close()

    def refused_stream(self, fields, kinds, body=None):
        """Sends one request; expects its stream reset, the origin to see
        no request, and one of kinds counted."""
        before = sum(self.bad(k) for k in kinds)
        seen = len(self.origin.stats()["requests"])
        c = self.h2()
        c.headers(1, c.request_fields(*fields[:2], fields[2]), end_stream=body is None)
        if body is not None:
            c.data(1, body, end_stream=True)
        self.assertTrue(c.wait([1]), "no answer")
        st = c.streams[1]
        self.assertIsNotNone(st["rst"], "stream not reset: %r" % st)
        self.assertFalse(st["body"])
        c.close()
        time.sleep(0.2)
        self.assertGreater(sum(self.bad(k) for k in kinds), before)
        return len(self.origin.stats()["requests"]) - seen

    def test_crlf_in_value(self):
        n = self.refused_stream(("GET", "/size/1", [("x-a", "1\r\nx-injected: 1")]),
                                ["header", "smuggle"])
        self.assertEqual(n, 0)
        self.assert_still_serves()

    def test_colon_and_upper_case_in_name(self):
        for name in ("x:b", "X-Upper"):
            with self.subTest(name):
                n = self.refused_stream(("GET", "/size/1", [(name, "v")]),
                                        ["header", "smuggle"])
                self.assertEqual(n, 0)

    def test_transfer_encoding_and_te(self):
        for f in (("transfer-encoding", "chunked"), ("te", "gzip"), ("connection", "close")):
            with self.subTest(f[0]):
                n = self.refused_stream(("POST", "/echo", [f]), ["header", "smuggle"],
                                        body=b"0\r\n\r\n")
                self.assertEqual(n, 0)

    def test_host_differs_from_authority(self):
        n = self.refused_stream(("GET", "/size/1", [("host", "evil.example")]), ["smuggle"])
        self.assertEqual(n, 0)

    def test_content_length_mismatch(self):
        before = self.origin.stats()["raw"]
        self.refused_stream(("POST", "/echo", [("content-length", "5")]),
                            ["header", "smuggle", "protocol"], body=b"0123456789")
        # at most the head went upstream; never the 10 bytes past it
        self.assertNotIn(b"56789", self.origin.stats()["raw"][len(before):])
        self.assert_still_serves()

    def test_rapid_reset(self):
        before = self.bad("rapid_reset")
        c = self.h2()
        burst = b""
        for i in range(1200):
            sid = 2 * i + 1
            burst += frame(HEADERS, END_HEADERS | END_STREAM, sid,
                           block(c.request_fields("GET", "/size/1")))
            burst += frame(RST_STREAM, 0, sid, struct.pack(">I", CANCEL))
        c.send(burst)
        self.assertTrue(c.wait_closed(30))
        c.close()
        self.assertIsNotNone(c.goaway)
        self.assertGreater(self.bad("rapid_reset"), before, c.goaway)
        self.assert_still_serves()

    def test_continuation_flood(self):
        kinds = ["continuation", "protocol"]
        before = sum(self.bad(k) for k in kinds)
        c = self.h2()
        out = frame(HEADERS, 0, 1, block(c.request_fields("GET", "/size/1")))
        for _ in range(100):
            out += frame(CONTINUATION, 0, 1, block([("x-pad", "y" * 10)]))
        try:
            c.send(out)
        except OSError:
            pass
        self.assertTrue(c.wait_closed(10))
        c.close()
        self.assertGreater(sum(self.bad(k) for k in kinds), before)
        self.assert_still_serves()

    def test_broken_hpack(self):
        before = self.bad("hpack")
        c = self.h2()
        # an indexed field far beyond the static and dynamic tables
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\xff\xff\xff\xff\x0f"))
        self.assertTrue(c.wait_closed(10))
        c.close()
        self.assertGreater(self.bad("hpack"), before)

    def test_stream_id_misuse(self):
        before = self.bad("protocol")
        c = self.h2()
        c.headers(2, c.request_fields("GET", "/size/1"))   # even: server-initiated ids
        self.assertTrue(c.wait_closed(10))
        c.close()
        self.assertEqual(c.goaway, PROTOCOL_ERROR)
        self.assertGreater(self.bad("protocol"), before)

    def test_ping_flood_from_a_client_that_does_not_read(self):
        before = self.bad("flood")
        c = self.h2()
        c.t.setblocking(True)
        pings = frame(PING, 0, 0, b"12345678") * 4096
        closed = False
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                c.t.settimeout(5)
                c.send(pings)
            except OSError:
                closed = True
                break
        c.close()
        self.assertTrue(closed, "never closed")
        time.sleep(0.2)
        self.assertGreater(self.bad("flood"), before)
        self.assert_still_serves()

    def test_streams_over_the_limit_refused(self):
        """Before the client acknowledged SETTINGS_MAX_CONCURRENT_STREAMS
        (8 here) streams beyond it get REFUSED_STREAM; the others finish."""
        before = self.bad("streams")
        c = self.h2()
        sids = [2 * i + 1 for i in range(12)]
        for s in sids:
            c.get(s, "/delay/300")
        self.assertTrue(c.wait(sids, 20), c.streams)
        refused = [s for s in sids if c.streams[s]["rst"] is not None]
        served = [s for s in sids if c.streams[s]["end"] and c.streams[s]["rst"] is None]
        c.close()
        self.assertEqual(len(served), 8, c.streams)
        self.assertEqual(len(refused), 4)
        self.assertGreaterEqual(self.bad("streams") - before, 4)

    def test_streams_over_the_acknowledged_limit(self):
        """Once acknowledged, going over the limit is a connection error."""
        before = self.bad("protocol")
        c = self.h2()
        self.assertFalse(c.wait_closed(0.5))   # reads our SETTINGS and acks them
        for i in range(12):
            c.get(2 * i + 1, "/delay/300")
        self.assertTrue(c.wait_closed(10))
        c.close()
        self.assertEqual(c.goaway, PROTOCOL_ERROR)
        self.assertGreater(self.bad("protocol"), before)
        self.assert_still_serves()

if __name__ == "__main__":
    harness.main()
