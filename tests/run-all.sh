#!/usr/bin/env bash
# The whole suite, in four parts, each counted in the closing line
# "N passed, N failed":
#   plain     a -Werror build (gcc): every test, the bench smoke tests
#             (suite 'bench', each bench script in QUICK mode) and the
#             layering test (suite 'layers') included;
#   sanitize  the same tests but the bench smoke and the browser-driven web
#             UI test under AddressSanitizer + UndefinedBehaviorSanitizer;
#   tsan      ThreadSanitizer (-Db_sanitize=thread) on the tests that cross
#             threads (TSAN_TESTS below), with tests/tsan.supp: each entry
#             there says why the race it hides is benign;
#   fuzz      the fuzz targets built with clang, also -Werror (so both
#             compilers stay clean), each run for a short fixed time on its
#             seeds (tests/fuzz/run.sh, RINGCAP_FUZZ_SECS per target,
#             default 3).
# Budget: the whole run stays under ~13 minutes on a 2-core box; the fuzz
# targets run two at a time (tests/fuzz/run.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
pass=0; fail=0

# Tests whose code runs on more than one thread (names of meson test):
TSAN_TESTS=(
  swap                  # filter/: compiled filter swapped under matching threads
  tls-cache             # tls/: the leaf cache shared by workers
  sink                  # engine/: workers calling a capture sink
  capture               # tools/capture: policy swap and its grace period
  capture_fault         # tools/capture: storage faults on worker threads
  sessions              # tools/: session manager under the control port
  http                  # tools/: the control port's HTTP server
  integration_sessions  # the control port and session start/pause/stop under traffic
  integration_capture   # the capture sink on every worker, live listing
  integration_filter    # capture filters swapped while workers read them
  integration_metrics   # /metrics reading the workers' counters
  integration_views     # the API reading sessions the workers write
  integration_semantics # names through the resolver thread
  integration_tls       # interception: minting and the shared leaf cache
  bench_toggle          # bench/toggle.py QUICK: 100 policy swaps (pause, resume,
                        # PATCH) under wrk load, each freed after its grace period
)

run_suite() { # name builddir "meson test arguments" meson-setup-options...
  local name=$1 dir=$2 targs=$3; shift 3
  if [ ! -f "$dir/build.ninja" ]; then meson setup "$dir" "$@" || { fail=$((fail+1)); return; }; fi
  if ! ninja -C "$dir"; then echo "BUILD FAILED: $name"; fail=$((fail+1)); return; fi
  local start=$SECONDS
  # shellcheck disable=SC2086
  meson test -C "$dir" --print-errorlogs --num-processes 2 --timeout-multiplier 3 $targs
  local log="$dir/meson-logs/testlog.json"
  local p f
  p=$(grep -c '"result": "OK"' "$log" || true)
  f=$(grep -Ec '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" || true)
  echo "suite $name: $p passed, $f failed in $((SECONDS - start)) s"
  pass=$((pass+p)); fail=$((fail+f))
}
SAN_OPTS=(-Dwerror_strict=true -Db_sanitize=address,undefined -Db_lundef=false)
TSAN_OPTS=(-Dwerror_strict=true -Db_sanitize=thread -Db_lundef=false)
FUZZ_OPTS=(-Dfuzz=true -Dbuildtype=debug -Dwerror_strict=true)
# build_ahead: the three other builds, at nice 19 while the plain tests run.
# Those tests wait on sockets and sleeps more than they compute, so the
# compilers take the idle CPU (about two minutes of the whole run on two
# cores) without slowing them; each later part waits for its build, and
# run_suite's own ninja then has nothing left to do, or shows the error.
build_quietly() { # dir meson-setup-options...
  local dir=$1; shift
  [ -f "$dir/build.ninja" ] || meson setup "$dir" "$@" >/dev/null 2>&1
  ninja -C "$dir" >/dev/null 2>&1
}
build_ahead() {
  renice -n 19 "$BASHPID" >/dev/null
  build_quietly build-san "${SAN_OPTS[@]}"
  build_quietly build-tsan "${TSAN_OPTS[@]}"
  CC=clang build_quietly build-fuzz "${FUZZ_OPTS[@]}"
}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ahead=""
if [ -f build/build.ninja ] || meson setup build -Dwerror_strict=true; then
  ninja -C build && { build_ahead & ahead=$!; }
fi
run_suite plain build "" -Dwerror_strict=true
[ -n "$ahead" ] && wait "$ahead"
run_suite sanitize build-san "--no-suite bench --no-suite browser" "${SAN_OPTS[@]}"
# a report makes the process exit 66 at its end (a unit test fails, a
# ringcap under an integration test fails its exit code check)
export TSAN_OPTIONS="${TSAN_OPTIONS:-second_deadlock_stack=1} suppressions=$PWD/tests/tsan.supp"
run_suite tsan build-tsan "${TSAN_TESTS[*]}" "${TSAN_OPTS[@]}"
if [ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz "${FUZZ_OPTS[@]}" >/dev/null 2>&1; then
  if ninja -C build-fuzz; then
    echo "fuzz targets built"
    if bash tests/fuzz/run.sh "${RINGCAP_FUZZ_SECS:-3}" build-fuzz; then
      pass=$((pass+1))
    else
      echo "FUZZ RUN FAILED"; fail=$((fail+1))
    fi
  else
    echo "FUZZ BUILD FAILED"; fail=$((fail+1))
  fi
else
  echo "FUZZ SETUP FAILED"; fail=$((fail+1))
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
