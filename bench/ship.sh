#!/usr/bin/env bash
# bench/ship.sh - `ringcap ship` into a real ClickHouse on loopback (issue
# 19), two tables:
#
# 1. Rows per second shipped from a generated session (bench/gen_session.c,
#    straight through persist/) without bodies in each format (RowBinary,
#    the default; TabSeparated; JSONEachRow) and with bodies (--full: up to
#    16 KiB each, shipped up to 1 KiB with --body-max 1KiB) in RowBinary and
#    JSONEachRow: wall rows/s, the shipper's CPU (user + system) and rows/s
#    of that CPU, its peak RSS, and ClickHouse's CPU over the same run
#    (/proc/PID/stat). ClickHouse's count() FINAL is the check. Each case
#    goes into a table of its own, dropped once checked (its merges stop).
# 2. The data plane while shipping: wrk (100 B answers, keep-alive) through
#    a `ringcap run` that captures everything, alone and with `ringcap ship
#    --follow` shipping that capture as it grows, alternated in rounds; the
#    median ratio is the issue's >= 0.95 target. At the end every captured
#    exchange must be in ClickHouse (count() FINAL).
#
# Table 2 captures everything at full speed: about 0.3 GB on disk per 5 s
# round (in DIR), bounded by DURATION and REPEAT.
# Environment: N [1000000] exchanges (QUICK=1: 20000, 1 s rounds, 1 round),
# DURATION [5] CONNS [50] REPEAT [3] for table 2, RINGCAP_BIN
# [build/tools/ringcap], GEN_BIN [build/.../rc_gen_session], DIR [/tmp],
# CASES (table 1 case names, default all). Everything it starts is stopped
# on exit (bench/common.sh).
set -u -o pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
if [ "${QUICK:-0}" = 1 ]; then
    N=${N:-20000}; : "${DURATION:=1}" "${CONNS:=10}" "${REPEAT:=1}"
else
    N=${N:-1000000}
fi
DURATION=${DURATION:-5}
CONNS=${CONNS:-50}
REPEAT=${REPEAT:-3}
CASES=${CASES:-no-bodies no-bodies-tsv no-bodies-json bodies-1k bodies-1k-json}
PYTHON=${PYTHON:-python3}
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
LIB="$PYTHON $HERE/benchlib.py"
RINGCAP_BIN=${RINGCAP_BIN:-$ROOT/build/tools/ringcap}
GEN_BIN=${GEN_BIN:-}
for g in "$ROOT/build/bench/rc_gen_session" "$ROOT/build/tests/persist/rc_gen_session"; do
    [ -z "$GEN_BIN" ] && [ -x "$g" ] && GEN_BIN=$g
done
CH_BIN=$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)
TMP=$(mktemp -d "${DIR:-/tmp}/ringcap-ship-bench.XXXXXX")
declare -A PID
. "$HERE/common.sh"
die() { echo "ship.sh: $*" >&2; exit 1; }
log() { echo "# $(date -u +%T) $*" >&2; }
for b in "$RINGCAP_BIN" "$GEN_BIN" "$CH_BIN"; do [ -x "$b" ] || die "'$b' missing"; done
for tool in wrk nginx curl; do command -v "$tool" >/dev/null || die "$tool not found"; done
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)

read -r HTTP TCP NGINX_PORT PROXY_PORT CONTROL_PORT <<<"$($LIB freeports 5)"
mkdir -p "$TMP/ch"
cat > "$TMP/ch/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$TMP/ch/server.log</log><errorlog>$TMP/ch/error.log</errorlog><console>0</console></logger>
  <http_port>$HTTP</http_port><tcp_port>$TCP</tcp_port><listen_host>127.0.0.1</listen_host>
  <path>$TMP/ch/data/</path><tmp_path>$TMP/ch/tmp/</tmp_path>
  <user_files_path>$TMP/ch/user_files/</user_files_path>
  <format_schema_path>$TMP/ch/format_schemas/</format_schema_path>
  <mark_cache_size>5368709</mark_cache_size>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <profiles><default></default></profiles><quotas><default></default></quotas>
  <default_profile>default</default_profile><default_database>default</default_database>
</yandex>
XML
(cd "$TMP/ch" && exec "$CH_BIN" --config-file="$TMP/ch/config.xml" >/dev/null 2>&1) &
PID[clickhouse]=$!
CH=http://127.0.0.1:$HTTP
for _ in $(seq 1 150); do
    [ "$(curl -s "$CH/?query=SELECT%201" 2>/dev/null)" = 1 ] && break; sleep 0.2
done
[ "$(curl -s "$CH/?query=SELECT%201")" = 1 ] || die "clickhouse-server did not start"
q() { curl -sS --data-binary "$1" "$CH/"; }
ch_cpu() { $LIB cpu "${PID[clickhouse]}"; }

