#!/usr/bin/env python3
"""A new user's journey (issue 17): the five bugs, human-sized ids, the
ls/show tables, start-up text and the environment variables, each through
the real binary with real traffic (curl through the proxy to a loopback
origin)."""

import gzip
import json
import os
import re
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import zlib

import harness

from test_sessions import Daemon, DaemonCase, FLUSH_S, rc

def wait_rows(data, session, n, *extra):
    """`ringcap ls --json` rows once there are n of them (20 s at most)."""
    end = time.monotonic() + 20
    rows = []
    while time.monotonic() < end:
        code, out, err = rc("ls", session, "--data", data, "--json", *extra)
        if code == 0:
            rows = json.loads(out)
            if len(rows) >= n:
                break
        time.sleep(0.1)
    return rows

class NewUser(DaemonCase):

    # -- bug 1: device names at query time -------------------------------
    def test_device_names_at_query_time(self):
        d = self.daemon("names", extra=["--identify-by", "auth"])
        st, s, _ = d.api("POST", "/api/sessions", {"name": "lab"})
        sid = s["id"]
        d.curl(self.origin.url("/size/1"), "-U", "pixel7:x")
        d.curl(self.origin.url("/size/2"), "-U", "pixel7:x")
        d.curl(self.origin.url("/size/3"))
        d.wait_exchanges(sid, 3)
        code, out, err = rc("ls", "lab", "--data", d.data, "--json", "--client", "pixel7")
        self.assertEqual(code, 0, err)
        rows = json.loads(out)
        self.assertEqual(sorted(r["url"] for r in rows),
                         [self.origin.url("/size/1"), self.origin.url("/size/2")])
        self.assertEqual({r["client_name"] for r in rows}, {"pixel7"})
        q = urllib.parse.quote(json.dumps({"clients": ["pixel7"]}))
        self.assertEqual(len(d.exchanges(sid, "?filter=" + q)), 2)
        q = urllib.parse.quote(json.dumps({"clients": ["127.0.0.1"]}))
        self.assertEqual(len(d.exchanges(sid, "?filter=" + q)), 3, "addresses still match")
        st, s, _ = d.api("GET", "/api/sessions/" + sid)
        self.assertEqual(sorted(s["clients"]), ["127.0.0.1", "pixel7"])
        code, out, err = d.cli("show", "lab")   # the CLI shows the list too
        self.assertEqual(code, 0, err)
        line = [l for l in out.decode().splitlines() if l.startswith("clients")]
        self.assertEqual(len(line), 1, out)
        self.assertEqual(sorted(line[0].split(None, 1)[1].split(", ")), ["127.0.0.1", "pixel7"])
        self.assertEqual(d.stop(), 0)

    # -- bug 3: an interrupted session resumes -----------------------------
    def test_interrupted_session_resumes_through_cli_and_api(self):
        d = self.daemon("resume1")
        st, s, _ = d.api("POST", "/api/sessions", {"name": "lab", "save_responses": False})
        self.assertEqual(st, 201, s)
        sid = s["id"]
        d.curl(self.origin.url("/size/1"))
        d.wait_exchanges(sid, 1)
        d.kill9()
        d2 = self.daemon("resume2", data=d.data)
        st, s, _ = d2.api("GET", "/api/sessions/" + sid)
        self.assertEqual(s["state"], "interrupted")
        code, out, err = d2.cli("resume", sid)
        self.assertEqual(code, 0, err)
        st, s, _ = d2.api("GET", "/api/sessions/" + sid)
        self.assertEqual((s["state"], s["settings"]["save_responses"]), ("active", False))
        d2.curl(self.origin.url("/size/2"))
        rows = d2.wait_exchanges(sid, 2)
        self.assertEqual(len(rows), 2, "captures on into the same session")
        d2.kill9()
        d3 = self.daemon("resume3", data=d.data)
        st, s, _ = d3.api("POST", "/api/sessions", {"name": "other"})
        self.assertEqual(st, 201)
        st, s, _ = d3.api("POST", "/api/sessions/lab/resume")
        self.assertEqual(st, 409, "another session is active")
        self.assertIn("'other'", s["error"])
        self.assertEqual(d3.api("POST", "/api/sessions/other/stop")[0], 200)
        st, s, _ = d3.api("POST", "/api/sessions/lab/resume")
        self.assertEqual((st, s.get("state")), (200, "active"), s)
        d3.curl(self.origin.url("/size/3"))
        self.assertEqual(len(d3.wait_exchanges(sid, 3)), 3)
        self.assertEqual(d3.stop(), 0)

    # -- bug 4: rename onto another session's id or name ------------------
    def test_rename_to_another_sessions_id_or_name_is_refused(self):
        d = self.daemon("rename")
        st, a, _ = d.api("POST", "/api/sessions", {"name": "alpha"})
        self.assertEqual(st, 201)
        self.assertEqual(d.api("POST", "/api/sessions/alpha/stop")[0], 200)
        st, b, _ = d.api("POST", "/api/sessions", {"name": "beta"})
        self.assertEqual(st, 201)
        st, s, _ = d.api("PATCH", "/api/sessions/beta", {"name": a["id"]})
        self.assertEqual(st, 409, s)
        self.assertIn("is the id of session 'alpha'", s["error"])
        st, s, _ = d.api("PATCH", "/api/sessions/beta", {"name": "alpha"})
        self.assertEqual(st, 409, s)
        code, out, err = d.cli("rename", "beta", a["id"])
        self.assertEqual(code, 1)
        self.assertIn("409", err)
        self.assertEqual(d.api("GET", "/api/sessions/" + a["id"])[1]["name"], "alpha")
        self.assertEqual(d.api("GET", "/api/sessions/beta")[1]["id"], b["id"])
        self.assertEqual(d.api("POST", "/api/sessions/beta/stop")[0], 200)
        st, s, _ = d.api("POST", "/api/sessions", {"name": a["id"]})
        self.assertEqual(st, 409, "a new session may not take an id either")
        self.assertEqual(d.stop(), 0)

    # -- bug 2: an interrupted session's duration stands still -------------
    def test_interrupted_duration_ends_at_last_exchange(self):
        d = self.daemon("dur1")
        st, s, _ = d.api("POST", "/api/sessions", {"name": "dur"})
        sid = s["id"]
        d.curl(self.origin.url("/size/1"))
        time.sleep(1.0)
        d.curl(self.origin.url("/size/2"))
        rows = d.wait_exchanges(sid, 2)
        self.assertEqual(len(rows), 2)
        time.sleep(1.5)   # idle time after the last exchange must not count
        d.kill9()
        d2 = self.daemon("dur2", data=d.data)

        def duration():
            code, out, err = rc("sessions", "--data", d.data, "--json")
            self.assertEqual(code, 0, err)
            ses = {x["id"]: x for x in json.loads(out)}[sid]
            self.assertEqual(ses["state"], "interrupted")
            return ses["duration_s"]
        first = duration()
        self.assertGreaterEqual(first, 0.9)
        self.assertLess(first, 2.3, "ends at the last stored exchange, not at the kill")
        time.sleep(1.2)
        self.assertEqual(duration(), first)
        st, s, _ = d2.api("GET", "/api/sessions/" + sid)
        self.assertEqual(s["duration_s"], first)
        d2.stop()
        d3 = self.daemon("dur3", data=d.data)
        self.assertEqual(duration(), first, "a second restart keeps it")
        st, s, _ = d3.api("POST", "/api/sessions/%s/resume" % sid)
        self.assertEqual((st, s["stop"]), (200, None), "continued: open again")
        self.assertEqual(d3.stop(), 0)

    # -- bug 5: showing the CA never creates one --------------------------
    def test_ca_without_data_creates_nothing(self):
        cwd = tempfile.mkdtemp(prefix="ca-empty-")
        env = {k: v for k, v in os.environ.items() if k != "RINGCAP_DATA"}
        r = subprocess.run([harness.RINGCAP_BIN, "ca"], cwd=cwd, env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("no CA in " + os.path.join(os.path.realpath(cwd), "ringcap-data"),
                      r.stderr)
        self.assertIn("--data DIR", r.stderr)
        self.assertIn("RINGCAP_DATA", r.stderr)
        self.assertEqual(os.listdir(cwd), [], "nothing was created")
        r = subprocess.run([harness.RINGCAP_BIN, "ca", "--data", os.path.join(cwd, "x")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(os.listdir(cwd), [])

    # -- human-sized ids ---------------------------------------------------
    def test_ids_are_small_and_in_start_order(self):
        d = self.daemon("ids1")
        st, s, _ = d.api("POST", "/api/sessions", {"name": "ids"})
        sid = s["id"]
        for k in range(1, 9):
            d.curl(self.origin.url("/size/%d" % k))
        rows = d.wait_exchanges(sid, 8)
        by_time = sorted(rows, key=lambda r: r["time"])
        self.assertEqual([r["id"] for r in by_time], list(range(1, 9)))
        self.assertEqual([r["url"] for r in by_time],
                         [self.origin.url("/size/%d" % k) for k in range(1, 9)])
        code, out, err = rc("show", "ids", "3", "--data", d.data, "--json")
        self.assertEqual(code, 0, err)
        self.assertEqual((json.loads(out)["id"], json.loads(out)["url"]),
                         (3, self.origin.url("/size/3")))
        st, x, _ = d.api("GET", "/api/sessions/%s/exchanges/5" % sid)
        self.assertEqual((st, x["id"], x["url"]), (200, 5, self.origin.url("/size/5")))
        self.assertEqual(d.api("DELETE", "/api/sessions/%s/exchanges/2" % sid)[0], 200)
        self.assertEqual(d.api("DELETE", "/api/sessions/%s/exchanges" % sid,
                               {"ids": [4, 6]})[0], 200)
        self.assertEqual(sorted(r["id"] for r in d.exchanges(sid)), [1, 3, 5, 7, 8])
        # the curl export names each request by the same id (not the store's)
        code, out, err = rc("export", "ids", "--format", "curl", "--data", d.data)
        self.assertEqual(code, 0, err)
        self.assertEqual(sorted(int(l[2:]) for l in out.decode().splitlines()
                                if re.fullmatch(r"# \d+", l)), [1, 3, 5, 7, 8])
        code, out, err = rc("show", "ids", "9", "--data", d.data)
        self.assertEqual(code, 1)
        self.assertIn("not in the session (ringcap ls lists its ids)", err)
        for bad in ("abc", "1x", "", "+3"):
            code, out, err = rc("show", "ids", bad, "--data", d.data)
            self.assertEqual(code, 2, bad)
            self.assertIn("'%s' is not an exchange id" % bad, err)
        code, out, err = rc("ls", "ids", "--data", d.data)
        self.assertEqual(out.decode().split("\n")[1].split()[0], "1", out)
        d.kill9()
        d2 = self.daemon("ids2", data=d.data, extra=["--session", "ids"])
        d2.curl(self.origin.url("/size/9"))
        rows = d2.wait_exchanges(sid, 6)
        self.assertEqual(sorted(r["id"] for r in rows), [1, 3, 5, 7, 8, 9],
                         "a continued session numbers on")
        self.assertEqual(d2.stop(), 0)

    def test_old_ids_still_open(self):
        # bench/gen_session.c, built with the binary (bench/meson.build)
        gen = os.path.join(os.path.dirname(harness.RINGCAP_BIN), "..", "bench",
                           "rc_gen_session")
        self.assertTrue(os.access(gen, os.X_OK), "%s is not built" % gen)
        data = tempfile.mkdtemp(prefix="old-ids-", dir=harness._TMP)
        r = subprocess.run([gen, "--data", data, "--name", "old", "--workers", "2",
                            "--active", "6"], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        old = wait_rows(data, "old", 6)
        ids = sorted(x["id"] for x in old)
        self.assertEqual(ids, [1, 2, 3, (1 << 40) + 1, (1 << 40) + 2, (1 << 40) + 3],
                         "exchanges stored before numbers keep the store's ids")
        for x in old:
            code, out, err = rc("show", "old", str(x["id"]), "--data", data, "--json")
            self.assertEqual(code, 0, err)
            self.assertEqual(json.loads(out)["url"], x["url"])
        d = self.daemon("old-ids", data=data, extra=["--session", "old"])
        d.curl(self.origin.url("/size/7"))
        rows = wait_rows(data, "old", 7)
        new = [x for x in rows if x["url"] == self.origin.url("/size/7")]
        self.assertEqual([x["id"] for x in new], [4], "numbered past the old small ids")
        code, out, err = rc("show", "old", "4", "--data", data, "--json")
        self.assertEqual(json.loads(out)["url"], self.origin.url("/size/7"))
        code, out, err = rc("show", "old", "3", "--data", data, "--json")
        self.assertEqual(json.loads(out)["url"], [x for x in old if x["id"] == 3][0]["url"])
        self.assertEqual(d.stop(), 0)

    # -- ls as a table ---------------------------------------------------------
    def test_ls_table(self):
        import test_tls
        tls_origin = test_tls.TlsOrigin(tag="lstable")
        self.addCleanup(tls_origin.stop)
        d = self.daemon("table", extra=["--upstream-ca", tls_origin.cert])
        st, s, _ = d.api("POST", "/api/sessions", {"name": "t"})
        sid = s["id"]
        long_url = self.origin.url("/size/2000?" + "q" * 300)
        d.curl(long_url)
        d.curl(self.origin.url("/echo"), "-d", "needle-in-the-body")
        https = "https://localhost:%d/" % tls_origin.port
        d.curl(https, "--cacert", os.path.join(d.data, "ca-cert.pem"))
        rows = d.wait_exchanges(sid, 4)
        self.assertEqual(sorted(r["method"] for r in rows), ["CONNECT", "GET", "GET", "POST"],
                         "--json lists every row, the tunnel's CONNECT too")
        env = dict(os.environ, COLUMNS="130")

        def ls(*extra):
            r = subprocess.run([harness.RINGCAP_BIN, "ls", "t", "--data", d.data] + list(extra),
                               capture_output=True, text=True, env=env, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            return r.stdout.splitlines()
        out = ls()
        self.assertEqual(len(out), 1 + 3 + 1, out)
        self.assertNotIn("CONNECT", "\n".join(out), "intercepted tunnel rows hidden")
        self.assertEqual(out[-1], "3 of 4 exchanges; 1 tunnel rows hidden (--tunnels)")
        big = [l for l in out if "/size/2000" in l][0]
        self.assertLessEqual(len(big), 130, big)
        self.assertTrue(big.endswith("..."), big)
        self.assertRegex(big, r" 2\.\d KiB ")
        self.assertIn(long_url, "\n".join(ls("--wide")))
        self.assertIn("CONNECT", "\n".join(ls("--tunnels")))
        self.assertEqual(ls("--tunnels")[-1], "4 of 4 exchanges")
        out = ls("--search", "needle-in-the-body")
        self.assertEqual(out[-1], "0 of 4 exchanges; 1 tunnel rows hidden (--tunnels)")
        self.assertIn("--search-bodies also looks in heads and bodies", "\n".join(out))
        out = ls("--search", "needle-in-the-body", "--search-bodies")
        self.assertEqual(len(out), 3, out)
        self.assertIn(self.origin.url("/echo"), out[1])
        self.assertIn("bodies of", out[-1])
        out = ls("--client", "10.9.9.9")
        self.assertIn("the filters match none of the 4 exchanges", out)
        self.assertIn("Cookie and Set-Cookie lines were not captured", "\n".join(
            ls("--search", "cookie")))
        self.assertEqual(d.stop(), 0)

    def test_ls_follow(self):
        d = self.daemon("follow")
        st, s, _ = d.api("POST", "/api/sessions", {"name": "f"})
        sid = s["id"]
        d.curl(self.origin.url("/size/1"))
        d.wait_exchanges(sid, 1)
        p = subprocess.Popen([harness.RINGCAP_BIN, "ls", "f", "--data", d.data, "--follow",
                              "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        first = json.loads(p.stdout.readline())
        self.assertEqual(first["url"], self.origin.url("/size/1"))
        d.curl(self.origin.url("/size/2"))
        second = json.loads(p.stdout.readline())   # within the flush interval
        self.assertEqual((second["id"], second["url"]), (2, self.origin.url("/size/2")))
        self.assertEqual(d.api("POST", "/api/sessions/f/stop")[0], 200)
        self.assertEqual(p.wait(10), 0, "stops with the session")
        self.assertEqual(d.stop(), 0)

    # -- show: the whole exchange -----------------------------------------
    def test_show_whole_exchange(self):
        srv = TypedOrigin()
        self.addCleanup(srv.stop)
        d = self.daemon("show", extra=["--identify-by", "auth"])
        st, s, _ = d.api("POST", "/api/sessions", {"name": "sh"})
        sid = s["id"]
        d.curl(srv.url("/json"), "-d", '{"q":1}', "-H", "Content-Type: application/json",
               "-U", "pixel7:x")
        d.curl(srv.url("/bin"))
        d.curl(srv.url("/img"))
        rows = d.wait_exchanges(sid, 3)
        ids = {r["url"].rsplit("/", 1)[1]: r["id"] for r in rows}

        def show(xid, *extra):
            code, out, err = rc("show", "sh", str(xid), "--data", d.data, *extra)
            self.assertEqual(code, 0, err)
            return out.decode()
        out = show(ids["json"])
        self.assertIn("POST %s HTTP/1.1\n" % srv.url("/json"), out)
        self.assertIn('{\n  "q": 1\n}', out, "the request body, indented")
        self.assertIn("HTTP/1.0 200 OK\n", out)
        self.assertIn('{\n  "a": [\n    1,\n    2\n  ],\n  "b": {\n    "c": "d"\n  }\n}\n', out,
                      "JSON indented")
        self.assertIn("client pixel7 (127.0.0.1:", out)
        self.assertRegex(out, r"timings  dns .*first byte \d+\.\d ms, total \d+\.\d ms")
        self.assertIn("error    none", out)
        self.assertNotIn("\r", out)
        out = show(ids["bin"])
        self.assertIn("00000000  00 01 02 03", out)
        self.assertIn("... 744 more bytes", out)
        self.assertIn("not stored: image/png (media)", show(ids["img"]))
        heads = show(ids["json"], "--headers")
        self.assertIn("Content-Type: application/json", heads)
        self.assertNotIn('"a"', heads)
        self.assertIn("timings", heads)
        self.assertEqual(d.api("POST", "/api/sessions/sh/stop")[0], 200)
        st, s, _ = d.api("POST", "/api/sessions", {"name": "nosave", "save_responses": False})
        d.curl(srv.url("/json"))
        rows = d.wait_exchanges(s["id"], 1)
        code, out, err = rc("show", "nosave", str(rows[0]["id"]), "--data", d.data)
        self.assertIn("save-responses was off", out.decode())
        d.curl("http://no-such-host.invalid/")
        rows = d.wait_exchanges(s["id"], 2)
        bad = [r for r in rows if "invalid" in r["url"]][0]
        code, out, err = rc("show", "nosave", str(bad["id"]), "--data", d.data)
        self.assertIn("error    the host name did not resolve", out.decode())
        self.assertEqual(d.stop(), 0)

    def test_show_decodes_compressed_bodies(self):
        # most apps ask for gzip: show decodes it for reading, as HTTPie does;
        # --body still writes the bytes as stored
        srv = TypedOrigin()
        self.addCleanup(srv.stop)
        d = self.daemon("decode")
        st, s, _ = d.api("POST", "/api/sessions", {"name": "dec"})
        for kind in ("gz", "zz", "br"):
            d.curl(srv.url("/" + kind))
        rows = d.wait_exchanges(s["id"], 3)
        ids = {r["url"].rsplit("/", 1)[1]: r["id"] for r in rows}

        def show(xid, *extra):
            code, out, err = rc("show", "dec", str(xid), "--data", d.data, *extra)
            self.assertEqual(code, 0, err)
            return out
        out = show(ids["gz"]).decode()
        self.assertIn('{\n  "a": [\n    1,\n    2\n  ],\n  "b": {\n    "c": "d"\n  }\n}\n', out)
        self.assertRegex(out, r"\(decoded from gzip: \d+ B as stored\)")
        self.assertEqual(gzip.decompress(show(ids["gz"], "--body", "response")),
                         b'{"a":[1,2],"b":{"c":"d"}}', "--body: the bytes as stored")
        out = show(ids["zz"]).decode()
        self.assertIn("plain words plain words", out)
        self.assertIn("(decoded from deflate:", out)
        out = show(ids["br"]).decode()
        self.assertIn("00000000  00 01 02 03", out)
        self.assertIn("Content-Encoding br: not decoded", out)
        # --search-bodies looks in the decoded text too
        code, out, err = rc("ls", "dec", "--data", d.data, "--json", "--search", "PLAIN WORDS",
                            "--search-bodies")
        self.assertEqual(code, 0, err)
        self.assertEqual([r["id"] for r in json.loads(out)], [ids["zz"]])
        self.assertEqual(d.stop(), 0)

    # -- run says where to point a device, then is quiet ----------------------
    def test_run_prints_where_to_point_a_device(self):
        import re
        port = harness.free_port()
        d = Daemon("welcome", extra=["--listen", "0.0.0.0:%d" % port])
        d.p.port = port   # the last --listen wins; the harness waits on this port
        d.start()
        self.addCleanup(lambda: d.p.proc.poll() is None and d.stop())
        end = time.monotonic() + 10   # written once the engine has started
        while "not capturing" not in d.p.log() and time.monotonic() < end:
            time.sleep(0.05)
        log = d.p.log()
        self.assertIn("set this as the HTTP and HTTPS proxy of a device:", log)
        addrs = re.findall(r"^    (\d+\.\d+\.\d+\.\d+):(\d+) ", log, re.M)
        self.assertTrue(addrs, log)
        self.assertTrue(all(p == str(port) and not a.startswith("127.") for a, p in addrs), log)
        self.assertIn("browse to http://ringcap.cert/ through the proxy", log)
        self.assertIn("control API and web UI: http://%s/" % d.control, log)
        self.assertIn("data: %s\n" % os.path.realpath(d.data), log)
        self.assertIn("not capturing: ringcap session start", log)
        before = d.p.log()
        d.curl(self.origin.url("/size/1"))
        d.curl(self.origin.url("/size/2"))
        time.sleep(0.3)
        self.assertEqual(d.p.log(), before, "quiet while it serves")
        self.assertEqual(d.stop(), 0)

    # -- RINGCAP_DATA and RINGCAP_CONTROL in every command; delete asks ----
    def test_environment_in_every_command(self):
        data = tempfile.mkdtemp(prefix="env-data-", dir=harness._TMP)
        elsewhere = tempfile.mkdtemp(prefix="env-cwd-", dir=harness._TMP)
        port, ctl = harness.free_port(), harness.free_port()
        while ctl == port:
            ctl = harness.free_port()
        env = dict(os.environ, RINGCAP_DATA=data, RINGCAP_CONTROL="127.0.0.1:%d" % ctl)
        p = subprocess.Popen([harness.RINGCAP_BIN, "run", "--listen", "127.0.0.1:%d" % port,
                              "--workers", "1", "--connect-ports", "*"], env=env, cwd=elsewhere,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: p.poll() is None and (p.terminate(), p.wait(20)))
        self.assertTrue(harness.wait_port("127.0.0.1", ctl, 20), "RINGCAP_CONTROL is the port")
        self.assertTrue(os.path.exists(os.path.join(data, "ca-cert.pem")), "RINGCAP_DATA")

        def cli(*args, **kw):
            r = subprocess.run([harness.RINGCAP_BIN] + list(args), env=env, cwd=elsewhere,
                               capture_output=True, text=True, timeout=60, **kw)
            return r.returncode, r.stdout, r.stderr
        code, out, err = cli("session", "start", "--name", "env")
        self.assertEqual(code, 0, err)
        subprocess.run(["curl", "-sS", "-x", "http://127.0.0.1:%d" % port,
                        self.origin.url("/size/3")], capture_output=True, timeout=30)
        self.assertEqual(len(wait_rows(data, "env", 1)), 1)
        for args in (["ls", "env"], ["show", "env", "1"], ["sessions"], ["overview", "env"],
                     ["cookies", "env"], ["fsck", "env"], ["ca"], ["session", "list"]):
            code, out, err = cli(*args)
            self.assertEqual(code, 0, "%s: %s" % (args, err))
        self.assertEqual(cli("session", "stop")[0], 0)
        code, out, err = cli("session", "delete", "env")   # not a terminal: no question
        self.assertEqual(code, 0, err)
        self.assertIn("deleted session env", out)
        p.terminate()
        self.assertEqual(p.wait(20), 0)

    def test_help_names_the_environment(self):
        # a user reading any command's --help learns the two variables
        def helptext(*args):
            r = subprocess.run([harness.RINGCAP_BIN] + list(args), capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 0, (args, r.stderr))
            return r.stdout
        for cmd in ("run", "ca", "session", "sessions", "ls", "show", "overview", "cookies",
                    "export", "import", "ship", "fsck"):
            with self.subTest(cmd=cmd):
                self.assertIn("$RINGCAP_DATA", helptext(cmd, "--help"))
        for cmd in ("run", "session"):
            self.assertIn("$RINGCAP_CONTROL", helptext(cmd, "--help"))
        top = helptext("help")
        self.assertIn("RINGCAP_DATA", top)
        self.assertIn("RINGCAP_CONTROL", top)
        # device names filter as addresses do (--identify-by)
        self.assertIn("device name", helptext("ls", "--help"))
        self.assertIn("device name", helptext("session", "--help"))

    def test_delete_asks_on_a_terminal(self):
        import pty
        d = self.daemon("ask")
        for name in ("keep", "gone"):
            self.assertEqual(d.api("POST", "/api/sessions", {"name": name})[0], 201)
            self.assertEqual(d.api("POST", "/api/sessions/%s/stop" % name)[0], 200)

        def delete_on_tty(name, answer, *extra):
            master, slave = pty.openpty()
            p = subprocess.Popen([harness.RINGCAP_BIN, "session", "delete", name,
                                  "--control", d.control, "--data", d.data] + list(extra),
                                 stdin=slave, stdout=slave, stderr=subprocess.PIPE)
            os.close(slave)
            out = b""
            if answer is not None:
                while b"[y/N]" not in out:
                    out += os.read(master, 1024)
                os.write(master, answer)
            rc = p.wait(20)
            try:
                while True:
                    out += os.read(master, 1024)
            except OSError:
                pass
            os.close(master)
            return rc, out.decode()
        rc_, out = delete_on_tty("keep", b"n\n")
        self.assertEqual(rc_, 1)
        self.assertIn("delete session 'keep'", out)
        self.assertEqual(d.api("GET", "/api/sessions/keep")[0], 200, "kept")
        rc_, out = delete_on_tty("gone", b"y\n")
        self.assertEqual(rc_, 0, out)
        self.assertEqual(d.api("GET", "/api/sessions/gone")[0], 404)
        rc_, out = delete_on_tty("keep", None, "--yes")
        self.assertEqual(rc_, 0, out)
        self.assertNotIn("[y/N]", out)
        self.assertEqual(d.api("GET", "/api/sessions/keep")[0], 404)
        self.assertEqual(d.stop(), 0)

class TypedOrigin:
    """A loopback origin with typed bodies: /json (an object), /bin (1000
    bytes 0..255 repeated, application/octet-stream), /img (a PNG)."""

    def __init__(self):
        import http.server
        import threading

        class H(http.server.BaseHTTPRequestHandler):
            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                kind = self.path.rsplit("/", 1)[1]
                doc = b'{"a":[1,2],"b":{"c":"d"}}'
                body, ct, ce = {
                    "json": (doc, "application/json", None),
                    "bin": ((bytes(range(256)) * 4)[:1000], "application/octet-stream", None),
                    "img": (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "image/png", None),
                    "gz": (gzip.compress(doc), "application/json", "gzip"),
                    "zz": (zlib.compress(b"plain words " * 50), "text/plain", "deflate"),
                    "br": (bytes(range(40)), "application/json", "br"),
                }[kind]
                self.send_response(200)
                self.send_header("Content-Type", ct)
                if ce:
                    self.send_header("Content-Encoding", ce)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            do_GET = do_POST = _any

            def log_message(self, *a):
                pass
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.srv.server_address[1], path)

    def stop(self):
        self.srv.shutdown()

if __name__ == "__main__":
    harness.main()
