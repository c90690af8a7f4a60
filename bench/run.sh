#!/usr/bin/env bash
# bench/run.sh — side-by-side HTTP/1.1 forward-proxy benchmark on loopback.
#
# Starts its own nginx origin (100 B, 64 KiB, 1 MiB files of `x`, and
# 64 KiB / 1 MiB "text" (JSON-like) and "rand" (incompressible) bodies),
# HAProxy (fast non-capturing reference), mitmdump, ringcap (capture off) and
# ringcap-cap (a second ringcap capturing every exchange, `--session bench`)
# on 127.0.0.1 ports picked at random, drives each with wrk and prints one
# Markdown table with ratios, after a dd row: the write rate of the disk the
# capture goes to (buffered, buffered + fdatasync, O_DIRECT), which bounds
# what ringcap-cap can store. All processes it starts are stopped on exit.
# See bench/README.md for the columns.
#
# Environment (defaults in brackets):
#   DURATION [5]        seconds per case and target (mitmdump: MITM_DURATION [3])
#   CONNS [50]          wrk connections (mitmdump: MITM_CONNS [CONNS])
#   THREADS [2]         wrk threads
#   WARMUP [1]          seconds of untimed warm-up before each measurement (0: none)
#   TARGETS             subset of "direct haproxy ringcap ringcap-cap mitmdump"
#   CASES               subset of "100b-ka 100b-close 64k-ka 64k-close 1m-ka 1m-close
#                       64k-text-ka 64k-rand-ka 1m-text-ka 1m-rand-ka"
#   DD_MB [1024]        MiB dd writes per mode for the disk row (0: no dd row)
#   MITM_SKIP [1m-close] cases not run through mitmdump (too slow to be useful)
#   RINGCAP_BIN [./build/tools/ringcap], RINGCAP_WORKERS [nproc], RINGCAP_ARGS []
#   RINGCAP_BIN_B       a second build (e.g. before a change), measured in the same
#                       run as targets ringcap-b and ringcap-b-cap
#   REPEAT [1]          measure every case/target N times, report the best req/s
#   WRK_TIMEOUT [10s]   wrk per-request timeout (counted in the errors column)
#   OUT_DIR [bench/out] where the report is written
#   QUICK=1             smoke run: 1 s per case, 10 connections, no warm-up, dd 64 MiB
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
# Prefer the system interpreter: a pyenv shim costs about a second per call.
if [ -z "${PYTHON:-}" ]; then
    PYTHON=python3
    [ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
fi
LIB="$PYTHON $HERE/benchlib.py"

if [ "${QUICK:-0}" = 1 ]; then
    : "${DURATION:=1}" "${CONNS:=10}" "${MITM_DURATION:=1}" "${WARMUP:=0}" "${DD_MB:=64}"
fi
DURATION=${DURATION:-5}
CONNS=${CONNS:-50}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-1}
MITM_DURATION=${MITM_DURATION:-3}
MITM_CONNS=${MITM_CONNS:-$CONNS}
MITM_SKIP=${MITM_SKIP:-1m-close}
TARGETS=${TARGETS:-direct haproxy ringcap ringcap-cap mitmdump}
CASES=${CASES:-100b-ka 100b-close 64k-ka 64k-close 1m-ka 1m-close 64k-text-ka 64k-rand-ka 1m-text-ka 1m-rand-ka}
DD_MB=${DD_MB:-1024}
RINGCAP_BIN=${RINGCAP_BIN:-$ROOT/build/tools/ringcap}
RINGCAP_WORKERS=${RINGCAP_WORKERS:-$(nproc)}
RINGCAP_ARGS=${RINGCAP_ARGS:-}
WRK_TIMEOUT=${WRK_TIMEOUT:-10s}
REPEAT=${REPEAT:-1}
OUT_DIR=${OUT_DIR:-$HERE/out}

die() { echo "run.sh: $*" >&2; exit 1; }
log() { echo "# $(date -u +%T) $*" >&2; }

for tool in wrk nginx "$PYTHON" curl; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install wrk nginx-light curl python3)"
done
[ "$THREADS" -le "$CONNS" ] || die "THREADS ($THREADS) must not exceed CONNS ($CONNS)"

