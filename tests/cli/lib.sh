# Helpers for the command-line tests: each runs real binaries as subprocesses
# in a private temporary directory and checks exit code, stdout and stderr.
# Sourced by the tests/cli/*.sh scripts; the binary under test is $1.
set -u

M="$1"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/unibus-cli-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
PASSED=0
FAILED=0
OUT=""
ERR=""
RC=0

pass() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $1: $2"; }

# run CMD...: runs it, leaving its exit code, stdout and stderr in RC, OUT, ERR.
run() {
    "$@" >"$WORK/.out" 2>"$WORK/.err"
    RC=$?
    OUT=$(cat "$WORK/.out")
    ERR=$(cat "$WORK/.err")
}

# t NAME RC STDERR-SUBSTRING CMD...: runs CMD and checks its exit code, that
# stderr holds the substring (when not empty) and, on failure, that the
# error is exactly one line.  Sanitizer reports always fail the test.
t() {
    local name="$1" want_rc="$2" want_err="$3"
    shift 3
    run "$@"
    if [ "$RC" -ne "$want_rc" ]; then
        fail "$name" "exit $RC, want $want_rc; stderr: $ERR"
    elif [ -n "$want_err" ] && [[ "$ERR" != *"$want_err"* ]]; then
        fail "$name" "stderr lacks '$want_err': $ERR"
    elif [ "$want_rc" -ne 0 ] && [ "$(printf '%s\n' "$ERR" | wc -l)" -ne 1 ]; then
        fail "$name" "error is not one line: $ERR"
    elif [[ "$ERR" == *Sanitizer* ]]; then
        fail "$name" "sanitizer report: $ERR"
    else
        pass "$name"
    fi
}

# check NAME COMMAND...: passes when the shell command succeeds.
check() {
    local name="$1"
    shift
    if "$@"; then pass "$name"; else fail "$name" "check failed: $*"; fi
}

contains() { [[ "$1" == *"$2"* ]]; }
lacks() { [[ "$1" != *"$2"* ]]; }
mode_of() { stat -c %a "$1"; }

finish() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}
