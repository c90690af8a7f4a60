#!/usr/bin/env bash
# bench/filter.sh: URL filter matching cost with 10, 100 and 1,000 patterns,
# compiled filter (one Hyperscan scan) vs a naive strcasestr + regexec loop.
# Builds an optimised tree in build-bench/ (incremental) and prints a
# markdown table; exit status is the benchmark's (0: targets met).
#   bench/filter.sh            full run (a few seconds)
#   bench/filter.sh --quick    smoke run (about 1 s)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build-bench/build.ninja ]; then
  meson setup build-bench -Dbuildtype=release >&2
fi
ninja -C build-bench tests/filter/filter_bench >&2
echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
exec build-bench/tests/filter/filter_bench "$@"
