#!/usr/bin/env python3
"""Process life cycle of `ringcap run`: SIGTERM with a slow request in
flight (the response completes, new connections are refused, exit 0), the
grace timeout, SIGINT; startup errors (port in use → one line on stderr and
a non-zero exit; bad options → non-zero exit naming the option); `ringcap
--help` and `ringcap run --help` listing every option with its default."""

import re
import signal
import socket
import subprocess
import threading
import time
import unittest

import harness
from harness import Proxy
from origin import Origin

RUN_OPTIONS = {
    # option: accepted spellings of its default (None: any default shown)
    "--listen": ["0.0.0.0:5559"],
    "--control": ["127.0.0.1:5560"],
    "--data": ["ringcap-data"],
    "--workers": None,
    "--max-conns": None,
    "--max-request-head": ["32k", "32K", "32768", "32 KiB", "32KiB"],
    "--max-request-line": ["8k", "8K", "8192", "8 KiB", "8KiB"],
    "--max-response-head": ["64k", "64K", "65536", "64 KiB", "64KiB"],
    "--max-headers": ["100"],
    "--header-timeout": ["10s", "10000ms"],
    "--idle-timeout": ["60s", "1m", "60000ms"],
    "--connect-timeout": ["5s", "5000ms"],
    "--upstream-timeout": ["60s", "1m", "60000ms"],
    "--upstream-idle-timeout": ["30s", "30000ms"],
    "--buf-count": None,
    "--buf-size": None,
    "--zc-threshold": None,
    "--grace": ["10s", "10000ms"],
    "--dns-ttl": None,
    "--tls-buffers": None,
    "--leaf-cache": None,
    "--upstream-idle-max": ["256"],
}


def run_bin(args, timeout=15):
    p = subprocess.run([harness.RINGCAP_BIN] + args, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, cwd=harness._TMP)
    return p.returncode, p.stdout.decode("utf-8", "replace"), \
        p.stderr.decode("utf-8", "replace")


@unittest.skipIf(harness.EXTERNAL, "runs the ringcap binary itself")
class Shutdown(unittest.TestCase):

    def setUp(self):
        self.origin = Origin().start()
        self.addCleanup(self.origin.stop)

    def start(self, args):
        p = Proxy(args, 2, self.id().rsplit(".", 1)[-1]).start()
        self.addCleanup(lambda: p.proc.poll() is None and p.proc.kill())
        return p

    def req(self, path):
        auth = self.origin.authority()
        return ("GET http://%s%s HTTP/1.1\r\nHost: %s\r\n\r\n"
                % (auth, path, auth)).encode()

    def inflight(self, p, path, result):
        def run():
            try:
                c = harness.Conn(p.host, p.port, timeout=20)
                c.send(self.req(path))
                result["resp"] = c.read_response()
                result["closed_after"] = c.wait_closed(5)
                c.close()
            except Exception as e:   # reported by the test
                result["error"] = e
        t = threading.Thread(target=run)
        t.start()
        return t

    def new_connection_refused(self, p):
        """True when a new client cannot get a 2xx any more."""
        try:
            c = harness.Conn(p.host, p.port, timeout=3)
        except OSError:
            return True
        try:
            c.send(self.req("/size/1"))
            r = c.read_response()
            return not (200 <= r.status < 300)
        except (harness.Closed, OSError):
            return True
        finally:
            c.close()

    def test_sigterm_inflight_completes_new_refused_exit0(self):
        p = self.start(["--grace", "10s"])
        result = {}
        t = self.inflight(p, "/delay/1500", result)
        end = time.monotonic() + 5
        while not self.origin.stats()["requests"] and time.monotonic() < end:
            time.sleep(0.02)
        self.assertTrue(self.origin.stats()["requests"], "slow request never "
                        "reached the origin")
        p.signal(signal.SIGTERM)
        time.sleep(0.4)
        refused = self.new_connection_refused(p)
        t.join(20)
        rc = p.stop(15)
        self.assertNotIn("error", result, result)
        self.assertEqual(result["resp"].status, 200)
        self.assertEqual(result["resp"].body, b"delayed\n")
        self.assertTrue(refused, "a new connection was served after SIGTERM")
        self.assertEqual(rc, 0, p.log())

    def test_grace_expiry_exits(self):
        p = self.start(["--grace", "1s"])
        result = {}
        t = self.inflight(p, "/delay/8000", result)
        time.sleep(0.5)
        t0 = time.monotonic()
        p.signal(signal.SIGTERM)
        try:
            rc = p.proc.wait(7)
        except subprocess.TimeoutExpired:
            rc = "still running 7 s after SIGTERM with --grace 1s"
        took = time.monotonic() - t0
        t.join(20)
        p.stop()
        self.assertEqual(rc, 0, p.log())
        self.assertLess(took, 7)
        resp = result.get("resp")
        self.assertFalse(resp is not None and resp.status == 200,
                         "the 8 s request completed despite --grace 1s")

    def test_sigint_idle_exit0(self):
        p = self.start([])
        c = harness.Conn(p.host, p.port)
        c.send(self.req("/size/3"))
        self.assertEqual(c.read_response().status, 200)
        c.close()
        p.signal(signal.SIGINT)
        try:
            rc = p.proc.wait(15)
        except subprocess.TimeoutExpired:
            rc = "hung after SIGINT"
        p.stop()
        self.assertEqual(rc, 0, p.log())


