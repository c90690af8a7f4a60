#!/usr/bin/env python3
"""`ringcap export` and `ringcap import` against real consumers (issue 12).

Traffic goes through a real ringcap (`run --session`) to two loopback
origins of this file; the session is then exported offline and read by the
ecosystem's own packages (tests/node, installed with `npm ci`):
  - Postman's SDK (postman-collection) loads every collection: the grouping
    truth table (none, domain, endpoint, domain+endpoint), id templating of
    endpoint folders, bodies by mode (raw with language, urlencoded,
    formdata for multipart, binary as file with a note, none when empty),
    saved responses as examples, identical requests collapsed, --name,
    --base-url-variables, --ids / filter / --search selections;
  - newman runs a --with-tests collection against the origins: every test
    passes, and tests fail when an origin answers another status;
  - har-validator accepts every HAR (and rejects a broken one);
  - capture -> HAR -> import -> HAR gives the same entries; a session
    captured with --no-save-responses and media responses carry no bodies;
  - malformed HAR files are refused with the JSON path that is wrong and
    leave no session behind.
"""

import base64
import gzip
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import harness
from harness import Proxy

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "..", "node")
READER = os.path.join(NODE_DIR, "read_export.js")
NEWMAN = os.path.join(NODE_DIR, "node_modules", ".bin", "newman")
UUID = "3f2b8c1e-9a4d-4c7b-8e21-0a1b2c3d4e5f"
BINARY = bytes([0, 1, 2, 255, 254, 0x80, 10, 13, 0]) * 7
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4
BIGBIN = bytes((i * 7919 + (i >> 8)) & 255 for i in range(2 << 20))
CODED_DOC = b'{"coded": true, "words": "' + b"plain words " * 40 + b'"}'
CODED = {"gz": (gzip.compress(CODED_DOC), "gzip"), "zz": (zlib.compress(CODED_DOC), "deflate"),
         "br": (bytes(range(40)), "br")}   # br: a coding the export does not read
BIGTEXT = ("line \x01\x02 caf\u00e9 \u6f22\u5b57 " * 100000).encode()  # ~3 MB, valid UTF-8


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    shifted = False  # set on the class of the "changed" origin

    def log_message(self, *a):
        pass

    def _send(self, code, body=b"", ctype="application/json"):
        self.send_response(code)
        if code != 204:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if code != 204 and self.command != "HEAD":
            self.wfile.write(body)

    def _route(self):
        n = int(self.headers.get("Content-Length") or 0)
        req = self.rfile.read(n) if n else b""
        path = self.path.split("?")[0]
        parts = path.strip("/").split("/")
        if path == "/empty":
            return self._send(204)
        if path == "/video.mp4":
            return self._send(200, VIDEO, "video/mp4")
        if path == "/bigbin":
            return self._send(200, BIGBIN, "application/octet-stream")
        if parts[0] == "coded":
            body, ce = CODED[parts[1]]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", ce)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return self.wfile.write(body)
        if parts[0] == "status":
            return self._send(int(parts[1]), b'{"status":%s}' % parts[1].encode())
        if self.command == "POST" and path in ("/form", "/upload", "/bin"):
            code = {"/form": 201, "/upload": 201, "/bin": 202}[path]
            return self._send(code, json.dumps({"got": len(req)}).encode())
        code = 410 if self.shifted and path == "/users/17" else 200
        return self._send(code, json.dumps({"path": path, "method": self.command,
                                            "len": len(req)}).encode())

    do_GET = do_POST = do_PUT = do_DELETE = _route


def serve(shifted=False):
    cls = type("H", (Handler,), {"shifted": shifted})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), cls)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def rc(*args, check=True):
    r = subprocess.run([harness.RINGCAP_BIN] + [str(a) for a in args], capture_output=True,
                       timeout=120)
    if check and r.returncode != 0:
        raise AssertionError("ringcap %s: %d\n%s" % (args, r.returncode, r.stderr.decode()))
    return r


def node(*args):
    r = subprocess.run(["node", READER] + list(args), capture_output=True, timeout=120)
    return r.returncode, json.loads(r.stdout or b"null"), r.stderr.decode()


def load(path):
    with open(path, "rb") as f:
        return json.load(f)


def node_ready():
    return shutil.which("node") and os.path.isdir(os.path.join(NODE_DIR, "node_modules",
                                                                "postman-collection"))


