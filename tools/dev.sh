#!/usr/bin/env bash
# ringcap developer entry point for a fresh Debian 12 machine.
#   tools/dev.sh run [ringcap run options]   install what is missing, build, run the proxy
#   tools/dev.sh test                        install what is missing, build, run every suite
#   tools/dev.sh deps [extra packages]       only install what is missing
# Idempotent: packages already present are skipped, builds are incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_PKGS=(gcc clang meson ninja-build pkg-config liburing-dev libhyperscan-dev
            libzstd-dev android-libboringssl-dev node-llhttp
            libmicrohttpd-dev libjansson-dev libnghttp2-dev libqrencode-dev zlib1g-dev)
# libtsan2: the ThreadSanitizer suite; wrk nginx haproxy bc mitmproxy: the
# bench scripts, which the suite runs in QUICK mode (mitmproxy: mitmdump as
# the reference in bench/tls.sh, h2.sh and export.sh; without it those rows
# read "not available" and the smoke tests still pass); clickhouse-server: the fleet
# shipper's tests; chromium chromium-driver python3-selenium: the web UI's
# browser tests; nghttp2-client nghttp2-server python3-websockets: the
# HTTP/2 and WebSocket tests and bench (h2load, nghttp, nghttpd)
TEST_PKGS=(curl python3 openssl prometheus libtsan2 wrk nginx haproxy bc mitmproxy clickhouse-server
           chromium chromium-driver python3-selenium
           nghttp2-client nghttp2-server python3-websockets)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

deps() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

build() { # build DIR [meson options...]
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >&2
  fi
  ninja -C "$dir" >&2
}

# The Node packages the tests read exports with (tests/node: postman-collection,
# newman, har-validator): `npm ci` when node_modules is missing or older than
# the lockfile.
node_deps() {
  local d=tests/node
  [ -f "$d/package-lock.json" ] || return 0
  # Debian's nodejs and npm, unless a Node.js with npm is there already
  # (a machine with another vendor's nodejs package cannot take Debian's npm)
  command -v npm >/dev/null 2>&1 || deps nodejs npm
  if [ ! -f "$d/node_modules/.package-lock.json" ] ||
     [ "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
    echo "npm ci in $d" >&2
    (cd "$d" && npm ci --no-audit --no-fund >&2)
  fi
}

cmd=${1:-run}; shift || true
case "$cmd" in
  deps)
    deps "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "$@" ;;
  run)
    deps "${BUILD_PKGS[@]}"
    build build -Dwerror_strict=true
    exec ./build/tools/ringcap run "$@" ;;
  test)
    deps "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"
    node_deps
    exec tests/run-all.sh ;;
  *)
    echo "usage: tools/dev.sh run|test|deps" >&2; exit 2 ;;
esac
