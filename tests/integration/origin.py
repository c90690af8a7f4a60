#!/usr/bin/env python3
"""Real HTTP/1.1 origin server for ringcap's integration tests.

One thread per connection over raw sockets, so keep-alive, pipelining
(requests are read from one buffered stream in order) and many concurrent
connections work. The tests run it in-process and read its counters
directly (Origin.stats()), never through the proxy, so they can assert
"nothing reached the origin" and count upstream keep-alive reuse.

Endpoints (method, path):
  GET  /size/N          N deterministic bytes (body_bytes(N)), Content-Length
  GET  /chunked/N       the same bytes, chunked (HEAD: chunked head, no body)
  POST|PUT /echo        reads a Content-Length or chunked body; JSON
                        {method, length, sha256, headers, trailers}
  ANY  /headers         JSON {request_line, method, target, version, headers}
  GET  /status/N        status N with a small body (none for 1xx/204/304)
  GET  /delay/MS        sleeps MS ms, then "delayed\\n"
  GET  /close-mid/N     declares Content-Length N, sends N//2 bytes, closes
  GET  /close-mid-chunked/N  chunked, sends about N//2 bytes, closes without
                        the last chunk
  ANY  /head-test[/CODE] HEAD: Content-Length 1000, no body; /head-test/204
                        and /head-test/304 answer that status with no body
                        (304 carries Content-Length: 1000 like a real cache
                        validator answer)
  POST /expect[?reject] with "Expect: 100-continue": sends 100 Continue,
                        then reads the body and answers like /echo; with
                        ?reject answers 417 without reading the body and
                        closes
  GET  /ws              WebSocket-style Upgrade: 101 then echoes frames
                        (client frames unmasked, sent back unmasked); with
                        ?raw echoes raw bytes instead
  GET  /hop-response    a 200 carrying hop-by-hop response headers
  GET  /bighead/N       a 200 whose head holds about N bytes of headers
  GET  /set-cookie      a 200 with two Set-Cookie headers using every
                        attribute (Domain, Path, Expires, Max-Age, Secure,
                        HttpOnly, SameSite) and an unrelated X-Other header
  GET  /early-hints     a 103 interim response, then 200
  GET  /until-close/N   N bytes delimited by closing the connection
  GET  /chunked-trailer/N  chunked body followed by a trailer field
  POST /grpc            gRPC-shaped: 200, content-type application/grpc, a
                        length-prefixed message echoing the request body,
                        chunked, trailers grpc-status: 0 and grpc-message:
                        ok (the trailer section sent in two writes);
                        ?pad=N adds a trailer x-pad of N bytes after them
  GET  /bad/KIND        malformed responses: cl-te, dup-cl, bare-lf,
                        obs-fold, space-colon, chunk-size, status-line, neg-cl

Any request with "stall=MS" in its query waits MS ms before reading its
body (a slow upstream reader). Any request with "close=1" in its target is answered with Connection: close
and the connection is closed after the response.

Also EchoServer: a raw TCP echo server (CONNECT tunnel target).

Run alone: python3 origin.py [PORT] serves until interrupted.
"""

import hashlib
import json
import socket
import struct
import sys
import threading
import time

_BLOCK_SIZE = 1 << 16


def read_head(sock, buf=b""):
    """(head, rest): the next request or response head read from sock
    after the bytes already in buf (without its blank line), and whatever
    followed it; (None, buf) when the peer closed first."""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            return None, buf
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def _make_block():
    out = bytearray()
    seed = b"ringcap-origin"
    while len(out) < _BLOCK_SIZE:
        seed = hashlib.sha256(seed).digest()
        out += seed
    return bytes(out[:_BLOCK_SIZE])


_BLOCK = _make_block()


def body_bytes(n):
    """The n deterministic bytes that /size/n and /chunked/n send."""
    reps = n // _BLOCK_SIZE + 1
    if reps == 1:
        return _BLOCK[:n]
    return (_BLOCK * reps)[:n]


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


