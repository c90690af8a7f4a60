#!/usr/bin/env python3
"""Sessions and the control API (issue 5): the lifecycle through the JSON
API and through `ringcap session` with real traffic (curl through the
proxy) in between; pause captures nothing while traffic flows; each toggle
on and off against what is stored (`ringcap show --json`); the one-active
rule; restart keeps sessions and marks an interrupted one; `run --session`
goes through the same manager; the bearer token off loopback; every
bad-input case; Server-Sent Events of a new exchange; the API listing is
the `ringcap ls --json` listing."""

import http.client
import json
import os
import signal
import socket
import stat
import subprocess
import threading
import time
import unittest
import urllib.parse

import harness
from harness import Proxy, free_port
from origin import body_bytes

FLUSH_S = 0.7   # the store flushes frames within 250 ms; margin for slow CI
WAIT_S = 20     # how long an expected exchange may take to show (a loaded CI box)


def rc(*args):
    r = subprocess.run([harness.RINGCAP_BIN] + list(args), capture_output=True, timeout=60)
    return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace")


class Daemon:
    """One `ringcap run` with a known control address and data directory."""

    def __init__(self, name, data=None, control_host="127.0.0.1", extra=()):
        self.p = Proxy(list(extra), 2, name)
        argv = self.p.argv()
        if data:
            argv[argv.index("--data") + 1] = data
        self.data = argv[argv.index("--data") + 1]
        self.ctl_port = free_port()
        i = argv.index("--control")
        argv[i + 1] = "%s:%d" % (control_host, self.ctl_port)
        self.control = "127.0.0.1:%d" % self.ctl_port
        self.p.argv = lambda: list(argv)
        self.token = None

    def start(self):
        self.p.start()
        harness.wait_port("127.0.0.1", self.ctl_port, 10)
        return self

    def stop(self):
        return self.p.stop()

    def kill9(self):
        os.kill(self.p.proc.pid, signal.SIGKILL)
        self.p.proc.wait(10)
        self.p.errf.close()

    def api(self, method, path, body=None, token=None, raw_body=None, headers=None):
        """(status, parsed JSON or raw bytes, headers)."""
        c = http.client.HTTPConnection("127.0.0.1", self.ctl_port, timeout=20)
        h = dict(headers or {})
        tok = token if token is not None else self.token
        if tok:
            h["Authorization"] = "Bearer " + tok
        data = raw_body if raw_body is not None else (
            json.dumps(body).encode() if body is not None else None)
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        out = r.read()
        hdrs = dict(r.getheaders())
        c.close()
        if "json" in hdrs.get("Content-Type", ""):
            return r.status, json.loads(out), hdrs
        return r.status, out, hdrs

    def cli(self, *args):
        return rc("session", *args, "--control", self.control, "--data", self.data)

    def curl(self, url, *extra):
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "-x",
                            "http://%s:%d" % (self.p.host, self.p.port)] + list(extra) + [url],
                           capture_output=True)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def exchanges(self, sid, query=""):
        st, body, _ = self.api("GET", "/api/sessions/%s/exchanges%s" % (sid, query))
        assert st == 200, body
        return body["exchanges"]

    def wait_exchanges(self, sid, n, query=""):
        """The listing once it holds n exchanges (flushes are asynchronous),
        then once more after FLUSH_S, so that one too many shows too."""
        end = time.monotonic() + WAIT_S
        rows = self.exchanges(sid, query)
        while len(rows) < n and time.monotonic() < end:
            time.sleep(0.1)
            rows = self.exchanges(sid, query)
        time.sleep(FLUSH_S)
        return self.exchanges(sid, query)


class DaemonCase(harness.OriginCase):
    """One origin per class; daemon() starts a ringcap stopped at cleanup."""

    def daemon(self, name, **kw):
        d = Daemon(name, **kw).start()
        self.addCleanup(lambda: d.p.proc.poll() is None and d.stop())
        return d


