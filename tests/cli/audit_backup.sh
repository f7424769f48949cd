#!/bin/bash
# membershipd audit, backup and restore as an operator runs them, without a
# server (the integration tests run them beside one).
# usage: audit_backup.sh MEMBERSHIPD
. "$(dirname "$0")/lib.sh"
D="$WORK/data"
ME="local:$(id -un)"

newkey() { "$M" keygen --out "$WORK/$1.seed" 2>/dev/null | awk '$1 == "nkey" {print $2}'; }
ALICE=$(newkey alice)
BOB=$(newkey bob)
SEED=$(cat "$WORK/alice.seed")
"$M" user add alice "$ALICE" --data-dir "$D" >/dev/null
"$M" user add bob "$BOB" --admin --data-dir "$D" >/dev/null
"$M" user revoke bob --data-dir "$D" >/dev/null

# --- audit: text, JSON, filters
t "audit lists the log" 0 "" "$M" audit --data-dir "$D"
check "three lines" [ "$(printf '%s\n' "$OUT" | wc -l)" = 3 ]
check "oldest first, key=value" contains "$(printf '%s\n' "$OUT" | head -1)" \
    "id=1 at=20"
check "text line fields" contains "$OUT" "actor=$ME action=user.add_admin target=user:bob outcome=ok peer_ip=- request_id=-"
t "audit --json" 0 "" "$M" audit --json --data-dir "$D"
check "JSON document with a version" contains "$OUT" '{"version": 1, "entries": ['
check "JSON entry" contains "$OUT" '"actor":"'"$ME"'","action":"user.revoke","target":"user:bob","outcome":"ok","peer_ip":null,"request_id":null}'
t "--actor local" 0 "" "$M" audit --actor "$ME" --data-dir "$D"
check "all three by the local admin" [ "$(printf '%s\n' "$OUT" | grep -c "actor=$ME")" = 3 ]
t "--actor a user's nkey" 0 "" "$M" audit --actor "$ALICE" --data-dir "$D"
check "alice did nothing" [ -z "$OUT" ]
t "--actor anonymous" 0 "" "$M" audit --actor anonymous --json --data-dir "$D"
check "empty document" [ "$OUT" = '{"version": 1, "entries": []}' ]
t "--since 7d" 0 "" "$M" audit --since 7d --data-dir "$D"
check "all recent" [ "$(printf '%s\n' "$OUT" | wc -l)" = 3 ]
t "--since a future time" 0 "" "$M" audit --since 2099-01-01T00:00:00Z --data-dir "$D"
check "nothing after 2099" [ -z "$OUT" ]
t "--since 2000 (RFC 3339)" 0 "" "$M" audit --since 2000-01-01T00:00:00Z --data-dir "$D"
check "all since 2000" [ "$(printf '%s\n' "$OUT" | wc -l)" = 3 ]
for bad in 5x 15 -3h 2026-11-23 2026-11-23T10:00:00+02:00 2026-11-23T10:00:00; do
    t "--since $bad refused" 2 "expected a UTC time such as 2026-11-23T10:00:00Z or a duration" \
        "$M" audit --since "$bad" --data-dir "$D"
done
t "--actor a seed refused" 2 "secret seed" "$M" audit --actor "$SEED" --data-dir "$D"
check "the seed is not echoed" lacks "$ERR$OUT" "$SEED"
t "--actor garbage refused" 2 "invalid public key" "$M" audit --actor nobody --data-dir "$D"
t "no data dir" 1 "no data directory" "$M" audit --data-dir "$WORK/none"

# --- audit never writes: it reads a database nobody may write
SUM=$(sha256sum < "$D/membership.db")
chmod 400 "$D/membership.db"
t "audit on a read-only database" 0 "" "$M" audit --data-dir "$D"
chmod 600 "$D/membership.db"
check "database unchanged" [ "$(sha256sum < "$D/membership.db")" = "$SUM" ]

# --- backup: needs the server identity, a new directory
t "backup without --to" 2 "add --to DIR" "$M" backup --data-dir "$D"
t "backup before the server ever ran" 1 "start membershipd serve on this data directory once" \
    "$M" backup --to "$WORK/b0" --data-dir "$D"
check "nothing made" [ ! -e "$WORK/b0" ]
"$M" keygen --out "$D/server.seed" >/dev/null 2>&1
t "backup" 0 "" "$M" backup --to "$WORK/b1/nested" --data-dir "$D"
SCHEMA=$("$M" version | grep -o 'schema [0-9]*')
check "says where, the schema this build writes, and the server key" contains "$OUT" \
    "backup written to $WORK/b1/nested: $SCHEMA, server key U"
check "backup dir 0700" [ "$(mode_of "$WORK/b1/nested")" = 700 ]
for f in membership.db server.seed backup.json; do
    check "$f is 0600" [ "$(mode_of "$WORK/b1/nested/$f")" = 600 ]