# ---- 1. one-shot shipping of a generated session ----
ROWS=()
declare -A GENERATED
# case NAME DATAKIND SHIP_ARGS
run_case() {
    local name=$1 kind=$2 ship=$3 data=$TMP/data-$2 table=t_${1//-/_}
    if [ -z "${GENERATED[$kind]:-}" ]; then
        log "$kind: generating $N exchanges"
        local gen=""
        [ "$kind" = bodies ] && gen=--full
        "$GEN_BIN" --data "$data" --name s --workers 2 $gen "$N" >/dev/null || die "generator failed"
        GENERATED[$kind]=1
    fi
    log "$name: shipping"
    local t c0 c1
    c0=$(ch_cpu)
    t=$( { /usr/bin/time -f '%e %U %S %M' "$RINGCAP_BIN" ship --clickhouse "$CH" --data "$data" \
           --box "$name" --database bench --table "$table" --json --no-idle $ship >/dev/null; } 2>&1 | tail -1 )
    c1=$(ch_cpu)
    read -r wall usr sys rss <<<"$t"
    local got
    got=$(q "SELECT count() FROM bench.$table FINAL")
    [ "$got" = "$N" ] || die "$name: ClickHouse has $got rows of $N"
    q "DROP TABLE bench.$table" >/dev/null
    ROWS+=("$(awk -v n="$name" -v r="$N" -v w="$wall" -v u="$usr" -v s="$sys" -v m="$rss" \
        -v c="$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')" \
        'BEGIN { printf "| %s | %d | %.2f | %d | %.2f | %d | %.1f | %.2f |", n, r, w, r / w, u + s, r / (u + s > 0 ? u + s : 0.01), m / 1024, c }')")
}
for c in $CASES; do
    case $c in
        no-bodies) run_case "$c" plain "" ;;
        no-bodies-tsv) run_case "$c" plain "--format tsv" ;;
        no-bodies-json) run_case "$c" plain "--format json" ;;
        bodies-1k) run_case "$c" bodies "--bodies --body-max 1KiB" ;;
        bodies-1k-json) run_case "$c" bodies "--bodies --body-max 1KiB --format json" ;;
        *) die "unknown case '$c'" ;;
    esac
done

# table 1 now: it stands even if the second part fails
echo
echo "ringcap ship --no-idle (its speed, not the box's spare time) into ClickHouse $(q 'SELECT version()') on loopback (same cores), $(nproc) cores, load $LOADAVG_START before, $(cut -d' ' -f1-3 /proc/loadavg) after"
echo
echo "| case | rows | seconds | rows/s (wall) | shipper CPU s | rows/s of shipper CPU | shipper peak RSS MiB | ClickHouse CPU s |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${ROWS[@]}"
echo
rm -rf "$TMP"/data-* # the second part captures ~0.3 GB a round at 80k req/s

# ---- 2. the data plane's req/s while --follow ships ----
mkdir -p "$TMP/nginx" "$TMP/live"
$LIB conf nginx "$TMP/nginx" "$NGINX_PORT" >/dev/null
nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx.log" 2>&1 &
PID[nginx]=$!
$LIB waitport "$NGINX_PORT" 20 "${PID[nginx]}" || die "nginx did not start"
"$RINGCAP_BIN" run --listen "127.0.0.1:$PROXY_PORT" --control "127.0.0.1:$CONTROL_PORT" \
    --data "$TMP/live" --session live >"$TMP/run.log" 2>&1 &
PID[ringcap]=$!
$LIB waitport "$PROXY_PORT" 30 "${PID[ringcap]}" || die "ringcap run did not start: $(tail -n 3 "$TMP/run.log")"

