/*
 * The membership store: one SQLite database (WAL, synchronous=FULL, foreign
 * keys on) holding users, rooms, members, sealed room keys, blobs and the
 * audit log.  A store handle belongs to one thread at a time; several
 * processes may open the same file (WAL + busy timeout).
 *
 * Every call that changes state writes its audit entry in the same
 * transaction: a change is never without its audit line, nor the reverse.
 */
#ifndef MEMBERSHIPD_STORE_H
#define MEMBERSHIPD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>
#include "busauth/nkey.h"

#define STORE_USER_NAME_MAX 64
#define STORE_BUSY_TIMEOUT_MS 5000

typedef struct store store;

typedef enum {
    STORE_OK = 0,
    STORE_NOT_FOUND,
    STORE_DUPLICATE_NAME,
    STORE_DUPLICATE_KEY,
    STORE_INVALID_NAME,
    STORE_ALREADY_REVOKED,
    STORE_CONFLICT, /* the state does not allow it (wrong epoch, key exists, not a member) */
    STORE_MISSING,  /* no database at the path and asked not to create one */
    STORE_TOO_NEW,  /* written by a newer membershipd */
    STORE_BUSY,     /* still locked by another process after the busy timeout */
    STORE_NO_QUORUM, /* the bus log cannot take the change now (store_log.h) */
    STORE_STALE,    /* the log moved past the state a change was made on: make it again */
    STORE_QUOTA,    /* the user reached a bound the caller gave (store_room_create) */
    STORE_ERROR     /* anything else; store_errmsg() has SQLite's words */
} store_status;

/* STORE_OPEN_READONLY: an existing, up-to-date database, never written
 * (membershipd audit and backup beside a running server). */
typedef enum { STORE_OPEN_EXISTING, STORE_OPEN_CREATE, STORE_OPEN_READONLY } store_open_mode;

typedef enum { STORE_ROLE_MEMBER, STORE_ROLE_ADMIN } store_role;

typedef struct {
    int64_t id;
    char name[STORE_USER_NAME_MAX + 1];
    uint8_t public_key[BUSAUTH_KEY_BYTES];
    store_role role;
    int64_t created_ms;
    int64_t revoked_ms; /* 0 while active */
} store_user;

/* Who did it, for the audit log.  peer_ip and request_id may be NULL. */
typedef struct {
    const char *actor;
    const char *peer_ip;
    const char *request_id;
} store_actor;

/* Explains in why (one line, with the fix) when path, a file or a
 * directory, cannot be written: a read-only file system or permissions.
 * Returns false when it can be. */
bool store_path_unwritable(const char *path, char *why, size_t len);
/* Explains in why (one line, with the chown fix) when owner, the owner of
 * path (what it is: "database", "TLS key"...), is not this process's
 * effective user: whoever owns a file may have written it, whatever its
 * mode, and root is no exception.  Returns false when it is. */
bool store_owner_problem(const char *what, const char *path, uid_t owner, char *why, size_t len);
/* 0 when the database at path is a regular file this user owns and alone
 * may reach, 1 when there is none, -1 (with one line in why) otherwise. */
int store_file_problem(const char *path, char *why, size_t len);

/* Opens (and with STORE_OPEN_CREATE creates, mode 0600) the database and
 * brings its schema up to date.  On failure err holds one line. */
store_status store_open(const char *path, store_open_mode mode, store **out,
                        char *err, size_t errlen);
/* NULL is accepted. */
void store_close(store *s);
/* SQLite's message for the last STORE_ERROR or STORE_BUSY; never NULL. */
const char *store_errmsg(const store *s);
int store_schema_version(store *s);

/* Letters, digits, '.', '_' and '-', starting with a letter or digit, at
 * most STORE_USER_NAME_MAX bytes, and never something that reads as a key
 * (an nkey of any kind, seeds included, or 64 hex characters). */
bool store_user_name_valid(const char *name);
const char *store_role_name(store_role role);

store_status store_user_add(store *s, const char *name,
                            const uint8_t public_key[BUSAUTH_KEY_BYTES],
                            store_role role, const store_actor *by);
store_status store_user_get_by_name(store *s, const char *name, store_user *out);
store_status store_user_get_by_id(store *s, int64_t id, store_user *out);
store_status store_user_get_by_key(store *s, const uint8_t public_key[BUSAUTH_KEY_BYTES],
                                   store_user *out);
