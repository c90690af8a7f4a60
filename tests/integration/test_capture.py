#!/usr/bin/env python3
"""Capture to disk: `ringcap run --session NAME` stores every exchange; the
offline commands (sessions, ls, show, fsck) read them back byte-exact; a
kill -9 mid-capture loses nothing that was flushed before it, and the next
start shows the session as interrupted."""

import hashlib
import json
import os
import signal
import socket
import subprocess
import time
import unittest

import harness
from harness import Proxy
from origin import body_bytes


def rc(*args):
    r = subprocess.run([harness.RINGCAP_BIN] + list(args), capture_output=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


class Capture(harness.OriginCase):

    def start(self, name, *extra):
        p = Proxy(["--session", name] + list(extra), 2, "capture-" + name)
        argv = p.argv()
        self.data = argv[argv.index("--data") + 1]
        p.argv = lambda: list(argv)
        return p.start()

    def curl(self, p, *args):
        return subprocess.run(["curl", "-sS", "--max-time", "20", "-x",
                               "http://%s:%d" % (p.host, p.port)] + list(args),
                              capture_output=True)

    def ls(self, name):
        code, out, err = rc("ls", name, "--data", self.data, "--json")
        self.assertEqual(code, 0, err)
        return json.loads(out)

    def test_exchanges_stored_and_read_back(self):
        p = self.start("s1")
        # 3 MiB: far more than the writer buffers, so this needs the
        # back-pressure from the store to the engine to arrive whole
        up = os.urandom(3 * 1024 * 1024 + 3)
        path = os.path.join(self.data, "..", "up.bin")
        with open(path, "wb") as f:
            f.write(up)
        self.assertEqual(self.curl(p, self.origin.url("/size/2000"), "-o", "/dev/null").returncode, 0)
        r = self.curl(p, "--data-binary", "@" + path, self.origin.url("/echo"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.curl(p, self.origin.url("/chunked/5000"), "-o", "/dev/null").returncode, 0)
        self.assertEqual(self.curl(p, self.origin.url("/size/%d" % (5 << 20)), "-o", "/dev/null").returncode, 0)
        self.assertEqual(self.curl(p, "http://no-such-host.invalid/").returncode, 0)
        self.assertEqual(p.stop(), 0)

        code, out, err = rc("sessions", "--data", self.data, "--json")
        self.assertEqual(code, 0, err)
        s = [x for x in json.loads(out) if x["name"] == "s1"][0]
        for key in ("id", "name", "state", "start", "stop", "exchanges", "bytes"):
            self.assertIn(key, s)
        self.assertEqual(s["state"], "stopped")
        self.assertEqual(s["exchanges"], 5)

        rows = self.ls("s1")
        self.assertEqual(len(rows), 5)
        self.assertFalse(any(r["truncated"] for r in rows), rows)
        for key in ("id", "time", "method", "url", "host", "status", "type",
                    "request_size", "response_size", "duration_ms", "client"):
            self.assertIn(key, rows[0])
        by_url = {r["url"]: r for r in rows}
        self.assertEqual(by_url[self.origin.url("/size/2000")]["status"], 200)
        self.assertEqual(by_url["http://no-such-host.invalid/"]["status"], 502)
        self.assertEqual(by_url["http://no-such-host.invalid/"]["error"], "dns")
        self.assertEqual(by_url[self.origin.url("/echo")]["method"], "POST")

        def body(url, which):
            code, out, err = rc("show", "s1", str(by_url[url]["id"]), "--data", self.data,
                                "--body", which)
            self.assertEqual(code, 0, err)
            return out
        self.assertEqual(hashlib.sha256(body(self.origin.url("/echo"), "request")).hexdigest(),
                         hashlib.sha256(up).hexdigest())
        self.assertEqual(body(self.origin.url("/size/2000"), "response"), body_bytes(2000))
        self.assertEqual(body(self.origin.url("/chunked/5000"), "response"), body_bytes(5000))
        self.assertEqual(body(self.origin.url("/size/%d" % (5 << 20)), "response"),
                         body_bytes(5 << 20))

        code, out, err = rc("show", "s1", str(by_url[self.origin.url("/size/2000")]["id"]),
                            "--data", self.data, "--curl")
        self.assertEqual(code, 0, err)
        self.assertTrue(out.startswith(b"curl -X GET '" + self.origin.url("/size/2000").encode()))
        replay = subprocess.run(["sh", "-c", out.decode() + " -s"], capture_output=True)
        self.assertEqual(replay.stdout, body_bytes(2000))
        self.assertGreaterEqual(s["duration_s"], 0)
        code, out, err = rc("fsck", "s1", "--data", self.data)
        self.assertEqual(code, 0, out + err)
        self.assertIn(b"damaged 0", out)
        # search and sort use the index only
        code, out, _ = rc("ls", "s1", "--data", self.data, "--json", "--search", "chunked")
        self.assertEqual(len(json.loads(out)), 1)
        code, out, _ = rc("ls", "s1", "--data", self.data, "--json", "--sort", "status",
                          "--reverse", "--limit", "1")
        self.assertEqual(json.loads(out)[0]["status"], 502)

    def show_json(self, name, xid):
        code, out, err = rc("show", name, str(xid), "--data", self.data, "--json")
        self.assertEqual(code, 0, err)
        return json.loads(out)

    def test_save_responses_and_cookies_toggles(self):
        """Each toggle on and off against what is stored: without saved
        responses no response head or body, but with cookies on the
        Set-Cookie lines (and nothing else) of the head stay."""
        cases = [("t-full", [], True, True),
                 ("t-noresp", ["--no-save-responses"], False, False),
                 ("t-noresp-cookies", ["--no-save-responses", "--cookies"], False, True)]
        for name, extra, full_head, set_cookie in cases:
            with self.subTest(name):
                p = self.start(name, *extra)
                r = self.curl(p, "-H", "Cookie: a=1", self.origin.url("/set-cookie"))
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout, b"cookies\n")
                self.assertEqual(p.stop(), 0)
                rows = self.ls(name)
                self.assertEqual(len(rows), 1)
                x = self.show_json(name, rows[0]["id"])
                self.assertEqual(x["status"], 200)
                self.assertIn("Cookie: a=1", x["request_head"])
                head = x["response_head"]
                self.assertEqual("X-Other" in head, full_head, head)
                self.assertEqual("Set-Cookie: sid=abc123" in head, set_cookie, head)
                self.assertEqual("Set-Cookie: theme=dark" in head, set_cookie, head)
                self.assertEqual(x["response_body_bytes"], 8 if full_head else 0)

    def test_status_page_not_captured(self):
        """Issue 17: a request addressed to the proxy itself (its status
        page, origin-form or by its own address) is not an exchange of the
        traffic being captured."""
        p = self.start("own-page")
        for target in ("/", "http://%s:%d/" % (p.host, p.port)):
            s = socket.create_connection((p.host, p.port), timeout=10)
            s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n"
                       % (target, p.host, p.port)).encode())
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
            s.close()
            self.assertTrue(out.startswith(b"HTTP/1.1 200"), out[:200])
            self.assertIn(b"ringcap", out.lower())
        r = self.curl(p, self.origin.url("/size/3"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(p.stop(), 0)
        self.assertEqual([x["url"] for x in self.ls("own-page")], [self.origin.url("/size/3")])

    def test_failed_start_leaves_session_continuable(self):
        """A start-up that fails after the session started (here: the
        control port is taken) must not mark the session stopped, which is
        final: the next start continues it."""
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        try:
            p = self.start("fs")
            self.assertEqual(self.curl(p, self.origin.url("/size/10"), "-o", "/dev/null")
                             .returncode, 0)
            self.assertEqual(p.stop(), 0)
            # stopped now: a clean stop is final, so use a fresh session
            p = Proxy(["--session", "fs2"], 2, "capture-fs2")
            argv = p.argv()
            data = argv[argv.index("--data") + 1]
            bad = list(argv)
            bad[bad.index("--control") + 1] = "127.0.0.1:%d" % blocker.getsockname()[1]
            r = subprocess.run(bad, capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 1, r.stderr)
            code, out, err = rc("sessions", "--data", data, "--json")
            self.assertEqual(code, 0, err)
            self.assertNotEqual([s["state"] for s in json.loads(out) if s["name"] == "fs2"],
                                ["stopped"])
            p.argv = lambda: list(argv)
            p.start()
            self.assertIn("continuing session 'fs2'", p.log())
            self.assertEqual(p.stop(), 0)
        finally:
            blocker.close()

    def test_kill_9_mid_capture_then_recovery(self):
        p = self.start("s2")
        done = 0
        for i in range(40):
            r = self.curl(p, self.origin.url("/size/%d" % (100 + i)), "-o", "/dev/null")
            self.assertEqual(r.returncode, 0)
            done += 1
        time.sleep(0.8)              # past the 250 ms flush interval
        # more traffic in flight while the process dies
        bg = subprocess.Popen(["curl", "-s", "-x", "http://%s:%d" % (p.host, p.port),
                               self.origin.url("/delay/2000")], stdout=subprocess.DEVNULL)
        time.sleep(0.3)
        os.kill(p.proc.pid, signal.SIGKILL)
        p.proc.wait(10)
        bg.wait(10)
        code, out, err = rc("fsck", "s2", "--data", self.data, "--repair")
        self.assertIn(code, (0, 3), out + err)   # 3: a torn tail was cut (repaired)
        rows = self.ls("s2")
        self.assertEqual(len(rows), done, "every flushed exchange is listed, no partial one")
        ids = sorted(r["id"] for r in rows)
        self.assertEqual(len(set(ids)), len(ids))
        for r in rows[:5]:
            code, out, err = rc("show", "s2", str(r["id"]), "--data", self.data, "--body",
                                "response")
            self.assertEqual(code, 0, err)
            n = int(r["url"].rsplit("/", 1)[1])
            self.assertEqual(out, body_bytes(n))
        # the next start marks it interrupted, data still readable
        p2 = Proxy(["--session", "s3"], 1, "capture-restart")
        argv = p2.argv()
        argv[argv.index("--data") + 1] = self.data
        p2.argv = lambda: list(argv)
        p2.start()
        self.assertEqual(p2.stop(), 0)
        code, out, _ = rc("sessions", "--data", self.data, "--json")
        states = {s["name"]: s["state"] for s in json.loads(out)}
        self.assertEqual(states["s2"], "interrupted")
        self.assertEqual(len(self.ls("s2")), done)


if __name__ == "__main__":
    harness.main()
