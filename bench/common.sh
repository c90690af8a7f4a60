# bench/common.sh - sourced by bench/run.sh and bench/tls.sh: stops every
# process the script started (PID: name -> pid), politely and then by
# force within 2 s each, and removes its temp dir TMP unless KEEP_TMP=1.
cleanup() {
    local t
    for t in "${!PID[@]}"; do kill "${PID[$t]}" 2>/dev/null; done
    for t in "${!PID[@]}"; do
        # bounded wait, then force
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "${PID[$t]}" 2>/dev/null || break
            sleep 0.2
        done
        kill -9 "${PID[$t]}" 2>/dev/null
    done
    wait 2>/dev/null
    [ "${KEEP_TMP:-0}" = 1 ] || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
