#!/usr/bin/env bash
# bench/store.sh — the capture store's issue-4 targets, measured through the
# real binaries (bench/README.md, "Capture store"):
#   1. a synthetic session of N exchanges (bench/gen_session.c, straight
#      through persist/): bytes on disk per exchange, compression ratio;
#   2. `ringcap ls` sorted by duration and by url: the first page (--limit
#      50, what a user looks at) and the whole listing to /dev/null;
#   3. `ringcap show` of SHOWS random exchanges (process start included;
#      `ringcap version` is timed too as the floor): median and p99;
#   4. recovery after kill -9 of a ~1 GiB session: the session is generated
#      as a killed daemon leaves it (active), a daemon continues it under
#      load and is killed -9, then: restart until the port accepts (and the
#      daemon's own seg_recover figure), and `ringcap ls` of it;
#   5. capture on/off throughput through bench/run.sh (100 B and 64 KiB,
#      keep-alive) unless RATIO=0;
#   6. bytes on disk per captured 100 B exchange (issue 16: wrk through a
#      capturing daemon for BYTES_S [3] s, stopped, then .seg/.idx/.str
#      sizes over the exchanges listed).
# Environment: N [1000000], BIG [800000] (--full exchanges: ~1 GiB), SHOWS
# [200], DIR [/tmp] (where the sessions go), RATIO [1], DURATION [5] (run.sh),
# RINGCAP_BIN [build/tools/ringcap], GEN_BIN [build/bench/rc_gen_session],
# OUT_DIR [bench/out]; QUICK=1 smoke run (2,000 exchanges per session, 5
# shows, run.sh in its QUICK mode). Everything it starts is stopped on exit.
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PYTHON=python3
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
if [ "${QUICK:-0}" = 1 ]; then
    : "${N:=2000}" "${BIG:=2000}" "${SHOWS:=5}" "${DURATION:=1}"
fi
N=${N:-1000000}
BIG=${BIG:-800000}
SHOWS=${SHOWS:-200}
RATIO=${RATIO:-1}
RINGCAP_BIN=${RINGCAP_BIN:-$ROOT/build/tools/ringcap}
GEN_BIN=${GEN_BIN:-$ROOT/build/bench/rc_gen_session}
OUT_DIR=${OUT_DIR:-$HERE/out}
TMP=$(mktemp -d "${DIR:-/tmp}/ringcap-store-bench.XXXXXX")
declare -A PID
. "$HERE/common.sh"   # cleanup() and its traps

die() { echo "store.sh: $*" >&2; exit 1; }
log() { echo "# $(date -u +%T) $*" >&2; }
for b in "$RINGCAP_BIN" "$GEN_BIN"; do [ -x "$b" ] || die "$b missing (ninja -C build)"; done
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
ROWS=()
row() { ROWS+=("| $1 | $2 | $3 |"); log "$1: $2"; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
# median_ms CMD...: runs CMD 3 times; prints "WALL ms (CPU ms)", the run
# with the median wall time and its user+system CPU time: on a busy machine
# the CPU time says what the command costs, the wall time what one waited.
median_ms() {
    local TIMEFORMAT='%R %U %S' t a=()
    for _ in 1 2 3; do
        t=$( { time "$@" >/dev/null 2>&1 || echo FAIL; } 2>&1 ) || true
        case $t in *FAIL*) die "failed: $*";; esac
        a+=("$(awk '{ printf "%d %d", $1 * 1000, ($2 + $3) * 1000 }' <<<"$t")")
    done
    printf '%s\n' "${a[@]}" | sort -n | sed -n 2p | awk '{ printf "%d ms (CPU %d ms)", $1, $2 }'
}
kv() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

# ---------------------------------------------------------------- 1. generate
D1=$TMP/data
log "generating $N exchanges"
G=$("$GEN_BIN" --data "$D1" --name bench --workers 2 --seed 4 "$N") || die "generator failed"
row "synthetic session: $N exchanges (2 workers, small bodies)" \
    "$(kv seconds "$G") s to write" "$(kv bytes_per_exchange "$G") B/exchange on disk (all files), ratio $(kv ratio "$G") (records : frames)"

