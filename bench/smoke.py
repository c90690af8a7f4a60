#!/usr/bin/env python3
"""bench/smoke.py: runs one bench script in QUICK mode (tiny durations and
sizes) and checks that its table came out: a row for every target it
measures, with a number in it. It does not judge the figures (a QUICK run
on a busy box says nothing about speed) nor the script's exit status,
which some scripts use for "targets met".

    bench/smoke.py SCRIPT BUILD_DIR     e.g. bench/smoke.py tls.sh build

ringcap's own rows must carry numbers; a reference proxy that is not
installed (haproxy, mitmdump) may instead be reported "not available".
Exit 0 every row present, 1 a row missing (prints the output's tail),
77 skipped (a tool the script needs, such as wrk or nginx, is missing).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NUM = r"[0-9][0-9,.]*"
# run.sh's smoke runs one case of each kind (small, new connections, text,
# random, 1 MiB) and the targets that run.sh starts itself; mitmdump's rows
# (slow to start, optional) are for full runs. The other cases take the
# same code paths with other sizes.
RUN_CASES = ["100b-ka", "64k-close", "64k-text-ka", "1m-rand-ka"]


def run_rows():
    rows = []
    for c in RUN_CASES:
        for t in ("direct", "ringcap", "ringcap-cap"):
            rows.append(("%s %s" % (c, t), r"^\| %s \| %s \| %s \|" % (c, t, NUM)))
        rows.append(("%s haproxy" % c,
                     r"^\| %s \| haproxy \| %s \||^haproxy: not available" % (c, NUM)))
    return rows


# script -> (extra argv, [(row name, regex over stdout lines)][, extra environment])
SPECS = {
    "run.sh": ([], run_rows(), {"CASES": " ".join(RUN_CASES),
                                "TARGETS": "direct haproxy ringcap ringcap-cap"}),
    "tls.sh": ([], [
        ("handshakes direct", r"^\| handshakes \| direct .*\| %s handshakes/s \|" % NUM),
        ("handshakes ringcap warm", r"^\| handshakes \| ringcap, warm .*\| %s handshakes/s \|" % NUM),
        ("handshakes ringcap cold", r"^\| handshakes \| ringcap, cold .*\| %s handshakes/s \|" % NUM),
        ("handshakes mitmdump", r"^\| handshakes \| mitmdump .*\| %s handshakes/s \||"
                                r"^- hs-mitmdump: not available" % NUM),
        ("resumed handshakes direct",
         r"^\| resumed handshakes \| direct .*\| %s handshakes/s \|" % NUM),
        ("resumed handshakes ringcap",
         r"^\| resumed handshakes \| ringcap .*\| %s handshakes/s \|" % NUM),
        ("100 B keep-alive direct", r"^\| 100 B keep-alive \| direct \| %s req/s \|" % NUM),
        ("100 B keep-alive ringcap", r"^\| 100 B keep-alive \| ringcap \| %s req/s \|" % NUM),
        ("1 MiB keep-alive direct", r"^\| 1 MiB keep-alive \| direct \| %s req/s \|" % NUM),
        ("1 MiB keep-alive ringcap", r"^\| 1 MiB keep-alive \| ringcap \| %s req/s \|" % NUM),
    ]),
    "h2.sh": ([], [
        ("%s %s" % (c, t), r"^\| %s \| %s \| %s req/s \|" % (c, t, NUM))
        for c in ("100 B", "64 KiB") for t in ("direct", "ringcap")] + [
        ("%s mitmdump" % c, r"^\| %s \| mitmdump \| (%s req/s|not available \|)" % (c, NUM))
        for c in ("100 B", "64 KiB")] + [
        ("ringcap / mitmdump %s" % c,
         r"^- ringcap / mitmdump, %s: %sx|^- ringcap / mitmdump: not available \(mitmdump not available\)"
         % (c, NUM))
        for c in ("100 B", "64 KiB")]),
    "capture_filter.sh": ([], [
        ("%s none/accept/reject" % c,
         r"^\| %s \| 1 \| %s \| %s \| %s \| %s \|" % (c, NUM, NUM, NUM, NUM))
        for c in ("100b-ka", "64k-ka")]),
    "filter.sh": ([], [
        ("%s patterns" % n, r"^\| %s \(.*\) \| %s \| %s \|" % (n, NUM, NUM))
        for n in ("10", "100", "1000")]),
    "filter_query.sh": ([], [
        (name, r"^\| %s.* \| %s \| %s \| %s \| %s / %s \|" % (re.escape(name), NUM, NUM, NUM, NUM, NUM))
        for name in ("no filter, first page", "--url-regex, selective, first page",
                     "--url-regex, selective, every row as JSON",
                     "--url-regex, broad", "--url-regex x3", "--url-regex + --status 5xx",
                     "--client 0.0.0.0/1")]),
    "store.sh": ([], [
        (name, r"^\| %s.*\| .*%s" % (re.escape(name), NUM))
        for name in ("synthetic session", "`ringcap ls` --sort duration --limit 50",
                     "`ringcap ls` --sort url --limit 50", "`ringcap ls --json`",
                     "`ringcap show --json`", "~1 GiB session", "restart after kill -9",
                     "`ringcap ls` of it after the restart", "capture on/off, 100b-ka",
                     "capture on/off, 64k-ka", "captured 100 B exchanges")]),
    "replay.sh": ([], [
        ("wrk", r"^\| wrk -t2 -c64 \| %s \|" % NUM),
        ("replay closed loop", r"^\| ringcap replay --speed 0 .*\| %s \|" % NUM),
        ("replay --rate", r"^\| --rate \d+ \| %s \|" % NUM),
        ("replay --speed 1", r"^\| --speed 1 .*\| %s \|" % NUM),
        ("replay --speed 1 of a recording at 10k", r"^\| --speed 1 of a \d+ req/s recording .*\| %s \|" % NUM),
        ("replay accounting", r"^\| \d+ \| \d+ \| \d+ \| .* \| \d+ \| -?\d+ \| %s \|" % NUM),
    ]),
    "ship.sh": ([], [
        (name, r"^\| %s \| %s \| %s \| %s \| %s \| %s \|" % (name, NUM, NUM, NUM, NUM, NUM))
        for name in ("no-bodies", "no-bodies-tsv", "no-bodies-json", "bodies-1k",
                     "bodies-1k-json")] + [
        ("data plane while shipping", r"^\| data plane while shipping \| 1 \| %s \| %s \| %s \|"
         % (NUM, NUM, NUM)),
        ("data plane while shipping, ClickHouse idle",
         r"^\| data plane while shipping, ClickHouse SCHED_IDLE \| 1 \| %s \| %s \| %s \|"
         % (NUM, NUM, NUM))]),
    "sync.sh": ([], [
        ("%s, %s connection(s)" % (c, n),
         r"^\| %s \| %s \| \d+ \| %s \| %s \| %s \|" % (c, n, NUM, NUM, NUM))
        for c in ("100b-ka", "64k-ka") for n in ("10", "1")]),
    "bytes.sh": ([], [
        ("bytes per 100 B exchange", r"^origin python: \d+ exchanges: %s B = frames %s \+ index %s "
         r"\+ strings %s B" % (NUM, NUM, NUM, NUM))]),
    "export.sh": ([], [
        (name, r"^\| %s \| %s \| %s \| %s \| %s \| %s \| %s \| %s \|" % (
            sess, NUM, re.escape(fmt), NUM, NUM, NUM, NUM, NUM))
        for sess, fmt in (("nobody", "HAR"), ("nobody", "collection, --group domain,endpoint"),
                          ("nobody", "collection, --group none --with-tests"),
                          ("bodies", "HAR"), ("bodies", "collection, --group domain,endpoint"))
        for name in ["%s %s" % (sess, fmt)]] + [
        ("import", r"^\| bodies\.har \(%s MiB\) \| %s \| import \| %s \|" % (NUM, NUM, NUM)),
        ("mitmdump HAR", r"^\| same traffic, mitmdump flow file \| %s \| mitmdump HAR \(har_dump\.py\) \| %s \| %s \| %s \| %s \| %s \||"
                         r"^mitmdump HAR export: not available \(mitmproxy is not installed\)" % ((NUM,) * 6)),
        ("ringcap HAR, same traffic", r"^\| same traffic, ringcap session \| %s \| HAR \| %s \| %s \| %s \| %s \| %s \||"
                                      r"^mitmdump HAR export: not available \(" % ((NUM,) * 6)),
        ("ratio, same traffic", r"^- ringcap / mitmdump HAR export, same %s exchanges: %sx \(wall\), %sx \(CPU\)|"
                                r"^mitmdump HAR export: not available \(" % (NUM, NUM, NUM)),
        ("ratio per exchange", r"^- ringcap / mitmdump HAR export per exchange, .*: %sx \(wall\), %sx \(CPU\)|"
                               r"^mitmdump HAR export: not available \(" % (NUM, NUM)),
    ]),
    "toggle.py": ([], [
        ("baseline", r"^\| 1 \| baseline \| %s \|" % NUM),
        ("toggling", r"^\| 1 \| toggling \| %s \| .*\| %s/%s \|" % (NUM, NUM, NUM)),
    ]),
    "idle_conns.py": (["--out-dir", "{out}"], [
        ("ringcap", r"^\| ringcap \| %s \| %s \| %s \|" % (NUM, NUM, NUM)),
    ]),
    "webui.py": ([], [
        ("first rows", r"^\| first rows, \d+-exchange session \| %s ms \|" % NUM),
        ("sort", r"^\| sort by duration \| %s ms \|" % NUM),
        ("click", r"^\| click to details under %s req/s \| median %s ms, max %s ms \|"
                  % (NUM, NUM, NUM)),
        ("req/s no page", r"^\| req/s, no page \| %s \|" % NUM),
        ("req/s 5 pages", r"^\| req/s, 5 pages following \| %s \|" % NUM),
        ("ratio", r"^\| ratio 5 pages / none \| %s \|" % NUM),
        ("ratio niced", r"^\| ratio 5 pages \(browsers at nice 19\) / none \| %s \|" % NUM),
        ("ratio streams", r"^\| ratio 5 streams / none \| %s \|" % NUM),
    ]),
    "upload_backpressure.py": (["--out-dir", "{out}"], [
        ("RSS", r"^- RSS %s KiB before, peak %s KiB" % (NUM, NUM)),
        ("GETs during the stall", r"^- three GETs through the proxy .*answered in %s s" % NUM),
        ("recovery", r"^- after the upstream closed everything, served again in: %s s" % NUM),
    ]),
}
# A sanitizer build of ringcap under a bench script: its report fails the
# smoke test wherever it shows up (the script prints the proxy's log).
SANITIZER = re.compile(r"WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error:")
MISSING_TOOL = re.compile(r"not found \(apt-get install|No such file or directory: '(wrk|nginx)'")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in SPECS:
        sys.exit("usage: bench/smoke.py SCRIPT BUILD_DIR (SCRIPT one of %s)"
                 % ", ".join(sorted(SPECS)))
    script, build = sys.argv[1], os.path.abspath(sys.argv[2])
    extra, rows = SPECS[script][:2]
    script_env = SPECS[script][2] if len(SPECS[script]) > 2 else {}
    out = tempfile.mkdtemp(prefix="ringcap-bench-smoke-")
    env = dict(os.environ, QUICK="1", OUT_DIR=out, BUILD=build,
               RINGCAP_BIN=os.path.join(build, "tools", "ringcap"),
               GEN_BIN=os.path.join(build, "bench", "rc_gen_session"),
               PYTHONDONTWRITEBYTECODE="1", **script_env)
    interp = ["bash"] if script.endswith(".sh") else [sys.executable]
    argv = interp + [os.path.join(HERE, script)] + [a.format(out=out) for a in extra]
    try:
        p = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=240)
        stdout = p.stdout.decode("utf-8", "replace")
        stderr = p.stderr.decode("utf-8", "replace")
        rc = p.returncode
    except subprocess.TimeoutExpired as e:
        stdout = (e.stdout or b"").decode("utf-8", "replace")
        stderr = (e.stderr or b"").decode("utf-8", "replace") + "\n(timed out after 240 s)"
        rc = None
    finally:
        shutil.rmtree(out, ignore_errors=True)
    lines = stdout.splitlines()
    missing = [name for name, rx in rows
               if not any(re.search(rx, line) for line in lines)]
    if missing and not stdout.strip() and MISSING_TOOL.search(stderr):
        print("skip: %s" % MISSING_TOOL.search(stderr).group(0))
        print(stderr[-2000:])
        return 77
    print("%s (QUICK=1): exit %s, %d of %d rows present"
          % (script, rc, len(rows) - len(missing), len(rows)))
    report = SANITIZER.search(stderr)
    if report:
        print("sanitizer report: %s" % report.group(0))
        print("---- stderr (tail) ----\n%s" % stderr[-20000:])
        return 1
    if missing:
        print("missing rows: %s" % ", ".join(missing))
        print("---- stdout (tail) ----\n%s" % "\n".join(lines[-60:]))
        print("---- stderr (tail) ----\n%s" % stderr[-4000:])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
