#!/usr/bin/env python3
"""Deleted exchanges (issue 18): deletions are never lost without a word.

A session of K exchanges is captured through the real proxy and two of
them are deleted through the API (DELETE /api/sessions/ID/exchanges?ids=);
the daemon is stopped. Then, offline:
  - `show` of a deleted exchange says it was deleted (exit 1), not the
    exchange; `ls` leaves both out; `fsck` exits 0;
  - with the tombstones file deleted (the case that used to read as "no
    deletions"), and again with it cut to one record: `ls` lists the
    deleted exchanges again but warns in one line that deletions were
    lost; `show` of one shows it with that warning; `fsck` exits 1 and
    counts the lost deletions (text and --json); `fsck --repair` exits 3
    and says how many came back; after it `fsck` exits 0 and `ls` is
    silent.
"""

import json
import os
import shutil
import signal
import tempfile
import unittest
import urllib.request

import harness
import storelib as sl

K = 6
GONE = (2, 5)


class Tombstones(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        cls.tmp = tempfile.mkdtemp(prefix="tomb-", dir=harness._TMP)
        cls.pristine = os.path.join(cls.tmp, "pristine")
        os.mkdir(cls.pristine)
        origin = sl.VOrigin()
        p = sl.proxy_on(cls.pristine, "t", ["--sync"], workers=1, name="tomb").start()
        try:
            c = sl.Client(p)
            for k in range(1, K + 1):
                st, _, _ = c.request("GET", origin.url(sl.path_of(k, sl=50 * k)))
                assert st == 200, st
            c.close()
            cls.sid = json.loads(sl.rc("sessions", "--data", cls.pristine, "--json")[1])[0]["id"]
            url = "http://127.0.0.1:%d/api/sessions/%s/exchanges?ids=%s" % (
                p.control_port, cls.sid, ",".join(map(str, GONE)))
            with urllib.request.urlopen(urllib.request.Request(url, method="DELETE"),
                                        timeout=10) as r:
                assert r.status == 200, r.status
        finally:
            p.signal(signal.SIGTERM)
            p.stop()
            origin.stop()

    def copy(self, tag):
        d = os.path.join(self.tmp, tag)
        shutil.copytree(self.pristine, d)
        return d, os.path.join(d, self.sid, "tombstones")

    def ls(self, data):
        code, out, err = sl.rc("ls", self.sid, "--data", data, "--json")
        self.assertEqual(code, 0, err)
        return sorted(r["id"] for r in json.loads(out)), err.decode()

    def test_deleted_is_not_shown(self):
        data, _ = self.copy("intact")
        for x in GONE:
            code, out, err = sl.rc("show", self.sid, str(x), "--data", data)
            self.assertEqual(code, 1, out)
            self.assertIn("exchange %d was deleted" % x, err.decode())
            self.assertEqual(out, b"")
        code, out, err = sl.rc("show", self.sid, "3", "--data", data, "--json")
        self.assertEqual(code, 0, err)
        self.assertEqual(err, b"")
        ids, err = self.ls(data)
        self.assertEqual(ids, [k for k in range(1, K + 1) if k not in GONE])
        self.assertEqual(err, "")
        code, out, _ = sl.rc("fsck", self.sid, "--data", data)
        self.assertEqual(code, 0, out.decode())

    def lost_case(self, tag, damage, lost):
        data, tomb = self.copy(tag)
        damage(tomb)
        ids, err = self.ls(data)
        back = sorted(set(ids) & set(GONE))   # deleted, listed again
        self.assertEqual(len(back), lost, ids)
        self.assertEqual(len(ids), K - len(GONE) + lost, ids)
        self.assertEqual(err.count("\n"), 1, err)
        self.assertIn("tombstones", err)
        code, out, err = sl.rc("show", self.sid, str(back[0]), "--data", data)
        self.assertEqual(code, 0, err)
        self.assertIn(b"lost %d deletions" % lost, err)
        code, out, _ = sl.rc("fsck", self.sid, "--data", data)
        self.assertEqual(code, 1, out.decode())
        self.assertIn(b"lost deletions %d" % lost, out)
        code, out, _ = sl.rc("fsck", self.sid, "--data", data, "--json")
        self.assertEqual(code, 1, out.decode())
        rep = json.loads(out)
        self.assertEqual(rep["tombstones_lost"], lost)
        self.assertTrue(rep["damaged"])
        code, out, _ = sl.rc("fsck", self.sid, "--data", data, "--repair")
        self.assertEqual(code, 3, out.decode())
        self.assertIn(b"%d deletions are lost for good" % lost, out)
        code, out, _ = sl.rc("fsck", self.sid, "--data", data)
        self.assertEqual(code, 0, out.decode())
        _, err = self.ls(data)
        self.assertEqual(err, "")

    def test_tombstones_file_deleted(self):
        self.lost_case("deleted", os.unlink, 2)

    def test_tombstones_file_cut_at_a_record(self):
        def cut(p):
            with open(p, "r+b") as f:
                f.truncate(24)
        self.lost_case("cut", cut, 1)


if __name__ == "__main__":
    harness.main()
