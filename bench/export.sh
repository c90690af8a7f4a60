#!/usr/bin/env bash
# bench/export.sh - `ringcap export` speed and memory (issue 12: >= 100,000
# exchanges/s without bodies, peak RSS under 64 MiB).
#
# Builds an optimised tree in build-bench/ (incremental), writes two
# synthetic sessions into a temp dir (page cache warm: written just before):
#   - "nobody": N exchanges with heads and no bodies (bench/filter_query_gen.c,
#     tests/persist/gen.h fields: 6 hosts, every URL distinct), two workers;
#   - "bodies": N/10 realistic exchanges with small bodies (bench/gen_session.c,
#     bench/realistic.h: 30 hosts, JSON/HTML/binary/empty bodies), two workers;
# then exports each as HAR, as a collection grouped by domain and endpoint,
# and as a collection without folders, to /dev/null, and imports the HAR of
# "bodies" back as a new session, RUNS times each, and prints
# a markdown table of medians: wall seconds, CPU seconds (user + sys),
# exchanges/s by wall clock and by CPU time, peak RSS (GNU time's %M).
# Then mitmproxy's HAR export beside ringcap's on the same traffic
# (bench/export_mitm.py): MITM_N GETs sent each through `mitmdump -w` and
# through `ringcap run --session` to one loopback origin, then
# `mitmdump -n -r FLOWS -s har_dump.py` vs `ringcap export --format har`,
# two more rows and the ratios (also per exchange against the "nobody" HAR
# row); "not available" instead when mitmdump is not installed.
#   N [1000000]  RUNS [3]  MITM_N [20000]  DIR [/tmp]  BUILD [build-bench]
#   QUICK=1: N=20000, RUNS=1, MITM_N=300 (bench/smoke.py runs it so)
# Wall clock depends on what else runs on the box: the load average is in
# the header line; CPU time is the steadier figure on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
RUNS=${RUNS:-3}
MITM_N=${MITM_N:-20000}
if [ "${QUICK:-0}" = 1 ]; then
  N=20000
  RUNS=1
  MITM_N=300
fi
BUILD=${BUILD:-build-bench}
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" -Dbuildtype=release >&2
fi
ninja -C "$BUILD" tools/ringcap bench/filter_query_gen bench/rc_gen_session >&2
TMP=$(mktemp -d "${DIR:-/tmp}/ringcap-export.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
"$BUILD/bench/filter_query_gen" "$TMP" nobody "$N" >/dev/null
"$BUILD/bench/rc_gen_session" --data "$TMP" --name bodies --workers 2 \
  $((N / 10)) >/dev/null
echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg);" \
     "sessions: nobody $N exchanges, bodies $((N / 10)), $(du -sh "$TMP" | cut -f1) on disk"
python3 - "$TMP" "$RUNS" "$N" "$BUILD" "$MITM_N" <<'EOF'
import os, shutil, statistics, subprocess, sys, tempfile
data, runs, n, build = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
mitm_n = int(sys.argv[5])
har_rates = None  # the "nobody" HAR row's exchanges/s (wall, CPU)
ringcap = os.path.join(build, "tools", "ringcap")
rc = [ringcap, "export", "--data", data, "-o", "/dev/null"]
cases = [
    ("nobody", n, "HAR", ["--format", "har"]),
    ("nobody", n, "collection, --group domain,endpoint", ["--format", "postman", "--group", "domain,endpoint"]),
    ("nobody", n, "collection, --group none --with-tests", ["--format", "postman", "--group", "none", "--with-tests"]),
    ("bodies", n // 10, "HAR", ["--format", "har"]),
    ("bodies", n // 10, "collection, --group domain,endpoint", ["--format", "postman", "--group", "domain,endpoint"]),
]
print("| session | exchanges | format | wall s | CPU s | exchanges/s (wall) | exchanges/s (CPU) | peak RSS MiB |")
print("|---|--:|---|--:|--:|--:|--:|--:|")
for sess, count, name, args in cases:
    walls, cpus, rss = [], [], []
    for _ in range(runs):
        with tempfile.NamedTemporaryFile(mode="r") as tf:
            subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", "%e %U %S %M"] + rc + [sess] + args,
                           check=True, stdout=subprocess.DEVNULL)
            e, u, s, m = tf.read().split()[-4:]
        walls.append(float(e)); cpus.append(float(u) + float(s)); rss.append(int(m) / 1024)
    w, c = statistics.median(walls), statistics.median(cpus)
    if (sess, name) == ("nobody", "HAR") and w and c:
        har_rates = (count / w, count / c)
    print("| %s | %d | %s | %.2f | %.2f | %.0f | %.0f | %.0f |" % (
        sess, count, name, w, c, count / w if w else 0, count / c if c else 0, max(rss)))
# import: the HAR of "bodies" back in (two passes: check, then write)
har = os.path.join(data, "bodies.har")
subprocess.run(rc[:-2] + ["-o", har, "bodies", "--format", "har"], check=True)
walls, cpus, rss = [], [], []
for i in range(runs):
    with tempfile.NamedTemporaryFile(mode="r") as tf:
        subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", "%e %U %S %M",
                        ringcap, "import", har, "--session", "back%d" % i,
                        "--data", data], check=True, stdout=subprocess.DEVNULL)
        e, u, s_, m = tf.read().split()[-4:]
    walls.append(float(e)); cpus.append(float(u) + float(s_)); rss.append(int(m) / 1024)
w, c, count = statistics.median(walls), statistics.median(cpus), n // 10
print("| bodies.har (%d MiB) | %d | import | %.2f | %.2f | %.0f | %.0f | %.0f |" % (
    os.path.getsize(har) >> 20, count, w, c, count / w, count / c, max(rss)))
sys.stdout.flush()
if shutil.which("mitmdump") is None:
    print()
    print("mitmdump HAR export: not available (mitmproxy is not installed)")
else:
    mdir = os.path.join(data, "mitm")
    os.mkdir(mdir)
    subprocess.run([sys.executable, os.path.join("bench", "export_mitm.py"), os.path.abspath(ringcap),
                    mdir, str(mitm_n), str(runs)] + ["%.0f" % r for r in har_rates or ()],
                   check=True)
EOF
