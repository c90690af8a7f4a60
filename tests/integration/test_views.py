#!/usr/bin/env python3
"""Views over a real capture (`run --session`): `ringcap overview` counts
and bytes per method, domain, type and status equal a count over `ringcap
ls --json` of the same session, its series adds up to the same total, its
table fits the terminal width, and bad input is named. `ringcap cookies`
on that session (captured without cookies) lists nothing; on sessions run
with --cookies (with and without saved responses) it lists the real
Cookie and Set-Cookie headers with every attribute, deduplicated, and its
--jar makes curl send the captured cookies to an origin that echoes them."""

import calendar
import collections
import json
import os
import subprocess
import time
import unittest
import urllib.error
import urllib.request

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

    def test_filter_flags_narrow_the_overview(self):
        """overview takes ls's filter flags: its counts equal ls with them."""
        for flags in (["--status", "2xx"], ["--method", "PUT,POST"], ["--url-contains", "SIZE"],
                      ["--status", "4xx", "--url-excludes", "nothing-matches"]):
            with self.subTest(flags=flags):
                code, out, err = rc("ls", "v1", "--data", self.data, "--json", *flags)
                self.assertEqual(code, 0, err)
                want = {}
                for r in json.loads(out):
                    want[r["method"]] = want.get(r["method"], 0) + 1
                got = self.overview("method", *flags)
                self.assertEqual({g["key"]: g["count"] for g in got["groups"]}, want)
                self.assertEqual(got["total"], sum(want.values()))
        code, out, err = rc("overview", "v1", "--data", self.data, "--url-regex", "([")
        self.assertEqual(code, 2)
        self.assertIn(b"([", err)

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


