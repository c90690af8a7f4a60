#!/usr/bin/env bash
# bench/ship.sh - `ringcap ship` into a real ClickHouse on loopback (issue
# 19): rows per second shipped from a generated session (bench/gen_session.c,
# straight through persist/) without bodies and with bodies (--full: up to
# 16 KiB each, shipped up to 1 KiB with --body-max 1KiB), with the
# shipper's CPU time and peak RSS, and ClickHouse's count as the check.
# Environment: N [1000000] exchanges (QUICK=1: 20000), RINGCAP_BIN
# [build/tools/ringcap], GEN_BIN [build/.../rc_gen_session], DIR [/tmp].
# Prints one table; everything it starts is stopped on exit.
set -u -o pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
if [ "${QUICK:-0}" = 1 ]; then N=${N:-20000}; else N=${N:-1000000}; fi
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

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP=$(free_port); TCP=$(free_port)
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

ROWS=()
# case NAME GEN_ARGS SHIP_ARGS
run_case() {
    local name=$1 gen=$2 ship=$3 data=$TMP/data-$1
    log "$name: generating $N exchanges"
    "$GEN_BIN" --data "$data" --name s --workers 2 $gen "$N" >/dev/null || die "generator failed"
    log "$name: shipping"
    local t
    t=$( { /usr/bin/time -f '%e %U %S %M' "$RINGCAP_BIN" ship --clickhouse "$CH" --data "$data" \
           --box "$name" --database bench --json $ship >/dev/null; } 2>&1 | tail -1 )
    read -r wall usr sys rss <<<"$t"
    local got
    got=$(q "SELECT count() FROM bench.exchanges FINAL WHERE box = '$name'")
    [ "$got" = "$N" ] || die "$name: ClickHouse has $got rows of $N"
    ROWS+=("$(awk -v n="$name" -v r="$N" -v w="$wall" -v u="$usr" -v s="$sys" -v m="$rss" \
        'BEGIN { printf "| %s | %d | %.2f | %d | %.2f | %.1f |", n, r, w, r / w, u + s, m / 1024 }')")
}
run_case no-bodies "" ""
run_case bodies-1k "--full" "--bodies --body-max 1KiB"

echo
echo "ringcap ship into ClickHouse $(q 'SELECT version()') on loopback, $N exchanges, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| case | rows | seconds | rows/s | shipper CPU s | shipper peak RSS MiB |"
echo "| --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${ROWS[@]}"
