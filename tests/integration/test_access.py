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


class ControlPort(ProxyCase):
    """The control port serves the CA files and Prometheus metrics."""
    CONTROL = harness.free_port()
    PROXY_ARGS = ["--control", "127.0.0.1:%d" % CONTROL]   # after the harness's own
    OWN_PROXY = True

    def control(self, path):
        import urllib.request
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.CONTROL, path),
                                    timeout=10) as r:
            return r.status, r.read()

    def test_ca_files_and_metrics(self):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        c = self.conn()
        c.send(self.req("GET", "/size/5"))
        self.assertEqual(c.read_response().status, 200)
        status, pem = self.control("/ca.pem")
        self.assertEqual(status, 200)
        self.assertTrue(pem.startswith(b"-----BEGIN CERTIFICATE-----"))
        status, der = self.control("/ca.crt")
        self.assertEqual(der[0], 0x30)   # DER SEQUENCE
        status, text = self.control("/metrics")
        self.assertRegex(text.decode(), r"(?m)^ringcap_requests_total [1-9]")
        self.assertIn(b'ringcap_errors_total{kind="dns"}', text)


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
