#!/usr/bin/env python3
"""Capture filters (issue 6) through the real proxy and the offline `ls`.

The same eight requests go through `ringcap run --session S <filter>` for
each filter of a truth table (method, status class and code, type class
and mime substring, url contains / excludes / regex with anchors, client
CIDR, a combination): every response reaches the client intact, and the
session lists exactly the exchanges the filter accepts. `ls` with the same
flags over an unfiltered session lists the same set, and equals a filter
written in Python over `ls --json`. A status filter that rejects a large
upload at its response head leaves nothing listed and nothing damaged.
Invalid specs stop `run` and `ls` with exit 2 and the bad part quoted."""

import concurrent.futures
import ipaddress
import json
import os
import re
import subprocess
import unittest

import harness
from harness import Proxy
from origin import Origin, body_bytes


def rc(*args):
    r = subprocess.run([harness.RINGCAP_BIN] + list(args), capture_output=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


# (name, method, path, body, expected status, expected type in the index)
REQUESTS = [
    ("size", "GET", "/size/1000", None, 200, "binary"),
    ("s404", "GET", "/status/404", None, 404, "none"),
    ("s503", "GET", "/status/503", None, 503, "none"),
    ("post", "POST", "/echo", b"x" * 3000, 200, "json"),
    ("hq", "GET", "/headers?k=Api%2Fv1", None, 200, "json"),
    ("put", "PUT", "/echo?v=1", b"{}", 200, "json"),
    ("s201", "GET", "/STATUS/201", None, 404, "none"),   # case: no such route
    ("hdel", "DELETE", "/headers/Thing", None, 200, "json"),
]
ALL = {r[0] for r in REQUESTS}

# filter flags -> names of the requests it accepts (the truth table)
TABLE = [
    (["--method", "POST,PUT"], {"post", "put"}),
    (["--method", "delete"], {"hdel"}),
    (["--status", "4xx", "--status", "5xx"], {"s404", "s503", "s201"}),
    (["--status", "503"], {"s503"}),
    (["--type", "json"], {"post", "hq", "put", "hdel"}),
    (["--type", "none,binary"], {"size", "s404", "s503", "s201"}),
    (["--type", "application/octet"], {"size"}),
    (["--url-contains", "/status/"], {"s404", "s503", "s201"}),   # caseless
    (["--url-contains", "API%2f"], {"hq"}),                        # escapes as sent
    (["--url-excludes", "/status/", "--url-excludes", "ECHO"], {"size", "hq", "hdel"}),
    (["--url-regex", r"headers(\?|/)"], {"hq", "hdel"}),
    (["--url-regex", r"^http://127\.0\.0\.1:[0-9]+/size/"], {"size"}),
    (["--url-regex", r"/size/$"], set()),                          # anchored end
    (["--url-regex", r"(?i)/status/2"], {"s201"}),
    (["--client", "127.0.0.0/8"], ALL),
    (["--client", "10.0.0.0/8,::1"], set()),
    (["--method", "GET", "--status", "2xx", "--url-excludes", "size"], {"hq"}),
]


class Filter(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        cls.origin = Origin().start()
        cls.base = None

    @classmethod
    def tearDownClass(cls):
        cls.origin.stop()

    def start(self, name, *extra):
        p = Proxy(["--session", name] + list(extra), 2, "filter-" + name)
        argv = p.argv()
        data = argv[argv.index("--data") + 1]
        p.argv = lambda: list(argv)
        return p.start(), data

    def curl(self, p, method, path, body):
        args = ["curl", "-sS", "--max-time", "20", "-x", "http://%s:%d" % (p.host, p.port),
                "-X", method, "-o", "-", "-w", "\n%{http_code}", self.origin.url(path)]
        if body is not None:
            args += ["--data-binary", "@-"]
        r = subprocess.run(args, input=body, capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        out, _, code = r.stdout.rpartition(b"\n")
        return int(code), out

    def test_filter_longer_than_session_metadata(self):
        """600 patterns (about 15 KiB as text, over the 4 KiB metadata limit):
        the compiled filter still decides capture; the metadata keeps none."""
        many = []
        for i in range(600):
            many += ["--url-contains", "/never/pattern-%d" % i]
        p, data = self.start("long", *many, "--url-contains", "/size/7")
        self.assertEqual(self.curl(p, "GET", "/size/7", None)[0], 200)
        self.assertEqual(self.curl(p, "GET", "/size/8", None)[0], 200)
        self.assertEqual(p.stop(), 0, p.log())
        self.assertIn("not kept in the session metadata", p.log())
        code, out, err = rc("ls", "long", "--data", data, "--json")
        self.assertEqual(code, 0, err)
        self.assertEqual([r["url"] for r in json.loads(out)], [self.origin.url("/size/7")])

    def drive(self, p):
        """All requests; each response must reach the client intact."""
        for name, method, path, body, status, _ in REQUESTS:
            code, out = self.curl(p, method, path, body)
            self.assertEqual(code, status, name)
            if name == "size":
                self.assertEqual(out, body_bytes(1000))
            if name in ("post", "put"):
                self.assertEqual(json.loads(out)["length"], len(body))

    def ls(self, data, session, *flags):
        code, out, err = rc("ls", session, "--data", data, "--json", *flags)
        self.assertEqual(code, 0, err)
        return json.loads(out)

    def names(self, rows):
        by_url = {}
        for name, _, path, _, _, _ in REQUESTS:
            by_url[self.origin.url(path)] = name
        got = [by_url[r["url"]] for r in rows]
        self.assertEqual(len(got), len(set(got)), rows)
        return set(got)

    def unfiltered(self):
        if Filter.base is None:
            p, data = self.start("all")
            self.drive(p)
            self.assertEqual(p.stop(), 0)
            rows = self.ls(data, "all")
            self.assertEqual(self.names(rows), ALL)
            for row in rows:
                req = [r for r in REQUESTS if self.origin.url(r[2]) == row["url"]][0]
                self.assertEqual((row["method"], row["status"], row["type"]),
                                 (req[1], req[4], req[5]), row)
            Filter.base = (data, rows)
        return Filter.base

    def test_capture_truth_table(self):
        """Capture-time: each filter stores exactly its accepted set (four
        proxies at a time: start-up and shutdown dominate)."""
        def one(i):
            p, data = self.start("t%d" % i, *TABLE[i][0])
            try:
                self.drive(p)
            finally:
                code = p.stop()
            self.assertEqual(code, 0, p.log())
            return self.names(self.ls(data, "t%d" % i))
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            futs = [pool.submit(one, i) for i in range(len(TABLE))]
        for (flags, want), fut in zip(TABLE, futs):
            with self.subTest(flags=flags):
                self.assertEqual(fut.result(), want)

    def test_ls_flags_match_table(self):
        """Query-time: ls FLAGS over everything == the capture-time set."""
        data, _ = self.unfiltered()
        for flags, want in TABLE:
            with self.subTest(flags=flags):
                self.assertEqual(self.names(self.ls(data, "all", *flags)), want)

    def test_ls_flags_equal_python_filter(self):
        """ls FLAG == the same criterion applied to ls --json in Python."""
        data, rows = self.unfiltered()
        cases = [
            (["--method", "GET"], lambda r: r["method"] == "GET"),
            (["--status", "2xx"], lambda r: 200 <= r["status"] <= 299),
            (["--status", "404"], lambda r: r["status"] == 404),
            (["--type", "json"], lambda r: r["type"] == "json"),
            (["--url-contains", "EcHo"], lambda r: "echo" in r["url"].lower()),
            (["--url-excludes", "status"], lambda r: "status" not in r["url"].lower()),
            (["--url-regex", r"\?[a-z]=[0-9]$"], lambda r: re.search(r"\?[a-z]=[0-9]$", r["url"])),
            (["--client", "127.0.0.1"],
             lambda r: ipaddress.ip_address(r["client"]) in ipaddress.ip_network("127.0.0.1/32")),
        ]
        for flags, pred in cases:
            with self.subTest(flags=flags):
                want = sorted(r["id"] for r in rows if pred(r))
                got = sorted(r["id"] for r in self.ls(data, "all", *flags))
                self.assertEqual(got, want)
                self.assertTrue(0 < len(want) < len(rows) or flags[0] == "--client", flags)

    def test_response_time_rejection_leaves_nothing(self):
        """A 3 MiB upload passes the request head (PENDING on status) and is
        written as it streams; the 200 rejects it: nothing is listed, fsck
        finds no damage and nothing incomplete."""
        p, data = self.start("late", "--status", "404")
        up = os.urandom(3 * 1024 * 1024)
        code, out = self.curl(p, "POST", "/echo", up)
        self.assertEqual(code, 200)
        self.assertEqual(json.loads(out)["length"], len(up))
        code, _ = self.curl(p, "GET", "/status/404", None)
        self.assertEqual(code, 404)
        self.assertEqual(p.stop(), 0, p.log())
        self.assertEqual(self.names(self.ls(data, "late")), {"s404"})
        code, out, err = rc("sessions", "--data", data, "--json")
        self.assertEqual(json.loads(out)[0]["exchanges"], 1)
        sdir = [os.path.join(data, d) for d in os.listdir(data) if os.path.isdir(os.path.join(data, d))]
        seg_bytes = sum(os.path.getsize(os.path.join(d, f)) for d in sdir
                        for f in os.listdir(d) if f.endswith(".seg"))
        self.assertGreater(seg_bytes, 1024 * 1024)   # the upload did reach the disk
        meta = [os.path.join(d, "session.meta") for d in sdir
                if os.path.exists(os.path.join(d, "session.meta"))]
        self.assertEqual(len(meta), 1, sdir)
        with open(meta[0]) as f:
            self.assertIn("filter=status=404\n", f.read())   # its text form is kept
        code, out, err = rc("fsck", "late", "--data", data, "--json")
        self.assertEqual(code, 0, out + err)
        rep = json.loads(out)
        self.assertEqual((rep["frames_bad"], rep["incomplete"], rep["exchanges"]), (0, 0, 1), rep)

    def test_pending_without_response_head(self):
        """PENDING and no response head (upstream refused): the proxy's own
        502 decides; --status 2xx drops it, --status 502 keeps it."""
        dead = "http://127.0.0.1:%d/gone" % harness.refused_port()
        for flags, want in ((["--status", "2xx"], 0), (["--status", "502"], 1)):
            p, data = self.start("dead", *flags)
            r = subprocess.run(["curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-w",
                                "%{http_code}", "-x", "http://%s:%d" % (p.host, p.port), dead],
                               capture_output=True)
            self.assertEqual(r.stdout, b"502")
            self.assertEqual(p.stop(), 0, p.log())
            rows = self.ls(data, "dead")
            self.assertEqual(len(rows), want, rows)
            self.assertTrue(all(x["status"] == 502 and x["error"] == "connect" for x in rows), rows)
            code, out, err = rc("fsck", "dead", "--data", data, "--json")
            self.assertEqual(json.loads(out)["incomplete"], 0)

    def test_invalid_specs_rejected(self):
        bad = [
            (["--client", "10.0.0.0/33"], b"'10.0.0.0/33'"),
            (["--url-regex", "(["], b"'(['"),
            (["--type", "jsonx"], b"'jsonx'"),
            (["--status", "6xx"], b"'6xx'"),
            (["--method"], b"'--method'"),
        ]
        data, _ = self.unfiltered()
        for flags, quoted in bad:
            with self.subTest(flags=flags):
                code, out, err = rc("run", "--data", data, "--listen", "127.0.0.1:%d" %
                                    harness.free_port(), *flags)
                self.assertEqual(code, 2, err)
                self.assertIn(quoted, err)
                code, out, err = rc("ls", "all", "--data", data, *flags)
                self.assertEqual(code, 2, err)
                self.assertIn(quoted, err)
                self.assertEqual(out, b"")


if __name__ == "__main__":
    unittest.main(verbosity=2)
