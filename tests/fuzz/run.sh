#!/bin/sh
# Runs every libFuzzer target for SECONDS each, two at a time (the machines
# have two cores).  Fails on any crash, leak, timeout or broken invariant;
# the input that did it is left in BUILD/fuzz-artifacts/ (dev/fuzzing.md).
#   run.sh BUILD SECONDS merge|scratch
# merge: new inputs that add coverage are merged into tests/fuzz/corpus
# (minimised); scratch: the repository is not written to (CI).
set -eu
build=$1 seconds=$2 mode=$3
here=$(cd "$(dirname "$0")" && pwd)
targets="json_body nats_config signed_request envelope nkey seedfile args csr join_request join_token"
work=$build/fuzz-work
artifacts=$build/fuzz-artifacts
rm -rf "$work"
mkdir -p "$work" "$artifacts"

run_one() {
    t=$1
    mkdir -p "$work/$t"
    # The committed corpus is read, never written, by the run itself.
    if "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
        -detect_leaks=1 -error_exitcode=77 -timeout_exitcode=78 -close_fd_mask=3 -print_final_stats=1 \
        -artifact_prefix="$artifacts/$t-" "$work/$t" "$here/corpus/$t" >"$work/$t.log" 2>&1; then
        stats=$(grep -E '^#[0-9]+.*DONE' "$work/$t.log" | tail -1)
        echo "fuzz $t: ok  $stats"
    else
        echo "fuzz $t: FAILED; log: $work/$t.log; input: $(ls "$artifacts/$t-"* 2>/dev/null | head -1)"
        grep -E 'ERROR|invariant|runtime error|SUMMARY' "$work/$t.log" | head -5
        return 1
    fi
    if [ "$mode" = merge ]; then
        "$build/tests/fuzz/fuzz_$t" -merge=1 -close_fd_mask=3 "$here/corpus/$t" "$work/$t" \
            >"$work/$t.merge.log" 2>&1 || { echo "fuzz $t: merge failed; see $work/$t.merge.log"; return 1; }
    fi
}

failed=0
set -- $targets
while [ $# -gt 0 ]; do
    run_one "$1" & first=$!
    second=""
    if [ $# -gt 1 ]; then run_one "$2" & second=$!; fi
    wait $first || failed=1
    if [ -n "$second" ]; then wait $second || failed=1; shift; fi
    shift
done
[ $failed -eq 0 ] || { echo "fuzz: failures above; reproduce with: $build/tests/fuzz/fuzz_TARGET INPUT" >&2; exit 1; }
