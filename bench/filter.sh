#!/usr/bin/env bash
# bench/filter.sh: URL filter matching cost with 10, 100 and 1,000 patterns,
# compiled filter (one Hyperscan scan) vs a naive strcasestr + regexec loop.
# Builds an optimised tree in build-bench/ (incremental; BUILD=DIR uses
# another build tree) and prints a markdown table; exit status is the
# benchmark's (0: targets met).
#   bench/filter.sh            full run (a few seconds)
#   bench/filter.sh --quick    smoke run (about 1 s); so does QUICK=1
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-bench}
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" -Dbuildtype=release >&2
fi
ninja -C "$BUILD" bench/filter_bench >&2
quick=()
[ "${QUICK:-0}" = 1 ] && quick=(--quick)
echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
exec "$BUILD/bench/filter_bench" "${quick[@]}" "$@"