/* Marks the user revoked (the row stays for the audit trail) and removes
 * it from every room, each moving to a new key epoch; *rooms (may be
 * NULL) says how many.  Revoking a revoked user still removes it from any
 * room it was left in (revocation used to leave it there), and is
 * STORE_ALREADY_REVOKED when there was none. */
store_status store_user_revoke(store *s, int64_t user_id, const store_actor *by, size_t *rooms);

/* Calls fn for each user in creation order; a non-zero return from fn
 * stops the walk and makes it return STORE_ERROR. */
typedef int (*store_user_fn)(const store_user *user, void *ctx);
store_status store_user_foreach(store *s, store_user_fn fn, void *ctx);

/* Appends an audit entry: in the caller's transaction when one is open
 * (every change), on its own otherwise (a denied request).  Anything in
 * target shaped like a seed or a secret key is redacted first. */
store_status store_audit_append(store *s, const store_actor *by, const char *action,
                                const char *target, const char *outcome);

/* One audit_log row; peer_ip and request_id may be NULL. */
typedef struct {
    int64_t id;
    int64_t at_ms;
    const char *actor, *action, *target, *outcome, *peer_ip, *request_id;
} store_audit_entry;

/* Which entries to walk: all fields 0/NULL for the whole log. */
typedef struct {
    int64_t after_id;  /* only ids above this */
    int64_t since_ms;  /* only entries at or after this time */
    const char *actor; /* only this actor */
} store_audit_filter;

/* Calls fn for each matching entry, oldest (lowest id) first; the entry is
 * valid during the call only.  A non-zero return from fn stops the walk
 * and makes it return STORE_ERROR. */
typedef int (*store_audit_fn)(const store_audit_entry *entry, void *ctx);
store_status store_audit_foreach(store *s, const store_audit_filter *filter, store_audit_fn fn, void *ctx);
/* The highest audit id so far (0 for an empty log). */
store_status store_audit_last_id(store *s, int64_t *id);

/* --- backup -------------------------------------------------------------- */

/* Copies the database, consistent as of one moment, to a new file at path
 * (mode 0600, never replacing one) with SQLite's online backup API, while
 * other processes go on writing.  The copy is one self-contained file
 * (rollback journal mode, no -wal).  On failure err holds one line. */
store_status store_backup_to(store *s, const char *path, char *err, size_t errlen);
/* Opens the database file at path read-only and runs PRAGMA
 * integrity_check; fills *schema_version.  On failure err holds one line
 * (SQLite's first complaint, or a schema newer than this membershipd). */
store_status store_file_verify(const char *path, int *schema_version, char *err, size_t errlen);

/* --- rooms --------------------------------------------------------------- */

#define STORE_ROOM_ID_LEN 32   /* lowercase hex of 16 random bytes */
#define STORE_ROOM_NAME_MAX 128
#define STORE_SEALED_KEY_MIN 49 /* crypto_box_SEALBYTES + at least one byte */
#define STORE_SEALED_KEY_MAX 1024

typedef enum { STORE_ROOM_E2E, STORE_ROOM_CLEARTEXT } store_room_mode;

typedef struct {
    char id[STORE_ROOM_ID_LEN + 1];
    char name[STORE_ROOM_NAME_MAX + 1];
    store_room_mode mode;
    bool signed_messages;
    int64_t key_epoch;
    int64_t owner_id;
    int64_t created_ms;
    bool key_pending; /* e2e, and the current epoch has no key yet */
} store_room;

/* A sealed room key for one member: opaque bytes the server never opens. */
typedef struct {
    int64_t user_id;
    const uint8_t *sealed;
    size_t sealed_len;
} store_sealed_key;

bool store_room_id_valid(const char *id);
const char *store_room_mode_name(store_room_mode mode);

/* Creates a room owned by owner_id, who becomes its first member; an e2e
 * room takes the owner's sealed key for epoch 1, a cleartext room none.
 * STORE_QUOTA, nothing created, when owner_id owns max_owned rooms
 * already (0: no bound); counted in the change's own transaction. */
store_status store_room_create(store *s, const char *name, store_room_mode mode, bool signed_messages,
                               int64_t owner_id, unsigned max_owned, const uint8_t *sealed, size_t sealed_len,
                               const store_actor *by, store_room *out);
