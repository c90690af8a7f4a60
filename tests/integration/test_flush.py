#!/usr/bin/env python3
"""`ringcap run --flush-interval` (issue 18): the window of exchanges a
kill -9 can lose is an option, its default stated in `run --help`.

With --flush-interval 5s, exchanges completed a second before a kill -9 are
not yet on disk (nothing listed while running, nothing after the kill);
with the default (250ms) the same exchanges are listed while the daemon
runs and survive the kill, complete. Out-of-range values are refused.
"""

import http.client
import json
import os
import signal
import tempfile
import time
import unittest

import harness
from storelib import VOrigin, path_of, proxy_on, rc

K = 6


class Flush(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin = VOrigin()

    @classmethod
    def tearDownClass(cls):
        cls.origin.stop()

    def traffic(self, p):
        c = http.client.HTTPConnection(p.host, p.port, timeout=20)
        for k in range(K):
            c.request("GET", self.origin.url(path_of(k, sl=500)))
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
        c.close()

    def listed(self, data):
        code, out, err = rc("ls", "f", "--data", data, "--json")
        self.assertEqual(code, 0, err)
        return json.loads(out)

    def kill_after(self, extra):
        data = tempfile.mkdtemp(prefix="flush-", dir=harness._TMP)
        p = proxy_on(data, "f", extra, workers=1, name="flush").start()
        self.traffic(p)
        time.sleep(1.0)
        live = self.listed(data)
        os.kill(p.proc.pid, signal.SIGKILL)
        p.proc.wait(10)
        p.errf.close()
        return live, self.listed(data)

    def test_help_states_default(self):
        code, out, err = rc("run", "--help")
        self.assertEqual(code, 0, err)
        line = [l for l in out.decode().splitlines() if "--flush-interval" in l]
        self.assertEqual(len(line), 1, out)
        self.assertIn("[250ms]", line[0])

    def test_out_of_range_refused(self):
        for bad in ("50ms", "2m"):
            code, out, err = rc("run", "--flush-interval", bad, "--listen", "127.0.0.1:1")
            self.assertEqual(code, 2, err)
            self.assertIn(b"--flush-interval", err)

    def test_long_interval_loses_recent(self):
        live, after = self.kill_after(["--flush-interval", "5s"])
        self.assertEqual(live, [], "sealed before its interval")
        self.assertEqual(after, [], "on disk before its interval")

    def test_default_keeps_older_than_window(self):
        live, after = self.kill_after([])
        self.assertEqual(len(live), K)
        self.assertEqual(sorted(r["url"] for r in after), sorted(r["url"] for r in live))


if __name__ == "__main__":
    harness.main()
