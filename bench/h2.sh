#!/usr/bin/env bash
# bench/h2.sh — HTTP/2 through ringcap (capture on) vs direct, on loopback.
#
# Starts its own nginx origin (TLS, http2 on; 100 B and 64 KiB files), ringcap
# intercepting CONNECT with a capture session and trusting the origin
# certificate (--upstream-ca), and two bench/connect_fwd fronts, because h2load
# cannot talk to an HTTP proxy: one relays each connection to ringcap after a
# CONNECT, the other straight to nginx (the same extra hop, for the "direct via
# front" row); when mitmdump is installed, a third front relays to mitmdump
# (its own CA in a temp confdir, trusting the origin certificate like ringcap;
# h2load does not verify certificates). h2load then runs 10 connections x 10
# streams against:
#   direct          h2load -> nginx (h2)
#   direct via fwd  h2load -> connect_fwd -> nginx (h2)
#   ringcap         h2load -> connect_fwd -> ringcap (h2, captured) -> nginx (HTTP/1.1)
#   ringcap (base)  the same through a second ringcap binary, RINGCAP_BASE_BIN,
#                   when set: before and after a change side by side in one run
#   mitmdump        h2load -> connect_fwd -> mitmdump (h2, -q) -> nginx (h2),
#                   "not available" without mitmproxy
# and prints one Markdown table with req/s and the ratio to direct, then the
# ratio ringcap / mitmdump per case. Each proxy row also has the proxy's CPU
# time per request (utime + stime of the process over the timed run, divided
# by the requests h2load completed): on a shared box that is steadier than
# req/s. Every process it starts is stopped on exit.
#
# Environment (defaults in brackets):
#   DURATION [5]        seconds per case and target; WARMUP [1] untimed seconds
#   MITM_DURATION [DURATION]  seconds per case for mitmdump
#   CLIENTS [10] STREAMS [10]  h2load -c and -m
#   RINGCAP_BIN [./build/tools/ringcap], RINGCAP_WORKERS [nproc], RINGCAP_ARGS []
#   RINGCAP_BASE_BIN []  a second ringcap to compare (same workers and args)
#   OUT_DIR [bench/out]  where connect_fwd is built
#   QUICK=1             smoke run: 1 s per case, no warm-up
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
if [ -z "${PYTHON:-}" ]; then
    PYTHON=python3
    [ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
fi
LIB="$PYTHON $HERE/benchlib.py"
if [ "${QUICK:-0}" = 1 ]; then
    : "${DURATION:=1}" "${WARMUP:=0}"
fi
DURATION=${DURATION:-5}
MITM_DURATION=${MITM_DURATION:-$DURATION}
WARMUP=${WARMUP:-1}
CLIENTS=${CLIENTS:-10}
STREAMS=${STREAMS:-10}
RINGCAP_BIN=${RINGCAP_BIN:-$ROOT/build/tools/ringcap}
RINGCAP_WORKERS=${RINGCAP_WORKERS:-$(nproc)}
RINGCAP_ARGS=${RINGCAP_ARGS:-}
RINGCAP_BASE_BIN=${RINGCAP_BASE_BIN:-}
OUT_DIR=${OUT_DIR:-$HERE/out}

die() { echo "h2.sh: $*" >&2; exit 1; }
log() { echo "# $(date -u +%T) $*" >&2; }

for tool in nginx openssl cc curl h2load "$PYTHON"; do
    command -v "$tool" >/dev/null || { echo "h2.sh: $tool not found (nginx, openssl, gcc, curl, nghttp2-client)" >&2; exit 77; }
done
[ -x "$RINGCAP_BIN" ] || die "no ringcap at $RINGCAP_BIN (build first)"
[ -z "$RINGCAP_BASE_BIN" ] || [ -x "$RINGCAP_BASE_BIN" ] || die "no ringcap at RINGCAP_BASE_BIN=$RINGCAP_BASE_BIN"
mkdir -p "$OUT_DIR"
FWD=$OUT_DIR/connect_fwd
if [ ! -x "$FWD" ] || [ "$HERE/connect_fwd.c" -nt "$FWD" ]; then
    cc -O2 -Wall -o "$FWD" "$HERE/connect_fwd.c" -lpthread || die "cannot build connect_fwd"
fi

TMP=$(mktemp -d /tmp/ringcap-h2bench.XXXXXX)
declare -A PID
. "$HERE/common.sh"   # cleanup() and its traps
read -r NGINX_PORT RC_PORT CTL_PORT FWD_D FWD_R MITM_PORT FWD_M RCB_PORT CTLB_PORT FWD_B \
    <<<"$($LIB freeports 10)"

# ---------------------------------------------------------------- origin
CERT=$TMP/origin-cert.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$TMP/origin-key.pem" -out "$CERT" >/dev/null 2>&1 || die "openssl req failed"
mkdir -p "$TMP/nginx/www"
head -c 99 /dev/zero | tr '\0' x >"$TMP/nginx/www/100b"; echo >>"$TMP/nginx/www/100b"
head -c 65535 /dev/zero | tr '\0' x >"$TMP/nginx/www/64k"; echo >>"$TMP/nginx/www/64k"
cat >"$TMP/nginx/nginx.conf" <<NGX
daemon off;
user root;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_requests 10000000;
    http2_max_requests 10000000;
    default_type application/octet-stream;
    client_body_temp_path $TMP/nginx/tmp-body;
    proxy_temp_path $TMP/nginx/tmp-proxy;
    fastcgi_temp_path $TMP/nginx/tmp-fcgi;
    uwsgi_temp_path $TMP/nginx/tmp-uwsgi;
    scgi_temp_path $TMP/nginx/tmp-scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT ssl http2;
        ssl_certificate $CERT;
        ssl_certificate_key $TMP/origin-key.pem;
        root $TMP/nginx/www;
    }
}
NGX
nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx.log" 2>&1 &
PID[nginx]=$!
$LIB waitport "$NGINX_PORT" 20 "${PID[nginx]}" || die "nginx failed: $(cat "$TMP/nginx.log" "$TMP/nginx/nginx-error.log" 2>/dev/null)"
got=$(curl -s --http2 --max-time 10 --cacert "$CERT" -o /dev/null -w '%{http_version} %{size_download}' \
    "https://localhost:$NGINX_PORT/100b")
