#!/bin/sh
# Installs the Debian packages unibus builds and tests with, when any is missing.
# As root it runs apt-get; otherwise it prints the one command to run and fails.
set -eu

packages="build-essential cmake pkg-config libsodium-dev libsqlite3-dev libssl-dev \
libnats-dev nats-server libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev \
libcmocka-dev python3 openssl curl faketime nodejs npm ca-certificates clang libclang-rt-14-dev valgrind systemd groff-base \
prometheus"

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing="$missing $p"
done

# nodejs/npm are only needed for the interop tests; a node already on PATH will do.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    missing=$(printf '%s\n' $missing | grep -vx -e nodejs -e npm | tr '\n' ' ')
fi
missing=$(echo $missing)
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "unibus: missing packages; run: sudo apt-get install -y $missing" >&2
    exit 1
fi
echo "unibus: installing $missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# prometheus is wanted for its promtool only (tests); on a systemd host its
# package also starts a Prometheus server on :9090, which unibus never asked for.
case " $missing " in
*" prometheus "*) [ -d /run/systemd/system ] && systemctl disable --now prometheus >/dev/null 2>&1 || true ;;
esac
