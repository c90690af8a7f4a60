# bench/capture_common.sh - sourced by bench/sync.sh and bench/capture_filter.sh,
# which both run wrk -> ringcap -> nginx on loopback against several ringcap
# instances capturing at once. Before sourcing: NAME (the script's name for
# messages), HERE, ROOT. It sets the shared knobs (DURATION [5] CONNS [50]
# THREADS [2] WARMUP [1] REPEAT [3] CASES ["100b-ka 64k-ka"] RINGCAP_BIN
# RINGCAP_WORKERS [nproc]; QUICK=1: 1 s, 10 connections, 1 round), PYTHON,
# LIB, LOADAVG_START, die, log, checks the tools, and defines:
#   start_nginx PORT        run.sh's origin (nginx) on PORT, in $TMP/nginx
#   wrk_json PORT CASE N    wrk through the proxy on PORT for CASE ("64k-ka":
#                           file 64k) with N connections; prints the
#                           BENCHJSON of bench/wrk-req.lua or dies
#   stop_count T...         stops ringcap T... (their stores flush) and writes
#                           $TMP/T.sessions.json (`ringcap sessions --json`)
# The script makes TMP and sources bench/common.sh (cleanup) itself.
PYTHON=${PYTHON:-python3}
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
LIB="$PYTHON $HERE/benchlib.py"
if [ "${QUICK:-0}" = 1 ]; then
    : "${DURATION:=1}" "${CONNS:=10}" "${WARMUP:=0}" "${REPEAT:=1}"
fi
DURATION=${DURATION:-5}
CONNS=${CONNS:-50}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-1}
REPEAT=${REPEAT:-3}
CASES=${CASES:-100b-ka 64k-ka}
RINGCAP_BIN=${RINGCAP_BIN:-$ROOT/build/tools/ringcap}
RINGCAP_WORKERS=${RINGCAP_WORKERS:-$(nproc)}

die() { echo "$NAME: $*" >&2; exit 1; }
log() { echo "# $(date -u +%T) $*" >&2; }
for tool in wrk nginx curl; do command -v "$tool" >/dev/null || die "$tool not found"; done
[ -x "$RINGCAP_BIN" ] || die "$RINGCAP_BIN missing (ninja -C build)"
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)

start_nginx() { # PORT
    mkdir -p "$TMP/nginx"
    $LIB conf nginx "$TMP/nginx" "$1" >/dev/null
    nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx.log" 2>&1 &
    PID[nginx]=$!
    $LIB waitport "$1" 20 "${PID[nginx]}" || die "nginx did not start"
}

wrk_json() { # PROXYPORT CASE CONNS
    local port=$1 file=${2%-*} n=$3 th=$THREADS out json
    (( n < th )) && th=$n
    export BENCH_PATH="http://127.0.0.1:$NGINX_PORT/$file" BENCH_HOST="127.0.0.1:$NGINX_PORT"
    local args=(-t "$th" -c "$n" --timeout 10s -s "$HERE/wrk-req.lua")
    [ "$WARMUP" != 0 ] && wrk "${args[@]}" -d "${WARMUP}s" "http://127.0.0.1:$port/" >/dev/null 2>&1
    out=$(timeout $((DURATION + 30)) wrk "${args[@]}" -d "${DURATION}s" "http://127.0.0.1:$port/" 2>&1)
    json=$(sed -n 's/^BENCHJSON //p' <<<"$out")
    [ -n "$json" ] || die "wrk failed on port $port: $(tail -n 2 <<<"$out")"
    echo "$json"
}

stop_count() { # TARGET...
    local t
    for t in "$@"; do kill "${PID[$t]}"; done
    for t in "$@"; do
        for _ in $(seq 100); do kill -0 "${PID[$t]}" 2>/dev/null || break; sleep 0.1; done
        "$RINGCAP_BIN" sessions --data "$TMP/$t-data" --json >"$TMP/$t.sessions.json"
    done
}
