#!/usr/bin/env bash
# Runs every libFuzzer target of a clang -Dfuzz=true build for a fixed time
# on its seeds (tests/fuzz/<target>/corpus) with its dictionary. New inputs
# go to a scratch directory (the committed seeds stay as they are); a crash,
# leak, timeout or OOM fails the run and its input is kept as
# tests/fuzz/artifacts/<target>-crash-... to turn into a regression seed.
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET [BUILD_DIR [TARGET...]]]
#
# CI (tests/run-all.sh) runs 3 s per target; longer runs: README.md.
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-5}
build=${2:-build-fuzz}
shift $(( $# > 2 ? 2 : $# ))
# A target is a folder tests/fuzz/<target>/ holding its driver
# <target>_fuzz.c, its seeds (corpus/) and its dictionary (<target>.dict);
# the module's tests/<module>/meson.build builds it as <target>_fuzz.
all=()
for d in tests/fuzz/*/; do
  t=$(basename "$d")
  [ -f "$d/${t}_fuzz.c" ] && all+=("$t")
done
targets=("$@")
named=${#targets[@]}
[ "$named" -eq 0 ] && targets=("${all[@]}")
scratch=$(mktemp -d /tmp/ringcap-fuzzrun-XXXXXX)
# the tls and persist drivers make their temporary directories in here
export RINGCAP_FUZZ_TMP=$scratch
mkdir -p tests/fuzz/artifacts
# Targets run JOBS at a time (RINGCAP_FUZZ_JOBS, default: the number of
# CPUs): each is one process, so two cores finish 17 targets in half the
# wall time; the reports are printed in target order once all have ended.
jobs=${RINGCAP_FUZZ_JOBS:-$(nproc)}
run_one() { # target executable: exit 0 or the fuzzer's status; report in $scratch/$t.report
  local t=$1 exe=$2 dict=() log="$scratch/$1.log" start rc runs cov
  mkdir -p "$scratch/$t"
  [ -f "tests/fuzz/$t/$t.dict" ] && dict=(-dict="tests/fuzz/$t/$t.dict")
  start=$(date +%s)
  "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    "${dict[@]}" -artifact_prefix="tests/fuzz/artifacts/$t-" \
    "$scratch/$t" "tests/fuzz/$t/corpus" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if [ $rc -ne 0 ]; then
    { echo "fuzz $t: FAILED (exit $rc) after $(( $(date +%s) - start )) s"
      # the driver's own words (a broken property) and the stack of the signal
      grep -E "ERROR|SUMMARY|Test unit written|property broken|_fuzz: |^ *#[0-9]+ 0x" "$log" | head -40
    } >"$scratch/$t.report"
  else
    echo "fuzz $t: ok, ${runs:-?} runs in $(( $(date +%s) - start )) s, ${cov:-cov: ?}" \
      >"$scratch/$t.report"
  fi
  return $rc
}
fail=0; ran=0; running=0; started=()
for t in "${targets[@]}"; do
  exe=$(find "$build/tests" -name "${t}_fuzz" -type f -perm -u+x 2>/dev/null | head -1)
  if [ -z "$exe" ]; then
    # a target of a module this branch does not have yet is skipped; one
    # asked for by name must exist
    echo "fuzz $t: not built (no ${t}_fuzz under $build/tests)"
    [ "$named" -gt 0 ] && fail=$((fail+1))
    continue
  fi
  if [ "$running" -ge "$jobs" ]; then
    wait -n; running=$((running-1))
  fi
  run_one "$t" "$exe" & running=$((running+1)); started+=("$t")
done
wait
for t in "${started[@]}"; do
  ran=$((ran+1))
  cat "$scratch/$t.report"
  grep -q ': FAILED' "$scratch/$t.report" && fail=$((fail+1))
done
rm -rf "$scratch"
rmdir tests/fuzz/artifacts 2>/dev/null
echo "fuzz: $ran targets run, $fail failed"
[ "$fail" -eq 0 ]
