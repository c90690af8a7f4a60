#!/usr/bin/env python3
"""The corruption drill (issue 18): damage never hides data, and is always
reported.

One session of N exchanges is captured once through the real proxy (two
workers, a few exchanges deleted so a tombstone file exists) and kept
pristine. Each case copies the pristine data directory, damages one file of
the session -- segment, index, strings, tombstones, metadata, or metadata
together with its previous copy -- by deleting it, truncating it at a random
offset, zeroing a random range or flipping one byte, then checks:

  - `ls --json` lists every exchange whose frames are intact (an exchange is
    intact when no damaged byte of its segment lies between the start of the
    frame holding its BEGIN and the end of the frame holding its END, as the
    pristine index says), each row equal to the pristine one, and no id the
    pristine session never had;
  - `sessions --json` lists the session (state "damaged" when both metadata
    copies are gone) with at least that many exchanges;
  - `show --json` of each intact exchange of the damaged file prints what it
    printed before (and of a sample of 24 others: session-wide damage --
    metadata, tombstones -- and the other worker's files are checked on a
    sample, which keeps the drill fast in sanitizer builds);
  - `fsck` exits non-zero (a tombstone file deleted, or cut at a record
    boundary, too: session.meta counts the deletions);
  - `fsck --repair` exits 3 (repaired) or 1 (frames lost for good), and
    afterwards `ls` lists them all again without a warning, and `fsck`
    exits 0 unless frames were lost.

Offsets come from a fixed seed plus one random seed, both printed; set
RINGCAP_DRILL_SEED to replay a run. The log line "drill:" gives cases run
and exchanges listed/expected per case.
"""

import concurrent.futures
import json
import os
import random
import shutil
import struct
import sys
import tempfile
import time
import unittest
import urllib.request

import harness
from storelib import VOrigin, path_of, body_of, proxy_on, rc

N = 240                  # exchanges captured
SAMPLE = 24              # `show` of exchanges outside the damaged file, per case
DELETED = 6              # of them deleted through the API (tombstones)
FIXED_SEED = 18
KINDS = ("seg", "idx", "str", "tombstones", "meta", "meta+prev")
DAMAGES = ("delete", "truncate", "zero", "flip")
ENTRY = 96   # RCAPIDX1
ENTRY2 = 65  # RCAPIDX2
HDR = 32


def frames_of(seg):
    """[(offset, end)] of the frames of a pristine segment file."""
    out, off = [], HDR
    while off + HDR <= len(seg):
        magic, clen = struct.unpack_from("<II", seg, off)
        assert magic == 0x52464352, off
        out.append((off, off + HDR + clen))
        off += HDR + clen
    return out


STR_EXT = 1 << 10  # SEG_F_STR_EXT: the session number follows host+url in .str
HOST_IN_URL = 1 << 15  # SEG_F_HOST_IN_URL: .str holds the url only


def spans_of(idx, frames, strs):
    """{id: (first byte, end byte)} of each exchange in its segment, by the id
    ls shows: its session number (from the .str text), else the store's id."""
    ends = dict(frames)
    out = {}
    v2 = idx[:8] == b"RCAPIDX2"   # 65-byte entries (persist/segment.c)
    entry = ENTRY2 if v2 else ENTRY
    worker = struct.unpack_from("<H", idx, 8)[0]
    for o in range(HDR, len(idx) - entry + 1, entry):
        if v2:
            xid = worker << 40 | int.from_bytes(idx[o:o + 5], "little")
            hl, ul = idx[o + 5], struct.unpack_from("<H", idx, o + 6)[0]
            frame_off, last_off, str_off = struct.unpack_from("<III", idx, o + 32)
            flags = struct.unpack_from("<H", idx, o + 46)[0]
            span = struct.unpack_from("<H", idx, o + 49)[0]
        else:
            xid = struct.unpack_from("<Q", idx, o)[0]
            str_off, hl, ul = struct.unpack_from("<IHH", idx, o + 32)
            flags = struct.unpack_from("<I", idx, o + 76)[0]
            frame_off, last_off = struct.unpack_from("<II", idx, o + 24)
            span = struct.unpack_from("<H", idx, o + 88)[0]
        if flags & STR_EXT:
            at = str_off + (0 if flags & HOST_IN_URL else hl) + ul
            if v2:   # the client name's length byte, then a varint (LEB128)
                at += 1
                number, shift = 0, 0
                while True:
                    b = strs[at]
                    number |= (b & 0x7F) << shift
                    at, shift = at + 1, shift + 7
                    if not b & 0x80:
                        break
            else:
                number = struct.unpack_from("<I", strs, at)[0]
            xid = number or xid
        assert span == 0, "the drill session fits one segment per worker"
        out[xid] = (frame_off, ends[last_off])
    return out


