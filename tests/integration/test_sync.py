#!/usr/bin/env python3
"""`ringcap run --sync` (issue 18): an exchange is durable before its
response's last byte reaches the client.

Every run uses --flush-interval 60s, so nothing reaches the disk by age
during a test: only the --sync group commit can have written it.
  - kill right after the response: N times in a loop, one exchange a time
    (plain and chunked, small and 200 KiB, http and intercepted https), the
    daemon is killed with SIGKILL the moment the client has read the whole
    response, then restarted on the same session; after each kill the
    exchange is listed and `show` gives back the exact bodies;
  - concurrent load: CLIENTS keep-alive clients send requests until a
    random moment, the daemon is killed; every exchange a client had
    finished reading before the kill is listed, complete;
  - pipelined: two requests in one write; both answers read, kill: both
    listed (the second held behind the first's commit);
  - the control: without --sync the same kill loses the exchanges (the
    test above would fail without the hold);
  - `run --help` states --sync and its default.
"""

import concurrent.futures as cf
import http.client
import os
import random
import socket
import tempfile
import threading
import time
import unittest

import harness
import storelib as sl

N = int(os.environ.get("RINGCAP_SYNC_N", "8"))
CLIENTS = 3
SLOW = ["--flush-interval", "60s"]


class Sync(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        cls.tmp = tempfile.mkdtemp(prefix="sync-", dir=harness._TMP)
        cls.cert, key = sl.make_cert(cls.tmp)
        cls.origin = sl.VOrigin()
        cls.torigin = sl.VOrigin(tls=(cls.cert, key))

    @classmethod
    def tearDownClass(cls):
        cls.origin.stop()
        cls.torigin.stop()

    def data_dir(self, tag):
        d = os.path.join(self.tmp, tag)
        os.mkdir(d)
        return d

    def start(self, data, extra, workers=2):
        return sl.proxy_on(data, "s", ["--sync", "--upstream-ca", self.cert] + SLOW + extra,
                           workers=workers, name="sync").start()

    def check_stored(self, data, k, path, sl_len, url_host="127.0.0.1"):
        rows = [r for r in sl.ls(data, "s") if ("/x/%d?" % k) in r["url"]]
        self.assertEqual(len(rows), 1, "exchange %d not listed after the kill" % k)
        r = rows[0]
        self.assertEqual(r["status"], 200)
        self.assertEqual(r["host"], url_host)
        body = sl.show_body(data, "s", str(r["id"]), "response")
        self.assertEqual(body, sl.body_of("s", k, sl_len), "response body of %d" % k)

    def test_kill_after_each_response(self):
        data = self.data_dir("loop")
        ca = os.path.join(data, "ca-cert.pem")
        rnd = random.Random(18)
        for i in range(N):
            k = 100 + i
            https = i % 4 == 3
            size = 200 * 1024 if i % 3 == 2 else rnd.randrange(0, 3000)
            te = "c" if i % 2 else "l"
            path = sl.path_of(k, sl=size, te=te)
            p = self.start(data, [])
            c = sl.Client(p, self.torigin if https else None, ca if https else None)
            try:
                url = path if https else self.origin.url(path)
                st, _, body = c.request("GET", url)
                sl.kill9(p)   # the moment the whole response is in
            finally:
                c.close()
                if p.proc.poll() is None:
                    sl.kill9(p)
            self.assertEqual(st, 200)
            self.assertEqual(body, sl.body_of("s", k, size))
            self.check_stored(data, k, path, size, "localhost" if https else "127.0.0.1")

    def load(self, p, k0, stop):
        """One keep-alive client: requests until stop; returns the ks whose
        response it read completely."""
        c = sl.Client(p)
        done = []
        k = k0
        try:
            while not stop.is_set():
                size = (k * 7919) % 20000
                try:
                    st, _, body = c.request("POST" if k % 5 == 0 else "GET",
                                            self.origin.url(sl.path_of(k, sl=size)))
                except (OSError, http.client.HTTPException):
                    break   # the kill, mid-response
                if st == 200 and body == sl.body_of("s", k, size):
                    done.append(k)
                k += 1
        finally:
            c.close()
        return done

    def test_kill_under_load(self):
        data = self.data_dir("load")
        p = self.start(data, [])
        stop = threading.Event()
        with cf.ThreadPoolExecutor(CLIENTS) as ex:
            futs = [ex.submit(self.load, p, 1000 * (i + 1), stop) for i in range(CLIENTS)]
            time.sleep(0.5 + random.Random(7).random())
            sl.kill9(p)
            stop.set()
            done = [k for f in futs for k in f.result()]
        self.assertGreater(len(done), 20, "too little load to mean anything")
        listed = {}
        for r in sl.ls(data, "s"):
            listed[int(r["url"].split("/x/")[1].split("?")[0])] = r
        missing = sorted(k for k in done if k not in listed)
        self.assertEqual(missing, [], "answered, then lost by the kill")
        for k in done[:: max(1, len(done) // 10)]:
            self.assertEqual(listed[k]["status"], 200)
            self.assertEqual(listed[k]["response_size"] > 0, True)

    def test_pipelined(self):
        data = self.data_dir("pipe")
        p = self.start(data, [], workers=1)
        reqs = b""
        for k in (7001, 7002):
            reqs += ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
                     % (self.origin.url(sl.path_of(k, sl=100)), self.origin.port)).encode()
        s = socket.create_connection((p.host, p.port), timeout=10)
        try:
            s.sendall(reqs)
            want = sl.body_of("s", 7002, 100)
            got = b""
            while not got.endswith(want):
                chunk = s.recv(65536)
                self.assertTrue(chunk, "connection closed early: %r" % got)
                got += chunk
            sl.kill9(p)
        finally:
            s.close()
        self.assertEqual(got.count(b"HTTP/1.1 200"), 2)
        urls = sorted(r["url"] for r in sl.ls(data, "s"))
        self.assertEqual(len(urls), 2, urls)

    def test_control_without_sync_loses(self):
        data = self.data_dir("control")
        p = sl.proxy_on(data, "s", SLOW, workers=1, name="sync").start()
        c = sl.Client(p)
        try:
            for k in range(3):
                st, _, _ = c.request("GET", self.origin.url(sl.path_of(9000 + k, sl=10)))
                self.assertEqual(st, 200)
            sl.kill9(p)
        finally:
            c.close()
        self.assertEqual(sl.ls(data, "s"), [])

    def test_help(self):
        code, out, err = sl.rc("run", "--help")
        self.assertEqual(code, 0, err)
        line = [l for l in out.decode().splitlines() if l.strip().startswith("--sync")]
        self.assertEqual(len(line), 1, out)
        self.assertIn("[off]", line[0])


if __name__ == "__main__":
    harness.main()
