#!/bin/bash
# What operators install besides the binaries: the systemd unit (checked by
# systemd-analyze, its exposure score held, its commands run as the unit
# would run them) and the manual pages (lint-clean, every command and flag
# of each program in them).
# usage: dist.sh MEMBERSHIPD UNIBUS DIST_BUILD_DIR
. "$(dirname "$0")/lib.sh"
U="$2"
DIST="$3"

# The unit as built, pointed at the binary under test.
sed "s|^\(ExecStart[A-Za-z]*=\)[^ ]*/membershipd |\1$M |" "$DIST/membershipd.service" >"$WORK/membershipd.service"
t "systemd-analyze verify finds nothing to say" 0 "" systemd-analyze verify --man=no "$WORK/membershipd.service"
check "... not even a warning" [ -z "$ERR" ]
t "exposure at most 1.5 (systemd-analyze security)" 0 "" \
    systemd-analyze security --offline=yes --threshold=15 "$WORK/membershipd.service"
echo "# $(printf '%s\n' "$OUT" | grep 'Overall exposure')"
for setting in "User=unibus" "StateDirectory=unibus" "ExecReload=/bin/kill -HUP \$MAINPID" \
               "RestartPreventExitStatus=78" "CapabilityBoundingSet=" "SystemCallFilter=@system-service"; do
    check "the unit sets $setting" grep -qxF "$setting" "$WORK/membershipd.service"
done

# Its ExecStartPre line, as systemd would run it with an empty env file and
# with flags that would leave the control plane open.
pre=$(sed -n 's/^ExecStartPre=//p' "$WORK/membershipd.service")
mkdir -m 700 "$WORK/state"
run_unit_line() { env STATE_DIRECTORY="$WORK/state" MEMBERSHIPD_FLAGS="$1" \
    sh -c "$(printf '%s' "$pre" | sed 's/\${STATE_DIRECTORY}/"$STATE_DIRECTORY"/; s/\$MEMBERSHIPD_FLAGS/$MEMBERSHIPD_FLAGS/')"; }
t "the unit's check-config accepts the defaults" 0 "" run_unit_line ""
t "and refuses an open public bind, with 78" 78 "is not loopback and TLS is off" run_unit_line "--bind 0.0.0.0"

# The manual pages.
for page in "$DIST/membershipd.8" "$DIST/unibus.1"; do
    t "$(basename "$page") is lint-clean (groff -ww)" 0 "" env LC_ALL=C groff -man -ww -z "$page"
    check "... without a warning" [ -z "$ERR" ]
done
roff_escaped() { printf '%s' "$1" | sed 's/-/\\-/g'; }
commands() { "$1" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on = 0}'; }
for program in "$M:$DIST/membershipd.8" "$U:$DIST/unibus.1"; do
    bin=${program%%:*} page=${program#*:} name=$(basename "${program%%:*}")
    for c in $(commands "$bin"); do
        check "$name $c is in $(basename "$page")" grep -qF ".SS \"$name $(roff_escaped "$c")" "$page"
        for flag in $("$bin" "$c" --help | awk '/^flags:$/ {on = 1; next} on {print $1}' | tr -d ,); do
            check "... with its flag $flag" grep -qF -- "$(roff_escaped "$flag")" "$page"
        done
    done
done
finish
