#!/usr/bin/env bash
# bench/capture_filter.sh - capture throughput with a 1,000-pattern filter
# against no filter (issue 6 target: >= 0.95x), wrk -> ringcap -> nginx on
# loopback, with run.sh's origin, wrk script and helpers (bench/common.sh
# stops everything it started; bench/capture_common.sh has what it shares
# with bench/sync.sh).
#
# Three ringcap instances capture into their own session at once (only the
# one under load works):
#   none     --session, no filter: every exchange stored
#   accept   --session + 1,000 URL patterns (500 contains, 200 excludes,
#            300 regexes) + --method GET + --status 2xx, built so that every
#            bench request is accepted: the worst case, each exchange pays the
#            URL scan, waits PENDING for its response head and is then stored
#   reject   the same patterns minus the ones that match: nothing stored
# Cases alternate targets within each round; the report gives every round and
# the median ratio, plus the exchanges each session holds at the end (accept
# must hold as many as it served, reject none).
#
# Environment: DURATION [5] CONNS [50] THREADS [2] WARMUP [1] REPEAT [3]
#   CASES ["100b-ka 64k-ka"] RINGCAP_BIN [./build/tools/ringcap]
#   RINGCAP_WORKERS [nproc] QUICK=1 (1 s, 10 connections, 1 round)
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
NAME=capture_filter.sh
. "$HERE/capture_common.sh"
TMP=$(mktemp -d /tmp/ringcap-capfilter.XXXXXX)
declare -A PID PORT
. "$HERE/common.sh"

read -r NGINX_PORT 'PORT[none]' 'PORT[accept]' 'PORT[reject]' C1 C2 C3 <<<"$($LIB freeports 7)"
start_nginx "$NGINX_PORT"

# 1,000 URL patterns in the style of bench/filter_bench.c, one flag and one
# value per line. "accept" adds one contains and one regex that every bench
# URL matches; both sets keep 200 excludes that none matches.
"$PYTHON" - "$TMP" <<'EOF'
import sys
d = sys.argv[1]
hosts = ["api%d.example.com" % i for i in range(40)]
common = []
for i in range(499):
    common += ["--url-contains", "/orders/%d/items/%d" % (417 + i, i * 7)]
for i in range(200):
    common += ["--url-excludes", "cdn%d.example.net/static/img/%d" % (i % 9, i)]
for i in range(299):
    common += ["--url-regex", r"^https://%s/v[12]/users/[0-9]+/c%d" % (hosts[i % 40].replace(".", r"\."), i)]
acc = common + ["--url-contains", "127.0.0.1:", "--url-regex", r"^http://127\.0\.0\.1:[0-9]+/(100b|64k|1m)$",
                "--method", "GET", "--status", "2xx"]
rej = common + ["--url-contains", "/never-seen/", "--url-regex", r"^http://[a-z]+\.invalid/",
                "--method", "GET", "--status", "2xx"]
for name, flags in (("accept", acc), ("reject", rej)):
    with open("%s/%s.flags" % (d, name), "w") as f:
        f.write("\n".join(flags) + "\n")
    assert sum(1 for x in flags if x.startswith("--url-")) == 1000
EOF

start() { # NAME CONTROLPORT [flags file]
    local t=$1 flags=()
    [ -n "${3:-}" ] && mapfile -t flags <"$3"
    mkdir -p "$TMP/$t-data"
    "$RINGCAP_BIN" run --listen "127.0.0.1:${PORT[$t]}" --control "127.0.0.1:$2" \
        --workers "$RINGCAP_WORKERS" --data "$TMP/$t-data" --session "$t" "${flags[@]}" \
        >"$TMP/$t.log" 2>&1 &
    PID[$t]=$!
    $LIB waitport "${PORT[$t]}" 30 "${PID[$t]}" || die "ringcap $t did not start: $(tail -n 3 "$TMP/$t.log")"
    log "ringcap $t: pid ${PID[$t]} (${#flags[@]} filter arguments)"
}
start none "$C1"
start accept "$C2" "$TMP/accept.flags"
start reject "$C3" "$TMP/reject.flags"

RESULTS="$TMP/results.tsv"
: >"$RESULTS"
measure() { # TARGET CASE ROUND
    local t=$1 c=$2 json
    json=$(wrk_json "${PORT[$t]}" "$c" "$CONNS") || exit 1
    printf '%s\t%s\t%s\t%s\n' "$c" "$3" "$t" "$json" >>"$RESULTS"
    log "$c round $3 $t: $json"
}
for c in $CASES; do
    for ((r = 1; r <= REPEAT; r++)); do
        order="none accept reject"
        (( r % 2 == 0 )) && order="reject accept none"
        for t in $order; do measure "$t" "$c" "$r"; done
    done
done

# Stop the proxies (flushes the stores), then count what each session holds.
stop_count none accept reject

"$PYTHON" - "$RESULTS" "$TMP" "$LOADAVG_START" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF'
import json, statistics, sys
res, tmp, la0, la1 = sys.argv[1:5]
rows = {}
served = {"none": 0, "accept": 0, "reject": 0}
for line in open(res):
    c, r, t, j = line.rstrip("\n").split("\t", 3)
    j = json.loads(j)
    errs = sum(j["errors"].values())
    rows.setdefault(c, {}).setdefault(int(r), {})[t] = (j["requests"] / (j["duration_us"] / 1e6), j["p50_us"], j["p99_us"], errs)
    served[t] += j["requests"]
print("| case | round | none req/s | 1,000-pattern accept req/s | × none | 1,000-pattern reject req/s | × none | p50 µs none / accept / reject |")
print("|---|--:|--:|--:|--:|--:|--:|---|")
med = {}
for c, rounds in rows.items():
    ra, rr = [], []
    for r in sorted(rounds):
        n, a, x = rounds[r]["none"], rounds[r]["accept"], rounds[r]["reject"]
        ra.append(a[0] / n[0]); rr.append(x[0] / n[0])
        print("| %s | %d | %s | %s | %.3f | %s | %.3f | %d / %d / %d |" % (
            c, r, f"{n[0]:,.0f}", f"{a[0]:,.0f}", ra[-1], f"{x[0]:,.0f}", rr[-1], n[1], a[1], x[1]))
        if n[3] or a[3] or x[3]:
            print("|  | errors | %d | %d |  | %d |  |  |" % (n[3], a[3], x[3]))
    med[c] = (statistics.median(ra), statistics.median(rr))
print()
for c, (a, r) in med.items():
    print("- %s: median accept/none %.3f, reject/none %.3f" % (c, a, r))
stored = {}
for t in ("none", "accept", "reject"):
    s = json.load(open("%s/%s.sessions.json" % (tmp, t)))
    stored[t] = s[0]["exchanges"] if s else 0
print("- stored exchanges (warm-ups included): none %d, accept %d, reject %d; measured requests: none %d, accept %d, reject %d"
      % (stored["none"], stored["accept"], stored["reject"], served["none"], served["accept"], served["reject"]))
print("- load average before %s, after %s" % (la0, la1))
ok = all(a >= 0.95 for a, _ in med.values()) and stored["reject"] == 0 and stored["accept"] >= served["accept"]
print("- target accept/none >= 0.95: %s" % ("met" if ok else "NOT met"))
EOF
