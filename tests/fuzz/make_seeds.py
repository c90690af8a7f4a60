#!/usr/bin/env python3
"""Writes the seed corpora of every libFuzzer target into
tests/fuzz/<target>/corpus/ (the committed seeds came from this script).

    python3 tests/fuzz/make_seeds.py [--ringcap build/tools/ringcap]

Sources: the request smuggling corpus and the scripted responses of the
integration tests (their framing edge cases are the best seeds the HTTP
targets can have), real ClientHellos made by Python's ssl module, option
values, filter specs, onboarding paths, and, with --ringcap, the segment,
index and string files of a real capture session (the persist target).
Each seed starts with the selector byte(s) its driver expects (see the
driver's file comment)."""

import argparse
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import smuggling_corpus  # noqa: E402
import test_response_framing  # noqa: E402

AUTH = b"127.0.0.1:8080"


def out_dir(target):
    """The target's corpus folder. Files already there (regression inputs
    from fuzzing findings) stay; generated seeds are overwritten."""
    d = os.path.join(HERE, target, "corpus")
    os.makedirs(d, exist_ok=True)
    return d


def write(d, name, data):
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    with open(os.path.join(d, safe), "wb") as f:
        f.write(data)


def requests():
    for name, raw, _exp, _why in smuggling_corpus.CASES:
        yield name, raw.replace(b"{A}", AUTH)
    yield "connect", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
    yield "upgrade", (b"GET http://a/ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                      b"Upgrade: websocket\r\n\r\n")
    yield "trace_mf", b"TRACE http://a/ HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n\r\n"
    yield "hop", (b"GET http://a/ HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-A\r\n"
                  b"X-A: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\n\r\n")
    yield "ipv6", b"GET http://[::1]:8080/x?y#z HTTP/1.1\r\nHost: x\r\n\r\n"


def responses():
    for name, (now, late) in sorted(test_response_framing.SCRIPTS.items()):
        yield name, now + late
    yield "interim", (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n"
                      b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    yield "close_delimited", b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"
    yield "chunked_trailer", (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n"
                              b"\r\n3;e=1\r\nabc\r\n0\r\nX: 1\r\n\r\n")
    yield "http10", b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"
    yield "hop", (b"HTTP/1.1 200 OK\r\nConnection: X-B, close\r\nX-B: 1\r\nKeep-Alive: 1\r\n"
                  b"Content-Length: 0\r\n\r\n")


def http_seeds():
    d = out_dir("http1")
    for name, raw in requests():
        write(d, "req-" + name, b"\x00" + raw)
    for name, raw in responses():
        write(d, "resp-" + name, b"\x01" + raw)
    d = out_dir("response")
    for i, (name, raw) in enumerate(responses()):
        write(d, name, bytes([(i * 4) & 0xfc]) + raw)
        if i % 3 == 0:
            write(d, name + "-head", bytes([1 | ((i * 12) & 0xfc)]) + raw)
    d = out_dir("h1_split")
    reqs = list(requests())
    for i, (name, raw) in enumerate(reqs):
        nxt = reqs[(i + 1) % len(reqs)][1]
        write(d, "req-" + name, bytes([0, i % 7, 3, 0, 250]) + raw + nxt)
    for i, (name, raw) in enumerate(responses()):
        write(d, "resp-" + name, bytes([1, 0, i % 5, 17, 1]) + raw)


def proxy_seeds():
    """Client bytes "|UP|" upstream bytes; "@@" is the scripted upstream."""
    d = out_dir("proxy")
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    get = b"GET http://@@/x HTTP/1.1\r\nHost: @@\r\n\r\n"
    for i, (name, raw, _exp, _why) in enumerate(smuggling_corpus.CASES):
        if len(raw) < 4000:
            write(d, "req-" + name, bytes([i % 256, 0xff]) + raw.replace(b"{A}", b"@@") +
                  b"|UP|" + ok)
    for i, (name, (now, late)) in enumerate(sorted(test_response_framing.SCRIPTS.items())):
        if len(now) < 4000:
            method = b"HEAD" if "head" in name else b"GET"
            write(d, "resp-" + name, bytes([0xff, (i * 37) % 256]) +
                  get.replace(b"GET", method) + get + b"|UP|" + now + late)
    write(d, "connect", b"\x03\x03CONNECT @@ HTTP/1.1\r\nHost: @@\r\n\r\nhello tunnel"
          b"|UP|server speaks")
    write(d, "upgrade", b"\x05\x50GET http://@@/ws HTTP/1.1\r\nHost: @@\r\n"
          b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\nframes|UP|"
          b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
          b"Connection: Upgrade\r\n\r\necho")
    write(d, "expect", b"\x0f\xffPOST http://@@/e HTTP/1.1\r\nHost: @@\r\n"
          b"Expect: 100-continue\r\nContent-Length: 3\r\n\r\nabc|UP|"
          b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    write(d, "status_page", b"\xff\xffGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    write(d, "pipeline", b"\x00\x00" + get + get + get + b"|UP|" + ok)


def access_seeds():
    """tests/fuzz/access/access_fuzz.c (engine/access.c, --auth and ACLs): byte 0
    odd = a credential line, even = a request head (bit 1: --auth on, bit
    2: --identify-by auth, bits 3+: client address)."""
    d = out_dir("access")
    for i, line in enumerate([b"alice:s3cret", b"bob:pw", b"user:pass:with:colons",
                              b"spaced user:a b", b":nouser", b"nopass", b"u:" + b"p" * 300]):
        write(d, "cred%d" % i, b"\x01" + line)
    heads = [
        b"GET http://a/ HTTP/1.1\r\nHost: a\r\nProxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n\r\n",
        b"GET http://a/ HTTP/1.1\r\nHost: a\r\nProxy-Authorization: Basic Ym9iOnd4\r\n\r\n",
        b"GET http://a/ HTTP/1.1\r\nHost: a\r\nProxy-Authorization: Bearer x\r\n\r\n",
        b"GET http://a/ HTTP/1.1\r\nHost: a\r\nProxy-Authorization: Basic !!!\r\n"
        b"Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n\r\n",
        b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nProxy-Authorization: basic "
        b"YWxpY2U6czNjcmV0\r\n\r\n",
        b"CONNECT a:22 HTTP/1.1\r\nHost: a:22\r\n\r\n",
        b"GET http://169.254.169.254/ HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET http://127.0.0.1:5560/metrics HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    for i, h in enumerate(heads):
        for mode in (0, 2, 4, 6 | (10 << 3)):
            write(d, "head%d-%d" % (i, mode), bytes([mode & 0xfe]) + h)


def hello(sni=None, alpn=None, maxver=None, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if maxver:
        ctx.maximum_version = maxver
    if ciphers:
        ctx.set_ciphers(ciphers)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    s = ctx.wrap_bio(inc, out, server_hostname=sni)
    try:
        s.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def tls_seeds():
    hellos = {
        "sni": hello("example.com"),
        "sni_alpn": hello("www.example.org", ["h2", "http/1.1"]),
        "no_sni": hello(None),
        "ip_sni": hello("127.0.0.1"),
        "idn": hello("xn--caf-dma.example"),
        "long_sni": hello(("a" * 63 + ".") * 3 + "example"),
        "tls12": hello("example.com", ["http/1.1"], ssl.TLSVersion.TLSv1_2),
        "tls12_few_ciphers": hello("example.com", None, ssl.TLSVersion.TLSv1_2,
                                   "ECDHE-ECDSA-AES128-GCM-SHA256"),
    }
    for target in ("tls_clienthello", "tls_server"):
        d = out_dir(target)
        for name, data in hellos.items():
            write(d, name, data)
        h = hellos["sni"]
        write(d, "truncated_record", h[:40])
        write(d, "split_header", h[:5])
        write(d, "http_not_tls", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        write(d, "sslv2_like", b"\x80\x2e\x01\x03\x01" + b"\x00" * 41)


def opts_seeds():
    d = out_dir("opts")
    values = {0: ["4096", "32k", "16M", "1GiB", "0", "18446744073709551615k"],
              1: ["500ms", "10s", "2m", "1h", "0s", "24h"],
              2: ["12", "0", "-1", "99999999999999999999"],
              3: ["127.0.0.1:5559", "[::1]:5559", ":5559", "0.0.0.0:80", "[fe80::1%lo]:1",
                  "localhost:1"],
              4: ["10.0.0.0/8", "192.168.1.7", "fd00::/8", "::1", "::ffff:10.0.0.0/104",
                  "169.254.0.0/16", "0.0.0.0/0", "10.0.0.1/8", "::/0"]}
    for sel, vals in values.items():
        for i, v in enumerate(vals):
            write(d, "%d-%d" % (sel, i), bytes([sel]) + v.encode())


def onboard_seeds():
    d = out_dir("onboard")
    paths = ["/", "/ca.pem", "/ca.crt", "/ca.cer", "/ca.p12", "/ca.der", "/?x=1", "/../ca.pem",
             "/ca.pem?download", "/%2e%2e/", "/index.html", "//"]
    for i, p in enumerate(paths):
        write(d, "p%02d" % i, bytes([0x80 | (0x40 if i % 2 else 0)]) + p.encode())
        write(d, "small%02d" % i, bytes([i + 1]) + p.encode())


def filter_seeds():
    # the first filter seeds (example.*, regress-*) were hand-written in
    # tests/filter/corpus before they moved here; they are kept as they are
    old = os.path.join(ROOT, "tests", "filter", "corpus")
    extra = {
        "cli": ["\x00GET,POST\n\x012xx,404,5xx\n\x02json,image\n\x0310.0.0.0/8\n"
                "\x04/api/\n\x05.png\n\x06^/v[0-9]+$\n",
                "\x06([\n", "\x02nosuchclass\n", "\x01999\n"],
        "text": ["method=GET status=2xx", "url-regex=\"(a|b\"", "client=::1/129",
                 "type=json url-contains=\"a\\\"b\""],
        "json": ["{\"methods\":[\"GET\"]}", "{\"status\":[600]}", "{\"url_regex\":[\"(\"]}",
                 "[]", "{\"types\":[\"media\"],\"clients\":[\"fe80::/10\"]}"],
    }
    for kind in ("cli", "text", "json"):
        d = out_dir("spec_" + kind)
        src = os.path.join(old, kind)
        if os.path.isdir(src):
            for f in os.listdir(src):
                shutil.copy(os.path.join(src, f), os.path.join(d, f))
        for i, v in enumerate(extra[kind]):
            write(d, "seed%d" % i, v.encode())


class _Origin(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        self.s.listen(8)
        self.port = self.s.getsockname()[1]

    def run(self):
        while True:
            c, _ = self.s.accept()
            data = b""
            while b"\r\n\r\n" not in data:
                data += c.recv(65536)
            body = (b"hello from the seed origin " * 20)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                      b"Connection: close\r\n\r\n" % len(body) + body)
            c.close()


def segment_seeds(ringcap):
    """A real capture session: three exchanges through ringcap."""
    tmp = tempfile.mkdtemp(prefix="rc-seeds-")
    origin = _Origin()
    origin.start()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    cport = s.getsockname()[1]
    s.close()
    p = subprocess.Popen([ringcap, "run", "--listen", "127.0.0.1:%d" % port, "--control",
                          "127.0.0.1:%d" % cport, "--data", tmp, "--workers", "1",
                          "--session", "seeds"])
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler(
            {"http": "http://127.0.0.1:%d" % port}))
        for path in ("/a", "/api/v1/x?q=1", "/img.png"):
            opener.open("http://127.0.0.1:%d%s" % (origin.port, path), timeout=5).read()
        time.sleep(0.5)
    finally:
        p.terminate()
        p.wait(10)
    d = out_dir("segment")
    found = 0
    for dirpath, _dirs, files in os.walk(tmp):
        for f in files:
            path = os.path.join(dirpath, f)
            data = open(path, "rb").read()
            if f.endswith(".seg"):
                write(d, "seg", b"\x00" + data)
                write(d, "seg-torn", b"\x00" + data[:len(data) * 2 // 3])
                found += 1
            elif f.endswith(".idx"):
                write(d, "idx", b"\x01" + data)
                # the entries alone, behind the driver's own valid header
                # of their layout (3: RCAPIDX2, 4: RCAPIDX1)
                sel = b"\x03" if data[:8] == b"RCAPIDX2" else b"\x04"
                write(d, "idx-entries", sel + data[32:])
                found += 1
    shutil.rmtree(tmp, ignore_errors=True)
    if not found:
        print("no segment files were written: segment seeds missing", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ringcap", help="ringcap binary, for the segment seeds")
    a = ap.parse_args()
    http_seeds()
    proxy_seeds()
    access_seeds()
    tls_seeds()
    opts_seeds()
    onboard_seeds()
    filter_seeds()
    if a.ringcap:
        segment_seeds(a.ringcap)
    for t in sorted(os.listdir(HERE)):
        c = os.path.join(HERE, t, "corpus")
        if os.path.isdir(c):
            print("%-16s %3d seeds" % (t, len(os.listdir(c))))


if __name__ == "__main__":
    main()