class Export(unittest.TestCase):
    """One capture, many exports."""

    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        if not node_ready():
            raise unittest.SkipTest("tests/node not installed (npm ci in tests/node)")
        cls.tmp = tempfile.mkdtemp(prefix="export-", dir=harness._TMP)
        cls.a, cls.b = serve(), serve()
        cls.A = "http://127.0.0.1:%d" % cls.a.server_address[1]
        cls.B = "http://127.0.0.1:%d" % cls.b.server_address[1]
        cls.data = cls.capture("exp", [], cls.traffic_main)
        cls.data_nr = cls.capture("nores", ["--no-save-responses"], cls.traffic_small)
        cls.data_cd = cls.capture("coded", [], lambda proxy: [
            cls.curl(proxy, cls.A + "/coded/" + k) for k in ("gz", "zz", "br")])

    @classmethod
    def tearDownClass(cls):
        for s in (getattr(cls, "a", None), getattr(cls, "b", None)):
            if s:
                s.shutdown()
                s.server_close()

    @classmethod
    def capture(cls, name, extra, traffic):
        p = Proxy(["--session", name] + extra, 2, "export-" + name)
        argv = p.argv()
        data = argv[argv.index("--data") + 1]
        p.argv = lambda: list(argv)
        p.start()
        try:
            traffic(p.url())
        finally:
            assert p.stop() == 0
        return data

    @classmethod
    def curl(cls, proxy, *a):
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "--noproxy", "", "-x", proxy,
                            "-o", "/dev/null"] + list(a), capture_output=True)
        assert r.returncode == 0, r.stderr

    @classmethod
    def traffic_main(cls, proxy):
        A, B, c = cls.A, cls.B, lambda *a: cls.curl(proxy, *a)
        c(A + "/users/17")
        c(A + "/users/42")
        c(A + "/users/17")                       # identical to the first: collapsed
        c(A + "/users/17/orders?page=2&q=a%20b")
        c(A + "/items/" + UUID)
        c(A + "/blobs/deadbeefcafebabe0123")
        c("-d", "a=1&b=hello+world&c=%C3%A9", A + "/form")
        c("-F", "title=holiday", "-F", "file=@%s;type=text/plain" % cls.upload_file(), A + "/upload")
        c("--data-binary", "@" + cls.binary_file(), "-H", "Content-Type: application/octet-stream",
          A + "/bin")
        c(A + "/empty")
        c(A + "/video.mp4")
        c(B + "/users/5")
        c(B + "/status/404")
        c("-X", "POST", "-H", "Content-Type: application/json", "-d", '{"x":1}', A + "/users/17")
        for body in ('{"a":1}', '{"a":1}', '{"a":2}'):
            c("-H", "Content-Type: application/json", "-d", body, A + "/echo")

    @classmethod
    def traffic_small(cls, proxy):
        cls.curl(proxy, cls.A + "/users/1")
        cls.curl(proxy, "-d", "k=v", cls.A + "/form")

    @classmethod
    def upload_file(cls):
        path = os.path.join(cls.tmp, "notes.txt")
        with open(path, "w") as f:
            f.write("line one\nline two\n")
        return path

    @classmethod
    def binary_file(cls):
        path = os.path.join(cls.tmp, "blob.bin")
        with open(path, "wb") as f:
            f.write(BINARY)
        return path

    # ---- helpers ----

    def export(self, data, session, *args):
        out = os.path.join(self.tmp, "%s-%d.out" % (session, len(os.listdir(self.tmp))))
        rc("export", session, "--data", data, "-o", out, *args)
        return out

    def collection(self, *args, data=None, session="exp"):
        path = self.export(data or self.data, session, "--format", "postman", *args)
        code, tree, err = node("postman", path)
        self.assertEqual(code, 0, err)
        return path, tree

    def listing(self, data=None, session="exp"):
        return json.loads(rc("ls", session, "--data", data or self.data, "--json").stdout)

    @staticmethod
    def items(tree):
        out = list(tree["items"])
        for f in tree["folders"]:
            out += Export.items(f)
        return out

    # ---- Postman ----

    def test_group_none(self):
        _, t = self.collection("--group", "none")
        self.assertEqual(t["folders"], [])
        self.assertEqual(t["schema"],
                         "https://schema.getpostman.com/json/collection/v2.1.0/collection.json")
        rows = self.listing()
        # 17 exchanges; /users/17 twice and {"a":1} twice collapse: 15 items
        self.assertEqual(len(rows), 17)
        self.assertEqual(len(t["items"]), 15)
        first = t["items"][0]
        self.assertEqual(first["url"], self.A + "/users/17")
        self.assertEqual([e["code"] for e in first["examples"]], [200, 200])
        echo = [i for i in t["items"] if i["url"].endswith("/echo")]
        self.assertEqual([len(i["examples"]) for i in echo], [2, 1])
        self.assertEqual([i["body"]["raw"] for i in echo], ['{"a":1}', '{"a":2}'])

    def test_group_domain(self):
        _, t = self.collection("--group", "domain")
        names = [f["name"] for f in t["folders"]]
        self.assertEqual(names, [self.A[7:], self.B[7:]])
        self.assertEqual(t["items"], [])
        for f in t["folders"]:
            self.assertEqual(f["folders"], [])
            for i in f["items"]:
                self.assertTrue(i["url"].startswith("http://" + f["name"] + "/"), i["url"])
        self.assertEqual(len(t["folders"][1]["items"]), 2)

    def test_group_endpoint(self):
        _, t = self.collection("--group", "endpoint")
        self.assertEqual(t["items"], [])
        by = {f["name"]: sorted(set(i["url"] for i in f["items"])) for f in t["folders"]}
        self.assertEqual(by["/users/:id"], sorted({self.A + "/users/17", self.A + "/users/42",
                                                   self.B + "/users/5"}))
        self.assertEqual(by["/items/:id"], [self.A + "/items/" + UUID])
        self.assertEqual(by["/blobs/:id"], [self.A + "/blobs/deadbeefcafebabe0123"])
        self.assertEqual(by["/users/:id/orders"], [self.A + "/users/17/orders?page=2&q=a%20b"])
        self.assertEqual(by["/status/:id"], [self.B + "/status/404"])
        self.assertIn("/echo", by)
        self.assertIn("/video.mp4", by)

    def test_group_domain_endpoint(self):
        _, t = self.collection("--group", "domain,endpoint")
        self.assertEqual([f["name"] for f in t["folders"]], [self.A[7:], self.B[7:]])
        a, b = t["folders"]
        self.assertEqual(a["items"], [])
        self.assertEqual([f["name"] for f in b["folders"]], ["/users/:id", "/status/:id"])
        users = [f for f in a["folders"] if f["name"] == "/users/:id"][0]
        # GET /users/17 (2 examples), GET /users/42, POST /users/17
        self.assertEqual([(i["method"], i["url"][len(self.A):], len(i["examples"]))
                          for i in users["items"]],
                         [("GET", "/users/17", 2), ("GET", "/users/42", 1),
                          ("POST", "/users/17", 1)])
        total = sum(len(i["examples"]) for i in self.items(t))
        # every exchange with a saved response is an example (204 included)
        self.assertEqual(total, 17)

    def test_bodies(self):
        _, t = self.collection("--group", "none")
        by = {(i["method"], i["path"]): i for i in t["items"]}
        form = by[("POST", "/form")]["body"]
        self.assertEqual(form["mode"], "urlencoded")
        self.assertEqual(form["params"], [["a", "1"], ["b", "hello world"], ["c", "\u00e9"]])
        up = by[("POST", "/upload")]["body"]
        self.assertEqual(up["mode"], "formdata")
        self.assertEqual(up["params"], [["title", "text", "holiday"], ["file", "file", "notes.txt"]])
        binary = by[("POST", "/bin")]
        self.assertEqual(binary["body"]["mode"], "file")
        self.assertIn("binary request body of %d bytes" % len(BINARY), binary["description"])
        raw = by[("POST", "/users/17")]["body"]
        self.assertEqual((raw["mode"], raw["raw"], raw["language"]), ("raw", '{"x":1}', "json"))
        self.assertIsNone(by[("GET", "/empty")]["body"])
        ex = by[("GET", "/users/42")]["examples"][0]
        self.assertEqual(json.loads(ex["body"]), {"path": "/users/42", "method": "GET", "len": 0})
        self.assertIn(["Content-Type", "application/json"], ex["headers"])
        self.assertEqual(by[("GET", "/video.mp4")]["examples"][0]["body"], "")
        self.assertEqual(by[("GET", "/empty")]["examples"][0]["code"], 204)
        hdrs = [h[0].lower() for i in t["items"] for h in i["headers"]]
        for hop in ("proxy-connection", "connection", "host", "content-length"):
            self.assertNotIn(hop, hdrs)

    def test_name_and_description(self):
        _, t = self.collection("--name", "My API", "--group", "none")
        self.assertEqual(t["name"], "My API")
        self.assertIn("session exp", t["description"])
        self.assertIn("127.0.0.1", t["description"])  # the client

    def test_selection(self):
        rows = self.listing()
        ids = [r["id"] for r in rows]
        _, t = self.collection("--group", "none", "--ids", "%d,%d" % (ids[1], ids[4]))
        self.assertEqual([i["url"] for i in t["items"]],
                         [rows[1]["url"], rows[4]["url"]])
        _, t = self.collection("--group", "none", "--method", "POST")
        self.assertEqual({i["method"] for i in t["items"]}, {"POST"})
        self.assertEqual(sum(len(i["examples"]) for i in t["items"]),
                         sum(1 for r in rows if r["method"] == "POST"))
        _, t = self.collection("--group", "none", "--search", "orders")
        self.assertEqual([i["path"] for i in t["items"]], ["/users/17/orders"])
        r = rc("export", "exp", "--data", self.data, "--format", "postman", "--ids", "7-3",
               check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("'7-3' ends before it starts", r.stderr.decode())

    def test_base_url_variables(self):
        _, t = self.collection("--group", "none", "--base-url-variables")
        self.assertEqual(t["variables"], [["host_1", self.A], ["host_2", self.B]])
        self.assertEqual(t["items"][0]["url"], "{{host_1}}/users/17")

    def test_newman(self):
        """The --with-tests collection passes against the origins it was
        captured from, and fails where an origin answers another status."""
        path, t = self.collection("--group", "domain,endpoint", "--with-tests",
                                  "--base-url-variables")
        items = self.items(t)
        self.assertTrue(all(i["tests"] for i in items))
        report = os.path.join(self.tmp, "newman.json")
        r = subprocess.run([NEWMAN, "run", path, "--reporters", "json",
                            "--reporter-json-export", report], capture_output=True, timeout=120)
        run = load(report)["run"]
        self.assertEqual(r.returncode, 0, run["failures"][:3])
        self.assertEqual(run["stats"]["assertions"]["failed"], 0)
        self.assertEqual(run["stats"]["assertions"]["total"], len(items))
        shifted = serve(shifted=True)
        try:
            r = subprocess.run([NEWMAN, "run", path, "--reporters", "json",
                                "--reporter-json-export", report, "--env-var",
                                "host_1=http://127.0.0.1:%d" % shifted.server_address[1]],
                               capture_output=True, timeout=120)
        finally:
            shifted.shutdown()
            shifted.server_close()
        run = load(report)["run"]
        self.assertEqual(r.returncode, 1)
        failed = [f["source"]["name"] for f in run["failures"]]
        # GET /users/17 (410 now); POST /users/17 too: the origin shifts the path
        self.assertEqual(run["stats"]["assertions"]["failed"], 2, failed)

    # ---- HAR ----

    def har(self, data=None, session="exp", *args):
        path = self.export(data or self.data, session, "--format", "har", *args)
        code, out, err = node("har", path)
        self.assertEqual(code, 0, out)
        return path, load(path)["log"]["entries"]

    def test_har_sort_order(self):
        # every sort streams (persist/scan.c): the entries come in ls's order,
        # ties included, both ways. An exchange the export reports skipped
        # ("frames are damaged") is left out of the comparison: opening
        # exchange 9 (POST /bin) right after 6 through the open cache fails
        # now and then (persist/open.c, also on main before the streaming
        # sorts; reported separately), which is not about the order.
        for key in ("time", "status", "method", "url", "host", "type", "size", "duration"):
            for rev in ((), ("--reverse",)):
                out = os.path.join(self.tmp, "order-%s%s.har" % (key, "-r" if rev else ""))
                r = rc("export", "exp", "--data", self.data, "-o", out, "--format", "har",
                       "--sort", key, *rev)
                m = re.search(r"(\d+) exchanges skipped", r.stderr.decode())
                skipped = int(m.group(1)) if m else 0
                got = [e["_id"] for e in load(out)["log"]["entries"]]
                ls = [x["id"] for x in json.loads(rc("ls", "exp", "--data", self.data, "--json",
                                                      "--sort", key, *rev).stdout)]
                self.assertEqual(len(got) + skipped, len(ls), (key, rev))
                self.assertLessEqual(skipped, 1, (key, rev))
                self.assertEqual(got, [i for i in ls if i in set(got)], (key, rev))
                self.assertGreater(len(got), 5)

    def test_har_entries(self):
        _, es = self.har()
        rows = self.listing()
        self.assertEqual([(e["request"]["method"], e["request"]["url"], e["response"]["status"])
                          for e in es], [(r["method"], r["url"], r["status"]) for r in rows])
        by = {(e["request"]["method"], e["request"]["url"][len(self.A):]): e for e in es}
        up = by[("POST", "/upload")]["request"]["postData"]
        self.assertIn("multipart/form-data", up["mimeType"])
        self.assertEqual([(p["name"], p.get("fileName")) for p in up["params"]],
                         [("title", None), ("file", "notes.txt")])
        binary = by[("POST", "/bin")]["request"]["postData"]
        self.assertEqual(binary["_encoding"], "base64")
        self.assertEqual(base64.b64decode(binary["text"]), BINARY)
        self.assertNotIn("postData", by[("GET", "/empty")]["request"])
        video = by[("GET", "/video.mp4")]
        self.assertNotIn("text", video["response"]["content"])
        self.assertEqual(video["response"]["content"]["size"], len(VIDEO))
        self.assertIn("media", video["_flags"])
        form = by[("POST", "/form")]["request"]["postData"]["params"]
        self.assertEqual([(p["name"], p["value"]) for p in form],
                         [("a", "1"), ("b", "hello world"), ("c", "\u00e9")])
        q = by[("GET", "/users/17/orders?page=2&q=a%20b")]["request"]["queryString"]
        self.assertEqual(q, [{"name": "page", "value": "2"}, {"name": "q", "value": "a b"}])
        for e in es:
            t = e["timings"]
            total = sum(v for k, v in t.items() if k != "ssl" and v > 0)
            self.assertAlmostEqual(total, e["time"], places=2)

    def test_har_validator_can_fail(self):
        path, es = self.har()
        doc = load(path)
        del doc["log"]["entries"][0]["request"]["headers"]
        doc["log"]["entries"][1]["response"]["status"] = "200"
        bad = os.path.join(self.tmp, "bad.har")
        with open(bad, "w") as f:
            json.dump(doc, f)
        code, out, _ = node("har", bad)
        self.assertEqual(code, 1)
        self.assertIn(bad, out["errors"])

    def test_round_trip(self):
        path, es = self.har()
        out = rc("import", path, "--session", "back", "--data", self.data).stdout.decode().split()
        self.assertEqual(out[1], str(len(es)))
        _, es2 = self.har(self.data, "back")
        strip = lambda e: {k: v for k, v in e.items() if k != "_id"}
        self.assertEqual([strip(e) for e in es2], [strip(e) for e in es])
        sessions = json.loads(rc("sessions", "--data", self.data, "--json").stdout)
        back = [s for s in sessions if s["name"] == "back"][0]
        self.assertEqual(back["state"], "stopped")
        self.assertEqual(back["exchanges"], len(es))
        # every offline command reads it
        rc("overview", "back", "--data", self.data, "--by", "domain")
        ids = [r["id"] for r in self.listing(session="back")]
        rc("show", "back", ids[0], "--data", self.data, "--json")

    def test_coded_bodies_decoded_and_back(self):
        # HAR 1.2: content.text is decoded, size is its length, compression
        # the bytes the coding saved; a coding not read (br) stays as stored
        path, es = self.har(self.data_cd, "coded")
        by = {e["request"]["url"].rsplit("/", 1)[1]: e for e in es}
        for k in ("gz", "zz"):
            r = by[k]["response"]
            c = r["content"]
            self.assertEqual(c["text"], CODED_DOC.decode(), k)
            self.assertNotIn("encoding", c)
            self.assertEqual(c["size"], len(CODED_DOC))
            self.assertEqual(r["bodySize"], len(CODED[k][0]))
            self.assertEqual(c["compression"], len(CODED_DOC) - len(CODED[k][0]))
        c = by["br"]["response"]["content"]
        self.assertEqual(base64.b64decode(c["text"]), CODED["br"][0])
        self.assertEqual(c["encoding"], "base64")
        self.assertEqual(c["comment"], "as stored: Content-Encoding br not decoded")
        # a Postman example shows the text
        _, t = self.collection("--group", "none", data=self.data_cd, session="coded")
        bodies = {i["url"].rsplit("/", 1)[1]: i["examples"][0]["body"] for i in t["items"]}
        self.assertEqual(bodies["gz"], CODED_DOC.decode())
        self.assertEqual(bodies["zz"], CODED_DOC.decode())
        # import stores the bodies coded again, as they crossed the wire
        rc("import", path, "--session", "coded-back", "--data", self.data_cd)
        for row in self.listing(self.data_cd, "coded-back"):
            k = row["url"].rsplit("/", 1)[1]
            got = rc("show", "coded-back", row["id"], "--data", self.data_cd, "--body",
                     "response").stdout
            plain = {"gz": gzip.decompress, "zz": zlib.decompress, "br": bytes}[k](got)
            self.assertEqual(plain, CODED["br"][0] if k == "br" else CODED_DOC, k)
        # and out again: the same content
        _, es2 = self.har(self.data_cd, "coded-back")
        self.assertEqual([e["response"]["content"] for e in es2],
                         [e["response"]["content"] for e in es])
        # an older export (gzip bytes as base64) imports as it is, not coded twice
        old = load(path)
        for e in old["log"]["entries"]:
            k = e["request"]["url"].rsplit("/", 1)[1]
            if k == "gz":
                e["response"]["content"] = {"size": len(CODED["gz"][0]), "mimeType": "application/json",
                                            "text": base64.b64encode(CODED["gz"][0]).decode(),
                                            "encoding": "base64"}
        older = os.path.join(self.tmp, "older.har")
        with open(older, "w") as f:
            json.dump(old, f)
        rc("import", older, "--session", "coded-older", "--data", self.data_cd)
        row = [r for r in self.listing(self.data_cd, "coded-older") if r["url"].endswith("/gz")][0]
        got = rc("show", "coded-older", row["id"], "--data", self.data_cd, "--body", "response").stdout
        self.assertEqual(got, CODED["gz"][0])

    def test_no_saved_responses(self):
        _, es = self.har(self.data_nr, "nores")
        self.assertEqual(len(es), 2)
        for e in es:
            self.assertNotIn("text", e["response"]["content"])
            self.assertIn("no_response", e["_flags"])
            self.assertEqual(e["response"]["status"], 200 if "users" in e["request"]["url"] else 201)
        _, t = self.collection("--group", "none", "--with-tests", data=self.data_nr,
                               session="nores")
        self.assertEqual([len(i["examples"]) for i in t["items"]], [0, 0])
        self.assertIn("status is 201", t["items"][1]["tests"][0])

    def test_curl(self):
        path = self.export(self.data, "exp", "--format", "curl", "--method", "POST",
                           "--search", "form")
        with open(path) as f:
            text = f.read()
        self.assertIn("curl -sS -X 'POST' '%s/form'" % self.A, text)
        r = subprocess.run(["sh", path], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {"got": 26})

    def test_output_not_a_regular_file(self):
        """-o to a pipe writes into it and leaves it a pipe (a device such as
        /dev/null must never be replaced by the temporary file's rename)."""
        import stat
        fifo = os.path.join(self.tmp, "pipe")
        os.mkfifo(fifo)
        got = []
        t = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
        t.start()
        rc("export", "exp", "--data", self.data, "--format", "har", "-o", fifo)
        t.join(30)
        self.assertTrue(stat.S_ISFIFO(os.stat(fifo).st_mode))
        self.assertEqual(len(json.loads(got[0])["log"]["entries"]), 17)
        self.assertEqual([n for n in os.listdir(self.tmp) if ".part-" in n], [])

    # ---- import errors ----

    def test_import_malformed(self):
        path, es = self.har()
        good = load(path)
        cases = []
        d = json.loads(json.dumps(good))
        d["log"]["entries"][2]["request"]["url"] = 5
        cases.append((json.dumps(d), "$.log.entries[2].request.url: expected a string"))
        d = json.loads(json.dumps(good))
        d["log"]["entries"][1]["response"]["headers"][0] = "x"
        cases.append((json.dumps(d), "$.log.entries[1].response.headers[0]: expected an object"))
        d = json.loads(json.dumps(good))
        d["log"]["entries"][0]["timings"]["wait"] = "slow"
        cases.append((json.dumps(d), "$.log.entries[0].timings.wait: expected a number"))
        d = json.loads(json.dumps(good))
        d["log"]["entries"][0]["_webSocketMessages"] = [
            {"type": "send", "time": 1.5, "opcode": 1, "data": "hi"},
            {"type": "receive", "time": 1.6, "opcode": 2, "data": "not base64!"}]
        cases.append((json.dumps(d), "$.log.entries[0]._webSocketMessages[1]: data is not base64"))
        d = json.loads(json.dumps(good))
        d["log"]["entries"][3]["response"]["_trailers"] = {"grpc-status": "0"}
        cases.append((json.dumps(d), "$.log.entries[3].response._trailers: expected an array"))
        cases.append(('{"log":{"version":"1.2"}}', "$.log.entries: missing"))
        cases.append(('{"log":{"entries":{}}}', "$.log.entries: expected an array"))
        cases.append(('{"log":[]}', "$.log: expected an object"))
        cases.append(('[1]', "$: expected an object"))
        cases.append(('{"log":{"entries":[1]}}', "$.log.entries[0]: expected an object"))
        text = json.dumps(good)
        cases.append((text[:len(text) // 2], "unexpected end of file"))
        cases.append(('{"log":{"entries":[{"request":{"url":"x",}}]}}',
                      "$.log.entries[0]: invalid JSON"))
        before = len(json.loads(rc("sessions", "--data", self.data, "--json").stdout))
        for i, (body, want) in enumerate(cases):
            p = os.path.join(self.tmp, "bad%d.har" % i)
            with open(p, "w") as f:
                f.write(body)
            r = rc("import", p, "--session", "bad%d" % i, "--data", self.data, check=False)
            self.assertEqual(r.returncode, 1, body[:200])
            self.assertIn(want, r.stderr.decode())
        after = len(json.loads(rc("sessions", "--data", self.data, "--json").stdout))
        self.assertEqual(after, before)
        r = rc("import", path, "--session", "exp", "--data", self.data, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("a session named 'exp' exists", r.stderr.decode())


class BigBodies(unittest.TestCase):
    """Bodies of some MiB (text that JSON escapes six-fold, binary that goes
    base64) leave in slices: the HAR is valid, carries the same bytes, comes
    back the same through import, and the export's peak RSS stays small."""

    def test_big_bodies(self):
        if harness.EXTERNAL:
            self.skipTest("needs its own ringcap")
        if not node_ready():
            self.skipTest("tests/node not installed")
        tmp = tempfile.mkdtemp(prefix="big-", dir=harness._TMP)
        srv = serve()
        origin = "http://127.0.0.1:%d" % srv.server_address[1]
        p = Proxy(["--session", "big"], 2, "export-big")
        argv = p.argv()
        data = argv[argv.index("--data") + 1]
        p.argv = lambda: list(argv)
        p.start()
        try:
            body = os.path.join(tmp, "text")
            with open(body, "wb") as f:
                f.write(BIGTEXT)
            for a in (["--data-binary", "@" + body, "-H", "Content-Type: text/plain",
                       origin + "/echo"], [origin + "/bigbin"]):
                r = subprocess.run(["curl", "-sS", "--noproxy", "", "-x", p.url(), "-o",
                                    "/dev/null"] + a, capture_output=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            self.assertEqual(p.stop(), 0)
            srv.shutdown()
            srv.server_close()
        har = os.path.join(tmp, "big.har")
        t = subprocess.run(["/usr/bin/time", "-f", "%M", harness.RINGCAP_BIN, "export", "big",
                            "--data", data, "--format", "har", "-o", har],
                           capture_output=True, timeout=120)
        self.assertEqual(t.returncode, 0, t.stderr)
        rss_kib = int(t.stderr.split()[-1])
        code, out, _ = node("har", har)
        self.assertEqual(code, 0, out)
        es = load(har)["log"]["entries"]
        self.assertEqual(es[0]["request"]["postData"]["text"].encode(), BIGTEXT)
        self.assertEqual(base64.b64decode(es[1]["response"]["content"]["text"]), BIGBIN)
        # the exchange itself (~5 MB of bodies) plus buffers; the escaped
        # text alone would be ~18 MB if it were built whole
        with open(harness.RINGCAP_BIN, "rb") as f:
            sanitized = b"__asan_init" in f.read()
        if not sanitized:  # ASan's shadow and quarantine dwarf the figure
            # over what the binary costs doing nothing (its shared libraries:
            # libmicrohttpd brings gnutls and ~3 MiB with it)
            b = subprocess.run(["/usr/bin/time", "-f", "%M", harness.RINGCAP_BIN, "--version"],
                               capture_output=True, timeout=30)
            base_kib = int(b.stderr.split()[-1])
            self.assertLess(rss_kib - base_kib, 20 * 1024, (rss_kib, base_kib))
        # a write that fails half way (file size limit: EFBIG) leaves no session;
        # the limit is half the largest file an unlimited import writes (the
        # bodies compress, by how much depends on the frame sizes)
        import resource
        import signal
        probe = tempfile.mkdtemp(prefix="big-probe-", dir=harness._TMP)
        rc("import", har, "--session", "probe", "--data", probe)
        biggest = max(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(probe)
                      for f in fs if f.endswith(".seg"))
        self.assertGreater(biggest, 2048)

        def limit():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (biggest // 2, biggest // 2))
        before = rc("sessions", "--data", data, "--json").stdout
        r = subprocess.run([harness.RINGCAP_BIN, "import", har, "--session", "half", "--data",
                            data], capture_output=True, timeout=60, preexec_fn=limit)
        self.assertEqual(r.returncode, 1)
        self.assertIn("writing session 'half'", r.stderr.decode())
        self.assertEqual(json.loads(rc("sessions", "--data", data, "--json").stdout),
                         json.loads(before))
        self.assertFalse([n for n in os.listdir(data) if n.startswith(".deleted")])
        rc("import", har, "--session", "big2", "--data", data)
        again = os.path.join(tmp, "again.har")
        rc("export", "big2", "--data", data, "--format", "har", "-o", again)
        strip = lambda e: {k: v for k, v in e.items() if k != "_id"}
        self.assertEqual([strip(e) for e in load(again)["log"]["entries"]],
                         [strip(e) for e in es])


class ExportApi(unittest.TestCase):
    """GET /api/sessions/ID/export on a running daemon: streamed (chunked),
    with a Content-Disposition file name from the session name, the same
    selection parameters as the CLI (ids, filter in its JSON form, group,
    search, ...), and the same bytes as `ringcap export` of that session;
    bad parameters are 400 and an unknown session 404, both before anything
    is streamed."""

    def test_api_export(self):
        import http.client
        import urllib.parse
        if harness.EXTERNAL:
            self.skipTest("needs its own ringcap")
        if not node_ready():
            self.skipTest("tests/node not installed")
        tmp = tempfile.mkdtemp(prefix="api-", dir=harness._TMP)
        srv = serve()
        origin = "http://127.0.0.1:%d" % srv.server_address[1]
        p = Proxy(["--session", "api sess"], 2, "export-api")
        argv = p.argv()
        data = argv[argv.index("--data") + 1]
        ctl = argv[argv.index("--control") + 1]
        p.argv = lambda: list(argv)
        p.start()

        def get(path, **q):
            c = http.client.HTTPConnection(*ctl.split(":"), timeout=30)
            c.request("GET", path + ("?" + urllib.parse.urlencode(q) if q else ""))
            r = c.getresponse()
            body = r.read()
            c.close()
            return r, body

        try:
            for a in ([origin + "/users/1"], ["-d", "a=1", origin + "/form"],
                      [origin + "/users/2"]):
                Export.curl(p.url(), *a)
            # frames are flushed every 250 ms; a loaded box takes longer
            deadline = time.time() + 15
            while True:
                r, body = get("/api/sessions/api%20sess/export", format="har")
                if r.status != 200 or time.time() > deadline or \
                        len(json.loads(body)["log"]["entries"]) >= 3:
                    break
                time.sleep(0.25)
            self.assertEqual(r.status, 200, body)
            self.assertEqual(r.getheader("Content-Disposition"),
                             'attachment; filename="api_sess.har"')
            self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
            har = os.path.join(tmp, "api.har")
            with open(har, "wb") as f:
                f.write(body)
            code, out, _ = node("har", har)
            self.assertEqual(code, 0, out)
            es = json.loads(body)["log"]["entries"]
            self.assertEqual([e["request"]["url"] for e in es],
                             [origin + "/users/1", origin + "/form", origin + "/users/2"])
            cli = rc("export", "api sess", "--data", data, "--format", "har").stdout
            self.assertEqual(json.loads(cli), json.loads(body))
            r, body = get("/api/sessions/api%20sess/export", format="postman", group="none",
                          filter=json.dumps({"methods": ["POST"]}), with_tests="1")
            self.assertEqual(r.status, 200, body)
            self.assertEqual(r.getheader("Content-Disposition"),
                             'attachment; filename="api_sess.postman_collection.json"')
            coll = os.path.join(tmp, "api.json")
            with open(coll, "wb") as f:
                f.write(body)
            code, tree, err = node("postman", coll)
            self.assertEqual(code, 0, err)
            self.assertEqual([(i["method"], i["path"]) for i in tree["items"]], [("POST", "/form")])
            self.assertIn("status is 201", tree["items"][0]["tests"][0])
            ids = [x["_id"] for x in es]
            r, body = get("/api/sessions/api%20sess/export", format="curl", ids=str(ids[2]))
            self.assertEqual(r.status, 200)
            self.assertIn(("'%s/users/2'" % origin).encode(), body)
            self.assertNotIn(b"/users/1", body)
            for q, status, want in (({"format": "xml"}, 400, "format 'xml'"),
                                    ({}, 400, "format is required"),
                                    ({"format": "har", "colour": "red"}, 400, "unknown parameter"),
                                    ({"format": "har", "ids": "7-3"}, 400, "ends before it starts"),
                                    ({"format": "har", "filter": "{\"methods\":5}"}, 400, "filter"),
                                    ({"format": "har", "group": "host"}, 400, "group 'host'")):
                r, body = get("/api/sessions/api%20sess/export", **q)
                self.assertEqual(r.status, status, (q, body))
                self.assertIn(want, json.loads(body)["error"])
            r, body = get("/api/sessions/nosuch/export", format="har")
            self.assertEqual(r.status, 404)
            # clients that hang up half way through a multi-MiB export (past
            # the 1 MiB buffer): the export threads stop, the daemon serves on
            big = os.path.join(tmp, "big")
            with open(big, "wb") as f:
                f.write(BIGTEXT)
            for _ in range(6):  # ~24 MB of HAR: more than the socket buffers hold
                Export.curl(p.url(), "--data-binary", "@" + big, "-H",
                            "Content-Type: text/plain", origin + "/echo")
            time.sleep(1.0)
            task = "/proc/%d/task" % p.proc.pid
            threads = len(os.listdir(task))
            for _ in range(5):
                c = http.client.HTTPConnection(*ctl.split(":"), timeout=30)
                c.request("GET", "/api/sessions/api%20sess/export?format=har")
                r = c.getresponse()
                self.assertEqual(r.status, 200)
                self.assertEqual(len(r.read(65536)), 65536)
                c.sock.shutdown(2)
                c.close()
            end = time.monotonic() + 10
            while len(os.listdir(task)) > threads and time.monotonic() < end:
                time.sleep(0.1)
            self.assertLessEqual(len(os.listdir(task)), threads)
            # four exports that nobody reads hold their threads: a fifth is 503
            stalled = []
            for _ in range(4):
                c = http.client.HTTPConnection(*ctl.split(":"), timeout=30)
                c.request("GET", "/api/sessions/api%20sess/export?format=har")
                self.assertEqual(c.getresponse().status, 200)
                stalled.append(c)
            time.sleep(0.5)
            r, body = get("/api/sessions/api%20sess/export", format="har")
            self.assertEqual(r.status, 503, body[:200])
            self.assertIn("exports are running", json.loads(body)["error"])
            for c in stalled:
                c.sock.shutdown(2)
                c.close()
            end = time.monotonic() + 10
            while len(os.listdir(task)) > threads and time.monotonic() < end:
                time.sleep(0.1)
            r, body = get("/api/sessions/api%20sess/export", format="har")
            self.assertEqual(r.status, 200)
            es = json.loads(body)["log"]["entries"]
            self.assertEqual(len(es), 9)
            self.assertEqual(es[-1]["request"]["postData"]["text"].encode(), BIGTEXT)
        finally:
            self.assertEqual(p.stop(), 0)
            srv.shutdown()
            srv.server_close()


PAGE = b"""<!doctype html><html><head><title>loading</title>
<link rel="stylesheet" href="/s.css"><script src="/app.js"></script></head>
<body><img src="/logo.png"><p>ringcap export test page</p>
<script>
window.addEventListener("load", function () {
  fetch("/api/save?from=page", {method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({a: 1, name: "caf\u00e9"})})
    .then(function (r) { return r.json(); })
    .then(function () { document.title = "done"; });
});
</script></body></html>"""
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


class PageHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    files = {"/page.html": (PAGE, "text/html; charset=utf-8"),
             "/s.css": (b"body { color: #333 }", "text/css"),
             "/app.js": (b"window.app = 1;", "application/javascript"),
             "/logo.png": (PNG, "image/png"),
             "/favicon.ico": (b"", "image/x-icon")}

    def log_message(self, *a):
        pass

    def _route(self):
        n = int(self.headers.get("Content-Length") or 0)
        req = self.rfile.read(n) if n else b""
        path = self.path.split("?")[0]
        body, ctype = self.files.get(path, (json.dumps({"saved": len(req)}).encode(),
                                            "application/json"))
        self.send_response(200 if path in self.files or path == "/api/save" else 404)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", "sid=abc123; Path=/; HttpOnly")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _route


class BrowserHar(unittest.TestCase):
    """A HAR written from a real browser engine's events imports cleanly:
    headless Chromium (Debian) loads a page through ringcap; chrome-har
    (browsertime's converter) makes a HAR of the DevTools messages;
    har-validator accepts it; `ringcap import` makes a session of it whose
    exchanges are the ones ringcap itself captured from that browser."""

    def test_chromium_har(self):
        if harness.EXTERNAL:
            self.skipTest("needs its own ringcap")
        if not node_ready() or not os.path.exists("/usr/bin/chromium") or \
                not os.path.exists("/usr/bin/chromedriver"):
            self.skipTest("chromium, chromium-driver or tests/node missing")
        tmp = tempfile.mkdtemp(prefix="browser-", dir=harness._TMP)
        srv = ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        origin = "http://127.0.0.1:%d" % srv.server_address[1]
        p = Proxy(["--session", "browser"], 2, "export-browser")
        argv = p.argv()
        data = argv[argv.index("--data") + 1]
        p.argv = lambda: list(argv)
        p.start()
        msgs = os.path.join(tmp, "messages.json")
        try:
            r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "browser_capture.py"),
                                "%s:%d" % (p.host, p.port), origin + "/page.html", msgs],
                               capture_output=True, timeout=120)
        finally:
            self.assertEqual(p.stop(), 0)
            srv.shutdown()
            srv.server_close()
        if r.returncode == 77:
            self.skipTest("python3-selenium missing")
        self.assertEqual(r.returncode, 0, r.stderr.decode()[-3000:])
        har = os.path.join(tmp, "chrome.har")
        c = subprocess.run(["node", os.path.join(NODE_DIR, "chrome_har.js"), msgs, har],
                           capture_output=True, timeout=60)
        self.assertEqual(c.returncode, 0, c.stderr.decode())
        code, out, _ = node("har", har)
        self.assertEqual(code, 0, out)
        entries = load(har)["log"]["entries"]
        urls = {e["request"]["url"] for e in entries}
        for path in ("/page.html", "/s.css", "/app.js", "/logo.png", "/api/save?from=page"):
            self.assertIn(origin + path, urls)
        o = rc("import", har, "--session", "chrome", "--data", data).stdout.decode().split()
        self.assertEqual(int(o[1]), len(entries))
        mine = {(r["method"], r["url"]): r for r in
                json.loads(rc("ls", "chrome", "--data", data, "--json").stdout)}
        captured = {(r["method"], r["url"]): r for r in
                    json.loads(rc("ls", "browser", "--data", data, "--json").stdout)}
        # what the browser reported is what the proxy captured from it
        for key, row in mine.items():
            self.assertIn(key, captured)
            self.assertEqual(row["status"], captured[key]["status"], key)
        post = mine[("POST", origin + "/api/save?from=page")]
        body = rc("show", "chrome", post["id"], "--data", data, "--body", "request").stdout
        self.assertEqual(json.loads(body), {"a": 1, "name": "caf\u00e9"})
        page = mine[("GET", origin + "/page.html")]
        self.assertEqual(rc("show", "chrome", page["id"], "--data", data, "--body",
                            "response").stdout, PAGE)
        again = os.path.join(tmp, "again.har")
        rc("export", "chrome", "--data", data, "--format", "har", "-o", again)
        code, out, _ = node("har", again)
        self.assertEqual(code, 0, out)
        coll = os.path.join(tmp, "chrome.json")
        rc("export", "chrome", "--data", data, "--format", "postman", "-o", coll)
        code, tree, err = node("postman", coll)
        self.assertEqual(code, 0, err)


if __name__ == "__main__":
    harness.main()
