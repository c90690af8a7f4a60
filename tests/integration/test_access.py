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


class RefusedConnectLogged(ProxyCase):
    """Issue 17: a CONNECT refused by --connect-ports or by the upstream
    rules logs one stderr line naming client, target and rule (curl hides
    the 403's body), at most one a second, then how many were left out."""
    PROXY_ARGS = ["--connect-ports", "443,80"]   # the default, after the harness's "*"
    OWN_PROXY = True

    def connect(self, target):
        out, _ = self.raw(("CONNECT %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                           % (target, target)).encode(), 5.0)
        return harness.status_of(out)

    def lines(self):
        return [l for l in self.proxy.log().splitlines() if "refused CONNECT" in l]

    def wait_lines(self, n, timeout=5.0):
        import time
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.lines()) < n:
            time.sleep(0.05)
        return self.lines()

    def test_refusals_logged_and_rate_limited(self):
        import time
        self.assertEqual(self.connect("example.invalid:22"), 403)
        lines = self.wait_lines(1)
        self.assertEqual(len(lines), 1, self.proxy.log())
        self.assertRegex(lines[0], r"from 127\.0\.0\.1:\d+ to example\.invalid:22: "
                                   r"port not in --connect-ports$")
        # a burst: at most one line per second, and the lines that do come count
        # every refusal they stand for (a slow box may split the burst in two)
        time.sleep(1.1)
        t0 = time.monotonic()
        for _ in range(20):
            self.assertEqual(self.connect("example.invalid:25"), 403)
        burst = time.monotonic() - t0
        time.sleep(1.1)
        self.assertEqual(self.connect("example.invalid:23"), 403)
        deadline = time.monotonic() + 5
        lines = self.lines()
        while time.monotonic() < deadline and not (lines and "example.invalid:23" in lines[-1]):
            time.sleep(0.05)
            lines = self.lines()
        self.assertIn("example.invalid:23", lines[-1])
        self.assertLessEqual(len(lines), 3 + int(burst) + 1, lines)
        re = __import__("re")
        more = sum(int(x) for l in lines for x in re.findall(r"\((\d+) more refused", l))
        self.assertEqual(len(lines) + more, 22, lines)



class RefusedUpstreamLogged(RefusedConnectLogged):
    PROXY_ARGS = []

    def test_refusals_logged_and_rate_limited(self):
        pass   # the parent's; here the upstream rule alone

    def test_upstream_rule_logged(self):
        # a link-local (cloud metadata) address, refused on the resolved address
        self.assertEqual(self.connect("169.254.169.254:443"), 403)
        lines = self.wait_lines(1)
        self.assertEqual(len(lines), 1, self.proxy.log())
        self.assertRegex(lines[0], r"from 127\.0\.0\.1:\d+ to 169\.254\.169\.254:443: link-local")


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