RESULTS=$TMP/follow.tsv
: >"$RESULTS"
# CPU seconds of the follower (0 when none runs) and of ClickHouse.
cpus() { echo "$(if [ -n "${PID[follow]:-}" ]; then $LIB cpu "${PID[follow]}"; else echo 0; fi) $(ch_cpu)"; }
wrk_round() { # MODE ROUND
    local out json f0 c0 f1 c1
    export BENCH_PATH="http://127.0.0.1:$NGINX_PORT/100b" BENCH_HOST="127.0.0.1:$NGINX_PORT"
    read -r f0 c0 <<<"$(cpus)"
    out=$(timeout $((DURATION + 30)) wrk -t 2 -c "$CONNS" --timeout 10s -s "$HERE/wrk-req.lua" \
          -d "${DURATION}s" "http://127.0.0.1:$PROXY_PORT/" 2>&1)
    read -r f1 c1 <<<"$(cpus)"
    json=$(sed -n 's/^BENCHJSON //p' <<<"$out")
    [ -n "$json" ] || die "wrk failed ($1): $(tail -n 2 <<<"$out")"
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$(awk -v a="$f0" -v b="$f1" 'BEGIN { print b - a }')" \
        "$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')" "$json" >>"$RESULTS"
    log "round $2 $1: $json"
}
# "shipping": ship --follow as an operator starts it (SCHED_IDLE by
# default) beside this ClickHouse on the same cores; "idle": the same with
# ClickHouse also at SCHED_IDLE for the round (it stands in for the
# fleet's server, which runs on a machine of its own). "--no-idle" rounds
# (the shipper at --nice 10, competing) run with FOLLOW_ARGS=--no-idle.
follow_start() { # MODE
    local extra=(${FOLLOW_ARGS:-})
    [ "$1" = idle ] && chrt -a -i -p 0 "${PID[clickhouse]}" >/dev/null
    "$RINGCAP_BIN" ship --clickhouse "$CH" --data "$TMP/live" --box live --database bench \
        --table live --follow --poll 1s "${extra[@]}" >"$TMP/follow.log" 2>&1 &
    PID[follow]=$!
    sleep 0.5 # past the table's creation: the round measures shipping, not start-up
}
follow_stop() {
    kill -TERM "${PID[follow]}" 2>/dev/null
    wait "${PID[follow]}" 2>/dev/null
    unset 'PID[follow]'
    chrt -a -o -p 0 "${PID[clickhouse]}" >/dev/null
}
for ((r = 1; r <= REPEAT; r++)); do
    if (( r % 2 == 1 )); then
        wrk_round alone "$r"
        follow_start shipping; wrk_round shipping "$r"; follow_stop
        follow_start idle; wrk_round idle "$r"; follow_stop
    else
        follow_start idle; wrk_round idle "$r"; follow_stop
        follow_start shipping; wrk_round shipping "$r"; follow_stop
        wrk_round alone "$r"
    fi
done
kill -TERM "${PID[ringcap]}"
wait "${PID[ringcap]}" 2>/dev/null
unset 'PID[ringcap]'
captured=$("$RINGCAP_BIN" sessions --data "$TMP/live" --json | "$PYTHON" -c 'import json,sys; print(sum(s["exchanges"] for s in json.load(sys.stdin)))')
"$RINGCAP_BIN" ship --clickhouse "$CH" --data "$TMP/live" --box live --database bench \
    --table live --json >"$TMP/last.json" 2>>"$TMP/follow.log" || die "the last ship failed (disk full?): $(tail -n 3 "$TMP/follow.log")"
shipped=$(q "SELECT count() FROM bench.live FINAL")
[ "$shipped" = "$captured" ] || die "captured $captured exchanges, ClickHouse has $shipped"
left=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["rows"])' "$TMP/last.json")

"$PYTHON" - "$RESULTS" "$captured" "$left" "$CONNS" <<'EOF'
import json, statistics, sys
res, captured, left, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rounds = {}
for line in open(res):
    mode, r, fcpu, ccpu, j = line.rstrip("\n").split("\t", 4)
    j = json.loads(j)
    secs = j["duration_us"] / 1e6
    rps = j["requests"] / secs
    rounds.setdefault(int(r), {})[mode] = (rps, j["p99_us"], sum(j["errors"].values()),
                                           float(fcpu) / secs, float(ccpu) / secs)
print("| wrk -c%s through a capturing ringcap run, 100 B | round | alone req/s | with ship --follow req/s | ratio | p99 µs alone / shipping | shipper CPU (cores) | ClickHouse CPU (cores) | errors |" % conns)
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
ratios = {"shipping": [], "idle": []}
names = {"shipping": "data plane while shipping",
         "idle": "data plane while shipping, ClickHouse SCHED_IDLE"}
for mode in ("shipping", "idle"):
    for r in sorted(rounds):
        a, s = rounds[r]["alone"], rounds[r][mode]
        ratios[mode].append(s[0] / a[0])
        print("| %s | %d | %.0f | %.0f | %.3f | %d / %d | %.2f | %.2f | %d |" % (
            names[mode], r, a[0], s[0], ratios[mode][-1], a[1], s[1], s[3], s[4], a[2] + s[2]))
print()
for mode in ("shipping", "idle"):
    m = statistics.median(ratios[mode])
    print("- median ratio %s/alone %.3f (target >= 0.95: %s)"
          % ("shipping" if mode == "shipping" else "shipping (ClickHouse idle)", m,
             "met" if m >= 0.95 else "NOT met"))
print("- captured %d exchanges, all in ClickHouse (count() FINAL); %d were left for the last one-shot ship after the rounds"
      % (captured, left))
EOF
