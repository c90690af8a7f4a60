#!/usr/bin/env bash
# The whole suite: a -Werror build (gcc), the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer, and the fuzz targets built
# with clang, also -Werror (so both compilers stay clean), then each fuzz
# target run for a short fixed time on its seeds (tests/fuzz/run.sh,
# RINGCAP_FUZZ_SECS per target, default 5). Prints one closing line
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
pass=0; fail=0
run_suite() { # name builddir meson-setup-options...
  local name=$1 dir=$2; shift 2
  if [ ! -f "$dir/build.ninja" ]; then meson setup "$dir" "$@" || { fail=$((fail+1)); return; }; fi
  if ! ninja -C "$dir"; then echo "BUILD FAILED: $name"; fail=$((fail+1)); return; fi
  meson test -C "$dir" --print-errorlogs --num-processes 2 --timeout-multiplier 3
  local log="$dir/meson-logs/testlog.json"
  local p f
  p=$(grep -c '"result": "OK"' "$log" || true)
  f=$(grep -Ec '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" || true)
  echo "suite $name: $p passed, $f failed"
  pass=$((pass+p)); fail=$((fail+f))
}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
run_suite plain build -Dwerror_strict=true
run_suite sanitize build-san -Dwerror_strict=true -Db_sanitize=address,undefined -Db_lundef=false
if CC=clang meson setup build-fuzz -Dfuzz=true -Dbuildtype=debug -Dwerror_strict=true >/dev/null 2>&1 || [ -f build-fuzz/build.ninja ]; then
  if ninja -C build-fuzz; then
    echo "fuzz targets built"
    if bash tests/fuzz/run.sh "${RINGCAP_FUZZ_SECS:-5}" build-fuzz; then
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
