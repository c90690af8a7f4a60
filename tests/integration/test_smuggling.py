#!/usr/bin/env python3
"""The request smuggling corpus (smuggling_corpus.py, issue 7): over 100
distinct framing variants, each refused with its status, Connection: close,
the connection closed and not one byte at the origin; or forwarded with
exactly the content the proxy framed; or, pipelined, the valid requests
answered and the bad one refused. Every case runs twice: in one write, and
split into three TCP segments at fixed points (the incremental paths of the
head scanner and the chunk check). Split, a body error may be seen only
after the head and earlier body bytes were streamed upstream: then the
upstream connection must be closed before the request completes."""

import hashlib
import json
import socket
import time

import harness
from harness import ProxyCase, Conn, status_of
from smuggling_corpus import CASES


class Smuggling(ProxyCase):

    def setUp(self):
        pass   # the origin's counters are never reset: deltas per case

    def totals(self):
        st = self.origin.stats()
        return len(st["requests"]), st["bytes"]

    def settled_totals(self, before, want_requests):
        """Origin totals once they stopped moving (bytes in flight land)."""
        now = self.totals()
        for _ in range(20):
            if now[0] - before[0] >= want_requests:
                break
            time.sleep(0.01)
            now = self.totals()
        time.sleep(0.02)
        return self.totals()

    def data(self, raw):
        return raw.replace(b"{A}", self.origin.authority().encode())

    # -- one case ------------------------------------------------------------
    def refused(self, name, raw, status, parts):
        before = self.totals()
        data = self.data(raw)
        if parts == 1:
            out, closed = self.raw(data)
        else:
            out, closed = harness.send_recv_all(self.proxy.host, self.proxy.port, data, parts=parts)
        self.assertEqual(status_of(out), status, "%s: response %r" % (name, out[:200]))
        self.assertTrue(closed, "%s: connection left open after %d" % (name, status))
        head = out.split(b"\r\n\r\n", 1)[0].lower()
        self.assertIn(b"connection: close", head, "%s: no Connection: close" % name)
        after = self.settled_totals(before, 0)
        if parts > 1 and after != before:
            self.cut_upstream(name, before, after, data)
            return
        self.assertEqual(after, before, "%s: the origin received something" % name)

    def cut_upstream(self, name, before, after, data):
        """Split into segments, a body error can surface only after the head
        and the valid body bytes before it went upstream (bodies stream,
        they are never buffered whole). Then the origin must have got less
        than the whole case and its connection must be closed, so that the
        request never completes there."""
        self.assertLess(after[1] - before[1], len(data), "%s: all bytes went upstream" % name)
        self.assertLessEqual(after[0] - before[0], 1, name)
        peers = set(self.origin.stats()["request_peers"][before[0]:])
        end = time.monotonic() + 3
        while time.monotonic() < end:
            with self.origin.lock:
                still = [c for c in self.origin.conns if c["peer"] in peers and c["open"]]
            if not still:
                return
            time.sleep(0.02)
        self.fail("%s: the upstream connection of a refused request stayed open" % name)

    def forwarded(self, name, raw, exp, parts):
        body = exp[1]
        host = exp[2].replace("{A}", self.origin.authority()) if len(exp) > 2 else None
        before = self.totals()
        c = Conn(self.proxy.host, self.proxy.port, 10)
        try:
            data = self.data(raw)
            step = max(1, len(data) // parts)
            for off in range(0, len(data), step):
                c.send(data[off:off + step])
                time.sleep(0.002 if parts > 1 else 0)
            r = c.read_response()
        finally:
            c.close()
        self.assertEqual(r.status, 200, "%s: %r %r" % (name, r, r.body[:200]))
        js = json.loads(r.body)
        self.assertEqual(js["length"], len(body), name)
        self.assertEqual(js["sha256"], hashlib.sha256(body).hexdigest(), name)
        if host is not None:
            hosts = [v for k, v in js["headers"] if k.lower() == "host"]
            self.assertEqual(hosts, [host], "%s: Host upstream %r" % (name, hosts))
        after = self.settled_totals(before, 1)
        self.assertEqual(after[0] - before[0], 1, "%s: origin requests" % name)

    def pipelined(self, name, raw, exp, parts):
        statuses, n = exp[1], exp[2]
        before = self.totals()
        c = Conn(self.proxy.host, self.proxy.port, 10)
        try:
            data = self.data(raw)
            step = max(1, len(data) // parts)
            for off in range(0, len(data), step):
                try:
                    c.send(data[off:off + step])
                except (BrokenPipeError, ConnectionResetError):
                    break
                time.sleep(0.002 if parts > 1 else 0)
            got = [c.read_response().status for _ in statuses]
            self.assertEqual(got, statuses, name)
            if statuses[-1] >= 400:
                self.assertTrue(c.wait_closed(5), "%s: left open after %d"
                                % (name, statuses[-1]))
        finally:
            c.close()
        after = self.settled_totals(before, n)
        self.assertEqual(after[0] - before[0], n, "%s: origin requests %r" % (
            name, self.origin.stats()["requests"][before[0]:]))
        self.assertNotIn(b"smuggled", self.origin.stats()["raw"], name)

    def run_case(self, case, parts):
        name, raw, exp, _why = case
        if isinstance(exp, int):
            self.refused(name, raw, exp, parts)
        elif exp[0] == "fwd":
            self.forwarded(name, raw, exp, parts)
        else:
            self.pipelined(name, raw, exp, parts)

    # -- the corpus ----------------------------------------------------------
    def test_corpus_is_distinct_and_large(self):
        names = [c[0] for c in CASES]
        raws = [c[1] for c in CASES]
        self.assertEqual(len(set(names)), len(names), "duplicate case names")
        self.assertEqual(len(set(raws)), len(raws), "duplicate case bytes")
        self.assertGreaterEqual(len(CASES), 100)
        refusals = sum(1 for c in CASES if isinstance(c[2], int))
        self.assertGreaterEqual(refusals, 100)
        for c in CASES:
            self.assertTrue(c[3], "%s: no reason documented" % c[0])

    def test_corpus_one_write(self):
        for case in CASES:
            with self.subTest(case=case[0]):
                self.run_case(case, 1)

    def test_corpus_three_segments(self):
        for case in CASES:
            with self.subTest(case=case[0]):
                self.run_case(case, 3)

    def test_still_serving(self):
        c = self.conn()
        c.send(self.req("POST", "/echo", body=b"after"))
        self.assertEqual(c.read_response().json()["length"], 5)


if __name__ == "__main__":
    harness.main()
