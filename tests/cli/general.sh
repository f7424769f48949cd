#!/bin/bash
# membershipd's command table: help everywhere, version, unknown commands.
. "$(dirname "$0")/lib.sh"

t "no arguments is a usage error" 2 "no command given; see: membershipd --help" "$M"
t "no user command" 2 "no command given; see: membershipd user --help" "$M" user
t "bare flags mean serve" 78 "refusing to start" "$M" --bind 0.0.0.0 --data-dir "$WORK/d"
for cmd in "--help" "help" "serve --help" "check-config --help" "user --help" "user add --help" "user list --help" \
           "user revoke --help" "keygen --help" "version --help"; do
    # shellcheck disable=SC2086
    t "membershipd $cmd" 0 "" "$M" $cmd
    check "membershipd $cmd prints usage" contains "$OUT" "usage: membershipd"
done
t "version" 0 "" "$M" version
check "version names the release" grep -Eq '^membershipd [0-9]+\.[0-9]+\.[0-9]+ \(schema [0-9]+' <<<"$OUT"
t "--version" 0 "" "$M" --version
t "version takes no arguments" 2 "too many arguments" "$M" version extra
t "unknown command" 2 "unknown command 'frob'" "$M" frob
finish
