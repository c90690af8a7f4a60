#!/usr/bin/env python3
"""`ringcap run --zstd-level` (issue 16: fast zstd levels for text bodies),
through the real daemon:
- the option is refused outside SEG_ZSTD_LEVEL_MIN..MAX (-100..19), or
  when it is not a whole number, before anything starts (exit 2, the
  message names the option); both bounds are accepted;
- a session captured at a fast level (-5) and at the lowest one (-100)
  reads back byte-exact with every reader: `ringcap ls`, `show --body`,
  `export --format har`, `fsck`, and after a kill -9 and a new daemon (at
  another level) continuing the session in the same files: the level is
  not part of the format;
- the level is applied: the same JSON-like text stored at -5 takes more
  bytes of segment files than at the default level 1, and at -100 more
  than at -5 (persist/seg-limits.h has the ratios);
- `--zstd-budget PCT` (0-100) is refused above 100; with a budget of 1% at
  level 19 (~100x level 1's CPU) most frames of a quick burst of text go
  out raw (the text stands verbatim in the .seg, the files are about as big
  as the text), without a budget they are compressed; both read back
  byte-exact.
"""

import glob
import json
import os
import random
import tempfile
import unittest

import harness
import origin as origin_mod
import storelib as sl

N = 8                 # exchanges per session
TEXT_LEN = 200 * 1024  # request body of each (several 128 KiB frames in all)


def text_body(k, n=TEXT_LEN):
    """JSON-like text that compresses about like API output (~4x at level 1),
    not a repeated unit (which every level shrinks to nothing)."""
    r = random.Random(1600 + k)
    out, size = [], 0
    while size < n:
        rec = '{"id":%d,"user":"user%d","score":%.3f,"tags":["t%d","t%d"],"ok":%s},\n' % (
            r.randrange(10 ** 9), r.randrange(10 ** 5), r.random() * 1000,
            r.randrange(50), r.randrange(50), "true" if r.random() < 0.5 else "false")
        out.append(rec)
        size += len(rec)
    return "".join(out).encode()[:n]


