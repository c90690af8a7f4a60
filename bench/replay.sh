#!/usr/bin/env bash
# bench/replay.sh - `ringcap replay` as a load generator next to wrk, on
# loopback, in one run: a session of 100 B GETs is captured through ringcap
# (wrk -c64 through it, so it holds 64 recorded client connections), then
# the same nginx is driven alternately by
#   wrk -t2 -c64 -d D --latency                  (origin-form, keep-alive)
#   ringcap replay SESSION --speed 0 --connections 64 --duration D --loop 0
# and one Markdown table gives req/s, p50/p99 of each and the ratio.
# wrk's latency is from the actual send; replay's is from the scheduled
# send (at --speed 0 the scheduled send is the moment the connection was
# free: the same thing in a closed loop).
#
# Environment (defaults in brackets):
#   DURATION [5]  seconds per measurement      REPEAT [3]  rounds, best req/s kept
#   CONNS [64]    connections of both           THREADS [2] wrk and replay threads
#   PER_CONN [100] requests per recorded connection (session: CONNS x PER_CONN)
#   WARMUP [2]    seconds before each measurement: a wrk run; replay's --warmup
#                 (its first pass reads the session from the segments)
#   RINGCAP_BIN [./build/tools/ringcap]         OUT_DIR [bench/out]
#   RATE [20000]  the open-loop row: replay --rate RATE on the same connections
#                 (achieved rate and schedule lag; 0 skips it)
#   REC_RATE10 [10000] the issue's open-loop goal: a session recorded at this
#                 rate (replay --rate through --proxy into a capturing ringcap
#                 for DURATION s), then replayed at --speed 1 (lag p99; 0 skips)
#   MILLION [1000000] the accounting row: a closed loop of at least this many
#                 requests (whole passes of the session); every one answered or
#                 an error by kind, nginx's own count (stub_status) beside it
#                 (0 skips)
#   QUICK=1       smoke run: 1 s per measurement, 1 round, MILLION=100000
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PYTHON=${PYTHON:-python3}
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
LIB="$PYTHON $HERE/benchlib.py"

if [ "${QUICK:-0}" = 1 ]; then
    : "${DURATION:=1}" "${REPEAT:=1}" "${MILLION:=100000}"
fi
DURATION=${DURATION:-5}
REPEAT=${REPEAT:-3}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
PER_CONN=${PER_CONN:-100}
WARMUP=${WARMUP:-2}
RINGCAP_BIN=${RINGCAP_BIN:-$ROOT/build/tools/ringcap}
OUT_DIR=${OUT_DIR:-$HERE/out}
RATE=${RATE:-20000}
REC_RATE10=${REC_RATE10:-10000}
MILLION=${MILLION:-1000000}

die() { echo "replay.sh: $*" >&2; exit 1; }
log() { echo "# $(date -u +%T) $*" >&2; }

for tool in wrk nginx "$PYTHON" curl; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install wrk nginx-light curl python3)"
done
[ -x "$RINGCAP_BIN" ] || die "no ringcap binary at $RINGCAP_BIN (meson setup build && ninja -C build)"

ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
TMP=$(mktemp -d /tmp/ringcap-bench-replay.XXXXXX)
declare -A PID
. "$HERE/common.sh"   # cleanup() and its traps

read -r NGINX_PORT PROXY_PORT CONTROL_PORT <<<"$($LIB freeports 3)"
mkdir -p "$TMP/nginx" "$TMP/data"
$LIB conf nginx "$TMP/nginx" "$NGINX_PORT" >/dev/null
# nginx's own request count for the accounting row
sed -i "s|^\( *root .*/www;\)$|\1\n        location = /nginx_status { stub_status; }|" "$TMP/nginx/nginx.conf"
nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx.log" 2>&1 &
PID[nginx]=$!
$LIB waitport "$NGINX_PORT" 20 "${PID[nginx]}" || die "nginx did not start: $(cat "$TMP/nginx.log")"

# ---- the session: 100 B GETs on CONNS recorded connections
"$RINGCAP_BIN" run --listen "127.0.0.1:$PROXY_PORT" --control "127.0.0.1:$CONTROL_PORT" \
    --data "$TMP/data" --session bench >"$TMP/ringcap.log" 2>&1 &
