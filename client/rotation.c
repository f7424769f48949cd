/* Removing a member, and the key epoch that follows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "busauth/sealing.h"
#include "room_state.h"

#define SEALED_LEN (32 + BUSAUTH_SEAL_OVERHEAD)

/* {"epoch": N, "keys": {nkey: sealed, ...}} for every remaining member. */
static json_t *sealed_keys(unibus_client *c, json_t *members, uint32_t epoch, const uint8_t key[32])
{
    json_t *keys = json_object();
    size_t i;
    json_t *m;
    json_array_foreach(members, i, m) {
        const char *nkey = json_string_value(m);
        uint8_t pk[32], sealed[SEALED_LEN];
        char text[sodium_base64_ENCODED_LEN(SEALED_LEN, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
        if (!nkey || busauth_nkey_decode_public(nkey, pk) != BUSAUTH_OK ||
            busauth_seal_to(pk, key, 32, sealed) != BUSAUTH_OK) {
            client_fail(c, UNIBUS_ERR_PROTOCOL, "cannot seal the new key to member %s", nkey ? nkey : "?");
            json_decref(keys);
            return NULL;
        }
        sodium_bin2base64(text, sizeof text, sealed, sizeof sealed, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        json_object_set_new(keys, nkey, json_string(text));
    }
    return json_pack("{s:I, s:o}", "epoch", (json_int_t)epoch, "keys", keys);
}

static unibus_status upload_new_key(unibus_client *c, room_state *rs, json_t *removal)
{
    json_int_t epoch = json_integer_value(json_object_get(removal, "key_epoch"));
    if (epoch < 2 || epoch > UINT32_MAX)
        return client_fail(c, UNIBUS_ERR_PROTOCOL, "member removal did not open a new key epoch");
    uint8_t key[32];
    randombytes_buf(key, sizeof key);
    json_t *req = sealed_keys(c, json_object_get(removal, "members"), (uint32_t)epoch, key);
    char *text = req ? json_dumps(req, JSON_COMPACT) : NULL, target[96];
    json_decref(req);
    snprintf(target, sizeof target, "/v1/rooms/%s/keys", room_state_id(rs));
    json_t *body = NULL;
    unibus_status s = text ? client_call(c, "PUT", target, text, &body) : UNIBUS_ERR_PROTOCOL;
    if (s == UNIBUS_OK) {
        room_state_add_key(rs, (uint32_t)epoch, key);
        room_state_set_epoch(rs, (uint32_t)epoch);
    }
    sodium_memzero(key, sizeof key);
    free(text);
    json_decref(body);
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
    }
    bool leaving = memcmp(pk, busauth_identity_public_key(c->id), 32) == 0;
    if (s == UNIBUS_OK && room_state_e2e(rs) && !leaving)
        s = upload_new_key(c, rs, removal);
    if (s == UNIBUS_OK)
        room_state_refresh(c, rs, 0);
    pthread_mutex_unlock(&c->state_lock);
    json_decref(removal);
    return s;
}