done
check "no -wal beside the copy" [ ! -e "$WORK/b1/nested/membership.db-wal" ]
check "the seed is the data dir's" cmp -s "$D/server.seed" "$WORK/b1/nested/server.seed"
t "backup into a non-empty dir" 1 "is not empty" "$M" backup --to "$WORK/b1/nested" --data-dir "$D"
mkdir -m 755 "$WORK/open"
t "backup into a dir others can read" 1 "chmod 700" "$M" backup --to "$WORK/open" --data-dir "$D"
chmod 644 "$D/server.seed"
t "backup refuses an exposed seed" 1 "chmod 600" "$M" backup --to "$WORK/b2" --data-dir "$D"
chmod 600 "$D/server.seed"
# Finding 7 (issue 11): a target another user owns or may write is theirs
# to swap files in.  Needs root to give a directory away; ctest runs as root.
if [ "$(id -u)" = 0 ]; then
    mkdir -m 700 "$WORK/theirs"
    chown 65534 "$WORK/theirs"
    t "backup into a dir another user owns" 1 "chown -R $(id -u) $WORK/theirs" \
        "$M" backup --to "$WORK/theirs" --data-dir "$D"
    check "nothing written into it" [ -z "$(ls -A "$WORK/theirs")" ]
    mkdir -m 777 "$WORK/shared"
    t "backup under a dir others may write" 1 "chmod go-w $WORK/shared" \
        "$M" backup --to "$WORK/shared/b" --data-dir "$D"
    check "nothing made there" [ ! -e "$WORK/shared/b" ]
fi

# --- restore: checked before anything is installed
B="$WORK/b1/nested"
t "restore without --from" 2 "add --from DIR" "$M" restore --data-dir "$WORK/r0"
t "restore" 0 "" "$M" restore --from "$B" --data-dir "$WORK/r1"
check "says the server key" contains "$OUT" "into $WORK/r1: server key U"
check "restored dir 0700" [ "$(mode_of "$WORK/r1")" = 700 ]
check "restored database 0600" [ "$(mode_of "$WORK/r1/membership.db")" = 600 ]
check "restored seed 0600" [ "$(mode_of "$WORK/r1/server.seed")" = 600 ]
check "same server seed" cmp -s "$D/server.seed" "$WORK/r1/server.seed"
check "says the restored server refuses earlier requests" contains "$OUT" "refuses every request signed before now"
check "says never beside the original" contains "$OUT" "never run it beside the original"
t "restored audit log" 0 "" "$M" audit --data-dir "$WORK/r1"
check "same entries" [ "$(printf '%s\n' "$OUT" | wc -l)" = 3 ]
t "restore over a non-empty dir" 1 "is not empty" "$M" restore --from "$B" --data-dir "$WORK/r1"
t "restore from a data dir" 1 "not a backup manifest" "$M" restore --from "$D" --data-dir "$WORK/r2"
check "nothing made" [ ! -e "$WORK/r2" ]

cp -a "$B" "$WORK/tampered"
printf 'X' | dd of="$WORK/tampered/membership.db" bs=1 seek=3000 conv=notrunc 2>/dev/null
t "restore a changed database" 1 "does not match its manifest's SHA-256" \
    "$M" restore --from "$WORK/tampered" --data-dir "$WORK/r3"
check "nothing made" [ ! -e "$WORK/r3" ]

# Damage the manifest cannot see (its hash made to match): integrity_check must.
cp -a "$B" "$WORK/corrupt"
PAGE=$(( $(stat -c %s "$B/membership.db") / 4096 - 1 ))
dd if=/dev/zero of="$WORK/corrupt/membership.db" bs=4096 seek="$PAGE" count=1 conv=notrunc 2>/dev/null
NEWSUM=$(sha256sum "$WORK/corrupt/membership.db" | cut -d' ' -f1)
sed -i "s/\"database_sha256\": \"[0-9a-f]*\"/\"database_sha256\": \"$NEWSUM\"/" "$WORK/corrupt/backup.json"
t "restore a damaged database" 1 "membership.db fails PRAGMA integrity_check" \
    "$M" restore --from "$WORK/corrupt" --data-dir "$WORK/r4"
check "nothing made" [ ! -e "$WORK/r4" ]

cp -a "$B" "$WORK/mixed"
rm "$WORK/mixed/server.seed"
"$M" keygen --out "$WORK/mixed/server.seed" >/dev/null 2>&1
t "restore with another server's seed" 1 "the files come from different backups" \
    "$M" restore --from "$WORK/mixed" --data-dir "$WORK/r5"
check "nothing made" [ ! -e "$WORK/r5" ]

# Finding 7: a backup another user owns or may write could hold their
# database and manifest beside the genuine seed.  Needs root; ctest runs as root.
if [ "$(id -u)" = 0 ]; then
    cp -a "$B" "$WORK/given"
    chown -R 65534 "$WORK/given"
    t "restore from a backup another user owns" 1 "chown -R $(id -u) $WORK/given" \
        "$M" restore --from "$WORK/given" --data-dir "$WORK/r6"
    check "nothing made" [ ! -e "$WORK/r6" ]
    chown "$(id -u)" "$WORK/given" "$WORK/given/server.seed" "$WORK/given/backup.json"
    t "restore a database another user owns" 1 "$WORK/given/membership.db is owned by uid 65534" \
        "$M" restore --from "$WORK/given" --data-dir "$WORK/r6"
    check "nothing made" [ ! -e "$WORK/r6" ]
    chown "$(id -u)" "$WORK/given/membership.db"
    chmod 620 "$WORK/given/backup.json"
    t "restore a manifest others may write" 1 "chmod 600 $WORK/given/backup.json" \
        "$M" restore --from "$WORK/given" --data-dir "$WORK/r6"
    chmod 600 "$WORK/given/backup.json"
    t "restore once the owner is right" 0 "" "$M" restore --from "$WORK/given" --data-dir "$WORK/r6"
fi

finish
