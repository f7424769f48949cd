#!/bin/bash
# membershipd keygen: a new identity seed file, 0600, never overwritten.
. "$(dirname "$0")/lib.sh"

S="$WORK/id.seed"
t "keygen" 0 "" "$M" keygen --out "$S"
check "seed file is 0600" [ "$(mode_of "$S")" = 600 ]
check "prints the nkey" grep -Eq '^nkey U[A-Z2-7]{55}$' <<<"$OUT"
check "prints the hex key" grep -Eq '^hex  [0-9a-f]{64}$' <<<"$OUT"
check "file is one seed line" grep -Eqx 'SU[A-Z2-7]{56}' "$S"
SEED=$(cat "$S")
check "the seed is never printed" lacks "$OUT$ERR" "$SEED"
NKEY=$(awk '$1 == "nkey" {print $2}' <<<"$OUT")

t "refuses to overwrite" 1 "already exists; refusing to overwrite" "$M" keygen --out "$S"
check "the seed is unchanged" [ "$(cat "$S")" = "$SEED" ]
t "needs --out" 2 "keygen needs --out FILE" "$M" keygen
t "missing directory" 1 "No such file or directory" "$M" keygen --out "$WORK/none/id.seed"
t "the printed key is accepted by user add" 0 "" "$M" user add kim "$NKEY" --data-dir "$WORK/d"
run "$M" keygen --out "$WORK/two.seed"
check "two identities differ" [ "$(cat "$WORK/two.seed")" != "$SEED" ]
finish
