#!/usr/bin/env python3
"""/metrics of a live daemon after real traffic (plain requests, an
intercepted HTTPS request whose upstream is not TLS, a blind CONNECT
tunnel, an unresolvable host) is accepted by Prometheus's own parser and
linter, `promtool check metrics` (Debian package prometheus), and shows
that traffic. Skipped (77) only when promtool is not installed."""

import re
import shutil
import subprocess
import unittest
import urllib.request

import harness
from harness import ProxyCase


class Metrics(ProxyCase):
    CONTROL = harness.free_port()
    PROXY_ARGS = ["--control", "127.0.0.1:%d" % CONTROL]
    OWN_PROXY = True

    def scrape(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.CONTROL,
                                    timeout=10) as r:
            self.assertEqual(r.status, 200)
            self.assertTrue(r.headers["Content-Type"].startswith("text/plain"))
            return r.read()

    def test_promtool_accepts_live_metrics(self):
        if shutil.which("promtool") is None:
            raise unittest.SkipTest("promtool not installed (apt-get install prometheus)")
        for n in (10, 70000):
            code, _, err = self.curl(self.ourl("/size/%d" % n), "-o", "/dev/null")
            self.assertEqual(code, 0, err)
        self.curl("http://no-such-host.invalid/", "-o", "/dev/null")
        https = "https://%s/size/5" % self.origin.authority()
        self.curl("-k", https, "-o", "/dev/null")     # upstream is not TLS: 502
        code, _, err = self.curl("-p", self.ourl("/size/3"), "-o", "/dev/null")
        self.assertEqual(code, 0, err)
        text = self.scrape()
        p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        t = text.decode()

        def value(sample):
            m = re.search(r"(?m)^%s (\d+)$" % re.escape(sample), t)
            self.assertIsNotNone(m, sample)
            return int(m.group(1))
        self.assertGreaterEqual(value("ringcap_requests_total"), 4)
        self.assertGreaterEqual(value("ringcap_connections_accepted_total"), 5)
        self.assertGreaterEqual(value('ringcap_errors_total{kind="dns"}'), 1)
        self.assertGreaterEqual(value('ringcap_received_bytes_total{peer="upstream"}'), 70000)
        self.assertGreaterEqual(value('ringcap_sent_bytes_total{peer="client"}'), 70000)
        self.assertGreaterEqual(value("ringcap_tunnels_total"), 1)
        self.assertGreaterEqual(value('ringcap_tls_handshakes_total{side="client"}'), 1)
        errors = sum(int(v) for v in re.findall(r'(?m)^ringcap_errors_total\{kind="[a-z_]+"\} (\d+)$', t))
        self.assertGreaterEqual(errors, 2)   # the unresolvable host, the non-TLS upstream
        self.assertGreaterEqual(value("ringcap_connections_open"), 0)
        for fam in re.findall(r"(?m)^# TYPE (\S+) ", t):
            self.assertIn("# HELP %s " % fam, t)


if __name__ == "__main__":
    harness.main()
