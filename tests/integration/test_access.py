#!/usr/bin/env python3
"""--allow: clients outside the allowed blocks are closed at accept without an
answer; the default (loopback and private ranges) serves loopback clients."""

import subprocess
import unittest

import harness
from harness import ProxyCase


class Denied(ProxyCase):
    PROXY_ARGS = ["--allow", "10.0.0.0/8", "--allow", "fd00::/8"]
    OWN_PROXY = True

    def test_loopback_client_refused(self):
        out, closed = self.raw(self.req("GET", "/size/3"), 5.0)
        self.assertEqual(out, b"")
        self.assertTrue(closed)
        self.assert_origin_saw_nothing()


class Allowed(ProxyCase):
    PROXY_ARGS = ["--allow", "127.0.0.0/8"]
    OWN_PROXY = True

    def test_loopback_client_served(self):
        c = self.conn()
        c.send(self.req("GET", "/size/3"))
        self.assertEqual(c.read_response().status, 200)


class BadValue(unittest.TestCase):
    def test_bad_cidr_named(self):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs the ringcap binary")
        r = subprocess.run([harness.RINGCAP_BIN, "run", "--allow", "10.0.0.1/8"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 2)
        self.assertIn("10.0.0.1/8", r.stderr)


if __name__ == "__main__":
    harness.main()
