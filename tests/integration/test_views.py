#!/usr/bin/env python3
"""Views over a real capture (`run --session`): `ringcap overview` counts
and bytes per method, domain, type and status equal a count over `ringcap
ls --json` of the same session, its series adds up to the same total, its
table fits the terminal width, and bad input is named. `ringcap cookies`
on that session (captured without cookies) lists nothing."""

import collections
import json
import os
import subprocess
import unittest

import harness
from harness import Proxy
from origin import Origin


def rc(*args, env=None):
    r = subprocess.run([harness.RINGCAP_BIN] + list(args), capture_output=True, timeout=60,
                       env=env)
    return r.returncode, r.stdout, r.stderr


class Overview(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        cls.origin = Origin().start()
        p = Proxy(["--session", "v1"], 2, "views")
        argv = p.argv()
        cls.data = argv[argv.index("--data") + 1]
        p.argv = lambda: list(argv)
        p.start()
        proxy = "http://%s:%d" % (p.host, p.port)
        o = cls.origin

        def curl(*a):
            r = subprocess.run(["curl", "-sS", "--max-time", "20", "--noproxy", "", "-x", proxy,
                                "-o", "/dev/null"] + list(a), capture_output=True)
            assert r.returncode == 0, r.stderr
        for n in (10, 2000, 30000):
            curl(o.url("/size/%d" % n))
        curl(o.url("/headers"))
        curl(o.url("/status/404"))
        curl(o.url("/status/201"))
        curl("-d", "x" * 5000, o.url("/echo"))
        curl("-X", "PUT", "-d", "hello", o.url("/echo"))
        curl("-I", o.url("/head-test"))
        curl("http://localhost:%d/size/5" % o.port)
        curl("http://no-such-host.invalid/")
        cls.expected = 11
        assert p.stop() == 0, p.log()

    @classmethod
    def tearDownClass(cls):
        cls.origin.stop()

    def ls(self):
        code, out, err = rc("ls", "v1", "--data", self.data, "--json")
        self.assertEqual(code, 0, err)
        return json.loads(out)

    def overview(self, by, *extra):
        code, out, err = rc("overview", "v1", "--data", self.data, "--by", by, "--json", *extra)
        self.assertEqual(code, 0, err)
        return json.loads(out)

    def test_groups_equal_a_count_over_ls(self):
        rows = self.ls()
        self.assertEqual(len(rows), self.expected)
        field = {"method": lambda r: r["method"], "domain": lambda r: r["host"],
                 "type": lambda r: r["type"], "status": lambda r: str(r["status"])}
        for by, key in field.items():
            want = collections.defaultdict(lambda: [0, 0, 0])
            for r in rows:
                g = want[key(r)]
                g[0] += 1
                g[1] += r["request_size"]
                g[2] += r["response_size"]
            ov = self.overview(by)
            self.assertEqual(ov["by"], by)
            self.assertEqual(ov["total"], len(rows))
            got = {g["key"]: [g["count"], g["request_bytes"], g["response_bytes"]]
                   for g in ov["groups"]}
            self.assertEqual(got, dict(want), by)
            counts = [g["count"] for g in ov["groups"]]
            self.assertEqual(counts, sorted(counts, reverse=True))
            self.assertEqual(ov["request_bytes"], sum(r["request_size"] for r in rows))
            self.assertEqual(ov["response_bytes"], sum(r["response_size"] for r in rows))
            s = ov["series"]
            self.assertEqual(sum(c for _, c in s["points"]), len(rows))
            self.assertIn(s["interval_ms"], (1000, 10000, 60000))
        # what the proxy saw: the groups hold real variety
        methods = {g["key"] for g in self.overview("method")["groups"]}
        self.assertEqual(methods, {"GET", "POST", "PUT", "HEAD"})
        statuses = {g["key"] for g in self.overview("status")["groups"]}
        self.assertTrue({"200", "201", "404", "502"} <= statuses, statuses)
        self.assertEqual({g["key"] for g in self.overview("domain")["groups"]},
                         {"127.0.0.1", "localhost", "no-such-host.invalid"})

    def test_interval_and_search(self):
        rows = self.ls()
        ov = self.overview("status", "--interval", "0.25")
        s = ov["series"]
        self.assertEqual(s["interval_ms"], 250)
        times = [t for t, _ in s["points"]]
        self.assertEqual(times, list(range(times[0], times[0] + 250 * len(times), 250)))
        self.assertEqual(sum(c for _, c in s["points"]), len(rows))
        ov = self.overview("method", "--search", "echo")
        self.assertEqual(ov["total"], sum("echo" in r["url"] for r in rows))
        self.assertEqual({g["key"]: g["count"] for g in ov["groups"]}, {"POST": 1, "PUT": 1})

    def test_table_fits_the_width(self):
        for cols in (60, 100, 200):
            env = dict(os.environ, COLUMNS=str(cols))
            code, out, err = rc("overview", "v1", "--data", self.data, "--by", "domain", env=env)
            self.assertEqual(code, 0, err)
            text = out.decode("utf-8")
            lines = text.splitlines()
            self.assertIn("11 exchanges", lines[1])
            table = [l for l in lines if l.startswith(("127.0.0.1", "localhost", "no-such"))]
            if cols >= 100:
                self.assertTrue(any("no-such-host.invalid " in l for l in table))
            self.assertEqual(len(table), 3)
            top = table[0]
            self.assertTrue(top.startswith("127.0.0.1"))
            self.assertLessEqual(max(len(l) for l in lines), cols)
            # the largest group's bar takes the whole bar column
            self.assertGreaterEqual(len(top), cols - 2)
            self.assertIn("\u2588", top)
            self.assertTrue(any(l.startswith("requests per ") for l in lines))

    def test_bad_input_named(self):
        code, _, err = rc("overview", "v1", "--data", self.data, "--by", "colour")
        self.assertEqual(code, 2)
        self.assertIn(b"colour", err)
        code, _, err = rc("overview", "nope", "--data", self.data)
        self.assertEqual(code, 1)
        self.assertIn(b"nope", err)
        code, _, err = rc("overview", "v1", "--data", self.data, "--interval", "0")
        self.assertEqual(code, 2)
        code, _, err = rc("overview", "v1", "--data", self.data, "--interval", "0.001",
                          "--json")
        # 11 exchanges within a few seconds fit 1 ms buckets; a 1 us one would not
        self.assertEqual(code, 0, err)

    def test_cookies_off_lists_none(self):
        code, out, err = rc("cookies", "v1", "--data", self.data, "--json")
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out), [])
        code, out, err = rc("cookies", "v1", "--data", self.data, "--jar", "-")
        self.assertEqual(code, 0, err)
        self.assertTrue(out.startswith(b"# Netscape HTTP Cookie File"))


if __name__ == "__main__":
    harness.main()
