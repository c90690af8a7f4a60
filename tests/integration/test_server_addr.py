#!/usr/bin/env python3
"""The upstream (server) address of each exchange (issue 12 item 3).

Traffic goes through a real ringcap (`run --session`) with curl to a
loopback origin on 127.0.0.1 and one on ::1 (skipped only when this machine
has no ::1): plain requests, two on one client connection (the second on a
pooled upstream or the same one), a CONNECT tunnel, and a request to a
port where nothing listens. Then, offline:
  - `show --json` names "server": "127.0.0.1:PORT" / "[::1]:PORT", "" for
    the failed connect; `show` prints a "server" line;
  - the exported HAR carries serverIPAddress ("::1" without brackets) and
    _server_port, none for the failed connect, and har-validator accepts
    it (when tests/node is installed);
  - `ringcap import` of that HAR keeps both; a Chrome-style "[::1]"
    without a port imports as "::1".
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import harness
from harness import Proxy

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "..", "node")
READER = os.path.join(NODE_DIR, "read_export.js")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def serve(cls, host):
    srv = cls((host, 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def has_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def rc(*args):
    r = subprocess.run([harness.RINGCAP_BIN] + [str(a) for a in args], capture_output=True,
                       timeout=120)
    if r.returncode != 0:
        raise AssertionError("ringcap %s: %d\n%s" % (args, r.returncode, r.stderr.decode()))
    return r.stdout.decode()


def curl(proxy, *a):
    return subprocess.run(["curl", "-sS", "--max-time", "20", "--noproxy", "", "-x", proxy,
                           "-o", "/dev/null", "-w", "%{http_code}\n"] + list(a),
                          capture_output=True, text=True, timeout=60)


class ServerAddress(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        cls.tmp = tempfile.mkdtemp(prefix="srvaddr-", dir=harness._TMP)
        cls.o4 = serve(ThreadingHTTPServer, "127.0.0.1")
        cls.p4 = cls.o4.server_address[1]
        cls.v6 = has_ipv6_loopback()
        cls.o6 = serve(Server6, "::1") if cls.v6 else None
        cls.p6 = cls.o6.server_address[1] if cls.v6 else 0
        cls.dead = harness.refused_port()
        p = Proxy(["--session", "srv"], 2, "server-addr")
        argv = p.argv()
        cls.data = argv[argv.index("--data") + 1]
        p.argv = lambda: list(argv)
        p.start()
        try:
            cls.traffic(p.url())
        finally:
            assert p.stop() == 0

    @classmethod
    def tearDownClass(cls):
        for s in (getattr(cls, "o4", None), getattr(cls, "o6", None)):
            if s:
                s.shutdown()
                s.server_close()

    @classmethod
    def traffic(cls, proxy):
        A = "http://127.0.0.1:%d" % cls.p4
        outs = [curl(proxy, A + "/a"),
                curl(proxy, A + "/b1", "-o", "/dev/null", A + "/b2"),  # one connection
                curl(proxy, "-p", A + "/tunnel")]           # CONNECT 127.0.0.1:p4
        if cls.v6:
            outs.append(curl(proxy, "http://[::1]:%d/c" % cls.p6))
        for r in outs:
            assert r.returncode == 0, r.stderr
            assert set(r.stdout.split()) == {"200"}, r.stdout
        r = curl(proxy, "http://127.0.0.1:%d/dead" % cls.dead)
        assert r.stdout.strip() == "502", (r.stdout, r.stderr)

    # ---- helpers ----

    def rows(self, session="srv"):
        return json.loads(rc("ls", session, "--data", self.data, "--json"))

    def shown(self, session="srv"):
        """{url path or CONNECT target: show --json} of every exchange."""
        out = {}
        for r in self.rows(session):
            x = json.loads(rc("show", session, r["id"], "--data", self.data, "--json"))
            key = x["url"] if x["method"] == "CONNECT" else x["url"].split("/", 3)[3]
            out[key] = x
        return out

    def want(self):
        """Expected "server" of each exchange by key."""
        v4 = "127.0.0.1:%d" % self.p4
        w = {"a": v4, "b1": v4, "b2": v4, "dead": ""}
        w.update({k: v4 for k in self.connect_keys()})
        if self.v6:
            w["c"] = "[::1]:%d" % self.p6
        return w

    def connect_keys(self):
        return [r["url"] for r in self.rows() if r["method"] == "CONNECT"]

    def export_har(self, session):
        path = os.path.join(self.tmp, "%s-%d.har" % (session, len(os.listdir(self.tmp))))
        rc("export", session, "--data", self.data, "--format", "har", "-o", path)
        with open(path, "rb") as f:
            return path, json.load(f)["log"]["entries"]

    # ---- tests ----

    def test_show_json(self):
        got = {k: x["server"] for k, x in self.shown().items()}
        self.assertEqual(len(self.connect_keys()), 1, self.rows())
        self.assertEqual(got, self.want())
        if not self.v6:
            print("skip part: no ::1 on this machine")

    def test_show_text(self):
        rows = {r["url"].split("/", 3)[-1]: r["id"] for r in self.rows()}
        text = rc("show", "srv", rows["a"], "--data", self.data)
        self.assertIn("\nserver   127.0.0.1:%d\n" % self.p4, text)
        text = rc("show", "srv", rows["dead"], "--data", self.data)
        self.assertNotIn("\nserver ", text)
        if self.v6:
            text = rc("show", "srv", rows["c"], "--data", self.data)
            self.assertIn("\nserver   [::1]:%d\n" % self.p6, text)

    def test_har(self):
        path, es = self.export_har("srv")
        want = self.want()
        seen = {}
        for e in es:
            u = e["request"]["url"]
            if e["request"]["method"] == "CONNECT":
                # authority-form as a URI (HAR's url must be one): a blind
                # tunnel whose bytes were not TLS is http://
                self.assertTrue(u.startswith("http://") and "/" not in u[7:], u)
                key = u[7:]
            else:
                key = u.split("/", 3)[3]
            seen[key] = (e.get("serverIPAddress"), e.get("_server_port"))
        expect = {}
        for k, v in want.items():
            if v == "":
                expect[k] = (None, None)
            else:
                host, _, port = v.rpartition(":")
                expect[k] = (host.strip("[]"), int(port))
        self.assertEqual(seen, expect)
        if not (shutil.which("node") and
                os.path.isdir(os.path.join(NODE_DIR, "node_modules", "har-validator"))):
            self.skipTest("tests/node not installed (npm ci in tests/node): no har-validator")
        # every row, the CONNECT one too (its url a URI)
        r = subprocess.run(["node", READER, "har", path], capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())
        n = sum("serverIPAddress" in e for e in es)
        self.assertEqual(n, len([v for v in want.values() if v]))

    def test_import_keeps_server(self):
        path, es = self.export_har("srv")
        rc("import", path, "--session", "back", "--data", self.data)
        got = {k: x["server"] for k, x in self.shown("back").items()}
        self.assertEqual(got, self.want())
        _, es2 = self.export_har("back")
        self.assertEqual([(e.get("serverIPAddress"), e.get("_server_port")) for e in es2],
                         [(e.get("serverIPAddress"), e.get("_server_port")) for e in es])
        # the CONNECT row comes back as host:port (not its HAR URI)
        self.assertEqual(sorted(r["url"] for r in self.rows("back") if r["method"] == "CONNECT"),
                         sorted(self.connect_keys()))
        self.assertEqual([e["request"]["url"] for e in es2], [e["request"]["url"] for e in es])

    def test_import_browser_style(self):
        """Chrome writes IPv6 in brackets and no port; a host name is no
        address (left unknown)."""
        _, es = self.export_har("srv")
        e = [x for x in es if x["request"]["url"].endswith("/a")][0]
        entries = []
        for ip in ("[::1]", "10.1.2.3", "example.org"):
            x = json.loads(json.dumps(e))
            x.pop("_server_port")
            x["serverIPAddress"] = ip
            entries.append(x)
        path = os.path.join(self.tmp, "browser.har")
        with open(path, "w") as f:
            json.dump({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"},
                               "entries": entries}}, f)
        rc("import", path, "--session", "browser", "--data", self.data)
        got = [json.loads(rc("show", "browser", r["id"], "--data", self.data, "--json"))["server"]
               for r in self.rows("browser")]
        self.assertEqual(sorted(got), sorted(["::1", "10.1.2.3", ""]))


if __name__ == "__main__":
    harness.main()