[ "$got" = "2 100" ] || die "direct h2 sanity request returned '$got'"

# ---------------------------------------------------------------- ringcap + fronts
"$RINGCAP_BIN" run --listen "127.0.0.1:$RC_PORT" --control "127.0.0.1:$CTL_PORT" \
    --data "$TMP/data" --workers "$RINGCAP_WORKERS" --upstream-ca "$CERT" \
    --connect-ports '*' --session h2bench $RINGCAP_ARGS >"$TMP/ringcap.log" 2>&1 &
PID[ringcap]=$!
$LIB waitport "$RC_PORT" 20 "${PID[ringcap]}" || die "ringcap failed: $(cat "$TMP/ringcap.log")"
"$FWD" "$FWD_D" 0 "localhost:$NGINX_PORT" >"$TMP/fwd-d.log" 2>&1 &
PID[fwd_direct]=$!
"$FWD" "$FWD_R" "$RC_PORT" "localhost:$NGINX_PORT" >"$TMP/fwd-r.log" 2>&1 &
PID[fwd_ringcap]=$!
$LIB waitport "$FWD_D" 10 "${PID[fwd_direct]}" || die "connect_fwd failed"
$LIB waitport "$FWD_R" 10 "${PID[fwd_ringcap]}" || die "connect_fwd failed"
got=$(curl -s --http2 --max-time 10 -k -o /dev/null -w '%{http_version} %{size_download}' \
    "https://localhost:$FWD_R/100b")
