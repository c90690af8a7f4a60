"""A TLS origin on loopback that counts what reaches it (issue 16): TCP
connections accepted, TLS handshakes completed and how many of them resumed
a session, handshakes that failed, and requests. The TLS tests use it to
check how many upstream connections and full handshakes ringcap makes.

Each connection is served on its own thread: handshake (optionally after a
delay, so the proxy's client side is sure to be ahead), then HTTP/1.1
keep-alive GETs answered with "path=... conn=N" (N: the connection's
ordinal). Certificates come from a small test CA made with openssl, or are
self-signed (not trusted by that CA)."""

import os
import socket
import ssl
import subprocess
import threading
import time

import origin


def _run(args):
    subprocess.run(["openssl"] + args, check=True, capture_output=True)


def make_ca(dirname, tag="ca"):
    """A P-256 test CA; returns (key, cert) paths."""
    key, cert = os.path.join(dirname, tag + "-key.pem"), os.path.join(dirname, tag + ".pem")
    _run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
          "-nodes", "-keyout", key, "-out", cert, "-days", "30",
          "-subj", "/CN=ringcap test CA " + tag,
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign"])
    return key, cert


def make_leaf(dirname, tag, ca=None, san="DNS:localhost,IP:127.0.0.1"):
    """A leaf for localhost; signed by CA=(key, cert) or self-signed when
    CA is None. Returns (key, cert) paths."""
    key, cert = os.path.join(dirname, tag + "-key.pem"), os.path.join(dirname, tag + ".pem")
    if ca is None:
        _run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-keyout", key, "-out", cert, "-days", "30",
              "-subj", "/CN=localhost", "-addext", "subjectAltName=" + san])
        return key, cert
    csr = os.path.join(dirname, tag + ".csr")
    ext = os.path.join(dirname, tag + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth\n" % san)
    _run(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
          "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=localhost"])
    _run(["x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0], "-CAcreateserial",
          "-out", cert, "-days", "30", "-extfile", ext])
    return key, cert


def request_heads(t):
    """The head of each request read from socket t, until the peer closes
    (the origins here take no request bodies)."""
    buf = b""
    while True:
        head, buf = origin.read_head(t, buf)
        if head is None:
            return
        yield head


class CountingTlsOrigin:
    """TLS origin on 127.0.0.1 (PORT 0: a free one) that counts connections,
    handshakes (full and resumed) and requests."""

    def __init__(self, key, cert, port=0, handshake_delay=0.0, tls13=True):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        if not tls13:
            self.ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        self.handshake_delay = handshake_delay
        self.lock = threading.Lock()
        self.accepted = self.handshakes = self.resumed = self.failed = 0
        self.requests = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stopped = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def counts(self):
        with self.lock:
            return {"accepted": self.accepted, "handshakes": self.handshakes,
                    "resumed": self.resumed, "failed": self.failed,
                    "requests": self.requests}

    def settle(self, timeout=3.0, quiet=0.5):
        """Waits until the counts stop changing for QUIET seconds (the proxy
        may still be finishing a connection made ahead); returns them."""
        end = time.monotonic() + timeout
        last, since = self.counts(), time.monotonic()
        while time.monotonic() < end:
            time.sleep(0.05)
            now = self.counts()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return last

    def stop(self):
        self.stopped = True
        try:
            # shutdown wakes the accept thread: a blocked accept keeps the
            # port bound after close alone, and a restart on it would fail
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _accept_loop(self):
        while not self.stopped:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                n = self.accepted
                self.conns.append(s)
            threading.Thread(target=self._serve, args=(s, n), daemon=True).start()

    def _serve(self, raw, n):
        if self.handshake_delay:
            time.sleep(self.handshake_delay)
        try:
            raw.settimeout(30)
            t = self.ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            with self.lock:
                self.failed += 1
            raw.close()
            return
        with self.lock:
            self.handshakes += 1
            self.resumed += 1 if t.session_reused else 0
        try:
            self._requests(t, n)
        except (OSError, ssl.SSLError):
            pass
        finally:
            t.close()

    def _requests(self, t, n):
        for head in request_heads(t):
            path = head.split(b" ", 2)[1]
            with self.lock:
                self.requests += 1
            body = b"path=%s conn=%d" % (path, n)
            t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
