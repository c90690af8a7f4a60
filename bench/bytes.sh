#!/usr/bin/env bash
# bench/bytes.sh — bench/store.sh row 6 on its own: bytes on disk per
# captured 100 B exchange (issue 16). wrk (2 threads, 8 connections)
# through a capturing daemon (`run --session`, 2 workers) for BYTES_S [3]
# s, the daemon stopped, then the .seg/.idx/.str sizes over the exchanges
# `ringcap ls` lists. ORIGIN=python [default] is store.sh's origin
# (python -m http.server: bigger response heads); ORIGIN=nginx is the
# case of bench/README.md "Bytes per 100 B exchange" (nginx, 1 worker,
# access log off). Prints one line: NX, total, frames, index, strings.
# Environment: RINGCAP_BIN [build/tools/ringcap], BYTES_S [3], ORIGIN, DIR [/tmp];
# QUICK=1 (the smoke test): BYTES_S 1.
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PYTHON=python3
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
RINGCAP_BIN=${RINGCAP_BIN:-$ROOT/build/tools/ringcap}
ORIGIN=${ORIGIN:-python}
[ "${QUICK:-0}" = 1 ] && BYTES_S=${BYTES_S:-1}
TMP=$(mktemp -d "${DIR:-/tmp}/ringcap-bytes.XXXXXX")
declare -A PID
. "$HERE/common.sh"   # cleanup() and its traps

die() { echo "bytes.sh: $*" >&2; exit 1; }
[ -x "$RINGCAP_BIN" ] || die "$RINGCAP_BIN missing (ninja -C build)"
read -r PP CP OP <<<"$($PYTHON "$HERE/benchlib.py" freeports 3)"
mkdir -p "$TMP/www"
printf '%099d\n' 0 >"$TMP/www/100b"
case $ORIGIN in
python)
    $PYTHON -m http.server "$OP" --bind 127.0.0.1 --directory "$TMP/www" >/dev/null 2>&1 &
    PID[origin]=$!
    ;;
nginx)
    cat >"$TMP/nginx.conf" <<EOF
worker_processes 1;
daemon off;
error_log $TMP/nginx-error.log;
pid $TMP/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $TMP; proxy_temp_path $TMP; fastcgi_temp_path $TMP;
    uwsgi_temp_path $TMP; scgi_temp_path $TMP;
    server { listen 127.0.0.1:$OP; root $TMP/www; }
}
EOF
    nginx -c "$TMP/nginx.conf" -p "$TMP" &
    PID[origin]=$!
    ;;
*) die "ORIGIN is python or nginx" ;;
esac
for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$OP") 2>/dev/null && break; sleep 0.01; done
D3=$TMP/small
"$RINGCAP_BIN" run --listen "127.0.0.1:$PP" --control "127.0.0.1:$CP" --data "$D3" \
    --session small --workers 2 >"$TMP/run3.log" 2>&1 &
PID[ringcap]=$!
for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$PP") 2>/dev/null && break; sleep 0.01; done
export BENCH_PATH="http://127.0.0.1:$OP/100b" BENCH_HOST="127.0.0.1:$OP"
wrk -t 2 -c 8 -d "${BYTES_S:-3}s" -s "$HERE/wrk-req.lua" "http://127.0.0.1:$PP/" >"$TMP/wrk-small.log" 2>&1
kill "${PID[ringcap]}"; wait "${PID[ringcap]}" 2>/dev/null; unset 'PID[ringcap]'
NX=$("$RINGCAP_BIN" ls small --data "$D3" --json | $PYTHON -c 'import json,sys; print(len(json.load(sys.stdin)))')
per() { cat "$D3"/*/*."$1" 2>/dev/null | wc -c | awk -v n="$NX" '{ printf "%.1f", n ? $1 / n : 0 }'; }
BSEG=$(per seg) BIDX=$(per idx) BSTR=$(per str)
echo "origin $ORIGIN: $NX exchanges: $(awk -v a="$BSEG" -v b="$BIDX" -v c="$BSTR" \
    'BEGIN { printf "%.1f", a + b + c }') B = frames $BSEG + index $BIDX + strings $BSTR B" \
    "(load $(cut -d' ' -f1-3 /proc/loadavg))"
