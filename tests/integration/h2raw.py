#!/usr/bin/env python3
"""A raw HTTP/2 client for the h2 tests: frames built by hand (RFC 9113),
request fields HPACK-encoded as literals without indexing or Huffman
(RFC 7541 6.2.2), so a test can send exactly the bytes it means, hostile
ones included. Responses are read as frames; their header blocks are not
decoded (the tests look at DATA, RST_STREAM and GOAWAY)."""

import socket
import ssl
import struct
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, \
    STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, \
    CONNECT_ERROR, ENHANCE_YOUR_CALM = range(12)


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


def hpack_int(n, prefix_bits, first=0):
    top = (1 << prefix_bits) - 1
    if n < top:
        return bytes([first | n])
    out = [first | top]
    n -= top
    while n >= 128:
        out.append((n & 127) | 128)
        n >>= 7
    out.append(n)
    return bytes(out)


def hpack_literal(name, value):
    """Literal field without indexing, new name, no Huffman."""
    if isinstance(name, str):
        name = name.encode()
    if isinstance(value, str):
        value = value.encode()
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def block(fields):
    return b"".join(hpack_literal(n, v) for n, v in fields)


class H2:
    """One client connection through the proxy's CONNECT to authority."""

    def __init__(self, proxy_host, proxy_port, authority, cafile, window=(1 << 31) - 1,
                 timeout=20):
        s = socket.create_connection((proxy_host, proxy_port), timeout=timeout)
        s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (authority, authority)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            b = s.recv(1)
            if not b:
                raise ConnectionError("proxy closed during CONNECT")
            head += b
        if not head.startswith(b"HTTP/1.1 200"):
            raise ConnectionError("CONNECT refused: %r" % head)
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.set_alpn_protocols(["h2"])
        self.t = ctx.wrap_socket(s, server_hostname=authority.rsplit(":", 1)[0])
        if self.t.selected_alpn_protocol() != "h2":
            raise ConnectionError("ALPN did not select h2")
        self.authority = authority
        self.buf = b""
        settings = struct.pack(">HI", 4, window)   # SETTINGS_INITIAL_WINDOW_SIZE
        self.send(PREFACE + frame(SETTINGS, 0, 0, settings) +
                  frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", (1 << 30))))
        self.streams = {}
        self.goaway = None
        self.closed = False
        # the server's flow-control windows for what we send
        self.peer_initial = 65535
        self.conn_window = 65535
        self.granted = {}        # stream -> bytes of WINDOW_UPDATE received
        self.sent = {}           # stream -> DATA bytes sent

    def send(self, data):
        self.t.sendall(data)

    def request_fields(self, method, path, extra=()):
        return [(":method", method), (":scheme", "https"), (":path", path),
                (":authority", self.authority)] + list(extra)

    def headers(self, sid, fields, end_stream=True, end_headers=True):
        flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
        self.send(frame(HEADERS, flags, sid, block(fields)))

    def get(self, sid, path, extra=()):
        self.headers(sid, self.request_fields("GET", path, extra))

    def data(self, sid, payload, end_stream=False):
        self.send(frame(DATA, END_STREAM if end_stream else 0, sid, payload))

    def rst(self, sid, code=CANCEL):
        self.send(frame(RST_STREAM, 0, sid, struct.pack(">I", code)))

    def read_frame(self, timeout=20):
        self.t.settimeout(timeout)
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            try:
                b = self.t.recv(65536)
            except (TimeoutError, socket.timeout):
                return None          # nothing within timeout (not closed)
            except (ConnectionError, ssl.SSLError):
                b = b""
            if not b:
                self.closed = True
                return None
            self.buf += b
        n = int.from_bytes(self.buf[:3], "big")
        ftype, flags = self.buf[3], self.buf[4]
        sid = struct.unpack(">I", self.buf[5:9])[0] & 0x7fffffff
        payload = self.buf[9:9 + n]
        self.buf = self.buf[9 + n:]
        self.note(ftype, flags, sid, payload)
        return ftype, flags, sid, payload

    def note(self, ftype, flags, sid, payload):
        st = self.streams.setdefault(sid, {"headers": 0, "body": b"", "end": False,
                                           "rst": None})
        if ftype == HEADERS:
            st["headers"] += 1
        elif ftype == DATA:
            st["body"] += payload
        elif ftype == RST_STREAM:
            st["rst"] = struct.unpack(">I", payload)[0]
        elif ftype == GOAWAY:
            self.goaway = struct.unpack(">I", payload[4:8])[0]
        elif ftype == SETTINGS and not flags & ACK:
            for i in range(0, len(payload) - 5, 6):
                ident, value = struct.unpack(">HI", payload[i:i + 6])
                if ident == 4:
                    self.peer_initial = value
            self.send(frame(SETTINGS, ACK, 0))
        elif ftype == WINDOW_UPDATE:
            inc = struct.unpack(">I", payload)[0] & 0x7fffffff
            if sid == 0:
                self.conn_window += inc
            else:
                self.granted[sid] = self.granted.get(sid, 0) + inc
        elif ftype == PING and not flags & ACK:
            self.send(frame(PING, ACK, 0, payload))
        if flags & END_STREAM and ftype in (DATA, HEADERS):
            st["end"] = True

    def window(self, sid):
        stream = self.peer_initial + self.granted.get(sid, 0) - self.sent.get(sid, 0)
        return min(stream, self.conn_window)

    def send_body(self, sid, body, timeout=20, end_stream=True):
        """Sends body as DATA within the server's windows, reading frames
        (window updates) while they are shut. True when all went."""
        off, deadline = 0, time.time() + timeout
        while off < len(body):
            n = min(self.window(sid), 16384, len(body) - off)
            if n <= 0:
                left = deadline - time.time()
                if left <= 0 or self.read_frame(left) is None:
                    return False
                continue
            last = end_stream and off + n == len(body)
            self.data(sid, body[off:off + n], last)
            self.sent[sid] = self.sent.get(sid, 0) + n
            self.conn_window -= n
            off += n
        return True

    def done(self, sid):
        st = self.streams.get(sid)
        return st is not None and (st["end"] or st["rst"] is not None)

    def wait(self, sids, timeout=20):
        """Reads until every stream in sids ended or was reset, the peer
        sent GOAWAY and closed, or timeout. True when all ended."""
        deadline = time.time() + timeout
        while not all(self.done(s) for s in sids):
            left = deadline - time.time()
            if left <= 0 or self.read_frame(left) is None:
                return False
        return True

    def wait_closed(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline and not self.closed:
            self.read_frame(max(0.01, deadline - time.time()))
        return self.closed

    def close(self):
        try:
            self.t.close()
        except OSError:
            pass
