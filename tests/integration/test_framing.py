#!/usr/bin/env python3
"""Malformed requests and ambiguous framing: each answered 400 with
Connection: close, the connection closed, and nothing reaching the origin.
Every case is sent in one write, so the proxy sees all of it before it
could forward anything."""

import harness
from harness import ProxyCase
from origin import body_bytes


class Framing(ProxyCase):

    def head(self, method="POST", path="/echo"):
        auth = self.origin.authority()
        return ("%s http://%s%s HTTP/1.1\r\nHost: %s\r\n" % (method, auth, path, auth)).encode()

    def reject(self, data):
        self.assert_refused_and_closed(data, 400)
        self.assert_origin_saw_nothing()
        # the worker carries on
        c = self.conn()
        c.send(self.req("GET", "/size/9"))
        self.assertEqual(c.read_response().body, body_bytes(9))

    # -- malformed -----------------------------------------------------------
    def test_garbage_request_line(self):
        self.reject(b"HELLO WORLD\r\n\r\n")

    def test_request_line_without_version(self):
        self.reject(b"GET http://" + self.origin.authority().encode() + b"/\r\n\r\n")

    def test_bad_version(self):
        self.reject(self.head("GET", "/").replace(b"HTTP/1.1", b"HTTP/1.x"))

    def test_space_in_header_name(self):
        self.reject(self.head("GET", "/") + b"Bad Header: x\r\n\r\n")

    def test_header_without_colon(self):
        self.reject(self.head("GET", "/") + b"NoColonHere\r\n\r\n")

    def test_nul_in_header_value(self):
        self.reject(self.head("GET", "/") + b"X-A: a\x00b\r\n\r\n")

    def test_control_char_in_target(self):
        auth = self.origin.authority().encode()
        self.reject(b"GET http://" + auth + b"/a\x01b HTTP/1.1\r\nHost: " + auth +
                    b"\r\n\r\n")

    def test_http11_without_host(self):
        auth = self.origin.authority().encode()
        self.reject(b"GET http://" + auth + b"/size/1 HTTP/1.1\r\n\r\n")

    # -- ambiguous framing ---------------------------------------------------
    def test_cl_and_te(self):
        self.reject(self.head() + b"Content-Length: 5\r\nTransfer-Encoding: chunked"
                    b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")

    def test_te_and_cl(self):
        self.reject(self.head() + b"Transfer-Encoding: chunked\r\nContent-Length: 5"
                    b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")

    def test_differing_duplicate_cl(self):
        self.reject(self.head() + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n"
                    b"hello!")

    def test_cl_list_differing(self):
        self.reject(self.head() + b"Content-Length: 5, 6\r\n\r\nhello!")

    def test_negative_cl(self):
        self.reject(self.head() + b"Content-Length: -1\r\n\r\n")

    def test_plus_cl(self):
        self.reject(self.head() + b"Content-Length: +5\r\n\r\nhello")

    def test_te_not_chunked(self):
        self.reject(self.head() + b"Transfer-Encoding: gzip\r\n\r\nhello")

    def test_te_chunked_not_final(self):
        self.reject(self.head() + b"Transfer-Encoding: chunked, gzip\r\n\r\n"
                    b"5\r\nhello\r\n0\r\n\r\n")

    def test_te_chunked_then_other_header_line(self):
        self.reject(self.head() + b"Transfer-Encoding: chunked\r\n"
                    b"Transfer-Encoding: gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n")

    def test_invalid_chunk_size(self):
        self.reject(self.head() + b"Transfer-Encoding: chunked\r\n\r\n"
                    b"zz\r\nhello\r\n0\r\n\r\n")

    def test_chunk_size_overflow(self):
        self.reject(self.head() + b"Transfer-Encoding: chunked\r\n\r\n"
                    b"10000000000000000000\r\nhello\r\n0\r\n\r\n")

    def test_chunk_data_too_long(self):
        self.reject(self.head() + b"Transfer-Encoding: chunked\r\n\r\n"
                    b"3\r\nhello\r\n0\r\n\r\n")

    def test_bare_lf_head(self):
        auth = self.origin.authority().encode()
        self.reject(b"GET http://" + auth + b"/size/1 HTTP/1.1\nHost: " + auth +
                    b"\n\n")

    def test_bare_lf_one_header(self):
        self.reject(self.head("GET", "/size/1") + b"X-A: b\nX-C: d\r\n\r\n")

    def test_obs_fold(self):
        self.reject(self.head("GET", "/size/1") + b"X-Folded: a\r\n b\r\n\r\n")

    def test_obs_fold_tab(self):
        self.reject(self.head("GET", "/size/1") + b"X-Folded: a\r\n\tb\r\n\r\n")

    def test_space_before_colon(self):
        self.reject(self.head() + b"Content-Length : 5\r\n\r\nhello")

    def test_tab_before_colon(self):
        self.reject(self.head() + b"Transfer-Encoding\t: chunked\r\n\r\n"
                    b"5\r\nhello\r\n0\r\n\r\n")

    def test_good_then_bad_pipelined(self):
        # The good request is served; the bad one is refused and nothing of
        # it reaches the origin.
        c = self.conn()
        c.send(self.req("GET", "/size/3") + self.head() +
               b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(c.read_response().body, body_bytes(3))
        r = c.read_response()
        self.assertEqual(r.status, 400)
        self.assertTrue(c.wait_closed(5))
        reqs = self.origin.stats()["requests"]
        self.assertEqual(len(reqs), 1, reqs)
        self.assertNotIn(b"smuggled", self.origin.stats()["raw"])


if __name__ == "__main__":
    harness.main()