@unittest.skipIf(harness.EXTERNAL, "runs the ringcap binary itself")
class Startup(unittest.TestCase):

    def run_expect_fail(self, args):
        port = harness.free_port()
        argv = ["run", "--listen", "127.0.0.1:%d" % port]
        if harness.run_has_option("--control"):
            argv += ["--control", "127.0.0.1:%d" % harness.free_port()]
        argv += ["--data", harness._TMP + "/data-startup"] + args
        try:
            rc, out, err = run_bin(argv, timeout=15)
        except subprocess.TimeoutExpired:
            self.fail("ringcap %r still running after 15 s" % args)
        self.assertNotEqual(rc, 0, "ringcap %r exited 0" % args)
        return rc, out, err

    def test_port_in_use(self):
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        try:
            rc, out, err = run_bin(["run", "--listen", "127.0.0.1:%d" % port,
                                    "--data", harness._TMP + "/data-inuse"])
        except subprocess.TimeoutExpired:
            self.fail("ringcap ran although its port was taken")
        finally:
            blocker.close()
        self.assertNotEqual(rc, 0)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        self.assertEqual(len(lines), 1, "stderr: %r" % err)
        self.assertTrue(str(port) in lines[0] or "in use" in lines[0].lower(),
                        "the line names neither the port nor 'in use': %r" % lines[0])

    @unittest.skipUnless(harness.run_has_option("--control"), "no --control yet")
    def test_control_port_in_use(self):
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        try:
            rc, out, err = run_bin(["run", "--listen", "127.0.0.1:%d" % harness.free_port(),
                                    "--control", "127.0.0.1:%d" % port,
                                    "--data", harness._TMP + "/data-inuse2"])
        except subprocess.TimeoutExpired:
            self.fail("ringcap ran although its control port was taken")
        finally:
            blocker.close()
        self.assertNotEqual(rc, 0)
        self.assertTrue(err.strip(), "no message on stderr")

    def test_unknown_option(self):
        rc, out, err = self.run_expect_fail(["--no-such-option"])
        self.assertIn("no-such-option", err)

    def test_bad_values_name_the_option(self):
        cases = [("--workers", "abc"), ("--max-conns", "-3"),
                 ("--max-request-head", "12q"), ("--header-timeout", "10parsecs"),
                 ("--listen", "not-an-address"), ("--zc-threshold", "lots")]
        for opt, val in cases:
            with self.subTest(opt=opt):
                if opt == "--listen":
                    try:
                        rc, out, err = run_bin(["run", "--listen", val])
                    except subprocess.TimeoutExpired:
                        self.fail("ringcap ran with --listen %s" % val)
                    self.assertNotEqual(rc, 0)
                else:
                    rc, out, err = self.run_expect_fail([opt, val])
                self.assertIn(opt.lstrip("-"), err, "message does not name %s: %r"
                              % (opt, err))

    def test_missing_value(self):
        rc, out, err = self.run_expect_fail(["--workers"])
        self.assertIn("workers", err)

    def test_unknown_subcommand(self):
        rc, out, err = run_bin(["frobnicate"])
        self.assertNotEqual(rc, 0)
        self.assertTrue(err.strip())


@unittest.skipIf(harness.EXTERNAL, "runs the ringcap binary itself")
class Help(unittest.TestCase):

    def test_top_level_help(self):
        rc, out, err = run_bin(["--help"])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out + err, r"\brun\b")

    def test_run_help_lists_every_option_with_default(self):
        rc, out, err = run_bin(["run", "--help"])
        self.assertEqual(rc, 0, err)
        text = out + err
        starts, problems = {}, []
        for opt in RUN_OPTIONS:
            m = re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(opt), text)
            if m is None:
                problems.append("%s missing" % opt)
            else:
                starts[opt] = m.start()
        order = sorted(starts.values()) + [len(text)]
        for opt, want in RUN_OPTIONS.items():
            if opt not in starts:
                continue
            s = starts[opt]
            seg = text[s:order[order.index(s) + 1]]
            if want is None:
                if not re.search(r"(?i)default|\d", seg):
                    problems.append("%s shows no default: %r" % (opt, seg))
            elif not any(w in seg for w in want):
                problems.append("%s: default %s not shown in %r" % (opt, want[0], seg))
        self.assertEqual(problems, [], "ringcap run --help:\n" + text)

if __name__ == "__main__":
    harness.main()