class BadRequest(Exception):
    pass


class _Reader:
    """Buffered reader over a socket; records every byte received."""

    def __init__(self, sock, conn_stats):
        self.sock = sock
        self.buf = bytearray()
        self.stats = conn_stats

    def _fill(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise EOFError
        self.stats["bytes"] += len(data)
        self.stats["raw"] += data[:4096] if len(self.stats["raw"]) < 65536 else b""
        self.buf += data

    def read_until(self, sep, limit=1 << 20):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out = bytes(self.buf[:i + len(sep)])
                del self.buf[:i + len(sep)]
                return out
            if len(self.buf) > limit:
                raise BadRequest("line too long")
            self._fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_head(self):
        """Returns the raw head up to and including the blank line."""
        while True:
            for sep in (b"\r\n\r\n", b"\n\n"):
                i = self.buf.find(sep)
                if i >= 0:
                    out = bytes(self.buf[:i + len(sep)])
                    del self.buf[:i + len(sep)]
                    return out
            if len(self.buf) > (1 << 20):
                raise BadRequest("head too long")
            self._fill()


def parse_head(raw):
    text = raw.decode("latin-1")
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise BadRequest("empty head")
    request_line = lines[0]
    parts = request_line.split(" ")
    if len(parts) != 3:
        raise BadRequest("bad request line")
    headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
            continue
        if ":" not in line:
            raise BadRequest("bad header line")
        name, value = line.split(":", 1)
        headers.append((name, value.strip()))
    return request_line, parts[0], parts[1], parts[2], headers


def header_get(headers, name, default=None):
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return default


def header_all(headers, name):
    name = name.lower()
    return [v for k, v in headers if k.lower() == name]


def read_chunked(reader):
    body = bytearray()
    trailers = []
    for _ in range(1 << 20):
        line = reader.read_until(b"\n").rstrip(b"\r\n")
        size_txt = line.split(b";", 1)[0].strip()
        try:
            size = int(size_txt, 16)
        except ValueError:
            raise BadRequest("bad chunk size")
        if size == 0:
            break
        body += reader.read_exact(size)
        reader.read_until(b"\n")
    else:
        raise BadRequest("too many chunks")
    for _ in range(1000):
        line = reader.read_until(b"\n").rstrip(b"\r\n")
        if not line:
            break
        trailers.append(line.decode("latin-1"))
    return bytes(body), trailers


def read_body(reader, headers):
    te = header_get(headers, "transfer-encoding")
    if te is not None and "chunked" in te.lower():
        return read_chunked(reader)
    cl = header_get(headers, "content-length")
    if cl is not None:
        n = int(cl)
        return reader.read_exact(n), []
    return b"", []


def _response(status, reason, headers, body=b""):
    head = "HTTP/1.1 %d %s\r\n" % (status, reason)
    for k, v in headers:
        head += "%s: %s\r\n" % (k, v)
    return head.encode("latin-1") + b"\r\n" + body


_REASONS = {100: "Continue", 101: "Switching Protocols", 200: "OK",
            204: "No Content", 304: "Not Modified", 400: "Bad Request",
            404: "Not Found", 413: "Content Too Large",
            417: "Expectation Failed", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable"}


def _reason(code):
    return _REASONS.get(code, "Status")


_BAD = {
    "cl-te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "dup-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
              b"Content-Length: 6\r\n\r\nhello!",
    "bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 2\nX-A: b\n\nok",
    "obs-fold": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Folded: a\r\n"
                b" b\r\n\r\nok",
    "space-colon": b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
    "chunk-size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"zz\r\nhello\r\n0\r\n\r\n",
    "status-line": b"HTTP/1.1 abc OK\r\nContent-Length: 2\r\n\r\nok",
    "neg-cl": b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nok",
}
BAD_KINDS = sorted(_BAD)


class Origin:
    """The origin server. start() binds 127.0.0.1 on a free port."""

    def __init__(self, host="127.0.0.1", port=0):
        self.host = host
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, port))
        self.lsock.listen(1024)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self._reset_locked()
        self.running = False
        self.thread = None

    def _reset_locked(self):
        self.accepted = 0
        self.requests = []      # request lines, in arrival order
        self.request_log = []   # dicts: line, headers, peer
        self.conns = []         # per connection stats dicts

    def url(self, path):
        return "http://%s:%d%s" % (self.host, self.port, path)

    def authority(self):
        return "%s:%d" % (self.host, self.port)

    # -- counters, read directly by the tests ---------------------------
    def reset(self):
        with self.lock:
            self._reset_locked()

    def stats(self):
        with self.lock:
            return {
                "accepted": self.accepted,
                "requests": list(self.requests),
                "bytes": sum(c["bytes"] for c in self.conns),
                "open": sum(1 for c in self.conns if c["open"]),
                "peers": [c["peer"] for c in self.conns],
                # the upstream connection (peer address) of each request
                "request_peers": [r["peer"] for r in self.request_log],
                "raw": b"".join(bytes(c["raw"]) for c in self.conns),
            }

    def drop_idle(self):
        """Closes every connection waiting for its next request (an origin
        ending idle keep-alive connections); returns how many."""
        n = 0
        with self.lock:
            for c in self.conns:
                if c["open"] and c["idle"] and c["reader"] is not None and not c["reader"].buf:
                    try:
                        c["sock"].shutdown(socket.SHUT_RDWR)
                        n += 1
                    except OSError:
                        pass
        return n

    def wait_idle_closed(self, timeout):
        """Waits until no accepted connection is open; True if so."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.stats()["open"] == 0:
                return True
            time.sleep(0.05)
        return False

    # -- serving ---------------------------------------------------------
    def start(self):
        self.running = True
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.running = False
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()

    def _accept_loop(self):
        while self.running:
            try:
                sock, peer = self.lsock.accept()
            except OSError:
                return
            st = {"bytes": 0, "raw": bytearray(), "open": True, "peer": peer,
                  "sock": sock, "idle": True, "reader": None}
            with self.lock:
                self.accepted += 1
                self.conns.append(st)
            t = threading.Thread(target=self._serve, args=(sock, st),
                                 daemon=True)
            t.start()

    def _serve(self, sock, st):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = _Reader(sock, st)
        st["reader"] = reader
        try:
            for _ in range(1 << 20):
                st["idle"] = True
                raw = reader.read_head()
                st["idle"] = False
                if not raw.strip():
                    continue
                if not self._one(sock, reader, raw, st):
                    break
        except (EOFError, ConnectionError, OSError):
            pass
        except BadRequest as e:
            try:
                msg = ("bad request: %s\n" % e).encode()
                sock.sendall(_response(400, "Bad Request", [
                    ("Content-Length", len(msg)), ("Connection", "close")],
                    msg))
            except OSError:
                pass
        finally:
            with self.lock:
                st["open"] = False
            try:
                sock.close()
            except OSError:
                pass

    def _one(self, sock, reader, raw, st):
        """Serves one request; returns False when the connection closes."""
        line, method, target, version, headers = parse_head(raw)
        with self.lock:
            self.requests.append(line)
            self.request_log.append({"line": line, "headers": headers,
                                     "peer": st["peer"]})
        path = target
        if "://" in path:   # absolute-form reached us: strip scheme+authority
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        path, _, query = path.partition("?")
        conn_hdr = (header_get(headers, "connection") or "").lower()
        keep = version == "HTTP/1.1" and "close" not in conn_hdr
        if version == "HTTP/1.0" and "keep-alive" in conn_hdr:
            keep = True
        if "close=1" in target:     # ?close=1: the origin ends the connection
            keep = False
        ctx = {"sock": sock, "reader": reader, "line": line,
               "method": method, "target": target, "version": version,
               "headers": headers, "path": path, "query": query,
               "keep": keep}
        if path == "/expect":
            return self._expect(ctx)
        if (header_get(headers, "expect") or "").lower() == "100-continue":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "stall=" in query:       # ?stall=MS: wait before reading the body
            time.sleep(int(query.split("stall=", 1)[1].split("&")[0]) / 1000.0)
        body, trailers = read_body(reader, headers)
        ctx["body"], ctx["trailers"] = body, trailers
        handler = self._route(path)
        return handler(ctx)

    def _route(self, path):
        seg = path.split("/")
        name = seg[1] if len(seg) > 1 else ""
        table = {"size": self._size, "chunked": self._chunked,
                 "echo": self._echo, "headers": self._headers,
                 "status": self._status, "delay": self._delay,
                 "close-mid": self._close_mid,
                 "close-mid-chunked": self._close_mid_chunked,
                 "head-test": self._head_test, "ws": self._ws,
                 "hop-response": self._hop_response,
                 "set-cookie": self._set_cookie,
                 "bighead": self._bighead, "bad": self._bad,
                 "early-hints": self._early_hints,
                 "until-close": self._until_close,
                 "chunked-trailer": self._chunked_trailer, "grpc": self._grpc}
        return table.get(name, self._not_found)

    def _send(self, ctx, status, headers, body=b""):
        headers = list(headers)
        if not ctx["keep"]:
            headers.append(("Connection", "close"))
        if ctx["method"] == "HEAD":
            body = b""
        ctx["sock"].sendall(_response(status, _reason(status), headers, body))
        return ctx["keep"]

    def _arg(self, ctx, idx=2, default=0):
        seg = ctx["path"].split("/")
        try:
            return int(seg[idx])
        except (IndexError, ValueError):
            return default

    def _not_found(self, ctx):
        msg = b"no such endpoint\n"
        return self._send(ctx, 404, [("Content-Length", len(msg))], msg)

    def _size(self, ctx):
        n = self._arg(ctx)
        return self._send(ctx, 200, [("Content-Length", n),
                                     ("Content-Type", "application/octet-stream")],
                          body_bytes(n))

    def _chunked(self, ctx):
        n = self._arg(ctx)
        head = [("Transfer-Encoding", "chunked"),
                ("Content-Type", "application/octet-stream")]
        if not ctx["keep"]:
            head.append(("Connection", "close"))
        sock = ctx["sock"]
        sock.sendall(_response(200, "OK", head))
        if ctx["method"] == "HEAD":
            return ctx["keep"]
        data = body_bytes(n)
        step = 7919   # odd chunk sizes on purpose
        out = bytearray()
        for off in range(0, n, step):
            part = data[off:off + step]
            out += b"%x\r\n" % len(part) + part + b"\r\n"
            if len(out) > (1 << 18):
                sock.sendall(out)
                out = bytearray()
        out += b"0\r\n\r\n"
        sock.sendall(out)
        return ctx["keep"]

    def _echo_json(self, ctx):
        body = ctx["body"]
        return json.dumps({
            "method": ctx["method"], "length": len(body),
            "sha256": sha256_hex(body),
            "headers": [[k, v] for k, v in ctx["headers"]],
            "trailers": ctx["trailers"]}).encode()

    def _echo(self, ctx):
        out = self._echo_json(ctx)
        return self._send(ctx, 200, [("Content-Length", len(out)),
                                     ("Content-Type", "application/json")], out)

    def _headers(self, ctx):
        out = json.dumps({
            "request_line": ctx["line"], "method": ctx["method"],
            "target": ctx["target"], "version": ctx["version"],
            "headers": [[k, v] for k, v in ctx["headers"]]}).encode()
        return self._send(ctx, 200, [("Content-Length", len(out)),
                                     ("Content-Type", "application/json")], out)

    def _status(self, ctx):
        code = self._arg(ctx, default=200)
        if code < 200 or code in (204, 304):
            return self._send(ctx, code, [])
        msg = b"status %d\n" % code
        return self._send(ctx, code, [("Content-Length", len(msg))], msg)

    def _delay(self, ctx):
        time.sleep(self._arg(ctx) / 1000.0)
        msg = b"delayed\n"
        return self._send(ctx, 200, [("Content-Length", len(msg))], msg)

    def _close_mid(self, ctx):
        n = self._arg(ctx)
        sock = ctx["sock"]
        sock.sendall(_response(200, "OK", [("Content-Length", n)]) +
                     body_bytes(n)[:n // 2])
        time.sleep(0.05)
        return False

    def _close_mid_chunked(self, ctx):
        n = self._arg(ctx)
        part = body_bytes(n)[:n // 2]
        sock = ctx["sock"]
        sock.sendall(_response(200, "OK", [("Transfer-Encoding", "chunked")]) +
                     b"%x\r\n" % len(part) + part + b"\r\n")
        time.sleep(0.05)
        return False

    def _head_test(self, ctx):
        code = self._arg(ctx, default=200)
        if code == 204:
            return self._send(ctx, 204, [("X-Head-Test", "204")])
        if code == 304:
            return self._send(ctx, 304, [("Content-Length", 1000),
                                         ("ETag", '"v1"')])
        return self._send(ctx, 200, [("Content-Length", 1000)],
                          body_bytes(1000))

    def _hop_response(self, ctx):
        msg = b"hop\n"
        return self._send(ctx, 200, [
            ("Content-Length", len(msg)),
            ("Connection", "X-Resp-Drop"), ("X-Resp-Drop", "1"),
            ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "keep-alive"),
            ("Trailer", "X-Whatever"), ("Upgrade", "foo/1"),
            ("X-Resp-Keep", "1")], msg)

    def _set_cookie(self, ctx):
        msg = b"cookies\n"
        return self._send(ctx, 200, [
            ("Content-Length", len(msg)), ("Content-Type", "text/plain"),
            ("Set-Cookie", "sid=abc123; Domain=example.test; Path=/app; "
                           "Expires=Wed, 21 Oct 2037 07:28:00 GMT; Secure; HttpOnly; "
                           "SameSite=Strict"),
            ("Set-Cookie", "theme=dark; Max-Age=3600; SameSite=Lax"),
            ("X-Other", "1")], msg)

    def _bighead(self, ctx):
        n = self._arg(ctx)
        head = []
        line = "x" * 990
        for i in range(n // 1000 + 1):
            head.append(("X-Big-%d" % i, line))
        head.append(("Content-Length", 2))
        return self._send(ctx, 200, head, b"ok")

    def _early_hints(self, ctx):
        ctx["sock"].sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; "
                            b"rel=preload\r\n\r\n")
        time.sleep(0.05)
        msg = b"after hints\n"
        return self._send(ctx, 200, [("Content-Length", len(msg))], msg)

    def _until_close(self, ctx):
        # HTTP/1.0-style: no Content-Length, no chunked; the close ends it.
        n = self._arg(ctx)
        ctx["sock"].sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" +
                            body_bytes(n))
        return False

    def _chunked_trailer(self, ctx):
        n = self._arg(ctx)
        data = body_bytes(n)
        ctx["sock"].sendall(_response(200, "OK", [
            ("Transfer-Encoding", "chunked"), ("Trailer", "X-Sum")]) +
            b"%x\r\n" % n + data + b"\r\n0\r\nX-Sum: " +
            sha256_hex(data).encode() + b"\r\n\r\n")
        return ctx["keep"]

    def _grpc(self, ctx):
        msg = b"\x00" + struct.pack(">I", len(ctx["body"])) + ctx["body"]
        q = ctx["target"].partition("?")[2]
        pad = int(q[4:]) if q.startswith("pad=") else 0
        pad_line = b"x-pad: " + b"p" * pad + b"\r\n" if pad else b""
        s = ctx["sock"]
        s.sendall(_response(200, "OK", [
            ("Content-Type", "application/grpc"), ("Transfer-Encoding", "chunked"),
            ("Trailer", "grpc-status, grpc-message")]) +
            b"%x\r\n" % len(msg) + msg + b"\r\n0\r\ngrpc-status: 0\r\ngrpc-mes")
        time.sleep(0.05)   # the trailer section in two reads of the proxy
        s.sendall(b"sage: ok\r\n" + pad_line + b"\r\n")
        return ctx["keep"]

    def _bad(self, ctx):
        kind = ctx["path"].split("/")[2] if ctx["path"].count("/") >= 2 else ""
        raw = _BAD.get(kind)
        if raw is None:
            return self._not_found(ctx)
        ctx["sock"].sendall(raw)
        time.sleep(0.05)
        return False

    def _expect(self, ctx):
        headers = ctx["headers"]
        expect = (header_get(headers, "expect") or "").lower()
        sock = ctx["sock"]
        if "reject" in ctx["query"]:
            msg = b"rejected\n"
            sock.sendall(_response(417, "Expectation Failed", [
                ("Content-Length", len(msg)), ("Connection", "close")], msg))
            return False
        if expect == "100-continue":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        ctx["body"], ctx["trailers"] = read_body(ctx["reader"], headers)
        return self._echo(ctx)

    def _ws(self, ctx):
        headers = ctx["headers"]
        upg = (header_get(headers, "upgrade") or "").lower()
        if upg != "websocket":
            msg = b"upgrade required\n"
            return self._send(ctx, 426, [("Content-Length", len(msg))], msg)
        key = header_get(headers, "sec-websocket-key") or ""
        import base64
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        sock = ctx["sock"]
        sock.sendall(_response(101, "Switching Protocols", [
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept.decode())]))
        reader = ctx["reader"]
        if "raw" in ctx["query"]:
            _echo_raw(sock, reader)
        else:
            _echo_ws(sock, reader)
        return False


def _echo_raw(sock, reader):
    if reader.buf:
        sock.sendall(bytes(reader.buf))
        reader.buf.clear()
    for _ in range(1 << 30):
        data = sock.recv(1 << 16)
        if not data:
            return
        sock.sendall(data)


def ws_frame(payload, opcode=2, mask=None):
    """Encodes one final WebSocket frame (masked when mask is 4 bytes)."""
    b0 = 0x80 | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n < 65536:
        head = bytes([b0, mbit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, mbit | 127]) + n.to_bytes(8, "big")
    if mask:
        masked = bytes(c ^ mask[i % 4] for i, c in enumerate(payload)) \
            if n < 4096 else _mask_fast(payload, mask)
        return head + mask + masked
    return head + payload


def _mask_fast(payload, mask):
    n = len(payload)
    m = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ m).to_bytes(n, "big")


def ws_read_frame(read_exact):
    """Reads one frame with read_exact(n); returns (opcode, payload)."""
    b0, b1 = read_exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(read_exact(2), "big")
    elif n == 127:
        n = int.from_bytes(read_exact(8), "big")
    mask = read_exact(4) if b1 & 0x80 else None
    payload = read_exact(n)
    if mask:
        payload = _mask_fast(payload, mask)
    return b0 & 0x0F, payload


def _echo_ws(sock, reader):
    for _ in range(1 << 20):
        opcode, payload = ws_read_frame(reader.read_exact)
        if opcode == 8:   # close
            sock.sendall(ws_frame(payload, 8))
            return
        sock.sendall(ws_frame(payload, opcode))


class EchoServer:
    """Raw TCP echo server on 127.0.0.1 (a CONNECT tunnel target)."""

    def __init__(self):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        self.accepted = 0

    def start(self):
        threading.Thread(target=self._loop, daemon=True).start()
        return self

    def stop(self):
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()

    def _loop(self):
        while True:
            try:
                sock, _ = self.lsock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(sock,),
                             daemon=True).start()

    @staticmethod
    def _serve(sock):
        try:
            for _ in range(1 << 30):
                data = sock.recv(1 << 16)
                if not data:
                    break
                sock.sendall(data)
        except OSError:
            pass
        finally:
            sock.close()


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    o = Origin(port=port).start()
    print("origin listening on %s" % o.authority(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        o.stop()