class Sessions(DaemonCase):

    def show(self, d, sid, xid):
        code, out, err = rc("show", sid, str(xid), "--data", d.data, "--json")
        self.assertEqual(code, 0, err)
        return json.loads(out)

    # -- lifecycle ---------------------------------------------------------
    def test_lifecycle_through_the_api(self):
        d = self.daemon("api-life")
        st, s, _ = d.api("GET", "/api/status")
        self.assertEqual((st, s), (200, {"active": None}))
        st, s, _ = d.api("POST", "/api/sessions", {"name": "life"})
        self.assertEqual(st, 201, s)
        self.assertEqual((s["name"], s["state"]), ("life", "active"))
        sid = s["id"]
        for i in range(3):
            d.curl(self.origin.url("/size/%d" % (100 + i)))
        self.assertEqual(len(d.wait_exchanges(sid, 3)), 3)

        st, s, _ = d.api("POST", "/api/sessions/%s/pause" % sid)
        self.assertEqual((st, s["state"]), (200, "paused"))
        for i in range(4):   # traffic flows, nothing is captured
            self.assertEqual(len(d.curl(self.origin.url("/size/50"))), 50)
        time.sleep(FLUSH_S)
        self.assertEqual(len(d.exchanges(sid)), 3)
        st, s, _ = d.api("POST", "/api/sessions/active/resume")
        self.assertEqual((st, s["state"]), (200, "active"))
        d.curl(self.origin.url("/size/7"))
        d.curl(self.origin.url("/size/8"))
        rows = d.wait_exchanges(sid, 5)
        self.assertEqual(len(rows), 5)
        self.assertNotIn(self.origin.url("/size/50"), [r["url"] for r in rows])

        # the API listing is `ringcap ls --json`, byte for byte in content
        code, out, err = rc("ls", sid, "--data", d.data, "--json", "--sort", "url")
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out), d.exchanges(sid, "?sort=url"))
        page = d.exchanges(sid, "?sort=size&reverse=1&limit=2&offset=1")
        self.assertEqual([r["url"] for r in page],
                         [self.origin.url("/size/101"), self.origin.url("/size/100")])
        self.assertEqual(len(d.exchanges(sid, "?search=size/10")), 3)
        # the query-time filter, in the filter's JSON form (as `ls --url-contains`)
        q = urllib.parse.quote(json.dumps({"url_contains": ["/size/10"], "methods": ["GET"]}))
        self.assertEqual(len(d.exchanges(sid, "?filter=" + q)), 3)
        code, out, err = rc("ls", sid, "--data", d.data, "--json", "--url-contains", "/size/10")
        self.assertEqual(json.loads(out), d.exchanges(sid, "?filter=" + q))
        q = urllib.parse.quote(json.dumps({"status": ["404"]}))
        self.assertEqual(d.exchanges(sid, "?filter=" + q), [])

        st, s, _ = d.api("PATCH", "/api/sessions/" + sid, {"name": "life2"})
        self.assertEqual((st, s["name"]), (200, "life2"))
        st, one, _ = d.api("GET", "/api/sessions/life2")
        self.assertEqual(st, 200)
        self.assertEqual(one["clients"], ["127.0.0.1"])
        self.assertEqual(one["exchanges"], 5)

        # one exchange in full, its body raw, then deleted (one and many)
        x = rows[0]
        st, full, _ = d.api("GET", "/api/sessions/%s/exchanges/%d" % (sid, x["id"]))
        self.assertEqual(st, 200)
        self.assertEqual(full, self.show(d, sid, x["id"]))
        st, body, _ = d.api("GET", "/api/sessions/%s/exchanges/%d/response_body" % (sid, x["id"]))
        self.assertEqual(st, 200)
        self.assertEqual(body, body_bytes(int(x["url"].rsplit("/", 1)[1])))
        st, s, _ = d.api("DELETE", "/api/sessions/%s/exchanges/%d" % (sid, x["id"]))
        self.assertEqual((st, s), (200, {"deleted": 1}))
        st, s, _ = d.api("GET", "/api/sessions/%s/exchanges/%d" % (sid, x["id"]))
        self.assertEqual(st, 404, s)
        st, s, _ = d.api("POST", "/api/sessions/%s/exchanges/delete" % sid,
                         {"ids": [rows[1]["id"], rows[2]["id"]]})
        self.assertEqual((st, s), (200, {"deleted": 2}))
        st, s, _ = d.api("DELETE", "/api/sessions/%s/exchanges?ids=%d" % (sid, rows[3]["id"]))
        self.assertEqual((st, s), (200, {"deleted": 1}))
        self.assertEqual([r["id"] for r in d.exchanges(sid)], [rows[4]["id"]])

        st, s, _ = d.api("POST", "/api/sessions/%s/stop" % sid)
        self.assertEqual((st, s["state"]), (200, "stopped"))
        self.assertIsNotNone(s["stop"])
        d.curl(self.origin.url("/size/9"))
        time.sleep(FLUSH_S)
        self.assertEqual(len(d.exchanges(sid)), 1, "stopped captures nothing")
        for act in ("pause", "resume", "stop"):
            st, s, _ = d.api("POST", "/api/sessions/%s/%s" % (sid, act))
            self.assertEqual(st, 409, s)
            self.assertIn("stopped is final", s["error"])
        st, s, _ = d.api("PATCH", "/api/sessions/" + sid, {"save_responses": False})
        self.assertEqual(st, 409, s)
        st, s, _ = d.api("DELETE", "/api/sessions/" + sid)
        self.assertEqual((st, s), (200, {"deleted": sid}))
        st, s, _ = d.api("GET", "/api/sessions/" + sid)
        self.assertEqual(st, 404)
        self.assertEqual(d.api("GET", "/api/sessions")[1], [])
        self.assertEqual(d.stop(), 0)

    def test_lifecycle_through_the_cli(self):
        d = self.daemon("cli-life")
        code, out, err = d.cli("start", "--name", "cli one", "--json")
        self.assertEqual(code, 0, err)
        sid = json.loads(out)["id"]
        d.curl(self.origin.url("/size/10"))
        code, out, err = d.cli("pause")
        self.assertEqual(code, 0, err)
        self.assertIn("paused", out.decode())
        d.curl(self.origin.url("/size/11"))
        self.assertEqual(d.cli("resume", "cli one")[0], 0)
        d.curl(self.origin.url("/size/12"))
        code, out, err = d.cli("set", "--no-save-responses", "--cookies", "--max-body", "1k",
                               "--method", "GET", "--url-excludes", ".png", "--json")
        self.assertEqual(code, 0, err)
        st = json.loads(out)["settings"]
        self.assertEqual(st, {"save_responses": False, "capture_cookies": True,
                              "max_body": 1024, "filter": "method=GET url-excludes=.png"})
        code, out, err = d.cli("set", "--no-filter", "--json")
        self.assertEqual(json.loads(out)["settings"]["filter"], "")
        code, out, err = d.cli("set", "--url-regex", "([")
        self.assertEqual(code, 2)
        self.assertIn("invalid regex '(['", err)
        d.curl(self.origin.url("/size/13"))
        d.wait_exchanges(sid, 3)
        self.assertEqual(d.cli("stop")[0], 0)
        self.assertEqual(d.cli("rename", sid, "renamed")[0], 0)
        code, out, err = d.cli("list", "--json")
        self.assertEqual(code, 0, err)
        ses = json.loads(out)
        self.assertEqual(len(ses), 1)
        for key in ("id", "name", "state", "start", "stop", "exchanges", "bytes"):
            self.assertIn(key, ses[0])
        self.assertEqual((ses[0]["name"], ses[0]["state"], ses[0]["exchanges"]),
                         ("renamed", "stopped", 3))
        urls = sorted(r["url"] for r in d.exchanges(sid))
        self.assertEqual(urls, sorted(self.origin.url("/size/%d" % n) for n in (10, 12, 13)))
        code, out, err = d.cli("list")
        self.assertEqual(code, 0, err)
        self.assertIn("renamed", out.decode())
        code, out, err = d.cli("show", "renamed")
        self.assertIn("stopped", out.decode())
        code, out, err = d.cli("pause")
        self.assertEqual(code, 1)
        self.assertIn("no session is active", err)
        self.assertEqual(d.cli("delete", "renamed")[0], 0)
        code, out, err = d.cli("show", "renamed")
        self.assertEqual(code, 1)
        self.assertIn("no session 'renamed'", err)
        self.assertEqual(d.stop(), 0)
        code, out, err = d.cli("list")
        self.assertEqual(code, 1)
        self.assertIn("no ringcap daemon answers on " + d.control, err)

    def test_one_active_session(self):
        d = self.daemon("one-active")
        st, a, _ = d.api("POST", "/api/sessions", {"name": "first"})
        self.assertEqual(st, 201)
        st, s, _ = d.api("POST", "/api/sessions", {"name": "second"})
        self.assertEqual(st, 409)
        self.assertIn("session 'first' (%s) is active" % a["id"], s["error"])
        self.assertEqual(d.api("POST", "/api/sessions/first/pause")[0], 200)
        st, s, _ = d.api("POST", "/api/sessions", {"name": "second"})
        self.assertEqual(st, 409)
        self.assertIn("'first'", s["error"])
        code, _, err = d.cli("start", "--name", "second")
        self.assertEqual(code, 1)
        self.assertIn("session 'first'", err)
        self.assertIn("409", err)
        st, s, _ = d.api("DELETE", "/api/sessions/first")
        self.assertEqual(st, 409, "the active session is not deleted")
        self.assertIn("stop it first", s["error"])
        self.assertEqual(d.api("POST", "/api/sessions/first/stop")[0], 200)
        st, s, _ = d.api("POST", "/api/sessions", {"name": "first"})
        self.assertEqual(st, 409)
        self.assertIn("a session named 'first' exists", s["error"])
        st, b, _ = d.api("POST", "/api/sessions", {"name": "second"})
        self.assertEqual(st, 201)
        st, s, _ = d.api("PATCH", "/api/sessions/second", {"name": "first"})
        self.assertEqual(st, 409)
        self.assertEqual(d.api("GET", "/api/status")[1]["active"]["name"], "second")
        self.assertEqual(d.stop(), 0)

    # -- toggles against what is stored ------------------------------------
    def test_each_toggle_on_and_off(self):
        d = self.daemon("toggles")
        st, s, _ = d.api("POST", "/api/sessions", {"name": "tg", "save_responses": True,
                                                    "capture_cookies": False})
        self.assertEqual(st, 201, s)
        cases = [(True, False), (False, False), (False, True), (True, True), (True, False)]
        got = []
        for save, cookies in cases:
            st, s, _ = d.api("PATCH", "/api/sessions/tg", {"save_responses": save,
                                                          "capture_cookies": cookies})
            self.assertEqual(st, 200, s)
            self.assertEqual((s["settings"]["save_responses"], s["settings"]["capture_cookies"]),
                             (save, cookies))
            self.assertEqual(d.curl(self.origin.url("/set-cookie"), "-H", "Cookie: a=1"),
                             b"cookies\n")
            rows = d.wait_exchanges("tg", len(got) + 1, "?sort=time")
            self.assertEqual(len(rows), len(got) + 1)
            got.append(self.show(d, "tg", rows[-1]["id"]))
        for (save, cookies), x in zip(cases, got):
            with self.subTest(save=save, cookies=cookies):
                head = x["response_head"]
                self.assertEqual(x["responses_saved"], save)
                self.assertEqual(x["cookies_saved"], cookies)
                self.assertEqual("X-Other" in head, save, head)
                self.assertEqual("Set-Cookie: sid=abc123" in head, save or cookies, head)
                self.assertEqual(x["response_body_bytes"], 8 if save else 0)
                self.assertEqual(x["status"], 200)
                self.assertIn("Cookie: a=1", x["request_head"])
        # max_body changes while it runs, too
        st, s, _ = d.api("PATCH", "/api/sessions/tg", {"max_body": 10})
        self.assertEqual((st, s["settings"]["max_body"]), (200, 10))
        d.curl(self.origin.url("/size/100"))
        rows = d.wait_exchanges("tg", len(cases) + 1, "?sort=time")
        self.assertEqual(len(rows), len(cases) + 1)
        self.assertTrue(rows[-1]["url"].endswith("/size/100"))
        self.assertTrue(rows[-1]["truncated"])
        self.assertEqual(self.show(d, "tg", rows[-1]["id"])["response_body_bytes"], 10)
        self.assertEqual(d.stop(), 0)

    def test_filter_changes(self):
        """The filter of a running session: stored in its text form, and
        published to the capture sink (whose filtering is checked when it
        does filter: tools/capture.c)."""
        d = self.daemon("filter")
        st, s, _ = d.api("POST", "/api/sessions", {"name": "f", "filter": {
            "methods": ["GET"], "url_contains": ["/size/"]}})
        self.assertEqual(st, 201, s)
        self.assertEqual(s["settings"]["filter"], "method=GET url-contains=/size/")
        st, s, _ = d.api("PATCH", "/api/sessions/f", {"filter": {"status": ["2xx", 404]}})
        self.assertEqual((st, s["settings"]["filter"]), (200, "status=2xx,404"))
        st, s, _ = d.api("GET", "/api/sessions/f")
        self.assertEqual(s["settings"]["filter"], "status=2xx,404")
        st, s, _ = d.api("PATCH", "/api/sessions/f", {"filter": {"url_contains": ["/size/"]}})
        self.assertEqual(st, 200, s)
        d.curl(self.origin.url("/set-cookie"))
        d.curl(self.origin.url("/size/100"))
        urls = [r["url"] for r in d.wait_exchanges("f", 1, "?sort=time")]
        self.assertIn(self.origin.url("/size/100"), urls)
        filtered = self.origin.url("/set-cookie") not in urls
        st, s, _ = d.api("PATCH", "/api/sessions/f", {"filter": None})
        self.assertEqual((st, s["settings"]["filter"]), (200, ""))
        self.assertEqual(d.stop(), 0)
        # the stored text form is what a restart compiles again
        code, out, err = rc("sessions", "--data", d.data, "--json")
        self.assertEqual(json.loads(out)[0]["settings"]["filter"], "")
        self.assertTrue(filtered, urls)

    def test_filter_swap_under_load(self):
        """Filters swapped on a running session while other clients keep the
        workers busy: no request fails, and every probe request stores
        exactly when the filter in force when it was sent accepts it."""
        d = self.daemon("swap")
        st, s, _ = d.api("POST", "/api/sessions", {"name": "sw",
                                                    "filter": {"url_contains": ["/size/1"]}})
        self.assertEqual(st, 201, s)
        stop, errors, done = threading.Event(), [], [0]

        def load():
            c = http.client.HTTPConnection(d.p.host, d.p.port, timeout=20)
            while not stop.is_set():
                try:
                    c.request("GET", self.origin.url("/size/3"))   # no filter takes it
                    r = c.getresponse()
                    r.read()
                    if r.status != 200:
                        errors.append(r.status)
                    done[0] += 1
                except Exception as e:   # collected, asserted below
                    errors.append(repr(e))
                    return
            c.close()
        threads = [threading.Thread(target=load) for _ in range(3)]
        for t in threads:
            t.start()
        expected = set()
        try:
            for rnd in range(6):
                want = "/size/%d" % (1 + rnd % 2)
                if rnd:
                    st, s, _ = d.api("PATCH", "/api/sessions/sw",
                                     {"filter": {"url_contains": [want]}})
                    self.assertEqual(st, 200, s)
                for k in range(10):
                    for pre in ("/size/1", "/size/2"):
                        url = self.origin.url("%s%d%02d" % (pre, rnd, k))
                        d.curl(url, "-o", "/dev/null")
                        if pre == want:
                            expected.add(url)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        self.assertEqual(errors, [])
        self.assertGreater(done[0], 50)
        rows = d.wait_exchanges("sw", len(expected), "?limit=10000")
        self.assertEqual({r["url"] for r in rows}, expected)
        self.assertEqual(d.stop(), 0)

    # -- restart -----------------------------------------------------------
    def test_restart_keeps_sessions_and_marks_interrupted(self):
        d = self.daemon("restart1")
        self.assertEqual(d.api("POST", "/api/sessions", {"name": "done"})[0], 201)
        d.curl(self.origin.url("/size/1"))
        self.assertEqual(d.api("POST", "/api/sessions/done/stop")[0], 200)
        self.assertEqual(d.api("POST", "/api/sessions", {"name": "live"})[0], 201)
        for i in range(3):
            d.curl(self.origin.url("/size/%d" % (20 + i)))
        d.wait_exchanges("live", 3)
        d.kill9()
        d2 = self.daemon("restart2", data=d.data, extra=["--session", "boot"])
        st, ses, _ = d2.api("GET", "/api/sessions")
        states = {s["name"]: s["state"] for s in ses}
        self.assertEqual(states, {"done": "stopped", "live": "interrupted", "boot": "active"})
        self.assertEqual(len(d2.exchanges("live")), 3, "the interrupted session is readable")
        st, s, _ = d2.api("POST", "/api/sessions/live/resume")
        self.assertEqual(st, 409)
        # run --session started "boot" through the manager: it obeys the API
        self.assertEqual(d2.api("GET", "/api/status")[1]["active"]["name"], "boot")
        self.assertEqual(d2.api("POST", "/api/sessions/boot/pause")[0], 200)
        d2.curl(self.origin.url("/size/5"))
        self.assertEqual(d2.api("POST", "/api/sessions/boot/resume")[0], 200)
        d2.curl(self.origin.url("/size/6"))
        self.assertEqual([r["url"] for r in d2.wait_exchanges("boot", 1)],
                         [self.origin.url("/size/6")])
        self.assertEqual(d2.stop(), 0)
        code, out, err = rc("sessions", "--data", d.data, "--json")
        states = {s["name"]: s["state"] for s in json.loads(out)}
        self.assertEqual(states["boot"], "stopped", "a clean stop stops the active session")

    # -- security ----------------------------------------------------------
    def test_token_required_off_loopback(self):
        d = self.daemon("token", control_host="0.0.0.0")
        path = os.path.join(d.data, "control.token")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        token = open(path).read().strip()
        self.assertEqual(len(token), 64)
        self.assertIn(token, d.p.log(), "the token is printed at start-up")
        st, s, h = d.api("GET", "/api/sessions")
        self.assertEqual(st, 401)
        self.assertIn("Authorization: Bearer", s["error"])
        self.assertEqual(h.get("WWW-Authenticate"), "Bearer")
        self.assertEqual(d.api("GET", "/api/sessions", token="0" * 64)[0], 401)
        self.assertEqual(d.api("GET", "/metrics")[0], 401)
        self.assertEqual(d.api("GET", "/api/sessions", token=token)[0], 200)
        self.assertEqual(d.api("GET", "/ca.pem")[0], 200, "the CA certificate is public")
        code, out, err = d.cli("list")          # reads the token from --data
        self.assertEqual(code, 0, err)
        code, out, err = rc("session", "list", "--control", d.control, "--data", "/nonexistent")
        self.assertEqual(code, 1)
        self.assertIn("token", err)
        code, out, err = rc("session", "list", "--control", d.control, "--data", "/nonexistent",
                            "--token", token)
        self.assertEqual(code, 0, err)
        self.assertEqual(d.stop(), 0)
        # reused across restarts
        d2 = self.daemon("token2", data=d.data, control_host="0.0.0.0")
        self.assertEqual(open(path).read().strip(), token)
        self.assertEqual(d2.api("GET", "/api/status", token=token)[0], 200)
        self.assertEqual(d2.stop(), 0)

    def test_no_token_on_loopback(self):
        d = self.daemon("loopback")
        self.assertEqual(d.api("GET", "/api/status")[0], 200)
        self.assertFalse(os.path.exists(os.path.join(d.data, "control.token")))
        self.assertEqual(d.stop(), 0)

    # -- bad input ---------------------------------------------------------
    def test_every_bad_input(self):
        d = self.daemon("bad")
        cases = [
            ("POST", "/api/sessions", b"{", 400, "invalid JSON"),
            ("POST", "/api/sessions", b"[]", 400, "expected an object"),
            ("POST", "/api/sessions", b'{"name":"a"} x', 400, "bytes after the end"),
            ("POST", "/api/sessions", b'{"nme":"a"}', 400, "unknown key 'nme'"),
            ("POST", "/api/sessions", b'{"name":"a","name":"b"}', 400, "given twice"),
            ("POST", "/api/sessions", b'{"name":"a/b"}', 400, "'name'"),
            ("POST", "/api/sessions", b'{"name":""}', 400, "'name'"),
            ("POST", "/api/sessions", b'{"name":"' + b"x" * 65 + b'"}', 400, "'name'"),
            ("POST", "/api/sessions", b'{"save_responses":1}', 400, "true or false"),
            ("POST", "/api/sessions", b'{"capture_cookies":"yes"}', 400, "true or false"),
            ("POST", "/api/sessions", b'{"max_body":0}', 400, "max_body"),
            ("POST", "/api/sessions", b'{"max_body":-5}', 400, "max_body"),
            ("POST", "/api/sessions", b'{"max_body":1.5}', 400, "max_body"),
            ("POST", "/api/sessions", b'{"filter":[]}', 400, "'filter' must be an object"),
            ("POST", "/api/sessions", b'{"filter":{"url_regex":["(["]}}', 400, "invalid regex '(['"),
            ("POST", "/api/sessions", b'{"filter":{"types":["nosuch"]}}', 400, "nosuch"),
            ("POST", "/api/sessions", b'{"filter":{"colour":["x"]}}', 400, "colour"),
            ("GET", "/api/sessions/nosuch", None, 404, "no session 'nosuch'"),
            ("POST", "/api/sessions/nosuch/pause", None, 404, "no session"),
            ("POST", "/api/sessions/active/pause", None, 404, "no session is active"),
            ("GET", "/api/nosuch", None, 404, "no route"),
            ("GET", "/api/sessions/x/y/z/w/v/u", None, 404, "no route"),
            ("PUT", "/api/sessions", None, 405, "allowed: GET, POST"),
            ("GET", "/api/status/x", None, 404, "no route"),
            ("POST", "/api/status", None, 405, "allowed: GET"),
        ]
        # a stopped session with two exchanges for the exchange cases
        self.assertEqual(d.api("POST", "/api/sessions", {"name": "s"})[0], 201)
        d.curl(self.origin.url("/size/3"))
        self.assertEqual(d.api("POST", "/api/sessions/s/stop")[0], 200)
        xid = d.exchanges("s")[0]["id"]
        cases += [
            ("GET", "/api/sessions/s/pause", None, 405, "allowed: POST"),
            ("GET", "/api/sessions/s/exchanges/abc", None, 400, "not a number"),
            ("GET", "/api/sessions/s/exchanges/12345", None, 404, "no exchange 12345"),
            ("GET", "/api/sessions/s/exchanges/%d/headers" % xid, None, 404, "no route"),
            ("POST", "/api/sessions/s/exchanges/%d" % xid, None, 405, "GET, DELETE"),
            ("GET", "/api/sessions/s/exchanges?sort=colour", None, 400, "sort 'colour'"),
            ("GET", "/api/sessions/s/exchanges?limit=x", None, 400, "limit 'x'"),
            ("GET", "/api/sessions/s/exchanges?limit=0", None, 400, "limit must be"),
            ("GET", "/api/sessions/s/exchanges?reverse=maybe", None, 400, "reverse"),
            ("GET", "/api/sessions/s/exchanges?colour=red", None, 400, "unknown parameter 'colour'"),
            ("GET", "/api/sessions/s/exchanges?search=%zz", None, 400, "percent"),
            ("GET", "/api/sessions/s/exchanges?filter=%7B%22types%22:%5B%22nosuch%22%5D%7D",
             None, 400, "filter: "),
            ("GET", "/api/sessions/s/exchanges?filter=nojson", None, 400, "filter: "),
            ("POST", "/api/sessions/s/exchanges/delete", b'{"ids":[99999]}', 404, "nothing deleted"),
            ("POST", "/api/sessions/s/exchanges/delete", b'{"ids":["1"]}', 400, "non-negative"),
            ("POST", "/api/sessions/s/exchanges/delete", b'{"id":[1]}', 400, "ids"),
            ("POST", "/api/sessions/s/exchanges/delete", b'{"ids":[]}', 400, "no ids"),
            ("POST", "/api/sessions/s/exchanges/delete", b'', 400, "no ids"),
            ("DELETE", "/api/sessions/s/exchanges?ids=1,x", None, 400, "'x'"),
            ("PATCH", "/api/sessions/s", b'{"max_body":5}', 409, "stopped"),
            ("PATCH", "/api/sessions/s", b'{"name":"t","max_body":0}', 400, "max_body"),
            ("PATCH", "/api/sessions/s", b'nope', 400, "invalid JSON"),
        ]
        for method, path, body, status, text in cases:
            with self.subTest(method=method, path=path, body=body):
                st, s, h = d.api(method, path, raw_body=body)
                self.assertEqual(st, status, s)
                self.assertIsInstance(s, dict)
                self.assertIn(text, s["error"])
                if status == 405:
                    self.assertIn("Allow", h)
        # nothing above changed anything
        self.assertEqual([x["name"] for x in d.api("GET", "/api/sessions")[1]], ["s"])
        self.assertEqual(len(d.exchanges("s")), 1)
        # transport-level: body too large, chunked body, bad request line, big head
        for raw, status in [
                (b"POST /api/sessions HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n", 413),
                (b"POST /api/sessions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
                (b"GET /api/status\r\n\r\n", 400),
                (b"GET /api/status HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
                (b"GET /api/status HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 431)]:
            with self.subTest(raw=raw[:40]):
                out, closed = harness.send_recv_all("127.0.0.1", d.ctl_port, raw, 5)
                self.assertEqual(harness.status_of(out), status, out[:200])
                if b" HTTP/1." in raw.split(b"\r\n", 1)[0]:
                    self.assertIn(b'"error"', out)
                # else: a request line without a version never reaches a
                # route; libmicrohttpd answers it 400 with its own body
                self.assertTrue(closed)
        self.assertEqual(d.stop(), 0)

    # -- live feed ---------------------------------------------------------
    def test_events_deliver_an_exchange_made_after_subscribing(self):
        d = self.daemon("sse")
        self.assertEqual(d.api("POST", "/api/sessions", {"name": "live"})[0], 201)
        d.curl(self.origin.url("/size/1"))      # before: not sent
        d.wait_exchanges("live", 1)
        s = socket.create_connection(("127.0.0.1", d.ctl_port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"GET /api/sessions/live/events HTTP/1.1\r\nHost: x\r\n\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        self.assertTrue(buf.startswith(b"HTTP/1.1 200"), buf)
        self.assertIn(b"text/event-stream", buf.lower())
        # the stream does not hold up other control requests
        for _ in range(3):
            self.assertEqual(d.api("GET", "/api/status")[0], 200)
        d.curl(self.origin.url("/size/222"))
        end = time.monotonic() + WAIT_S
        while b"event: exchange" not in buf and time.monotonic() < end:
            s.settimeout(max(0.1, end - time.monotonic()))
            try:
                buf += s.recv(65536)
            except socket.timeout:
                break
        events = [e for e in buf.decode().split("\n\n") if "event: exchange" in e]
        self.assertEqual(len(events), 1, buf)
        data = json.loads(events[0].split("data: ", 1)[1])
        self.assertEqual(data["url"], self.origin.url("/size/222"))
        self.assertGreater(data["response_size"], 222)   # head and body
        # stopping the session ends the stream
        self.assertEqual(d.api("POST", "/api/sessions/live/stop")[0], 200)
        end = time.monotonic() + 5
        while b"event: end" not in buf and time.monotonic() < end:
            s.settimeout(max(0.1, end - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
        self.assertIn(b"event: end", buf)
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    harness.main()
