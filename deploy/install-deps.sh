#!/bin/sh
# Install every build, test and run dependency of Flex from Debian packages.
# Idempotent: installs only what is missing. Root runs apt-get directly; others use sudo.
set -eu

PKGS="build-essential pkg-config clang libclang-rt-14-dev
liburing-dev libhiredis-dev libprotobuf-c-dev protobuf-c-compiler
libcurl4-openssl-dev libssl-dev libjemalloc-dev libinih-dev libjansson-dev
libcmocka-dev libmicrohttpd-dev libsystemd-dev liburcu-dev
dpkg-dev lintian man-db
redis-server redis-tools openssl socat tzdata gnuplot-nox python3 curl prometheus"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
else
    SUDO="sudo"
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
# The Debian package starts a redis-server on 6379 via systemd where systemd runs;
# tests start their own on free ports and never depend on it.