store_status store_room_get(store *s, const char *room_id, store_room *out);
store_status store_room_is_member(store *s, const char *room_id, int64_t user_id, bool *member);
/* Rooms user_id belongs to, oldest first. */
typedef int (*store_room_fn)(const store_room *room, void *ctx);
store_status store_room_foreach_of_user(store *s, int64_t user_id, store_room_fn fn, void *ctx);
/* Members of a room, in the order they joined. */
store_status store_room_foreach_member(store *s, const char *room_id, store_user_fn fn, void *ctx);
/* Adds a member with its sealed key for the current epoch (NULL for a
 * cleartext room).  STORE_DUPLICATE_KEY when already a member;
 * STORE_CONFLICT while the current epoch has no key yet, or when epoch
 * (0: not checked) is not the current one. */
store_status store_room_add_member(store *s, const char *room_id, const store_sealed_key *key, int64_t epoch,
                                   const store_actor *by);
/* Removes a member and opens the next key epoch, returned in *new_epoch;
 * the epoch has no key until a member uploads one (store_room_put_keys). */
store_status store_room_remove_member(store *s, const char *room_id, int64_t user_id,
                                      const store_actor *by, int64_t *new_epoch);
/* Keys the room's current epoch: one sealed key for each active member,
 * all or none, once.  STORE_CONFLICT when epoch is not the current one,
 * the epoch has its keys already (keys are never replaced), or the keys
 * are not for exactly the active members. */
store_status store_room_put_keys(store *s, const char *room_id, int64_t epoch,
                                 const store_sealed_key *keys, size_t n, const store_actor *by);
/* The caller's sealed key for an epoch, copied into out (cap bytes). */
store_status store_room_get_key(store *s, const char *room_id, int64_t epoch, int64_t user_id,
                                uint8_t *out, size_t cap, size_t *len);
/* True when a and b are both members of at least one room. */
store_status store_users_share_room(store *s, int64_t a, int64_t b, bool *share);

/* --- the data plane's view -------------------------------------------------- */

/* Changes whenever another connection commits (PRAGMA data_version). */
int64_t store_data_version(store *s);
/* Every active user with each room it belongs to, ordered by user: fn is
 * called once per (user, room), and once with room_id NULL for a user in
 * no room. */
typedef int (*store_member_fn)(const uint8_t public_key[BUSAUTH_KEY_BYTES], const char *room_id, void *ctx);
store_status store_active_memberships(store *s, store_member_fn fn, void *ctx);

/* --- blobs --------------------------------------------------------------- */

/* Blobs belong to a room: readable by its members only.  Content is kept
 * in chunks of STORE_BLOB_CHUNK bytes, so a reader holds one at a time. */
#define STORE_BLOB_CHUNK 65536

typedef enum { STORE_BLOB_CREATED, STORE_BLOB_EXISTED, STORE_BLOB_OVER_QUOTA } store_blob_outcome;

/* Stores content under its SHA-256 (which the caller has verified) for
 * owner_id, unless the blobs that user already stores (each counted once
 * per room) plus len would pass quota bytes: then nothing is stored.  A
 * blob already in the room is left as it is (and charged nothing). */
store_status store_blob_put(store *s, const char *room_id, const uint8_t sha256[32], const uint8_t *content,
                            size_t len, int64_t owner_id, uint64_t quota, const store_actor *by,
                            store_blob_outcome *outcome);
/* The size of a blob in the room; STORE_NOT_FOUND when there is none. */
store_status store_blob_size(store *s, const char *room_id, const uint8_t sha256[32], uint64_t *size);
/* Copies up to cap bytes of the blob from offset on into buf, never past
 * the end of the chunk holding offset: *n says how many (0 at the end).
 * STORE_NOT_FOUND once the blob is gone (its room was deleted). */
store_status store_blob_read(store *s, const char *room_id, const uint8_t sha256[32], uint64_t offset,
                             uint8_t *buf, size_t cap, size_t *n);

int64_t store_now_ms(void);

/* A time no signed request accepted so far is later than
 * (dev/signed-requests.md, "Restarts"), and raising it to time_ms (never
 * lowering it), durably before returning. */
store_status store_request_floor_get(store *s, int64_t *time_ms);
store_status store_request_floor_raise(store *s, int64_t time_ms);

#endif