# Many connections (and connection-per-request) need descriptors: raise the soft
# limit to the hard one (and the hard one too when root). Children inherit it.
ulimit -Hn 1048576 2>/dev/null || true
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true

LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
TMP=$(mktemp -d /tmp/ringcap-bench.XXXXXX)
declare -A PID PORT UNAVAIL
. "$(dirname "$0")/common.sh"   # cleanup() and its traps

read -r 'PORT[direct]' 'PORT[haproxy]' 'PORT[ringcap]' 'PORT[mitmdump]' 'PORT[control]' \
    'PORT[ringcap-cap]' 'PORT[control-cap]' 'PORT[ringcap-b]' 'PORT[control-b]' \
    'PORT[ringcap-b-cap]' 'PORT[control-b-cap]' <<<"$($LIB freeports 11)"
if [ -n "${RINGCAP_BIN_B:-}" ]; then
    TARGETS="$TARGETS ringcap-b ringcap-b-cap"
fi
NGINX_PORT=${PORT[direct]}

# ---------------------------------------------------------------- start targets

# sanity PROXYPORT: one request through the proxy must return the 100 B file.
sanity() {
    local got
    got=$(curl -s --max-time 10 -o /dev/null -w '%{http_code} %{size_download}' \
        ${1:+-x "http://127.0.0.1:$1"} "http://127.0.0.1:$NGINX_PORT/100b")
    [ "$got" = "200 100" ] || { echo "sanity request returned '$got'"; return 1; }
}

# started NAME: wait for its port, then check one request; mark unavailable if not.
started() {
    local t=$1 why=""
    if ! $LIB waitport "${PORT[$t]}" 20 "${PID[$t]}"; then
        if kill -0 "${PID[$t]}" 2>/dev/null; then
            why="did not listen on ${PORT[$t]} within 20 s"
        else
            why="exited at start"
        fi
    elif [ "$t" != direct ] && ! why=$(sanity "${PORT[$t]}"); then
        :
    else
        log "$t: pid ${PID[$t]} on 127.0.0.1:${PORT[$t]}"
        return 0
    fi
    UNAVAIL[$t]="not available ($why; log: $(tail -n 2 "$TMP/$t.log" 2>/dev/null | tr '\n' ' ' | cut -c1-120))"
    log "$t: ${UNAVAIL[$t]}"
    kill "${PID[$t]}" 2>/dev/null
    unset "PID[$t]"
    return 1
}

mkdir -p "$TMP/nginx"
$LIB conf nginx "$TMP/nginx" "$NGINX_PORT" >/dev/null
nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" >"$TMP/direct.log" 2>&1 &
PID[direct]=$!
started direct || die "nginx origin failed to start: $(cat "$TMP/direct.log")"

want() { case " $TARGETS " in *" $1 "*) return 0;; *) return 1;; esac; }

if want haproxy; then
    if command -v haproxy >/dev/null; then
        mkdir -p "$TMP/haproxy"
        $LIB conf haproxy "$TMP/haproxy" "${PORT[haproxy]}" "$NGINX_PORT" >/dev/null
        haproxy -db -f "$TMP/haproxy/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
        PID[haproxy]=$!
        started haproxy
    else
        UNAVAIL[haproxy]="not available (haproxy not installed)"
    fi
fi

# start_ringcap TARGET CONTROLPORT BIN ARGS...: ringcap with its own data dir.
start_ringcap() {
    local t=$1 cp=$2 bin=$3 extra=()
    shift 3
    if [ ! -x "$bin" ]; then
        UNAVAIL[$t]="not available ($bin missing)"
        log "$t: ${UNAVAIL[$t]}"
        return
    fi
    mkdir -p "$TMP/$t-data"
    # pass a free control port when the binary has the option, so a second
    # instance (or a running daemon on 5560) does not collide (the help is
    # read whole: `grep -q` in a pipe can SIGPIPE it, and pipefail then
    # says "no such option")
    local help
    help=$(timeout 5 "$bin" run --help 2>&1)
    if grep -q -- '--control' <<<"$help"; then
        extra=(--control "127.0.0.1:$cp")
    fi
    # shellcheck disable=SC2086
    "$bin" run --listen "127.0.0.1:${PORT[$t]}" \
        --workers "$RINGCAP_WORKERS" --data "$TMP/$t-data" "${extra[@]}" \
        $RINGCAP_ARGS "$@" >"$TMP/$t.log" 2>&1 &
    PID[$t]=$!
    started "$t"
}
want ringcap && start_ringcap ringcap "${PORT[control]}" "$RINGCAP_BIN"
want ringcap-cap && start_ringcap ringcap-cap "${PORT[control-cap]}" "$RINGCAP_BIN" --session bench
want ringcap-b && start_ringcap ringcap-b "${PORT[control-b]}" "$RINGCAP_BIN_B"
want ringcap-b-cap && start_ringcap ringcap-b-cap "${PORT[control-b-cap]}" "$RINGCAP_BIN_B" --session bench

