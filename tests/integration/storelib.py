#!/usr/bin/env python3
"""Shared parts of the capture-store tests (test_store.py, test_store_varied.py,
test_crash.py): an origin whose every answer is derivable from its URL, so a
stored exchange can be checked byte by byte long after it was sent; a
ringcap started on a given data directory and session; the offline CLI;
/metrics.

Origin URL: /x/K?rl=REQLEN&sl=RESPLEN&st=STATUS&ct=TYPE&te=c|l
  - the request body must be body_of("q", K, REQLEN) (X-Req-Ok says so);
  - the response is STATUS with body_of("s", K, RESPLEN), chunked (te=c)
    or with Content-Length (te=l); none for HEAD, 204, 304.
"""

import http.client
import http.server
import json
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse

import harness
from harness import Proxy

CTYPES = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "bin": "application/octet-stream",
    "text": "text/plain",
    "js": "application/javascript",
}

_BIN_BLOCK = random.Random(20261129).randbytes(1 << 16)


def body_of(tag, k, n):
    """n deterministic bytes for exchange k: binary for every third k
    (all 256 byte values, incompressible), text otherwise."""
    if n <= 0:
        return b""
    if k % 3 == 0:
        off = (k * 7919 + (17 if tag == "q" else 0)) % len(_BIN_BLOCK)
        reps = (n + off) // len(_BIN_BLOCK) + 1
        return (_BIN_BLOCK * reps)[off:off + n]
    unit = ("%s%d:{\"k\":%d,\"v\":\"%s\"}\n" % (tag, k, k, "ab" * (k % 17))).encode()
    return (unit * (n // len(unit) + 1))[:n]


def path_of(k, rl=0, sl=0, st=200, ct="json", te="l"):
    return "/x/%d?rl=%d&sl=%d&st=%d&ct=%s&te=%s" % (k, rl, sl, st, ct, te)


def parse_path(path):
    """(k, params) of an origin URL or absolute URL."""
    u = urllib.parse.urlsplit(path)
    m = re.match(r"/x/(\d+)$", u.path)
    if not m:
        return None, {}
    q = dict(urllib.parse.parse_qsl(u.query))
    return int(m.group(1)), {"rl": int(q.get("rl", 0)), "sl": int(q.get("sl", 0)),
                              "st": int(q.get("st", 200)), "ct": q.get("ct", "json"),
                              "te": q.get("te", "l")}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _any(self):
        got = self._read_body()
        k, p = parse_path(self.path)
        if k is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        ok = got == body_of("q", k, p["rl"])
        st = p["st"]
        body = body_of("s", k, p["sl"])
        nobody = self.command == "HEAD" or st in (204, 304)
        self.send_response(st)
        self.send_header("Content-Type", CTYPES.get(p["ct"], "application/json"))
        self.send_header("X-Req-Ok", "1" if ok else "0")
        if st in (204, 304):
            self.end_headers()
            return
        if p["te"] == "c":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if nobody:
                return
            step = 7000 + k % 5000
            for i in range(0, len(body), step):
                part = body[i:i + step]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not nobody:
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _any

    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        pass    # a proxy killed mid-exchange resets connections: expected


class VOrigin:
    """The derivable origin; tls=(cert, key) serves HTTPS."""

    def __init__(self, tls=None):
        self.srv = _Server(("127.0.0.1", 0), _Handler)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls[0], tls[1])
            self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.port = self.srv.server_address[1]
        self.tls = bool(tls)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def url(self, path, host="127.0.0.1"):
        return "%s://%s:%d%s" % ("https" if self.tls else "http", host, self.port, path)

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def make_cert(tmp, tag="o"):
    key, cert = os.path.join(tmp, tag + "-key.pem"), os.path.join(tmp, tag + "-cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "30", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def rc(*args, timeout=60):
    r = subprocess.run([harness.RINGCAP_BIN] + [str(a) for a in args], capture_output=True,
                       timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def proxy_on(data, session, extra=(), workers=2, name="store"):
    """A Proxy (not started) capturing into session on data directory data."""
    args = ["--session", session] if session else []
    p = Proxy(args + list(extra), workers, name)
    argv = p.argv()
    argv[argv.index("--data") + 1] = data
    p.argv = lambda: list(argv)
    p.control_port = int(argv[argv.index("--control") + 1].rsplit(":", 1)[1]) \
        if "--control" in argv else None
    return p


def metrics(p):
    """/metrics of a running proxy as {name: value} (unlabelled series)."""
    s = socket.create_connection(("127.0.0.1", p.control_port), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        data += c
    s.close()
    out = {}
    for line in data.split(b"\r\n\r\n", 1)[1].decode().splitlines():
        if line and not line.startswith("#") and "{" not in line:
            k, v = line.split()
            out[k] = int(v)
    out["_text"] = data.decode("utf-8", "replace")
    return out


def ls(data, session, *extra):
    code, out, err = rc("ls", session, "--data", data, "--json", *extra)
    if code != 0:
        raise AssertionError("ringcap ls failed: %s" % err.decode())
    return json.loads(out)


def show_json(data, session, xid):
    code, out, err = rc("show", session, xid, "--data", data, "--json")
    if code != 0:
        raise AssertionError("ringcap show %s failed: %s" % (xid, err.decode()))
    return json.loads(out)


def show_body(data, session, xid, which):
    code, out, err = rc("show", session, xid, "--data", data, "--body", which)
    if code != 0:
        raise AssertionError("ringcap show %s --body failed: %s" % (xid, err.decode()))
    return out


class Client:
    """One keep-alive client connection through the proxy (http.client);
    origin None = absolute-form requests, else an HTTPS tunnel to it."""

    def __init__(self, proxy, tls_origin=None, cafile=None, timeout=30):
        self.proxy, self.tls_origin, self.cafile, self.timeout = proxy, tls_origin, cafile, timeout
        self.conn = None

    def _connect(self):
        if self.tls_origin is None:
            self.conn = http.client.HTTPConnection(self.proxy.host, self.proxy.port,
                                                   timeout=self.timeout)
        else:
            ctx = ssl.create_default_context(cafile=self.cafile)
            self.conn = http.client.HTTPSConnection(self.proxy.host, self.proxy.port,
                                                    timeout=self.timeout, context=ctx)
            self.conn.set_tunnel("localhost", self.tls_origin.port)

    def request(self, method, url_or_path, body=b"", chunked=False, headers=None):
        """Returns (status, headers dict lowercased, body bytes)."""
        for attempt in range(2):
            if self.conn is None:
                self._connect()
            try:
                h = dict(headers or {})
                if chunked:
                    step = 5000
                    parts = [body[i:i + step] for i in range(0, len(body), step)]
                    self.conn.request(method, url_or_path, body=iter(parts), headers=h,
                                      encode_chunked=True)
                else:
                    self.conn.request(method, url_or_path, body=body if body else None,
                                      headers=h)
                r = self.conn.getresponse()
                data = r.read()
                return r.status, {k.lower(): v for k, v in r.getheaders()}, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def kill9(p):
    os.kill(p.proc.pid, signal.SIGKILL)
    p.proc.wait(10)
    p.errf.close()


def wait_for(fn, timeout=20.0, step=0.05):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)
