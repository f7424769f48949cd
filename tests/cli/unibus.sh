#!/bin/bash
# The unibus peer CLI against a real membershipd (loopback, ephemeral ports).
# usage: unibus.sh UNIBUS MEMBERSHIPD
. "$(dirname "$0")/lib.sh"
U="$1"
MD="$2"
D="$WORK/data"
LOG="${UNIBUS_TEST_LOG_DIR:-$WORK}/membershipd-cli-$$.log"

# One client address makes every request here: lift the per-IP rate.
"$MD" serve --http-port 0 --nats-port 0 --data-dir "$D" --rate 1000 --burst 1000 2>"$LOG" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 200); do grep -q 'msg=listening' "$LOG" && break; sleep 0.05; done
PORT=$(grep -o 'msg=listening.* port=[0-9]*' "$LOG" | grep -o '[0-9]*$')
URL="http://127.0.0.1:$PORT"

as() { local who="$1"; shift; env HOME="$WORK/$who" UNIBUS_URL="$URL" "$@"; }
# In the background, as the process itself, so $! is the one to signal.
as_bg() { local who="$1"; shift; exec env HOME="$WORK/$who" UNIBUS_URL="$URL" "$@"; }
no_escape() { ! grep -q $'\x1b' "$1"; }
mkdir -p "$WORK/alice" "$WORK/bob" "$WORK/eve"

