#!/bin/bash
# Runs last: searches every server log written during this test run for
# every secret the tests used (seeds as nkeys and hex, TLS private keys).
# usage: log_secrets.sh LOG_DIR SECRETS_DIR
LOG_DIR="$1"
SECRETS_DIR="$2"
failed=0
logs=$(find "$LOG_DIR" -type f -name '*.log' | wc -l)
secrets=$(cat "$SECRETS_DIR"/* 2>/dev/null | sort -u)
count=$(printf '%s\n' "$secrets" | grep -c .)
if [ "$logs" -eq 0 ] || [ "$count" -eq 0 ]; then
    echo "not ok - nothing to search: $logs logs, $count secrets (did the integration tests run?)"
    echo "0 passed, 1 failed"
    exit 1
fi
while IFS= read -r secret; do
    [ -n "$secret" ] || continue
    if grep -rqF -- "$secret" "$LOG_DIR"; then
        echo "not ok - a secret (${secret:0:4}...) appears in: $(grep -rlF -- "$secret" "$LOG_DIR" | head -3)"
        failed=$((failed + 1))
    fi
done <<<"$secrets"
reports=$(grep -rlE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOG_DIR" | head -3)
if [ -n "$reports" ]; then
    echo "not ok - sanitizer reports in server logs: $reports"
    failed=$((failed + 1))
fi
echo "searched $logs logs for $count secrets and sanitizer reports"
echo "$((count - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