if want mitmdump; then
    if command -v mitmdump >/dev/null; then
        mkdir -p "$TMP/mitm"
        mitmdump -q --listen-host 127.0.0.1 -p "${PORT[mitmdump]}" \
            --set confdir="$TMP/mitm" >"$TMP/mitmdump.log" 2>&1 &
        PID[mitmdump]=$!
        started mitmdump
    else
        UNAVAIL[mitmdump]="not available (mitmproxy not installed)"
    fi
fi

# ---------------------------------------------------------------- measure

RESULTS="$TMP/results.tsv"
: >"$RESULTS"

# measure TARGET CASE: one wrk run; appends a row to $RESULTS.
measure() {
    local t=$1 c=$2 file=${2%-*} mode=${2##*-} dur=$DURATION conns=$CONNS
    local url path hdr=() out cpu0 cpu1 cpu hwm json pid=${PID[$t]:-}
    if [ -n "${UNAVAIL[$t]:-}" ]; then
        printf '%s\t%s\t-\t-\t%s\n' "$t" "$c" "${UNAVAIL[$t]}" >>"$RESULTS"
        return
    fi
    if [ "$t" = mitmdump ]; then
        case " $MITM_SKIP " in *" $c "*) return;; esac
        dur=$MITM_DURATION conns=$MITM_CONNS
    fi
    [ "$mode" = close ] && hdr=(-H "Connection: close")
    if [ "$t" = direct ]; then
        url="http://127.0.0.1:$NGINX_PORT/"
        path="/$file"
    else
        url="http://127.0.0.1:${PORT[$t]}/"
        path="http://127.0.0.1:$NGINX_PORT/$file"
    fi
    export BENCH_PATH=$path BENCH_HOST="127.0.0.1:$NGINX_PORT" BENCH_VARIANTS=0 BENCH_DELAY_MS=${DELAY_MS:-0}
    # text and random bodies: a different one each request (benchlib.py)
    case $file in *-text|*-rand) BENCH_VARIANTS=16;; esac
    local wrkargs=(-t "$THREADS" -c "$conns" --timeout "$WRK_TIMEOUT" -s "$HERE/wrk-req.lua")
    if [ "$WARMUP" != 0 ]; then
        wrk "${wrkargs[@]}" -d "${WARMUP}s" "${hdr[@]}" "$url" >/dev/null 2>&1
    fi
    if [ "$t" != direct ]; then
        $LIB resethwm "$pid"
        cpu0=$($LIB cpu "$pid")
    fi
    local disk0=0 disk1=0
    [ -d "$TMP/$t-data" ] && disk0=$(du -sb "$TMP/$t-data" | cut -f1)
    log "$c via $t: ${dur}s, $conns connections"
    out=$(timeout $((dur + 30)) wrk "${wrkargs[@]}" -d "${dur}s" --latency "${hdr[@]}" "$url" 2>&1)
    echo "== $t $c" >>"$TMP/wrk.log"
    echo "$out" >>"$TMP/wrk.log"
    cpu="-" hwm="-"
    if [ "$t" != direct ]; then
        cpu1=$($LIB cpu "$pid")
        cpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')
        hwm=$($LIB hwm "$pid")
    fi
    json=$(sed -n 's/^BENCHJSON //p' <<<"$out")
    # what the capture wrote to disk during the run (a flush may land just
    # after it: a few frames of noise on seconds of data)
    if [ -d "$TMP/$t-data" ] && [ -n "$json" ]; then
        disk1=$(du -sb "$TMP/$t-data" | cut -f1)
        json="${json%\}}, \"disk_bytes\": $((disk1 - disk0))}"
    fi
    [ -n "$json" ] || json="wrk failed: $(tail -n 1 <<<"$out")"
    if [ "$t" != direct ] && ! kill -0 "$pid" 2>/dev/null; then
        UNAVAIL[$t]="crashed during $c"
        log "$t: crashed during $c (log: $(tail -n 3 "$TMP/$t.log" | tr '\n' ' '))"
        json="crashed"
    fi
    printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$c" "$cpu" "$hwm" "$json" >>"$RESULTS"
}