[ "$got" = "2 100" ] || die "h2 through ringcap returned '$got': $(tail -5 "$TMP/ringcap.log")"
log "nginx $NGINX_PORT, ringcap $RC_PORT (pid ${PID[ringcap]}), fronts $FWD_D (direct) $FWD_R (ringcap)"
TARGETS="direct fwd ringcap"
if [ -n "$RINGCAP_BASE_BIN" ]; then
    "$RINGCAP_BASE_BIN" run --listen "127.0.0.1:$RCB_PORT" --control "127.0.0.1:$CTLB_PORT" \
        --data "$TMP/data-base" --workers "$RINGCAP_WORKERS" --upstream-ca "$CERT" \
        --connect-ports '*' --session h2bench $RINGCAP_ARGS >"$TMP/ringcap-base.log" 2>&1 &
    PID[base]=$!
    $LIB waitport "$RCB_PORT" 20 "${PID[base]}" || die "base ringcap failed: $(cat "$TMP/ringcap-base.log")"
    "$FWD" "$FWD_B" "$RCB_PORT" "localhost:$NGINX_PORT" >"$TMP/fwd-b.log" 2>&1 &
    PID[fwd_base]=$!
    $LIB waitport "$FWD_B" 10 "${PID[fwd_base]}" || die "connect_fwd failed"
    got=$(curl -s --http2 --max-time 10 -k -o /dev/null -w '%{http_version} %{size_download}' \
        "https://localhost:$FWD_B/100b")
    [ "$got" = "2 100" ] || die "h2 through the base ringcap returned '$got'"
    TARGETS="$TARGETS base"
    log "base ringcap $RINGCAP_BASE_BIN on $RCB_PORT (pid ${PID[base]}), front $FWD_B"
fi

# ---------------------------------------------------------------- mitmdump + its front
MITM_NOTE="not available"
if command -v mitmdump >/dev/null; then
    MITM_NOTE="failed to start"
    mkdir -p "$TMP/mitm"
    mitmdump -q --listen-host 127.0.0.1 -p "$MITM_PORT" --set confdir="$TMP/mitm" \
        --set ssl_verify_upstream_trusted_ca="$CERT" >"$TMP/mitmdump.log" 2>&1 &
    PID[mitmdump]=$!
    "$FWD" "$FWD_M" "$MITM_PORT" "localhost:$NGINX_PORT" >"$TMP/fwd-m.log" 2>&1 &
    PID[fwd_mitmdump]=$!
    if $LIB waitport "$MITM_PORT" 30 "${PID[mitmdump]}" && $LIB waitport "$FWD_M" 10 "${PID[fwd_mitmdump]}"; then
        got=$(curl -s --http2 --max-time 10 -k -o /dev/null -w '%{http_version} %{size_download}' \
            "https://localhost:$FWD_M/100b")
        if [ "$got" = "2 100" ]; then
            TARGETS="$TARGETS mitmdump"
            MITM_NOTE=""
            log "mitmdump $(dpkg-query -W -f '${Version}' mitmproxy 2>/dev/null) on $MITM_PORT, front $FWD_M"
        else
            MITM_NOTE="h2 sanity request through it returned '$got'"
        fi
    fi
    [ -z "$MITM_NOTE" ] || log "mitmdump: $MITM_NOTE: $(tail -5 "$TMP/mitmdump.log")"
fi

# ---------------------------------------------------------------- measure
# h2load's "finished in ..., N req/s" line, and its succeeded count
h2run() {   # PORT PATH SECONDS -> "req/s succeeded failed"
    h2load -c "$CLIENTS" -m "$STREAMS" -t 1 -D "$3" "https://localhost:$1$2" 2>&1 |
        awk '/^finished in/ { rps = $4 } /^requests:/ { ok = $8; bad = $10 }
             END { printf "%s %s %s\n", rps ? rps : 0, ok ? ok : 0, bad ? bad : 0 }'
}
declare -A RPS CPU
for c in 100b 64k; do
    for t in $TARGETS; do
        dur=$DURATION
        case $t in direct) port=$NGINX_PORT ;; fwd) port=$FWD_D ;; ringcap) port=$FWD_R ;;
                   base) port=$FWD_B ;; mitmdump) port=$FWD_M; dur=$MITM_DURATION ;; esac
        [ "$WARMUP" -gt 0 ] && h2run "$port" "/$c" "$WARMUP" >/dev/null
        proxy=${PID[$t]:-}
        cpu0=$([ -n "$proxy" ] && $LIB cpu "$proxy")
        read -r rps ok bad <<<"$(h2run "$port" "/$c" "$dur")"
        RPS[$c,$t]=$rps
        CPU[$c,$t]=-
        if [ -n "$proxy" ] && [ "$ok" -gt 0 ]; then
            CPU[$c,$t]=$(awk -v a="$cpu0" -v b="$($LIB cpu "$proxy")" -v n="$ok" \
                'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')
        fi
        log "$c $t: $rps req/s ($ok succeeded, $bad failed), proxy CPU ${CPU[$c,$t]} us/req"
    done