class Drill(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        seed = os.environ.get("RINGCAP_DRILL_SEED")
        cls.seed = int(seed) if seed else random.SystemRandom().randrange(1 << 31)
        print("drill: seeds %d (fixed) and %d (random; RINGCAP_DRILL_SEED=%d replays it)"
              % (FIXED_SEED, cls.seed, cls.seed), file=sys.stderr)
        cls.tmp = tempfile.mkdtemp(prefix="drill-", dir=harness._TMP)
        cls.pristine = os.path.join(cls.tmp, "pristine")
        cls.origin = VOrigin()
        t0 = time.monotonic()
        cls.capture()
        cls.load_pristine()
        print("drill: captured %d exchanges (%d deleted) in %.1f s"
              % (N, DELETED, time.monotonic() - t0), file=sys.stderr)
        cls.summary = []

    @classmethod
    def tearDownClass(cls):
        cls.origin.stop()
        for line in cls.summary:
            print("drill: " + line, file=sys.stderr)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def capture(cls):
        p = proxy_on(cls.pristine, "drill", workers=2, name="drill").start()
        try:
            def client(part):
                import http.client
                c = http.client.HTTPConnection(p.host, p.port, timeout=20)
                for k in range(part, N, 4):
                    rl = (k * 37) % 1500 if k % 2 else 0
                    path = path_of(k, rl=rl, sl=(k * 131) % 6000, st=404 if k % 9 == 0 else 200,
                                   ct=("json", "html", "bin", "text")[k % 4],
                                   te="c" if k % 5 == 0 else "l")
                    c.request("POST" if rl else "GET", cls.origin.url(path),
                              body=body_of("q", k, rl) if rl else None)
                    r = c.getresponse()
                    r.read()
                c.close()
            with concurrent.futures.ThreadPoolExecutor(4) as ex:
                list(ex.map(client, range(4)))
            time.sleep(0.6)   # past the flush interval
            code, out, err = rc("sessions", "--data", cls.pristine, "--json")
            cls.sid = json.loads(out)[0]["id"]
            code, out, err = rc("ls", cls.sid, "--data", cls.pristine, "--json")
            ids = sorted(r["id"] for r in json.loads(out))
            assert len(ids) == N, (len(ids), err)
            gone = random.Random(FIXED_SEED).sample(ids, DELETED)
            ctl = p.control_port
            url = "http://127.0.0.1:%d/api/sessions/%s/exchanges?ids=%s" % (
                ctl, cls.sid, ",".join(map(str, gone)))
            with urllib.request.urlopen(urllib.request.Request(url, method="DELETE"),
                                        timeout=10) as r:
                assert r.status == 200, r.status
        finally:
            assert p.stop() == 0, p.log()

    @classmethod
    def load_pristine(cls):
        cls.sdir = os.path.join(cls.pristine, cls.sid)
        # at rest: readers take a segment written in the last 2 s whose index
        # lags for a flush in flight (fsck does not)
        old = time.time() - 3600
        for f in os.listdir(cls.sdir):
            os.utime(os.path.join(cls.sdir, f), (old, old))
        code, out, err = rc("ls", cls.sid, "--data", cls.pristine, "--json")
        assert code == 0 and not err, err
        cls.rows = {r["id"]: r for r in json.loads(out)}
        assert len(cls.rows) == N - DELETED
        cls.files = sorted(os.listdir(cls.sdir))
        cls.spans = {}     # worker -> {id: (first, end)}
        cls.all_ids = set()
        for f in cls.files:
            if f.endswith(".seg"):
                w = f[:4]
                with open(os.path.join(cls.sdir, f), "rb") as fh:
                    seg = fh.read()
                with open(os.path.join(cls.sdir, f[:-4] + ".idx"), "rb") as fh:
                    idx = fh.read()
                with open(os.path.join(cls.sdir, f[:-4] + ".str"), "rb") as fh:
                    strs = fh.read()
                cls.spans[w] = spans_of(idx, frames_of(seg), strs)
                cls.all_ids |= set(cls.spans[w])
        assert cls.all_ids >= set(cls.rows), "every listed exchange is indexed"
        assert len(cls.spans) == 2, cls.files
        assert "tombstones" in cls.files and "session.meta.prev" in cls.files, cls.files
        cls.shown = dict(zip(sorted(cls.rows), cls.show_all(cls.pristine, sorted(cls.rows))))

    @classmethod
    def show_all(cls, data, ids):
        def one(xid):
            return rc("show", cls.sid, xid, "--data", data, "--json")
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            return list(ex.map(one, ids))

    # ---- one case ----

    def target(self, kind, rng):
        if kind in ("seg", "idx", "str"):
            # a worker that got no connection has header-only files: their
            # loss hides nothing, so no reader would say so
            w = rng.choice(sorted(w for w in self.spans if self.spans[w]))
            return w, [f for f in self.files if f.startswith(w) and f.endswith("." + kind)][0]
        return None, {"tombstones": "tombstones"}.get(kind, "session.meta")

    def damage(self, path, how, rng):
        """Damages path; returns (damaged byte range or None for all, detectable)."""
        size = os.path.getsize(path)
        if how == "delete":
            os.unlink(path)
            return (0, size), True
        if how == "truncate":
            t = rng.randrange(0, size)
            os.truncate(path, t)
            return (t, size), True
        with open(path, "r+b") as f:
            if how == "zero":
                a = rng.randrange(0, size)
                b = min(size, a + rng.randrange(1, 4096))
                f.seek(a)
                old = f.read(b - a)
                f.seek(a)
                f.write(bytes(b - a))
                return (a, b), any(old)
            a = rng.randrange(0, size)
            f.seek(a)
            v = f.read(1)[0]
            f.seek(a)
            f.write(bytes([v ^ (1 << rng.randrange(8))]))
            return (a, a + 1), True

    def intact(self, kind, worker, rng_range):
        if kind != "seg":
            return set(self.rows)
        a, b = rng_range
        lost = {x for x, (s, e) in self.spans[worker].items() if s < b and a < e}
        return set(self.rows) - lost

    def to_show(self, kind, worker, want, rng):
        """The intact exchanges whose files were damaged -- all of them -- and
        SAMPLE of the rest (their files are the pristine ones; a sample shows
        the session is still found). Sanitizer builds run `show` 5x slower."""
        mine = set(self.spans[worker]) if worker else set()
        rest = sorted(want - mine)
        return sorted(want & mine) + sorted(rng.sample(rest, min(SAMPLE, len(rest))))

    def listing(self, data):
        code, out, err = rc("ls", self.sid, "--data", data, "--json")
        self.assertEqual(code, 0, err)
        return {r["id"]: r for r in json.loads(out)}, err

    def run_case(self, kind, how, seed):
        rng = random.Random("%s/%s/%d" % (kind, how, seed))
        data = os.path.join(self.tmp, "case")
        shutil.rmtree(data, ignore_errors=True)
        shutil.copytree(self.pristine, data)
        sdir = os.path.join(data, self.sid)
        worker, name = self.target(kind, rng)
        rng_range, detectable = self.damage(os.path.join(sdir, name), how, rng)
        if kind == "meta+prev":
            os.unlink(os.path.join(sdir, "session.meta.prev"))
        # a tombstones file deleted or cut at a record boundary is seen too:
        # session.meta counts the deletions (persist/tomb.c)
        what = "%s %s %s %s" % (kind, how, name, rng_range)
        want = self.intact(kind, worker, rng_range)

        got, err = self.listing(data)
        # a reader says so in one line when what it lists had to come from
        # the frames (an index, or the text of a string file; a string file
        # header is checked by fsck only)
        if detectable and (kind == "idx" or
                           (kind == "str" and (how == "delete" or rng_range[1] > HDR))):
            self.assertEqual(err.count(b"\n"), 1, what + ": " + err.decode())
        self.assertLessEqual(want, set(got), what + ": intact exchanges hidden")
        self.assertLessEqual(set(got), self.all_ids, what + ": ids never captured")
        for x in want:
            self.assertEqual(got[x], self.rows[x], what)
        code, out, err2 = rc("sessions", "--data", data, "--json")
        self.assertEqual(code, 0, err2)
        if kind.startswith("meta") and detectable:
            self.assertEqual(err2.count(b"\n"), 1, what + ": " + err2.decode())
        ses = {s["id"]: s for s in json.loads(out)}
        self.assertIn(self.sid, ses, what)
        # sessions counts index entries minus tombstone records (an estimate:
        # a deleted segment's tombstones are still subtracted)
        self.assertGreaterEqual(ses[self.sid]["exchanges"], len(want) - DELETED, what)
        if kind == "meta+prev":
            self.assertEqual(ses[self.sid]["state"], "damaged", what)
        wl = self.to_show(kind, worker, want, rng)
        for x, (c, o, e) in zip(wl, self.show_all(data, wl)):
            self.assertEqual((c, o), self.shown[x][:2], "%s: show %d: %s" % (what, x, e))

        code0, out, err = rc("fsck", self.sid, "--data", data)
        if detectable:
            self.assertNotEqual(code0, 0, what + ": fsck saw nothing\n" + out.decode())
        code, out, err = rc("fsck", self.sid, "--data", data, "--repair")
        self.assertIn(code, (0, 1, 3) if not detectable else (1, 3),
                      what + "\n" + out.decode() + err.decode())
        if kind != "seg":
            self.assertEqual(code if detectable else 3, 3, what + "\n" + out.decode())
        after, err = self.listing(data)
        self.assertLessEqual(want, set(after), what + ": after --repair")
        self.assertFalse(err, what + ": a warning after --repair: " + err.decode())
        code2, out, _ = rc("fsck", self.sid, "--data", data)
        self.assertEqual(code2, 1 if code == 1 else 0, what + " after --repair\n" + out.decode())
        self.summary.append("%-10s %-8s %-17s at %-14s listed %3d, intact %3d of %d; fsck %d, "
                            "--repair %d, listed after %3d"
                            % (kind, how, name, "%d-%d" % rng_range, len(got), len(want),
                               len(self.rows), code0, code, len(after)))

    def test_api_and_overview(self):
        """A session whose index of one worker is deleted and whose both
        metadata copies are damaged: the control API lists it (state
        "damaged") with every exchange, says the listing met damage, and
        `overview` counts every exchange."""
        data = os.path.join(self.tmp, "api")
        shutil.copytree(self.pristine, data)
        sdir = os.path.join(data, self.sid)
        # the index of a worker that got connections: SO_REUSEPORT may hand
        # all four to one worker, and a header-only index hides nothing
        w = min(w for w in self.spans if self.spans[w])
        os.unlink(os.path.join(sdir, w + "-00000001.idx"))
        for meta in ("session.meta", "session.meta.prev"):
            with open(os.path.join(sdir, meta), "r+b") as f:
                f.seek(20)
                f.write(bytes(50))
        code, out, err = rc("overview", self.sid, "--data", data, "--json")
        self.assertEqual(code, 0, err)
        ov = json.loads(out)
        self.assertEqual(ov["total"], len(self.rows), ov)
        p = proxy_on(data, None, workers=1, name="drill-api").start()
        try:
            def get(path):
                url = "http://127.0.0.1:%d%s" % (p.control_port, path)
                with urllib.request.urlopen(url, timeout=10) as r:
                    return json.loads(r.read())
            ses = {s["id"]: s for s in get("/api/sessions")}
            self.assertEqual(ses[self.sid]["state"], "damaged")
            self.assertGreaterEqual(ses[self.sid]["exchanges"], len(self.rows))
            got = get("/api/sessions/%s/exchanges?limit=100000" % self.sid)
            self.assertEqual(got["total"], len(self.rows))
            self.assertGreater(got["damaged"], 0)
            self.assertEqual({r["id"]: r for r in got["exchanges"]}, self.rows)
        finally:
            self.assertEqual(p.stop(), 0, p.log())

    def test_fsck_cli(self):
        """Exit statuses other than the drill's: 0 for a sound session (by
        name, id, directory path, or its data directory), 2 usage, 4 for
        what is not a session; --help documents them."""
        for arg in ("drill", self.sid, self.sdir, self.pristine):
            code, out, err = rc("fsck", arg, "--data", self.pristine)
            self.assertEqual(code, 0, (arg, out, err))
        code, out, err = rc("fsck", "--data", self.pristine)
        self.assertEqual(code, 2, err)
        code, out, err = rc("fsck", "nosuch", "--data", self.pristine)
        self.assertEqual(code, 4, err)
        code, out, err = rc("fsck", "--help")
        self.assertEqual(code, 0, err)
        for line in (b"exit status:", b"0  no damage found", b"2  usage error",
                     b"3  damage found and repaired", b"4  could not check"):
            self.assertIn(line, out)

    def test_drill(self):
        t0 = time.monotonic()
        cases = 0
        for kind in KINDS:
            for how in DAMAGES:
                seeds = (FIXED_SEED, self.seed) if how in ("truncate", "zero", "flip") \
                    else (FIXED_SEED,)
                for seed in seeds:
                    with self.subTest(kind=kind, how=how, seed=seed):
                        self.run_case(kind, how, seed)
                    cases += 1
        self.summary.append("%d cases in %.1f s" % (cases, time.monotonic() - t0))


if __name__ == "__main__":
    harness.main()
