#!/bin/bash
# Every error code membershipd can send is one the metrics count by name
# (membershipd/metrics/metrics.c ERROR_CODES); a code missing there would only
# show up as code="other".  Also fails on a reply_error call whose code is
# not a literal, since this check could not see it.
# usage: metrics_codes.sh MEMBERSHIPD_SOURCE_DIR
set -u
dir="$1"
sources=$(find "$dir" -name '*.c' ! -name metrics.c | sort)
literal='reply_error\([^,]+, *[0-9]+, *"[a-z_]+"'
codes=$( (grep -ohE "$literal" $sources; grep -ohE 'refuse\([^"]*"[a-z_]+"' $sources;
          grep -ohE 'error_code = "[a-z_]+"' $sources) | grep -oE '"[a-z_]+"$' | sort -u)
failed=0
# The definition, and refuse() passing its literal on.
hidden=$(grep -nE 'reply_error\(' $sources | grep -vE "$literal" \
         | grep -vE 'reply\.c:[0-9]+:void reply_error\(' | grep -vE 'request_auth\.c:[0-9]+: +reply_error\(out, 401, code,')
if [ -n "$hidden" ]; then
    echo "FAIL: reply_error with a code this check cannot read; pass a string literal:"
    echo "$hidden"
    failed=1
fi
n=0
for code in $codes; do
    n=$((n + 1))
    if ! grep -q "$code" "$dir/metrics/metrics.c"; then
        echo "FAIL: error code $code is sent but not listed in ERROR_CODES of $dir/metrics/metrics.c; add it there"
        failed=1
    fi
done
if [ "$n" -lt 15 ]; then
    echo "FAIL: found only $n error codes in $dir; the extraction is broken"
    failed=1
fi
echo "checked $n error codes"
exit $failed
