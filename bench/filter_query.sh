#!/usr/bin/env bash
# bench/filter_query.sh - query-time filtering: `ringcap ls` with filter
# flags over a session of N indexed exchanges (default 1,000,000; issue 6
# target: `ls --url-regex` <= 1 s). Builds an optimised tree in build-bench/
# (incremental), writes the session with bench/filter_query_gen.c into a
# temp dir (page cache warm: written just before), then times each command
# RUNS times (wall clock of the whole process: load, filter, sort, print)
# and prints a markdown table of medians and the number of rows listed.
#   N [1000000]  RUNS [5]  DIR [/tmp]  SLOW=1 also times --method PROPFIND,
#   which the index stores as "other" and so reads every such exchange's
#   request line from its frames (the documented slow path).
#   BUILD [build-bench] build tree to use; QUICK=1 smoke run (N 2000, 1 run)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${QUICK:-0}" = 1 ]; then
  : "${N:=2000}" "${RUNS:=1}"
fi
N=${N:-1000000}
RUNS=${RUNS:-5}
BUILD=${BUILD:-build-bench}
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" -Dbuildtype=release >&2
fi
ninja -C "$BUILD" tools/ringcap bench/filter_query_gen >&2
TMP=$(mktemp -d "${DIR:-/tmp}/ringcap-fq.XXXXXX")
declare -A PID
. bench/common.sh
start=$(date +%s.%N)
"$BUILD/bench/filter_query_gen" "$TMP" big "$N" >/dev/null
echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg);" \
     "session of $N exchanges written in $(echo "$(date +%s.%N) - $start" | bc) s," \
     "$(du -sh "$TMP" | cut -f1) on disk"
python3 - "$TMP" "$RUNS" "${SLOW:-0}" "$BUILD" <<'EOF'
import json, statistics, subprocess, sys, time
data, runs, slow = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
rc = [sys.argv[4] + "/tools/ringcap", "ls", "big", "--data", data]
cases = [
    ("no filter, first page (--limit 50)", ["--limit", "50"]),
    ("--url-regex, selective, first page", ["--url-regex", r"^https://api\.example\.com/v[12]/users/[0-9]*7/orders\?page=4", "--limit", "50"]),
    ("--url-regex, selective, every row as JSON", ["--url-regex", r"^https://api\.example\.com/v[12]/users/[0-9]*7/orders\?page=4", "--json"]),
    ("--url-regex, broad (~1/2), first page", ["--url-regex", r"/v[01]/users/", "--limit", "50"]),
    ("--url-regex x3 + --url-contains + --url-excludes, first page",
     ["--url-regex", r"orders\?page=1[0-9]&", "--url-regex", r"^http://cdn", "--url-regex", r"q=[0-9a-f]*ff$",
      "--url-contains", "/users/", "--url-excludes", "telemetry", "--limit", "50"]),
    ("--url-regex + --status 5xx + --type json + --method GET (index only)",
     ["--url-regex", r"/v2/", "--status", "5xx", "--type", "json", "--method", "GET", "--limit", "50"]),
    ("--client 0.0.0.0/1 (v4 half), first page", ["--client", "0.0.0.0/1", "--limit", "50"]),
]
if slow:
    cases.append(("--method PROPFIND (index says other: reads request lines)", ["--method", "PROPFIND", "--limit", "50"]))
print("| command (`ringcap ls big ...`) | median s | min s | max s | rows listed (of the page) / matching |")
print("|---|--:|--:|--:|--:|")
for name, args in cases:
    ts = []
    for _ in range(runs if not name.startswith("--method PROPFIND") else 1):
        t0 = time.perf_counter()
        out = subprocess.run(rc + args, capture_output=True, check=True).stdout
        ts.append(time.perf_counter() - t0)
    js = subprocess.run(rc + [a for a in args if a not in ("--limit", "50")] + (["--json"] if "--json" not in args else []),
                        capture_output=True, check=True).stdout
    total = len(json.loads(js))
    shown = len(json.loads(out)) if "--json" in args else len(out.splitlines()) - 1
    print("| %s | %.3f | %.3f | %.3f | %d / %d |" % (name, statistics.median(ts), min(ts), max(ts), shown, total))
EOF