# ---------------------------------------------------------------- disk rate

# dd_rate FLAGS...: MB/s dd reports writing DD_MB MiB of zeros (ext4 and xfs
# store zeros like any bytes) to a file next to the capture's data dir.
dd_rate() {
    local out
    out=$(dd if=/dev/zero of="$TMP/dd.bin" bs=1M count="$DD_MB" "$@" 2>&1) || { echo "failed"; return; }
    rm -f "$TMP/dd.bin"
    awk -F', ' '/copied/ { print $NF }' <<<"$out"
}
DD_ROW=""
if [ "$DD_MB" != 0 ]; then
    log "dd: $DD_MB MiB per mode on $(df -T "$TMP" | awk 'NR==2 {print $2 " (" $1 ")"}')"
    DD_ROW="buffered $(dd_rate), buffered + fdatasync $(dd_rate conv=fdatasync), O_DIRECT $(dd_rate oflag=direct)"
fi

# Cases outside, targets inside: all targets of one case run back to back, so
# drift on the machine hits them alike. With REPEAT > 1 the rounds repeat that
# sequence and the report keeps each target's best round (least disturbed).
for c in $CASES; do
    for ((round = 1; round <= REPEAT; round++)); do
        for t in direct haproxy ringcap ringcap-cap ringcap-b ringcap-b-cap mitmdump; do
            want "$t" || continue
            measure "$t" "$c"
        done
    done
done

# ---------------------------------------------------------------- report

META="$TMP/meta.txt"
{
    echo "## ringcap bench — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)), Linux $(uname -r); wrk, origin and proxy share all CPUs, nothing pinned"
    echo "- wrk: $THREADS threads, $CONNS connections, ${DURATION}s per case (mitmdump: $MITM_CONNS connections, ${MITM_DURATION}s; skipped: ${MITM_SKIP:-none}), warm-up ${WARMUP}s, best of $REPEAT round(s)"
    echo "- origin: nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), 1 worker; haproxy $(haproxy -v 2>/dev/null | sed -n '1s/^HAProxy version \([^ ]*\).*/\1/p'); mitmdump $(dpkg-query -W -f '${Version}' mitmproxy 2>/dev/null); ringcap: ${UNAVAIL[ringcap]:-$RINGCAP_BIN --workers $RINGCAP_WORKERS $RINGCAP_ARGS}"
    echo "- load average before the run: $LOADAVG_START, after: $(cut -d' ' -f1-3 /proc/loadavg) (anything else running skews the numbers; ratios within one run are the result)"
    echo "- case names: SIZE-ka = keep-alive, SIZE-close = \`Connection: close\` (new connection per request); SIZE-text / SIZE-rand: JSON-like / random (incompressible) bodies, 16 different ones in turn, plain SIZE: \`xxxx\` bodies"
    echo "- ringcap-cap: ringcap capturing every exchange (\`--session bench\`); ringcap: capture off${RINGCAP_BIN_B:+; ringcap-b, ringcap-b-cap: the same with $RINGCAP_BIN_B}"
    [ -n "$DD_ROW" ] && echo "- disk of the capture (dd, $DD_MB MiB of zeros, bs=1M): $DD_ROW"
} >"$META"

mkdir -p "$OUT_DIR"
stamp=$(date -u +%Y%m%d-%H%M%S)
$LIB table "$RESULTS" "$META" | tee "$OUT_DIR/bench-$stamp.md"
cp "$RESULTS" "$OUT_DIR/bench-$stamp.tsv"
cp "$TMP/wrk.log" "$OUT_DIR/bench-$stamp.wrk.log" 2>/dev/null
cp "$OUT_DIR/bench-$stamp.md" "$OUT_DIR/latest.md"
log "report: $OUT_DIR/bench-$stamp.md (raw: .tsv, .wrk.log)"