class Cookies(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        if not harness.run_has_option("--cookies"):
            raise unittest.SkipTest("ringcap run has no --cookies")
        cls.origin = Origin().start()

    @classmethod
    def tearDownClass(cls):
        cls.origin.stop()

    def capture(self, name, *extra):
        p = Proxy(["--session", name] + list(extra), 2, "cookies-" + name)
        argv = p.argv()
        self.data = argv[argv.index("--data") + 1]
        p.argv = lambda: list(argv)
        p.start()
        proxy = "http://%s:%d" % (p.host, p.port)
        for cookie in ("a=1; b=2", "a=1; b=2", "a=3"):
            r = subprocess.run(["curl", "-sS", "--max-time", "20", "--noproxy", "", "-x", proxy,
                                "-H", "Cookie: " + cookie, self.origin.url("/set-cookie")],
                               capture_output=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            time.sleep(0.01)
        self.assertEqual(p.stop(), 0, p.log())
        code, out, err = rc("cookies", name, "--data", self.data, "--json")
        self.assertEqual(code, 0, err)
        return {(c["direction"], c["name"]): c for c in json.loads(out)}

    def check_records(self, recs):
        self.assertEqual(set(recs), {("response", "sid"), ("response", "theme"),
                                     ("request", "a"), ("request", "b")})
        sid = recs[("response", "sid")]
        self.assertEqual((sid["value"], sid["domain"], sid["path"]),
                         ("abc123", "example.test", "/app"))
        self.assertEqual(sid["expires"], calendar.timegm((2037, 10, 21, 7, 28, 0)))
        self.assertEqual((sid["max_age"], sid["secure"], sid["http_only"], sid["same_site"]),
                         (None, True, True, "Strict"))
        self.assertFalse(sid["host_only"])
        self.assertTrue(sid["foreign"])     # set by 127.0.0.1 for example.test
        theme = recs[("response", "theme")]
        self.assertEqual((theme["value"], theme["domain"], theme["path"], theme["max_age"]),
                         ("dark", "127.0.0.1", "/", 3600))
        self.assertEqual((theme["expires"], theme["secure"], theme["http_only"]),
                         (None, False, False))
        self.assertEqual((theme["same_site"], theme["host_only"], theme["foreign"]),
                         ("Lax", True, False))
        self.assertEqual((sid["count"], theme["count"]), (3, 3))
        a, b = recs[("request", "a")], recs[("request", "b")]
        self.assertEqual((a["value"], a["count"], b["value"], b["count"]), ("3", 3, "2", 2))
        self.assertEqual((a["domain"], a["path"]), ("127.0.0.1", "/"))
        self.assertLess(a["first_seen"], a["last_seen"])
        self.assertEqual(b["last_seen"] < a["last_seen"], True)

    def test_real_set_cookie_headers_and_jar(self):
        self.check_records(self.capture("c-full", "--cookies"))
        self.check_jar("c-full")

    def test_without_saved_responses(self):
        self.check_records(self.capture("c-noresp", "--cookies", "--no-save-responses"))

    def test_cookies_off_stores_none(self):
        self.assertEqual(self.capture("c-off"), {})

    def check_jar(self, name):
        jar = os.path.join(self.data, "jar.txt")
        code, _, err = rc("cookies", name, "--data", self.data, "--jar", jar)
        self.assertEqual(code, 0, err)
        self.assertIn(b"3 cookies written", err)
        # straight to the origin (no proxy): it echoes the request headers
        r = subprocess.run(["curl", "-sS", "--noproxy", "*", "--max-time", "20", "-b", jar,
                            self.origin.url("/headers")], capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = dict(json.loads(r.stdout)["headers"])
        cookie = {k.lower(): v for k, v in got.items()}["cookie"]
        pairs = sorted(p.strip() for p in cookie.split(";"))
        self.assertEqual(pairs, ["a=3", "b=2", "theme=dark"])   # no foreign sid


class ViewsApi(unittest.TestCase):
    """The same views through the control API of a running daemon: the
    overview equals `ringcap overview --json`, cookies come as JSON and as a
    Netscape jar, a DELETE removes one, bad parameters are named."""

    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        cls.origin = Origin().start()
        cls.p = Proxy(["--session", "vapi", "--cookies"], 2, "views-api")
        argv = cls.p.argv()
        cls.data = argv[argv.index("--data") + 1]
        cls.ctl = argv[argv.index("--control") + 1]
        cls.p.argv = lambda: list(argv)
        cls.p.start()
        proxy = "http://%s:%d" % (cls.p.host, cls.p.port)
        for path in ("/set-cookie", "/size/100", "/status/404", "/set-cookie"):
            r = subprocess.run(["curl", "-sS", "--max-time", "20", "--noproxy", "", "-x", proxy,
                                "-H", "Cookie: k=v", "-o", "/dev/null", cls.origin.url(path)],
                               capture_output=True)
            assert r.returncode == 0, r.stderr
        cls.sid = cls.api("GET", "/api/sessions")[1][0]["id"]
        # exchanges reach the index within the flush interval (250 ms)
        for _ in range(100):
            if len(cls.api("GET", "/api/sessions/%s/exchanges" % cls.sid)[1]) == 4:
                break
            time.sleep(0.05)

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()
        cls.origin.stop()

    @classmethod
    def api(cls, method, path, body=None, raw=False):
        req = urllib.request.Request("http://%s%s" % (cls.ctl, path), method=method,
                                     data=None if body is None else json.dumps(body).encode())
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                data, ctype, code = r.read(), r.headers.get("Content-Type"), r.status
        except urllib.error.HTTPError as e:
            data, ctype, code = e.read(), e.headers.get("Content-Type"), e.code
        return code, (data if raw else json.loads(data)), ctype

    def test_overview_equals_cli(self):
        code, got, _ = self.api("GET", "/api/sessions/%s/overview?by=status" % self.sid)
        self.assertEqual(code, 200, got)
        self.assertEqual(got["total"], 4)
        c, out, err = rc("overview", "vapi", "--data", self.data, "--by", "status", "--json")
        self.assertEqual(c, 0, err)
        self.assertEqual(got["groups"], json.loads(out)["groups"])
        self.assertEqual({g["key"]: g["count"] for g in got["groups"]}, {"200": 3, "404": 1})

    def test_overview_bad_parameter_named(self):
        code, got, _ = self.api("GET", "/api/sessions/%s/overview?by=colour" % self.sid)
        self.assertEqual(code, 400)
        self.assertIn("colour", got["error"])

    def test_cookies_json_jar_and_delete(self):
        base = "/api/sessions/%s/cookies" % self.sid
        code, got, ctype = self.api("GET", base)
        self.assertEqual(code, 200, got)
        names = {(c["direction"], c["name"]) for c in got}
        self.assertEqual(names, {("response", "sid"), ("response", "theme"), ("request", "k")})
        code, jar, ctype = self.api("GET", base + "?format=netscape", raw=True)
        self.assertEqual(code, 200)
        self.assertTrue(ctype.startswith("text/plain"), ctype)
        self.assertTrue(jar.startswith(b"# Netscape HTTP Cookie File"))
        self.assertIn(b"\ttheme\tdark", jar)
        theme = [c for c in got if c["name"] == "theme"][0]
        code, res, _ = self.api("DELETE", base, {"cookies": [
            {"name": "theme", "domain": theme["domain"], "path": theme["path"]}]})
        self.assertEqual(code, 200, res)
        code, got, _ = self.api("GET", base)
        self.assertNotIn("theme", {c["name"] for c in got})
        code, res, _ = self.api("DELETE", base, {"cookies": "all"})
        self.assertEqual(code, 400, res)
        code, res, _ = self.api("POST", base, {})
        self.assertEqual(code, 405)


if __name__ == "__main__":
    harness.main()
