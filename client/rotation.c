/* Key epochs: keying a new epoch when a member has gone, and removing
 * members.  Whoever removes a member and stays in the room keys the new
 * epoch at once; when nobody did (a member left, an admin outside the
 * room removed one, a user was revoked, or the upload failed), the next
 * member to send keys it.  The server takes one upload per epoch, for
 * exactly its members: of two members racing, the first wins and the
 * second re-reads the room and uses the winner's key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "room_state.h"

#define ROTATION_ATTEMPTS 3 /* a room whose members change faster than this is left to the caller */

/* {"epoch": N, "keys": {nkey: sealed, ...}} for every member as last read. */
static json_t *sealed_keys(unibus_client *c, room_state *rs, const uint8_t key[32])
{
    json_t *keys = json_object();
    const uint8_t *pk;
    for (size_t i = 0; (pk = room_state_member_pk(rs, i)) != NULL; i++) {
        char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1], *sealed = room_key_sealed_b64(pk, key);
        busauth_nkey_encode_public(pk, nkey);
        if (!sealed) {
            json_decref(keys);
            client_fail(c, UNIBUS_ERR_CRYPTO, "cannot seal the new key of room %s to member %s", room_state_id(rs),
                        nkey);
            return NULL;
        }
        json_object_set_new(keys, nkey, json_string(sealed));
        free(sealed);
    }
    return json_pack("{s:I, s:o}", "epoch", (json_int_t)room_state_epoch(rs), "keys", keys);
}

/* Makes a key for the current epoch, seals it to every member and
 * uploads it; key is wiped unless the upload was taken. */
static unibus_status upload_new_key(unibus_client *c, room_state *rs, uint8_t key[32])
{
    randombytes_buf(key, 32);
    json_t *req = sealed_keys(c, rs, key);
    char *text = req ? json_dumps(req, JSON_COMPACT) : NULL, target[96];
    json_decref(req);
    snprintf(target, sizeof target, "/v1/rooms/%s/keys", room_state_id(rs));
    json_t *body = NULL;
    unibus_status s = text ? client_call(c, "PUT", target, text, &body) : UNIBUS_ERR_CRYPTO;
    s = client_answer_about(c, s, body, "room", room_state_id(rs), "room");
    if (s == UNIBUS_OK && json_integer_value(json_object_get(body, "epoch")) != room_state_epoch(rs))
        s = client_fail(c, UNIBUS_ERR_PROTOCOL, "the server stored the keys of another epoch than %u: refusing the answer",
                        room_state_epoch(rs));
    if (s == UNIBUS_OK)
        room_state_keyed(rs, room_state_epoch(rs), key);
    else
        sodium_memzero(key, 32);
    free(text);
    json_decref(body);
    return s;
}

unibus_status rotation_current_key(unibus_client *c, room_state *rs, uint8_t key[32])
{
    unibus_status s = UNIBUS_OK;
    for (int attempt = 0; s == UNIBUS_OK && attempt < ROTATION_ATTEMPTS; attempt++) {
        if (!room_state_key_pending(rs))
            return room_state_key(c, rs, room_state_epoch(rs), key);
        s = upload_new_key(c, rs, key);
        if (s != UNIBUS_ERR_CONFLICT)
            return s;
        /* Another member keyed the epoch first, or the members changed. */
        s = room_state_refresh(c, rs, 0);
    }
    return s == UNIBUS_OK ? client_fail(c, UNIBUS_ERR_CONFLICT,
                                        "the members of room %s changed %d times while it was being keyed; try again",
                                        room_state_id(rs), ROTATION_ATTEMPTS)
                          : s;
}

/* The remover keys the new epoch when it is still a member: the removed
 * member is cut off by the key at once, not at the next message. */
static unibus_status key_after_removal(unibus_client *c, room_state *rs)
{
    if (room_state_refresh(c, rs, 0) != UNIBUS_OK || !room_state_e2e(rs) ||
        !room_state_member(rs, busauth_identity_public_key(c->id)))
        return UNIBUS_OK; /* gone, or not in the room: the next member keys it */
    uint8_t key[32];
    unibus_status s = rotation_current_key(c, rs, key);
    sodium_memzero(key, sizeof key);
    return s;
}

unibus_status unibus_room_remove(unibus_client *c, const char *room, const char *nkey)
{
    uint8_t pk[32];
    if (!room || !nkey || busauth_nkey_decode_public(nkey, pk) != BUSAUTH_OK)
        return client_fail(c, UNIBUS_ERR_INVALID_ARG, "remove needs a room and a user nkey (U...)");
    pthread_mutex_lock(&c->state_lock);
    room_state *rs;
    unibus_status s = room_state_resolve(c, room, &rs);
    char target[160];
    json_t *removal = NULL;
    if (s == UNIBUS_OK) {
        snprintf(target, sizeof target, "/v1/rooms/%s/members/%s", room_state_id(rs), nkey);
        s = client_call(c, "DELETE", target, NULL, &removal);
        s = client_answer_about(c, s, removal, "room", room_state_id(rs), "room");
    }
    if (s == UNIBUS_OK)
        s = key_after_removal(c, rs);
    pthread_mutex_unlock(&c->state_lock);
    json_decref(removal);
    return s;
}
