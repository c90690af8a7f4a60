#!/usr/bin/env python3
"""bench/replay_gen.py PROXY_PORT ORIGIN_PORT CONNS PER_CONN: sends CONNS x
PER_CONN keep-alive GET /100b through the proxy (absolute form), CONNS
client connections served round-robin, so the captured session holds CONNS
recorded connections of PER_CONN requests each. Exits 1 on any answer that
is not 200 with 100 bytes."""
import socket
import sys

proxy, origin, conns, per = (int(a) for a in sys.argv[1:5])
req = ("GET http://127.0.0.1:%d/100b HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
       "User-Agent: replay-bench\r\n\r\n" % (origin, origin)).encode()
socks = []
for _ in range(conns):
    s = socket.create_connection(("127.0.0.1", proxy))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    socks.append([s, b""])
for _ in range(per):
    for c in socks:
        c[0].sendall(req)
    for c in socks:
        s, buf = c
        while True:
            if b"\r\n\r\n" in buf:
                head, rest = buf.split(b"\r\n\r\n", 1)
                n = int([l.split(b":")[1] for l in head.split(b"\r\n")
                         if l.lower().startswith(b"content-length:")][0])
                if len(rest) >= n:
                    if not head.startswith(b"HTTP/1.1 200") or n != 100:
                        sys.exit("bad answer: %r" % head[:40])
                    c[1] = rest[n:]
                    break
            d = s.recv(65536)
            if not d:
                sys.exit("connection closed")
            buf += d
for c in socks:
    c[0].close()