t "keygen" 0 "" as alice "$U" keygen
ALICE="$OUT"
check "keygen prints an nkey" grep -Eqx 'U[A-Z2-7]{55}' <<<"$ALICE"
check "seed is private" [ "$(mode_of "$WORK/alice/.config/unibus/identity.seed")" = 600 ]
check "config dir is private" [ "$(mode_of "$WORK/alice/.config/unibus")" = 700 ]
t "keygen refuses to overwrite" 1 "never overwritten" as alice "$U" keygen
as bob "$U" keygen >/dev/null 2>&1
BOB=$(as bob "$U" keygen --out "$WORK/bob/second.seed" 2>/dev/null)
BOB_SEED="$WORK/bob/second.seed"
as eve "$U" keygen >/dev/null 2>&1
# The seeds this test used, for the log scan that runs last.
if [ -n "${UNIBUS_TEST_SECRETS_DIR:-}" ]; then
    cat "$WORK"/*/.config/unibus/identity.seed "$BOB_SEED" >"$UNIBUS_TEST_SECRETS_DIR/secrets-cli-$$.txt"
    SECRETS_FILE="$UNIBUS_TEST_SECRETS_DIR/secrets-cli-$$.txt"
fi
"$MD" user add alice "$ALICE" --data-dir "$D" >/dev/null
"$MD" user add bob "$BOB" --data-dir "$D" >/dev/null

t "whoami trusts on first use" 0 "trusting server key" as alice "$U" whoami
check "whoami names alice" grep -Eq "^alice $ALICE member\$" <<<"$OUT"
t "whoami the second time" 0 "" as alice "$U" whoami
check "no second first-use notice" lacks "$ERR" "trusting"
SERVER_KEY=$(grep -o 'server_key=U[A-Z2-7]*' "$LOG" | cut -d= -f2)
t "whoami with the pinned key" 0 "" as bob "$U" whoami --identity "$BOB_SEED" --server-key "$SERVER_KEY"
t "a wrong pinned key is refused" 1 "refusing" as bob "$U" whoami --identity "$BOB_SEED" --server-key "$ALICE"
t "an unknown identity is told" 1 "is it allowlisted, or revoked?" as eve "$U" whoami --server-key "$SERVER_KEY"
# A clock an hour fast (libfaketime; the sanitizers let it go first): told so.
t "a skewed clock is reported" 1 "clock skew: request time is" \
    env ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 FAKETIME_DONT_FAKE_MONOTONIC=1 \
    faketime -f '+1h' env HOME="$WORK/alice" UNIBUS_URL="$URL" "$U" whoami
check "the skew names the fix" contains "$ERR" "check the client clock"
t "no URL" 2 "no control plane URL" env HOME="$WORK/alice" UNIBUS_URL= "$U" whoami
t "http with a CA is refused" 2 "use https://" as alice "$U" whoami --ca /etc/hosts
t "a URL list with an empty item is refused" 2 "control URL 2 of the list is empty" \
    as alice "$U" whoami --url "$URL,,http://127.0.0.1:1"
t "a URL list mixing http and https is refused" 2 "mix http:// and https://" \
    as alice "$U" whoami --url "$URL,https://127.0.0.1:1"
t "a pinned key with a URL list is refused" 2 "a pinned server key names one node" \
    as bob "$U" whoami --identity "$BOB_SEED" --server-key "$SERVER_KEY" --url "$URL,http://127.0.0.1:1"
t "a URL list whose first node is down: the second answers" 0 "" as alice "$U" whoami --url "http://127.0.0.1:1,$URL"
t "a retry bound that is not a number is refused" 2 "give a whole number from 1 to 3600" \
    env UNIBUS_RETRY_SECONDS=soon HOME="$WORK/alice" UNIBUS_URL="$URL" "$U" whoami

t "room create" 0 "" as alice "$U" room create plans
ROOM="$OUT"
check "room create prints the id" grep -Eqx '[0-9a-f]{32}' <<<"$ROOM"
t "room create --no-sign warns" 0 "any member can impersonate" as alice "$U" room create fast --no-sign
t "room add by name" 0 "" as alice "$U" room add plans "$BOB"
t "room add twice" 1 "already a member" as alice "$U" room add plans "$BOB"
t "room add a bad key" 2 "not a public key" as alice "$U" room add plans nonsense
t "room add to an unknown room" 1 "no room nowhere" as alice "$U" room add nowhere "$BOB"
t "rooms for bob" 0 "" as bob "$U" rooms --identity "$BOB_SEED"
check "bob sees plans" grep -Eq "^$ROOM e2e +signed +epoch 1 +plans\$" <<<"$OUT"
check "bob does not see fast" lacks "$OUT" "fast"
t "room members, as a member" 0 "" as bob "$U" room members plans --identity "$BOB_SEED"
check "bob sees alice, the owner" grep -Eqx "$ALICE owner +alice" <<<"$OUT"
check "bob sees himself" grep -Eqx "$BOB - +bob" <<<"$OUT"
check "and nobody else" [ "$(wc -l <<<"$OUT")" = 2 ]
t "room members of a room not yours" 1 "no room fast" as bob "$U" room members fast --identity "$BOB_SEED"
t "room create cleartext on loopback" 0 "" as alice "$U" room create lobby --cleartext

# pub and sub: bob listens for two messages, alice sends them.
(as_bg bob "$U" sub plans --identity "$BOB_SEED" --count 2 >"$WORK/sub.out" 2>"$WORK/sub.err") &
SUB=$!
for _ in $(seq 100); do grep -q listening "$WORK/sub.err" 2>/dev/null && break; sleep 0.05; done
t "pub a message" 0 "" as alice "$U" pub plans "meet at noon"
printf 'from stdin\n\x1b[31mred\n' >"$WORK/msg"
t "pub stdin" 0 "" sh -c "HOME='$WORK/alice' UNIBUS_URL='$URL' '$U' pub plans <'$WORK/msg'"
for _ in $(seq 100); do [ "$(wc -l <"$WORK/sub.out")" -ge 3 ] && break; sleep 0.05; done
wait "$SUB"
check "sub exits after --count" [ $? -eq 0 ]
check "a normal --count exit says nothing of revocation" lacks "$(cat "$WORK/sub.err")" "revoked"
check "nor of a lost connection" lacks "$(cat "$WORK/sub.err")" "connection lost"
check "sub shows the sender and text" grep -Eq '^[0-9T:-]+Z alice: meet at noon$' "$WORK/sub.out"
check "sub shows stdin's text" grep -q 'alice: from stdin' "$WORK/sub.out"
check "control characters are neutralised" no_escape "$WORK/sub.out"
check "what bob received is recorded beside his seed, privately" [ "$(mode_of "$BOB_SEED.replay")" = 600 ]
(as_bg bob "$U" sub plans --identity "$BOB_SEED" --count 1 --json >"$WORK/sub.json" 2>"$WORK/sub2.err") &
SUB=$!
for _ in $(seq 100); do grep -q listening "$WORK/sub2.err" 2>/dev/null && break; sleep 0.05; done
as alice "$U" pub plans 'json "quoted"' >/dev/null 2>&1
wait "$SUB"
check "sub --json" grep -q '"sender":"alice"' "$WORK/sub.json"
check "sub --json escapes" grep -q '"text":"json \\"quoted\\""' "$WORK/sub.json"
# chat, driven through a pseudo-terminal (script(1)): it shows bob's line
# as it comes and sends what alice types.
mkfifo "$WORK/chat.in"
(as_bg alice script -qfec "'$U' chat plans" /dev/null <"$WORK/chat.in" >"$WORK/chat.out" 2>&1) &
CHAT=$!
exec 7>"$WORK/chat.in"
for _ in $(seq 100); do grep -q "type to talk" "$WORK/chat.out" 2>/dev/null && break; sleep 0.05; done
as bob "$U" pub plans "hi alice from bob" --identity "$BOB_SEED" >/dev/null 2>&1
for _ in $(seq 100); do grep -q "bob: hi alice from bob" "$WORK/chat.out" && break; sleep 0.05; done
check "chat shows what others send" grep -q "bob: hi alice from bob" "$WORK/chat.out"
# Started only now, so bob's own line above cannot be the one it counts.
(as_bg bob "$U" sub plans --identity "$BOB_SEED" --count 1 >"$WORK/chatsub.out" 2>"$WORK/chatsub.err") &
SUB=$!
for _ in $(seq 100); do grep -q listening "$WORK/chatsub.err" 2>/dev/null && break; sleep 0.05; done
echo "hello from chat" >&7
wait "$SUB"
check "chat sends what is typed" grep -q "alice: hello from chat" "$WORK/chatsub.out"
exec 7>&-
wait "$CHAT"
check "chat leaves on end of input" [ $? -eq 0 ]

# req and serve: bob's worker answers with a command's output.
(as_bg bob "$U" serve plans --identity "$BOB_SEED" -- tr a-z A-Z >/dev/null 2>"$WORK/serve.err") &
WORKER=$!
for _ in $(seq 100); do grep -q serving "$WORK/serve.err" 2>/dev/null && break; sleep 0.05; done
t "req gets the worker's answer" 0 "" as alice "$U" req plans "hello worker"
check "the answer is the command's output" [ "$OUT" = "HELLO WORKER" ]
kill "$WORKER"; wait "$WORKER"
check "serve stops cleanly on SIGTERM" [ $? -eq 0 ]
(as_bg bob "$U" serve plans --identity "$BOB_SEED" -- sh -c 'printf %s "$UNIBUS_REQUEST_ID"' >/dev/null 2>"$WORK/serve3.err") &
WORKER=$!
for _ in $(seq 100); do grep -q serving "$WORK/serve3.err" 2>/dev/null && break; sleep 0.05; done
t "the worker's command gets the request's id" 0 "" as alice "$U" req plans "which?"
check "the id is 64 hex characters" sh -c "printf %s '$OUT' | grep -Eqx '[0-9a-f]{64}'"
kill "$WORKER"; wait "$WORKER"
(as_bg bob "$U" serve plans --identity "$BOB_SEED" --timeout 1 -- sh -c 'exit 3' >/dev/null 2>"$WORK/serve2.err") &
WORKER=$!
for _ in $(seq 100); do grep -q serving "$WORK/serve2.err" 2>/dev/null && break; sleep 0.05; done
t "a failing command sends no answer" 1 "no answer" as alice "$U" req plans "x" --timeout 1
kill "$WORKER"; wait "$WORKER"
check "the worker says why" grep -q "no answer sent" "$WORK/serve2.err"
t "req with no worker" 1 "no worker answered" as alice "$U" req fast "anyone?" --timeout 1
t "serve needs a command" 2 "needs ROOM -- COMMAND" as bob "$U" serve plans --identity "$BOB_SEED"
# blobs: alice shares a file in plans; bob fetches it with the reference.
head -c 300000 /dev/urandom >"$WORK/file.bin"
t "blob put" 0 "" as alice "$U" blob put "$WORK/file.bin" --room plans
REF="$OUT"
[ -n "${SECRETS_FILE:-}" ] && echo "${REF##*:}" >>"$SECRETS_FILE"
check "blob put prints a reference" grep -Eqx 'blob:[0-9a-f]{32}:[0-9a-f]{64}:[A-Za-z0-9_-]{43}' <<<"$REF"
t "blob get" 0 "" as bob "$U" blob get "$REF" --out "$WORK/got.bin" --identity "$BOB_SEED"
check "the file comes back whole" cmp -s "$WORK/file.bin" "$WORK/got.bin"
check "the fetched file is private" [ "$(mode_of "$WORK/got.bin")" = 600 ]
t "blob get never overwrites" 2 "cannot create" as bob "$U" blob get "$REF" --out "$WORK/got.bin" --identity "$BOB_SEED"
t "blob put needs a room" 2 "needs --room" as alice "$U" blob put "$WORK/file.bin"
t "blob get of nonsense" 2 "not a blob reference" as bob "$U" blob get nonsense --out "$WORK/x" --identity "$BOB_SEED"
t "pub to a room one is not in" 1 "no room" as bob "$U" pub fast "x" --identity "$BOB_SEED"
t "sub --count 0" 2 "--count takes a positive number" as bob "$U" sub plans --count 0 --identity "$BOB_SEED"
# bob listens until revoked: then, and only then, he is told.
(as_bg bob "$U" sub plans --identity "$BOB_SEED" >/dev/null 2>"$WORK/revoked.err") &
LISTENER=$!
for _ in $(seq 100); do grep -q listening "$WORK/revoked.err" 2>/dev/null && break; sleep 0.05; done
t "room remove" 0 "" as alice "$U" room remove plans "$BOB"
t "a removed member cannot publish" 1 "no room" as bob "$U" pub plans "x" --identity "$BOB_SEED"

"$MD" user revoke bob --data-dir "$D" >/dev/null
for _ in $(seq 200); do grep -q revoked "$WORK/revoked.err" && break; sleep 0.05; done
check "a revoked listener is told" grep -q "revoked, or the server refused this identity" "$WORK/revoked.err"
kill "$LISTENER"; wait "$LISTENER"
t "a revoked identity is told" 1 "revoked" as bob "$U" rooms --identity "$BOB_SEED"
for cmd in "--help" "keygen --help" "whoami --help" "rooms --help" "room --help" "room create --help" \
           "room add --help" "room remove --help" "room members --help" "pub --help" "sub --help" "req --help" "serve --help" "blob --help" "blob put --help" "blob get --help" "chat --help"; do
    # shellcheck disable=SC2086
    t "unibus $cmd" 0 "" "$U" $cmd
done
t "unknown command" 2 "unknown command 'frob'" "$U" frob
finish