done
RSS=$($LIB rss "${PID[ringcap]}")

echo
echo "## HTTP/2: h2load -c $CLIENTS -m $STREAMS, ${DURATION} s per row (capture on)"
echo
echo "| case | target | req/s | vs direct | proxy CPU per request |"
echo "|---|---|---|---|---|"
for c in 100b 64k; do
    name=$([ "$c" = 100b ] && echo "100 B" || echo "64 KiB")
    for t in $(echo "$TARGETS" | sed 's/ mitmdump//'); do
        label=$t; [ "$t" = fwd ] && label="direct via front"; [ "$t" = base ] && label="ringcap (base)"
        ratio=$(awk -v a="${RPS[$c,$t]}" -v b="${RPS[$c,direct]}" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }')
        us=${CPU[$c,$t]}; [ "$us" = - ] || us="$us us"
        printf '| %s | %s | %.0f req/s | %s | %s |\n' "$name" "$label" "${RPS[$c,$t]}" "$ratio" "$us"
    done
    if [ -z "$MITM_NOTE" ]; then
        ratio=$(awk -v a="${RPS[$c,mitmdump]}" -v b="${RPS[$c,direct]}" 'BEGIN { if (b > 0) printf "%.3fx", a / b; else print "-" }')
        printf '| %s | mitmdump | %.0f req/s | %s | %s us |\n' "$name" "${RPS[$c,mitmdump]}" "$ratio" "${CPU[$c,mitmdump]}"
    else
        echo "| $name | mitmdump | $MITM_NOTE | - | - |"
    fi
done
echo
if [ -z "$MITM_NOTE" ]; then
    for c in 100b 64k; do
        name=$([ "$c" = 100b ] && echo "100 B" || echo "64 KiB")
        awk -v n="$name" -v a="${RPS[$c,ringcap]}" -v b="${RPS[$c,mitmdump]}" \
            'BEGIN { if (b > 0) printf "- ringcap / mitmdump, %s: %.1fx (goal >= 30x)\n", n, a / b; else printf "- ringcap / mitmdump, %s: - (mitmdump 0 req/s)\n", n }'
        [ -z "$RINGCAP_BASE_BIN" ] || awk -v n="$name" -v a="${RPS[$c,base]}" -v b="${RPS[$c,mitmdump]}" \
            'BEGIN { if (b > 0) printf "- ringcap (base) / mitmdump, %s: %.1fx\n", n, a / b }'
    done
    echo "- mitmdump $(dpkg-query -W -f '${Version}' mitmproxy 2>/dev/null): -q, own CA in a temp confdir, origin certificate trusted (ssl_verify_upstream_trusted_ca), h2 on both sides; ${MITM_DURATION} s per row"
else
    echo "- ringcap / mitmdump: not available (mitmdump $MITM_NOTE)"
fi
echo "- ringcap: $RINGCAP_BIN --workers $RINGCAP_WORKERS $RINGCAP_ARGS; RSS after the runs: ${RSS} KiB"
[ -z "$RINGCAP_BASE_BIN" ] || echo "- ringcap (base): $RINGCAP_BASE_BIN, same options"
up="HTTP/1.1"
case " $RINGCAP_ARGS " in *" --upstream-h2 "*) up="HTTP/2 (--upstream-h2)" ;; esac
echo "- nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), 1 worker, http2; ringcap's upstream: $up"
echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
