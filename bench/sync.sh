#!/usr/bin/env bash
# bench/sync.sh - what `ringcap run --sync` costs (issue 18): capture
# throughput and latency with --sync against the default mode, wrk ->
# ringcap -> nginx on loopback, with run.sh's origin, wrk script and helpers
# (bench/common.sh stops everything it started; bench/capture_common.sh has
# what it shares with bench/capture_filter.sh).
#
# Two ringcap instances capture into their own session at once (only the
# one under load works):
#   default  --session: frames written every --flush-interval (250 ms)
#   sync     --session --sync: a response's last bytes wait for the group
#            commit (fdatasync) that covers its exchange
# Cases: CONNS connections (one fdatasync covers the exchanges of many of
# them) and a single connection (every exchange waits for a commit of its
# own: the worst case). Targets alternate within each round; the report
# gives every round, the median ratio and the stored exchanges, which must
# be at least every one served.
#
# The data directories go to DIR (default bench/out/, on the box's disk:
# /tmp may be tmpfs, where fdatasync costs nothing and the row would lie).
# Environment: DURATION [5] CONNS [50] THREADS [2] WARMUP [1] REPEAT [3]
#   CASES ["100b-ka 64k-ka"] RINGCAP_BIN [./build/tools/ringcap]
#   RINGCAP_WORKERS [nproc] DIR [bench/out] QUICK=1 (1 s, 10 connections,
#   1 round)
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
NAME=sync.sh
. "$HERE/capture_common.sh"
DIR=${DIR:-$HERE/out}
mkdir -p "$DIR"
TMP=$(mktemp -d "$DIR/ringcap-sync.XXXXXX")
declare -A PID PORT
. "$HERE/common.sh"

read -r NGINX_PORT 'PORT[default]' 'PORT[sync]' C1 C2 <<<"$($LIB freeports 5)"
start_nginx "$NGINX_PORT"

start() { # NAME CONTROLPORT FLAGS...
    local t=$1 c=$2
    shift 2
    mkdir -p "$TMP/$t-data"
    "$RINGCAP_BIN" run --listen "127.0.0.1:${PORT[$t]}" --control "127.0.0.1:$c" \
        --workers "$RINGCAP_WORKERS" --data "$TMP/$t-data" --session "$t" "$@" \
        >"$TMP/$t.log" 2>&1 &
    PID[$t]=$!
    $LIB waitport "${PORT[$t]}" 30 "${PID[$t]}" || die "ringcap $t did not start: $(tail -n 3 "$TMP/$t.log")"
    log "ringcap $t: pid ${PID[$t]} $*"
}
start default "$C1"
start sync "$C2" --sync

RESULTS="$TMP/results.tsv"
: >"$RESULTS"
measure() { # TARGET CASE CONNS ROUND
    local t=$1 c=$2 n=$3 json
    json=$(wrk_json "${PORT[$t]}" "$c" "$n") || exit 1
    printf '%s\t%s\t%s\t%s\t%s\n' "$c" "$n" "$4" "$t" "$json" >>"$RESULTS"
    log "$c c$n round $4 $t: $json"
}
for c in $CASES; do
    for n in "$CONNS" 1; do
        for ((r = 1; r <= REPEAT; r++)); do
            order="default sync"
            (( r % 2 == 0 )) && order="sync default"
            for t in $order; do measure "$t" "$c" "$n" "$r"; done
        done
    done
done

# Stop the proxies (flushes the stores), then count what each session holds.
stop_count default sync

"$PYTHON" - "$RESULTS" "$TMP" "$LOADAVG_START" "$(cut -d' ' -f1-3 /proc/loadavg)" \
    "$(df -T "$TMP" | awk 'NR == 2 { print $2 }')" <<'EOF'
import json, statistics, sys
res, tmp, la0, la1, fs = sys.argv[1:6]
rows = {}
served = {"default": 0, "sync": 0}
for line in open(res):
    c, n, r, t, j = line.rstrip("\n").split("\t", 4)
    j = json.loads(j)
    errs = sum(j["errors"].values())
    rows.setdefault((c, int(n)), {}).setdefault(int(r), {})[t] = (
        j["requests"] / (j["duration_us"] / 1e6), j["p50_us"], j["p99_us"], errs)
    served[t] += j["requests"]
print("| case | conns | round | default req/s | --sync req/s | × default | p50 µs default / sync | p99 µs default / sync |")
print("|---|--:|--:|--:|--:|--:|---|---|")
med = {}
for (c, n), rounds in rows.items():
    rs = []
    for r in sorted(rounds):
        d, s = rounds[r]["default"], rounds[r]["sync"]
        rs.append(s[0] / d[0])
        print("| %s | %d | %d | %s | %s | %.3f | %d / %d | %d / %d |" % (
            c, n, r, f"{d[0]:,.0f}", f"{s[0]:,.0f}", rs[-1], d[1], s[1], d[2], s[2]))
        if d[3] or s[3]:
            print("|  |  | errors | %d | %d |  |  |  |" % (d[3], s[3]))
    med[(c, n)] = statistics.median(rs)
print()
for (c, n), v in med.items():
    print("- %s, %d connection%s: median --sync/default %.3f" % (c, n, "" if n == 1 else "s", v))
stored = {}
for t in ("default", "sync"):
    s = json.load(open("%s/%s.sessions.json" % (tmp, t)))
    stored[t] = s[0]["exchanges"] if s else 0
print("- stored exchanges (warm-ups included): default %d, sync %d; measured requests: default %d, sync %d"
      % (stored["default"], stored["sync"], served["default"], served["sync"]))
print("- data on %s; load average before %s, after %s" % (fs, la0, la1))
EOF
