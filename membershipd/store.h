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
    STORE_MISSING,  /* no database at the path and asked not to create one */
    STORE_TOO_NEW,  /* written by a newer membershipd */
    STORE_BUSY,     /* still locked by another process after the busy timeout */
    STORE_ERROR     /* anything else; store_errmsg() has SQLite's words */
} store_status;

typedef enum { STORE_OPEN_EXISTING, STORE_OPEN_CREATE } store_open_mode;

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
store_status store_user_get_by_key(store *s, const uint8_t public_key[BUSAUTH_KEY_BYTES],
                                   store_user *out);
/* Marks the user revoked; the row stays for the audit trail. */
store_status store_user_revoke(store *s, int64_t user_id, const store_actor *by);

/* Calls fn for each user in creation order; a non-zero return from fn
 * stops the walk and makes it return STORE_ERROR. */
typedef int (*store_user_fn)(const store_user *user, void *ctx);
store_status store_user_foreach(store *s, store_user_fn fn, void *ctx);

int64_t store_now_ms(void);

#endif
