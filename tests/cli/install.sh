#!/bin/bash
# make install to a prefix gives the header, the library, unibus.pc, the
# two binaries, the systemd unit and the manual pages; client/examples/rooms.c builds against the installed library
# with nothing but pkg-config, and runs.
# usage: install.sh BUILD_DIR SOURCE_DIR [EXTRA_CFLAGS]
. "$(dirname "$0")/lib.sh"
BUILD="$1"
SRC="$2"
EXTRA="${3:-}"
P="$WORK/prefix"
t "install to a prefix" 0 "" cmake --install "$BUILD" --prefix "$P"
check "header installed" [ -f "$P/include/unibus.h" ]
PC=$(find "$P" -name unibus.pc | head -1)
check "unibus.pc installed" [ -n "$PC" ]
check "library installed" [ -n "$(find "$P" -name 'libunibus.so*' | head -1)" ]
check "membershipd installed" [ -x "$P/bin/membershipd" ]
check "unibus installed" [ -x "$P/bin/unibus" ]
check "the systemd unit installed" [ -f "$P/lib/systemd/system/membershipd.service" ]
check "the sysusers entry installed" grep -q "^u unibus " "$P/lib/sysusers.d/unibus.conf"
check "membershipd(8) installed" [ -f "$P/share/man/man8/membershipd.8" ]
check "unibus(1) installed" [ -f "$P/share/man/man1/unibus.1" ]
export PKG_CONFIG_PATH
PKG_CONFIG_PATH="$(dirname "$PC")"
t "the example builds with pkg-config alone" 0 "" \
    sh -c "cc $EXTRA -o '$WORK/rooms' '$SRC/client/examples/rooms.c' \$(pkg-config --cflags --libs unibus)"
LIBDIR=$(pkg-config --variable=libdir unibus)
t "the installed unibus finds its library" 0 "" "$P/bin/unibus" keygen --out "$WORK/id.seed"
t "the example runs and reports a missing server" 1 "rooms: cannot reach http://127.0.0.1:9" \
    env LD_LIBRARY_PATH="$LIBDIR" UNIBUS_URL=http://127.0.0.1:9 UNIBUS_IDENTITY="$WORK/id.seed" "$WORK/rooms"
finish