PID[ringcap]=$!
$LIB waitport "$PROXY_PORT" 20 "${PID[ringcap]}" || die "ringcap did not start: $(cat "$TMP/ringcap.log")"
$PYTHON "$HERE/replay_gen.py" "$PROXY_PORT" "$NGINX_PORT" "$CONNS" "$PER_CONN" \
    || die "capturing the session failed"
kill "${PID[ringcap]}"
wait "${PID[ringcap]}" 2>/dev/null
unset 'PID[ringcap]'
EXCHANGES=$("$RINGCAP_BIN" ls bench --data "$TMP/data" --json | $PYTHON -c 'import json,sys; print(len(json.load(sys.stdin)))')
REC_RATE=$("$RINGCAP_BIN" ls bench --data "$TMP/data" --json | $PYTHON -c '
import json, sys, calendar, time
rows = json.load(sys.stdin)
t = sorted(calendar.timegm(time.strptime(r["time"][:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + r["time"][19:-1]) for r in rows)
print("%.0f" % (len(t) / max(t[-1] - t[0], 0.001)))')
log "session: $EXCHANGES exchanges of 100 B GETs, recorded at $REC_RATE req/s"
[ "$EXCHANGES" -gt 0 ] || die "empty session"

# ---- measurements: wrk and replay alternately, best round of each
best_wrk="" best_rp=""
for ((round = 1; round <= REPEAT; round++)); do
    log "round $round: wrk -t$THREADS -c$CONNS -d${DURATION}s (after ${WARMUP}s of warm-up)"
    if [ "$WARMUP" != 0 ]; then
        BENCH_PATH=/100b wrk -t "$THREADS" -c "$CONNS" -d "${WARMUP}s" -s "$HERE/wrk-req.lua" \
            "http://127.0.0.1:$NGINX_PORT/" >/dev/null 2>&1
    fi
    out=$(BENCH_PATH=/100b wrk -t "$THREADS" -c "$CONNS" -d "${DURATION}s" --latency \
        -s "$HERE/wrk-req.lua" "http://127.0.0.1:$NGINX_PORT/" 2>&1)
    json=$(sed -n 's/^BENCHJSON //p' <<<"$out")
    [ -n "$json" ] || die "wrk failed: $out"
    w=$($PYTHON -c 'import json,sys; j=json.loads(sys.argv[1]); print("%.0f %.3f %.3f %d" % (j["requests"]*1e6/j["duration_us"], j["p50_us"]/1e3, j["p99_us"]/1e3, sum(j["errors"].values())))' "$json")
    log "  wrk: $w (req/s p50_ms p99_ms errors)"
    log "round $round: ringcap replay --speed 0 --connections $CONNS --duration $((DURATION + WARMUP))s --warmup ${WARMUP}s"
    out=$("$RINGCAP_BIN" replay bench --data "$TMP/data" --speed 0 --connections "$CONNS" \
        --threads "$THREADS" --duration "$((DURATION + WARMUP))s" --warmup "${WARMUP}s" \
        --loop 0 --json 2>"$TMP/replay.err")
    r=$($PYTHON -c 'import json,sys; j=json.loads(sys.argv[1]); print("%.0f %.3f %.3f %d" % (j["req_per_s"], j["latency"]["p50_ms"], j["latency"]["p99_ms"], j["errors"]))' "$out") \
        || die "replay failed: $out $(cat "$TMP/replay.err")"
    log "  replay: $r (req/s p50_ms p99_ms errors)"
    [ -z "$best_wrk" ] || [ "${w%% *}" -gt "${best_wrk%% *}" ] && best_wrk=$w
    [ -z "$best_rp" ] || [ "${r%% *}" -gt "${best_rp%% *}" ] && best_rp=$r
done

open_row=""
if [ "$RATE" != 0 ]; then
    log "open loop: ringcap replay --rate $RATE --connections $CONNS --duration $((DURATION + WARMUP))s --warmup ${WARMUP}s"
    out=$("$RINGCAP_BIN" replay bench --data "$TMP/data" --rate "$RATE" --connections "$CONNS" \
        --threads "$THREADS" --duration "$((DURATION + WARMUP))s" --warmup "${WARMUP}s" \
        --loop 0 --json 2>"$TMP/replay.err")
    open_row=$($PYTHON -c 'import json,sys; j=json.loads(sys.argv[1]); r=float(sys.argv[2]); print("| --rate %d | %.0f | %.2f %% | %.3f | %.3f | %.3f | %.3f | %d |" % (r, j["req_per_s"], 100.0 * j["req_per_s"] / r, j["schedule_lag"]["p99_ms"], j["schedule_lag"]["max_ms"], j["latency"]["p50_ms"], j["latency"]["p99_ms"], j["errors"]))' "$out" "$RATE") \
        || die "replay --rate failed: $out $(cat "$TMP/replay.err")"
    log "  $open_row"
fi

# --speed 1: the session at its recorded pace (its rate is what replay_gen.py
# reached through the proxy), one pass
log "recorded pace: ringcap replay --speed 1 --connections $CONNS"
out=$("$RINGCAP_BIN" replay bench --data "$TMP/data" --speed 1 --connections "$CONNS" \
    --threads "$THREADS" --json 2>"$TMP/replay.err")
speed_row=$($PYTHON -c 'import json,sys; j=json.loads(sys.argv[1]); print("| --speed 1 (recorded %.0f req/s) | %.0f | %.2f %% | %.3f | %.3f | %.3f | %.3f | %d |" % (float(sys.argv[2]), j["req_per_s"], 100.0 * j["req_per_s"] / float(sys.argv[2]), j["schedule_lag"]["p99_ms"], j["schedule_lag"]["max_ms"], j["latency"]["p50_ms"], j["latency"]["p99_ms"], j["errors"]))' "$out" "$REC_RATE") \
    || die "replay --speed 1 failed: $out $(cat "$TMP/replay.err")"
log "  $speed_row"

# the issue's open-loop goal: --speed 1 of a session recorded at REC_RATE10
# req/s. Recorded the real way: replay --rate through --proxy into a
# ringcap capturing session rec10k (the proxy forwards to nginx, so the
# recording names nginx; its client connections are replay's 64).
rec10_row=""
if [ "$REC_RATE10" != 0 ]; then
    log "recording at $REC_RATE10 req/s: ringcap replay --rate $REC_RATE10 --proxy ringcap (session rec10k)"
    "$RINGCAP_BIN" run --listen "127.0.0.1:$PROXY_PORT" --control "127.0.0.1:$CONTROL_PORT" \
        --data "$TMP/data" --session rec10k >"$TMP/ringcap.log" 2>&1 &
    PID[ringcap]=$!
    $LIB waitport "$PROXY_PORT" 20 "${PID[ringcap]}" || die "ringcap did not start: $(cat "$TMP/ringcap.log")"
    "$RINGCAP_BIN" replay bench --data "$TMP/data" --rate "$REC_RATE10" --connections "$CONNS" \
        --threads "$THREADS" --duration "${DURATION}s" --loop 0 --proxy "127.0.0.1:$PROXY_PORT" \
        --json >"$TMP/rec10.json" 2>"$TMP/replay.err" || die "recording rec10k failed: $(cat "$TMP/replay.err")"
    kill "${PID[ringcap]}"
    wait "${PID[ringcap]}" 2>/dev/null
    unset 'PID[ringcap]'
    rec10=$("$RINGCAP_BIN" ls rec10k --data "$TMP/data" --json | $PYTHON -c '
import json, sys, calendar, time
rows = json.load(sys.stdin)
t = sorted(calendar.timegm(time.strptime(r["time"][:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + r["time"][19:-1]) for r in rows)
print("%d %.0f" % (len(t), len(t) / max(t[-1] - t[0], 0.001)))')
    log "  rec10k: $rec10 (exchanges, recorded req/s); replaying it at --speed 1"
    out=$("$RINGCAP_BIN" replay rec10k --data "$TMP/data" --speed 1 --threads "$THREADS" \
        --json 2>"$TMP/replay.err")
    rec10_row=$($PYTHON -c 'import json,sys; j=json.loads(sys.argv[1]); n, r = sys.argv[2].split(); r = float(r); print("| --speed 1 of a %d req/s recording (%s exchanges, %d connections) | %.0f | %.2f %% | %.3f | %.3f | %.3f | %.3f | %d |" % (r, n, j["connections"], j["req_per_s"], 100.0 * j["req_per_s"] / r, j["schedule_lag"]["p99_ms"], j["schedule_lag"]["max_ms"], j["latency"]["p50_ms"], j["latency"]["p99_ms"], j["errors"]))' "$out" "$rec10") \
        || die "replay --speed 1 of rec10k failed: $out $(cat "$TMP/replay.err")"
    log "  $rec10_row"
fi

# GoReplay's weakness (it drops 18-25 % under load): MILLION requests in a
# closed loop, as fast as the connections go; every scheduled request must
# be answered or counted as an error by kind, and nginx must have served
# exactly the answered ones (stub_status counts its own request too)
acct_row=""
if [ "$MILLION" != 0 ]; then
    loops=$(( (MILLION + EXCHANGES - 1) / EXCHANGES ))
    scheduled=$(( loops * EXCHANGES ))
    ngx() { curl -s "http://127.0.0.1:$NGINX_PORT/nginx_status" | awk 'NR == 3 { print $3 }'; }
    n0=$(ngx)
    log "accounting: ringcap replay --speed 0 --connections $CONNS --loop $loops ($scheduled requests)"
    out=$("$RINGCAP_BIN" replay bench --data "$TMP/data" --speed 0 --connections "$CONNS" \
        --threads "$THREADS" --loop "$loops" --json 2>"$TMP/replay.err")
    n1=$(ngx)
    acct_row=$($PYTHON -c '
import json, sys
j = json.loads(sys.argv[1]); sched, served = int(sys.argv[2]), int(sys.argv[3]) - int(sys.argv[4]) - 1
e = j["errors_by_kind"]; errs = sum(e.values())
kinds = " ".join("%s %d" % (k, v) for k, v in e.items() if v) or "none"
print("| %d | %d | %d | %s | %d | %d | %.0f |" % (sched, j["sent"], j["completed"], kinds, served, sched - j["completed"] - errs, j["req_per_s"]))' \
        "$out" "$scheduled" "$n1" "$n0") || die "accounting run failed: $out $(cat "$TMP/replay.err")"
    log "  $acct_row"
fi

read -r w_rps w_p50 w_p99 w_err <<<"$best_wrk"
read -r r_rps r_p50 r_p99 r_err <<<"$best_rp"
ratio=$(awk -v a="$r_rps" -v b="$w_rps" 'BEGIN { printf "%.2f", a / b }')
mkdir -p "$OUT_DIR"
stamp=$(date -u +%Y%m%d-%H%M%S)
{
    echo "## ringcap replay vs wrk — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- load average at start / end: $LOADAVG_START / $(cut -d' ' -f1-3 /proc/loadavg) (a shared box: other work ran meanwhile)"
    echo "- machine: $(nproc) CPUs, Linux $(uname -r); nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), wrk and replay share all CPUs"
    echo "- session: $EXCHANGES exchanges (GET 100 B, $CONNS recorded connections); ${DURATION}s measured per run after ${WARMUP}s of warm-up, best of $REPEAT"
    echo
    echo "| load generator | req/s | p50 ms | p99 ms | errors | vs wrk |"
    echo "|---|---:|---:|---:|---:|---:|"
    echo "| wrk -t$THREADS -c$CONNS | $w_rps | $w_p50 | $w_p99 | $w_err | 1.00 |"
    echo "| ringcap replay --speed 0 --connections $CONNS --threads $THREADS --warmup ${WARMUP}s | $r_rps | $r_p50 | $r_p99 | $r_err | $ratio |"
    if [ -n "$open_row" ]; then
        echo
        echo "Open loop, \`ringcap replay --rate R --connections $CONNS --threads $THREADS --warmup ${WARMUP}s\` and \`--speed 1\` (one pass at the recorded pace, no warm-up); latency from the scheduled send:"
        echo
        echo "| asked | achieved req/s | of asked | lag p99 ms | lag max ms | p50 ms | p99 ms | errors |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|"
        echo "$open_row"
    fi
    echo "$speed_row"
    [ -z "$rec10_row" ] || echo "$rec10_row"
    if [ -n "$acct_row" ]; then
        echo
        echo "Accounting, \`ringcap replay --speed 0 --connections $CONNS --threads $THREADS --loop N\` (whole passes): unaccounted = scheduled - answered - errors; nginx served = its stub_status count over the run:"
        echo
        echo "| scheduled | sent | answered | errors by kind | nginx served | unaccounted | req/s |"
        echo "|---:|---:|---:|---|---:|---:|---:|"
        echo "$acct_row"
    fi
} | tee "$OUT_DIR/replay-$stamp.md"
log "report: $OUT_DIR/replay-$stamp.md"
