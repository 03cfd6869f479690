#!/usr/bin/env bash
# deploy/setup.sh: installs every Debian 12 package vodq needs to build, test and
# run, then builds. Idempotent: packages already present are not reinstalled, and
# apt-get runs only when something is missing.
#   bash deploy/setup.sh            install + build (build/, RelWithDebInfo)
#   bash deploy/setup.sh --no-build install only
#   VODQ_SETUP_ASAN=1 ...           also build build-asan/ (ASan + UBSan)
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PKGS=(
  build-essential cmake pkg-config ca-certificates curl python3
  redis-server libhiredis-dev libcjson-dev libcmocka-dev
  libavcodec-dev libavformat-dev libavfilter-dev libavutil-dev libswscale-dev libswresample-dev ffmpeg
  libcurl4-openssl-dev libssl-dev libxml2-dev libmicrohttpd-dev
  swift swift-proxy swift-object swift-container swift-account python3-swift
  valgrind fonts-dejavu-core fonts-wqy-microhei chromium
  systemd  # systemd-analyze security --offline (tests/integration/systemd_units.sh)
  redis-sentinel clang libclang-rt-14-dev
  libimage-exiftool-perl
  libheif-dev libheif-examples  # HEIC stills: FFmpeg 5.1 has no HEIF demuxer (worker/compose/heif.c); heif-enc for tests
  groff-base libinih-dev prometheus python3-yaml nodejs
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm: Debian's package, unless the installed nodejs brings its own (nodesource)
command -v npm >/dev/null || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# the dashboard test's browser driver (tests/ui, pinned by its package-lock.json);
# offline it is skipped here and the test says so
if [ ! -d "$src/tests/ui/node_modules/playwright-core" ]; then
  (cd "$src/tests/ui" && npm ci --no-audit --no-fund --ignore-scripts >/dev/null 2>&1) ||
    echo "setup: npm ci in tests/ui failed (offline?): the dashboard test will fail" >&2
fi
[ "${1:-}" = --no-build ] && exit 0
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$src/build" -j"$jobs"
if [ "${VODQ_SETUP_ASAN:-}" = 1 ]; then
  cmake -S "$src" -B "$src/build-asan" -DCMAKE_BUILD_TYPE=Debug -DVODQ_SANITIZE=ON >/dev/null
  cmake --build "$src/build-asan" -j"$jobs"
fi
