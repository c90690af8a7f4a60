#!/usr/bin/env python3
"""Capture store faults and life cycle through the real daemon:
- `run --session NAME` after a kill -9 continues the same session (ids go
  on after the highest one, everything before still opens); a stopped
  session is final (clear error, exit 1);
- /metrics counts exchanges written and dropped, capture failed, bytes;
- a full disk (a small tmpfs as data directory, or RLIMIT_FSIZE when
  mounting is not allowed): traffic keeps flowing byte-exact, the drop
  counter rises, capture-stopped is logged once, and every exchange listed
  afterwards still opens intact."""

import os
import resource
import subprocess
import tempfile
import time
import unittest

import harness
import storelib as sl


class Store(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        cls.origin = sl.VOrigin()

    @classmethod
    def tearDownClass(cls):
        cls.origin.stop()

    def data(self):
        return tempfile.mkdtemp(prefix="store-", dir=harness._TMP)

    def get(self, c, k, sl_=1000, **kw):
        st, h, body = c.request("GET", self.origin.url(sl.path_of(k, sl=sl_, **kw)))
        self.assertEqual(st, kw.get("st", 200))
        self.assertEqual(body, sl.body_of("s", k, sl_))
        return body

    def check_opens(self, data, session, rows):
        for r in rows:
            k, p = sl.parse_path(r["url"])
            self.assertIsNotNone(k, r["url"])
            self.assertEqual(sl.show_body(data, session, r["id"], "response"),
                             sl.body_of("s", k, p["sl"]), "exchange %d" % r["id"])

    def test_continue_after_kill_then_stopped_is_final(self):
        data = self.data()
        p = sl.proxy_on(data, "cont", workers=1, name="cont-1").start()
        c = sl.Client(p)
        for k in range(10):
            self.get(c, k)
        c.close()
        time.sleep(0.6)                      # past the 250 ms flush
        sl.kill9(p)
        p2 = sl.proxy_on(data, "cont", workers=1, name="cont-2").start()
        c = sl.Client(p2)
        for k in range(10, 20):
            self.get(c, k)
        c.close()
        self.assertEqual(p2.stop(), 0)
        log = p2.log()
        self.assertIn("continuing session 'cont'", log)
        code, out, _ = sl.rc("sessions", "--data", data, "--json")
        import json
        ses = json.loads(out)
        self.assertEqual([s["name"] for s in ses], ["cont"], "one session, not two")
        self.assertEqual(ses[0]["state"], "stopped")
        rows = sl.ls(data, "cont")
        self.assertEqual(len(rows), 20)
        ids = sorted(r["id"] for r in rows)
        self.assertEqual(ids, list(range(1, 21)), "ids go on after the highest one")
        self.assertEqual(sorted(sl.parse_path(r["url"])[0] for r in rows), list(range(20)))
        self.check_opens(data, "cont", rows)
        # stopped is final: a clear error, no new writes
        p3 = sl.proxy_on(data, "cont", workers=1, name="cont-3")
        r = subprocess.run(p3.argv(), capture_output=True, timeout=20)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"is stopped", r.stderr)
        self.assertIn(b"final", r.stderr)
        self.assertEqual(len(sl.ls(data, "cont")), 20)

    def test_metrics_count_written(self):
        data = self.data()
        p = sl.proxy_on(data, "m", workers=2, name="metrics").start()
        try:
            c = sl.Client(p)
            for k in range(7):
                self.get(c, k, 5000)
            c.close()
            m = sl.wait_for(lambda: (lambda m: m if m.get(
                "ringcap_capture_exchanges_written_total") == 7 and m.get(
                "ringcap_capture_segment_bytes_total", 0) > 0 else None)(sl.metrics(p)), 20)
            self.assertTrue(m, sl.metrics(p)["_text"])
            self.assertEqual(m["ringcap_capture_exchanges_dropped_total"], 0)
            self.assertEqual(m["ringcap_capture_failed"], 0)
            for name, typ in (("ringcap_capture_exchanges_written_total", "counter"),
                              ("ringcap_capture_exchanges_dropped_total", "counter"),
                              ("ringcap_capture_failed", "gauge"),
                              ("ringcap_capture_segment_bytes_total", "counter")):
                self.assertIn("# TYPE %s %s\n" % (name, typ), m["_text"])
                self.assertIn("# HELP %s " % name, m["_text"])
            # on disk at least what a full frame of these bodies needs
            self.assertGreater(m["ringcap_capture_segment_bytes_total"], 7 * 200)
        finally:
            self.assertEqual(p.stop(), 0)

    # -- full disk ---------------------------------------------------------
    def full_disk_dir(self):
        """A data directory that fills after about 1.5 MiB: a tmpfs mount
        (root), else None (the caller uses RLIMIT_FSIZE)."""
        if os.environ.get("RINGCAP_TEST_FULL_DISK") == "fsize":
            return None
        d = self.data()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1536k,mode=0700", "tmpfs", d],
                           capture_output=True)
        if r.returncode != 0:
            return None
        self.addCleanup(lambda: subprocess.run(["umount", "-l", d], capture_output=True))
        return d

    def test_full_disk_traffic_flows(self):
        data = self.full_disk_dir()
        mode = "tmpfs"
        old = None
        if data is None:
            mode = "fsize"
            data = self.data()
            old = resource.getrlimit(resource.RLIMIT_FSIZE)
            try:   # inherited by the daemon: each file stops at 1.5 MiB (EFBIG)
                resource.setrlimit(resource.RLIMIT_FSIZE, (1536 * 1024, old[1]))
            except (ValueError, OSError):
                raise unittest.SkipTest("neither a tmpfs mount nor RLIMIT_FSIZE available")
        try:
            p = sl.proxy_on(data, "full", workers=1, name="full-" + mode).start()
        finally:
            if old is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, old)
        try:
            c = sl.Client(p)
            for k in range(1, 6):              # text: on disk before the disk fills
                self.get(c, k, 2000)
            time.sleep(0.6)
            m0 = sl.metrics(p)
            self.assertEqual(m0["ringcap_capture_failed"], 0)
            # binary (k % 3 == 0), incompressible: 40 x 200 KiB = 8 MiB
            for i in range(40):
                self.get(c, 3 * (10 + i), 200 * 1024)
            for k in range(100, 110):          # still forwarded after the fault
                self.get(c, k, 3000, te="c")
            c.close()
            m = sl.wait_for(lambda: (lambda m: m if m["ringcap_capture_failed"] == 1 and
                                     m["ringcap_capture_exchanges_dropped_total"] >= 10
                                     else None)(sl.metrics(p)), 3)
            self.assertTrue(m, "capture did not stop or drop: %s" % sl.metrics(p)["_text"])
        finally:
            self.assertEqual(p.stop(), 0, p.log())
        log = p.log()
        stops = [ln for ln in log.splitlines() if "capture" in ln and "stopped," in ln]
        self.assertEqual(len(stops), 1, log)
        self.assertTrue("No space left" in log or "File too large" in log, log)
        rows = sl.ls(data, "full")
        ks = {sl.parse_path(r["url"])[0] for r in rows}
        self.assertTrue(set(range(1, 6)) <= ks, "exchanges before the fault: %s" % sorted(ks))
        self.assertFalse(ks & set(range(100, 110)), "captured after capture stopped")
        self.check_opens(data, "full", rows)
        print("full disk (%s): %d exchanges kept, %d dropped, log: %s" % (
            mode, len(rows), m["ringcap_capture_exchanges_dropped_total"],
            stops[0]))


if __name__ == "__main__":
    harness.main()
