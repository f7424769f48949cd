/*
 * What this identity has received lately, so that no envelope is taken
 * twice: the highest sequence seen per (room, kind, request answered,
 * sender, session), kept while the
 * session's newest sender time is inside the replay window, in memory and
 * in an append-only file that every process of the identity shares
 * (dev/message-envelope.md, "Replays").  Admits from one thread at a time
 * (the client's state_lock guards it).
 */
#ifndef UNIBUS_REPLAY_STORE_H
#define UNIBUS_REPLAY_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "unibus.h"

#define REPLAY_WINDOW_MS 30000 /* how old a message may be, by the sender's clock */
#define REPLAY_SKEW_MS 5000    /* how far ahead of ours the sender's clock may be */
#define REPLAY_MAX_SESSIONS (1u << 17) /* live sessions held; past that, new ones are refused */
#define REPLAY_ROOM_MAX_SESSIONS (REPLAY_MAX_SESSIONS / 8) /* of which one room may hold */

/* What a sequence is judged within.  Nothing learnt about one room, kind
 * or request judges another: a member of one room cannot silence a sender
 * elsewhere, and each subscription sees its own rising sequence. */
typedef struct {
    uint8_t room[16];    /* the room id's bytes (it is 32 hex digits) */
    uint8_t kind;        /* envelope_kind */
    uint8_t answers[32]; /* the request a reply answers; zeros otherwise */
    uint8_t sender[32];
    uint8_t session[16];
} replay_key;

typedef struct replay_store replay_store;

/* Opens (creating, 0600) the record at path, takes in what every process
 * of the identity wrote there that is still inside the window, and
 * rewrites the file with just that.  path must be a file of ours, mode
 * 0600, in a directory no one else can write.  On failure *why says so. */
unibus_status replay_store_open(const char *path, int64_t now_ms, replay_store **out, char *why, size_t why_len);

/* The verdict on an authentic envelope: UNIBUS_ERR_STALE when time_ms is
 * outside [now - REPLAY_WINDOW_MS, now + REPLAY_SKEW_MS];
 * UNIBUS_ERR_REPLAY when the sequence is not above the highest seen in
 * that key; UNIBUS_ERR_RATE_LIMITED when this is a new key and
 * REPLAY_MAX_SESSIONS keys, or REPLAY_ROOM_MAX_SESSIONS of its room, are
 * live; else UNIBUS_OK, the message remembered and queued for the file, which a thread of the store appends to within
 * 10 ms (no fsync). */
unibus_status replay_store_admit(replay_store *s, const replay_key *key, uint64_t sequence, uint64_t time_ms,
                                 int64_t now_ms);

/* Writes what is queued and frees; NULL is accepted. */
void replay_store_close(replay_store *s);

#endif