class ZstdLevel(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        if not harness.run_has_option("--zstd-level"):
            raise unittest.SkipTest("ringcap without --zstd-level")
        cls.origin = origin_mod.Origin().start()

    @classmethod
    def tearDownClass(cls):
        cls.origin.stop()

    def run_refused(self, *args):
        data = tempfile.mkdtemp(prefix="zstd-refused-", dir=harness._TMP)
        code, out, err = sl.rc("run", "--data", data, *args, timeout=20)
        return code, (out + err).decode("utf-8", "replace")

    def test_option_refused(self):
        for bad in ("-101", "20", "abc", "1.5", "", "-"):
            code, msg = self.run_refused("--zstd-level=" + bad)
            self.assertEqual(code, 2, "--zstd-level=%r: %s" % (bad, msg))
            self.assertIn("--zstd-level", msg, bad)
        code, msg = self.run_refused("--zstd-level")
        self.assertEqual(code, 2, msg)
        for bad in ("101", "-1", "x"):
            code, msg = self.run_refused("--zstd-budget=" + bad)
            self.assertEqual(code, 2, "--zstd-budget=%r: %s" % (bad, msg))
            self.assertIn("--zstd-budget", msg, bad)

    def session(self, data, level, ks, name, kill, extra=(), over_budget=None):
        """ringcap at `level` captures POST /echo of text_body(k) for k in ks,
        then is killed (kill -9: the session stays open, the next daemon
        continues it) or stopped."""
        p = sl.proxy_on(data, "lv", extra=["--zstd-level", str(level)] + list(extra),
                        name=name).start()
        c = sl.Client(p)
        for k in ks:
            st, _, body = c.request("POST", self.origin.url("/echo?k=%d" % k), text_body(k))
            self.assertEqual(st, 200)
            self.assertEqual(json.loads(body)["length"], TEXT_LEN)
        c.close()
        if over_budget is not None:
            # /metrics counts the frames stored raw over budget once written
            # (the writer seals and writes them within its flush interval)
            got = {}

            def seen():
                got.update(sl.metrics(p))
                return got.get("ringcap_capture_frames_over_budget_total", 0) > 0
            # (without a budget one look: the count must stay 0)
            over_budget.append(sl.wait_for(seen, 10 if "--zstd-budget" in extra and
                                           extra[extra.index("--zstd-budget") + 1] != "0"
                                           else 0.5) and
                               got["ringcap_capture_frames_over_budget_total"])
        if kill:
            n = ks[-1] + 1
            self.assertTrue(sl.wait_for(lambda: len(sl.ls(data, "lv")) == n, 10),
                            "not all exchanges listed while running")
            sl.kill9(p)
        else:
            self.assertEqual(p.stop(), 0, p.log())

    def seg_bytes(self, data):
        return sum(os.path.getsize(f)
                   for f in glob.glob(os.path.join(data, "**", "*.seg"), recursive=True))

    def check_reads(self, data, ks):
        rows = sl.ls(data, "lv")
        by_k = {int(r["url"].rsplit("k=", 1)[1]): r for r in rows}
        self.assertEqual(sorted(by_k), sorted(ks))
        for k, r in by_k.items():
            self.assertEqual(sl.show_body(data, "lv", r["id"], "request"), text_body(k),
                             "request body of k=%d" % k)
        out = os.path.join(data, "lv.har")
        code, _, err = sl.rc("export", "lv", "--data", data, "--format", "har", "-o", out)
        self.assertEqual(code, 0, err)
        with open(out, encoding="utf-8") as f:
            entries = json.load(f)["log"]["entries"]
        texts = sorted(e["request"]["postData"]["text"].encode() for e in entries)
        self.assertEqual(texts, sorted(text_body(k) for k in ks))
        code, fout, ferr = sl.rc("fsck", "lv", "--data", data)
        self.assertEqual(code, 0, (fout + ferr).decode("utf-8", "replace"))

    def test_levels_read_back_and_apply(self):
        size = {}
        for level in (1, -5, -100):
            data = tempfile.mkdtemp(prefix="zstd-%d-" % level, dir=harness._TMP)
            self.session(data, level, range(N), "lv%d" % level, kill=True)
            self.check_reads(data, range(N))
            size[level] = self.seg_bytes(data)
            # a new daemon at another level continues the same session files
            self.session(data, 19 if level != 1 else -3, range(N, N + 2), "lv%d-b" % level,
                         kill=False)
            self.check_reads(data, range(N + 2))
        raw = N * TEXT_LEN
        self.assertLess(size[1], raw / 2, size)         # compressed at all
        self.assertGreater(size[-5], size[1] * 1.15, size)
        self.assertGreater(size[-100], size[-5] * 1.15, size)

    def seg_text(self, data):
        blob = b""
        for f in glob.glob(os.path.join(data, "**", "*.seg"), recursive=True):
            with open(f, "rb") as fh:
                blob += fh.read()
        return blob

    def test_budget(self):
        ks = range(N)
        verbatim = {}
        for budget in ("1", "0"):
            data = tempfile.mkdtemp(prefix="zstd-budget%s-" % budget, dir=harness._TMP)
            over = []
            self.session(data, 19, ks, "bud" + budget, kill=False,
                         extra=["--zstd-budget", budget], over_budget=over)
            if budget == "1":
                self.assertGreater(over[0], 0, "no frame over budget in /metrics")
            else:
                self.assertFalse(over[0], "frames over budget without a budget")
            self.check_reads(data, ks)
            blob = self.seg_text(data)
            # pieces of each body (from its middle) that stand verbatim in the files
            verbatim[budget] = sum(text_body(k)[o:o + 256] in blob
                                   for k in ks for o in range(8192, TEXT_LEN - 8192, 16384))
            size = len(blob)
            if budget == "1":
                self.assertGreater(size, N * TEXT_LEN * 0.5, "mostly raw over budget")
            else:
                self.assertLess(size, N * TEXT_LEN * 0.5, "compressed without a budget")
        pieces = N * len(range(8192, TEXT_LEN - 8192, 16384))
        self.assertGreater(verbatim["1"], pieces // 2, verbatim)
        self.assertEqual(verbatim["0"], 0, verbatim)


if __name__ == "__main__":
    unittest.main()