# ---------------------------------------------------------------- 2. ls
for s in duration url; do
    row "\`ringcap ls\` --sort $s --limit 50 ($N rows)" \
        "$(median_ms "$RINGCAP_BIN" ls bench --data "$D1" --sort "$s" --limit 50)" "median of 3, target ≤ 1,000 ms"
    row "\`ringcap ls\` --sort $s, all rows to /dev/null" \
        "$(median_ms "$RINGCAP_BIN" ls bench --data "$D1" --sort "$s")" "median of 3"
done
row "\`ringcap ls --json\` --sort duration, all rows to /dev/null" \
    "$(median_ms "$RINGCAP_BIN" ls bench --data "$D1" --sort duration --json)" "median of 3"

# ---------------------------------------------------------------- 3. show
SHOW=$($PYTHON - "$RINGCAP_BIN" "$D1" "$N" "$SHOWS" <<'EOF'
import random, resource, statistics, subprocess, sys, time
bin_, data, n, shows = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(5)
cpu = []
def t(args):
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    a = time.perf_counter()
    r = subprocess.run([bin_] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode:
        sys.exit("show failed: %s" % r.stderr.decode())
    w = (time.perf_counter() - a) * 1e3
    v = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu.append((v.ru_utime + v.ru_stime - u.ru_utime - u.ru_stime) * 1e3)
    return w
base = sorted(t(["version"]) for _ in range(50))
base_cpu = statistics.median(cpu)
cpu.clear()
out = []
for _ in range(shows):
    k = rnd.randrange(n)                 # exchange k is id k // 2 + 1 of worker k % 2
    xid = ((k % 2) << 40) | (k // 2 + 1)
    out.append(t(["show", "bench", str(xid), "--data", data, "--json"]))
out.sort()
p99 = out[min(len(out) - 1, int(len(out) * 0.99))]
print("%.1f %.1f %.1f %.1f %.1f %.1f" % (statistics.median(out), p99, out[-1],
      statistics.median(base), statistics.median(cpu), base_cpu))
EOF
) || die "show timing failed"
read -r SMED SP99 SMAX SBASE SCPU SBCPU <<<"$SHOW"
row "\`ringcap show --json\` of $SHOWS random exchanges ($N rows)" \
    "median $SMED ms, p99 $SP99 ms, max $SMAX ms (CPU median $SCPU ms)" \
    "whole process; \`ringcap version\` alone: $SBASE ms (CPU $SBCPU ms); target ≤ 5 ms"

# ---------------------------------------------------------------- 4. recovery
D2=$TMP/big
log "generating ~1 GiB session ($BIG exchanges with full bodies)"
G=$("$GEN_BIN" --data "$D2" --name big --workers 2 --seed 6 --full --active "$BIG") || die "generator failed"
SIZE=$(du -sb "$D2" | cut -f1)
row "~1 GiB session: $BIG exchanges (bodies up to 16 KiB)" "$(( SIZE / 1048576 )) MiB on disk, $(kv bytes_per_exchange "$G") B/exchange" "ratio $(kv ratio "$G"), written in $(kv seconds "$G") s"
read -r PP CP OP <<<"$($PYTHON "$HERE/benchlib.py" freeports 3)"
mkdir -p "$TMP/www"
head -c 65536 /dev/urandom >"$TMP/www/64k"
$PYTHON -m http.server "$OP" --bind 127.0.0.1 --directory "$TMP/www" >/dev/null 2>&1 &
PID[origin]=$!
start_daemon() { # LOG: starts ringcap on the big session, waits for the port; sets ACCEPT (ms)
    local t=$(date +%s%N)
    "$RINGCAP_BIN" run --listen "127.0.0.1:$PP" --control "127.0.0.1:$CP" --data "$D2" \
        --session big --workers 2 >"$1" 2>&1 &
    PID[ringcap]=$!
    for _ in $(seq 1 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PP") 2>/dev/null && { ACCEPT=$(ms_since "$t"); return 0; }
        sleep 0.01
    done
    die "ringcap did not start: $(tail -n 3 "$1")"
}
start_daemon "$TMP/run1.log"
export BENCH_PATH="http://127.0.0.1:$OP/64k" BENCH_HOST="127.0.0.1:$OP"
wrk -t 2 -c 8 -d 3s -s "$HERE/wrk-req.lua" "http://127.0.0.1:$PP/" >"$TMP/wrk-kill.log" 2>&1 &
WRK=$!
sleep 2
kill -9 "${PID[ringcap]}"
wait "${PID[ringcap]}" 2>/dev/null
wait "$WRK" 2>/dev/null
start_daemon "$TMP/run2.log"
REC=$(sed -n "s/.*recovered in \([0-9.]*\) ms.*/\1/p" "$TMP/run2.log")
row "restart after kill -9 under load (~1 GiB session)" "$ACCEPT ms to accepting" \
    "seg_recover: $REC ms; $(sed -n 's/.*ms, \(.*\)$/\1/p' "$TMP/run2.log")"
row "\`ringcap ls\` of it after the restart (--sort duration --limit 50)" \
    "$(median_ms "$RINGCAP_BIN" ls big --data "$D2" --sort duration --limit 50)" "median of 3, daemon running"
kill "${PID[ringcap]}"; wait "${PID[ringcap]}" 2>/dev/null; unset 'PID[ringcap]'

# ---------------------------------------------------------------- 6. bytes per 100 B exchange
# bench/bytes.sh does it (its own origin and daemon); its one line, parsed
B6=$(RINGCAP_BIN="$RINGCAP_BIN" BYTES_S="${BYTES_S:-3}" ORIGIN=python DIR="$TMP" \
     bash "$HERE/bytes.sh") || die "bytes.sh failed: $B6"
read -r NX TOTAL BSEG BIDX BSTR <<<"$(sed -n 's/^origin python: \([0-9]*\) exchanges: \([0-9.]*\) B = frames \([0-9.]*\) + index \([0-9.]*\) + strings \([0-9.]*\) B.*/\1 \2 \3 \4 \5/p' <<<"$B6")"
[ -n "${BSTR:-}" ] || die "bytes.sh printed no sizes: $B6"
row "captured 100 B exchanges ($NX, wrk through \`run --session\`): bytes on disk per exchange" \
    "$TOTAL B" "frames $BSEG + index $BIDX + strings $BSTR B; target ≤ 150 B (issue 16)"

# ---------------------------------------------------------------- 5. capture on/off
if [ "$RATIO" = 1 ]; then
    declare -A RPS
    for mode in off on; do
        args=""; [ "$mode" = on ] && args="--session bench"
        log "bench/run.sh, capture $mode"
        OUT_DIR="$TMP/run-$mode" DD_MB=0 TARGETS=ringcap CASES="100b-ka 64k-ka" RINGCAP_ARGS="$args" \
            DURATION=${DURATION:-5} "$HERE/run.sh" >/dev/null 2>"$TMP/run-$mode.log" || die "run.sh failed"
        tsv=$(ls -t "$TMP/run-$mode"/bench-*.tsv | head -n 1)
        while IFS=$'\t' read -r t c _ _ json; do
            RPS[$mode-$c]=$($PYTHON -c 'import json,sys; j=json.loads(sys.argv[1]); print("%.0f" % (j["requests"] * 1e6 / j["duration_us"]))' "$json")
        done <"$tsv"
    done
    for c in 100b-ka 64k-ka; do
        row "capture on/off, $c (wrk, 50 connections)" \
            "$($PYTHON -c "print('%.2f' % (${RPS[on-$c]} / ${RPS[off-$c]}))")" \
            "${RPS[on-$c]} vs ${RPS[off-$c]} req/s; target ≥ 0.85"
    done
fi

# ---------------------------------------------------------------- report
mkdir -p "$OUT_DIR"
REPORT="$OUT_DIR/store-$(date -u +%Y%m%d-%H%M%S).md"
{
    echo "## capture store — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- $(nproc) CPUs, Linux $(uname -r), sessions on $(df -T "$TMP" | awk 'NR==2 {print $2}') ($TMP); load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "| what | measured | notes |"
    echo "|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
} | tee "$REPORT"
log "report: $REPORT"
