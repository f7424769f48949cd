/*
 * What a client knows about each room it publishes to or listens on:
 * mode, current key epoch, members, and the keys it has unsealed (kept in
 * sodium_malloc'd memory, wiped on close).  Guarded by the client's
 * state_lock, which callers hold around every call here.
 */
#ifndef UNIBUS_ROOM_STATE_H
#define UNIBUS_ROOM_STATE_H

#include "client_internal.h"

#define ROOM_INFO_TTL_MS 1000 /* how stale the epoch and members may be */

/* The state of room (an id or a name), resolved through the control plane
 * the first time. */
unibus_status room_state_resolve(unibus_client *c, const char *room, room_state **out);
#define ROOM_MISS_REFRESH_MS 100 /* an unknown sender re-reads members at most this often */

/* Re-reads epoch and members when what is known is older than max_age_ms
 * (0: always). */
unibus_status room_state_refresh(unibus_client *c, room_state *rs, int max_age_ms);
/* Marks the room listened to for an envelope kind; false when it already
 * is.  One subscription per room and kind per client: the replay record
 * judges each (room, kind, sender, session) from one thread, whose
 * sequence NATS delivers in order (dev/message-envelope.md). */
bool room_state_listen(room_state *rs, int kind);
void room_state_unlisten(room_state *rs, int kind);

#define ROOM_EPOCH_PROBE_MS 250 /* a message of the next epoch re-reads the room at most this often */
/* Before judging a message of epoch: re-reads the room at once when epoch
 * is the next one (a rotation this client has not seen yet), unless such a
 * re-read found no new epoch less than ROOM_EPOCH_PROBE_MS ago; else when
 * what is known is older than ROOM_INFO_TTL_MS.  Any member can send such
 * messages without the key, and each re-read is a control-plane call: a
 * flood of them costs at most four a second per room, and an epoch further
 * ahead none (dev/message-envelope.md). */
unibus_status room_state_refresh_for(unibus_client *c, room_state *rs, uint32_t epoch);

/* The state of a room this client already tracks, else NULL. */
room_state *room_state_find(unibus_client *c, const char *room);
/* The key of an epoch, unsealed and cached. */
unibus_status room_state_key(unibus_client *c, room_state *rs, uint32_t epoch, uint8_t key[32]);
/* Learns a key this client made and uploaded for epoch: when it is the
 * current one, it is no longer pending. */
void room_state_keyed(room_state *rs, uint32_t epoch, const uint8_t key[32]);
/* The member's name when pk is an active member, else NULL. */
const char *room_state_member(const room_state *rs, const uint8_t pk[32]);
/* The member's nkey (pk as text) when pk is an active member, else NULL. */
const char *room_state_member_nkey(const room_state *rs, const uint8_t pk[32]);
/* The public key of the i-th active member, NULL past the last. */
const uint8_t *room_state_member_pk(const room_state *rs, size_t i);

const char *room_state_id(const room_state *rs);
const uint8_t *room_state_id_bin(const room_state *rs); /* the id's 16 bytes */
const char *room_state_subject(const room_state *rs);   /* unibus.room.<id>.msg */
bool room_state_e2e(const room_state *rs);
bool room_state_signed(const room_state *rs);
uint32_t room_state_epoch(const room_state *rs);
/* The current epoch has no key yet: the next member to send makes it
 * (rotation_current_key). */
bool room_state_key_pending(const room_state *rs);

/* The room key sealed to recipient, base64url (malloc'd), or NULL. */
char *room_key_sealed_b64(const uint8_t recipient[32], const uint8_t key[32]);

/* rotation.c: the key of the room's current epoch, made, sealed to every
 * member and uploaded first when that epoch has none yet
 * (dev/message-envelope.md, "Room keys"). */
unibus_status rotation_current_key(unibus_client *c, room_state *rs, uint8_t key[32]);

void room_states_free(room_state *list);

#endif
