#!/bin/sh
# Installs the Debian packages the build, the tests and the benchmarks need,
# but only those that are missing. Works as root or through sudo.
#   scripts/deps.sh build   libraries and tools to build and run, and
#                           Node.js + npm (they build the dashboard)
#   scripts/deps.sh test    + test tools, Chromium for the browser tests
#   scripts/deps.sh bench   + load generators and nginx for comparison
#   scripts/deps.sh demo    + PostgreSQL and nginx for deploy/demo.sh
#   scripts/deps.sh fuzz    + clang, whose runtime has libFuzzer (make fuzz)
set -eu

BUILD="build-essential pkg-config libmicrohttpd-dev libjansson-dev libyajl-dev libsqlite3-dev libsodium-dev libcsv-dev libzip-dev libexpat1-dev libfreexl-dev libxlsxwriter-dev libxgboost-dev libpq-dev"
TEST="libcmocka-dev libcurl4-openssl-dev curl prometheus faketime postgresql-15 chromium fonts-dejavu-core"
BENCH="wrk nginx-light curl"
DEMO="postgresql-15 nginx-light curl python3"
FUZZ="clang"

want="$BUILD"
case "${1:-build}" in
  build) ;;
  test) want="$BUILD $TEST" ;;
  bench) want="$BUILD $TEST $BENCH" ;;
  demo) want="$BUILD $DEMO" ;;
  fuzz) want="$BUILD $FUZZ" ;;
  *) echo "usage: $0 build|test|bench|demo|fuzz" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
# Node.js and npm: any install will do (Debian's, or NodeSource's, whose
# nodejs package carries npm), so the commands are checked, not packages.
if [ "${1:-build}" != fuzz ] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
  missing="$missing nodejs npm"
fi
[ -z "$missing" ] && exit 0

echo "installing:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root or sudo to install:$missing" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
