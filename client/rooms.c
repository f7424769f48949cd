/* Rooms: listing, creating (with the first key), adding members (sealing the key to them). */
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "busauth/sealing.h"
#include "envelope.h"
#include "room_state.h"

#define SEALED_KEY_LEN (ENVELOPE_KEY_LEN + BUSAUTH_SEAL_OVERHEAD)

static void room_from_json(const json_t *j, unibus_room *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", json_string_value(json_object_get(j, "id")));
    snprintf(out->name, sizeof out->name, "%s", json_string_value(json_object_get(j, "name")));
    const char *mode = json_string_value(json_object_get(j, "mode"));
    out->e2e = !mode || strcmp(mode, "cleartext") != 0;
    out->sign = json_is_true(json_object_get(j, "sign"));
    out->epoch = (uint32_t)json_integer_value(json_object_get(j, "key_epoch"));
}

static bool room_json_valid(const json_t *j)
{
    const char *id = json_string_value(json_object_get(j, "id"));
    return id && strlen(id) == ENVELOPE_ROOM_ID_LEN && json_string_value(json_object_get(j, "name")) &&
           json_integer_value(json_object_get(j, "key_epoch")) >= 1;
}

/* GET /v1/rooms: the list, every entry checked; NULL with a status. */
static unibus_status rooms_json(unibus_client *c, json_t **body, json_t **list)
{
    *body = NULL;
    unibus_status s = client_call(c, "GET", "/v1/rooms", NULL, body);
    *list = json_object_get(*body, "rooms");
    if (s == UNIBUS_OK && !json_is_array(*list))
        s = client_fail(c, UNIBUS_ERR_PROTOCOL, "/v1/rooms did not return a list");
    size_t i;
    json_t *room;
    json_array_foreach(*list, i, room) {
        if (s == UNIBUS_OK && !room_json_valid(room))
            s = client_fail(c, UNIBUS_ERR_PROTOCOL, "/v1/rooms returned a malformed room");
    }
    return s;
}

unibus_status unibus_rooms_list(unibus_client *c, unibus_room *rooms, size_t cap, size_t *n)
{
    json_t *body, *list;
    unibus_status s = rooms_json(c, &body, &list);
    *n = 0;
    for (size_t i = 0; s == UNIBUS_OK && i < json_array_size(list); i++, (*n)++)
        if (*n < cap)
            room_from_json(json_array_get(list, i), &rooms[*n]);
    json_decref(body);
    return s;
}

/* Every room of the list is looked at, however many (a member can be added
 * to thousands: past a cap, a name resolved to whichever room was kept:
 * adversarial pass 8); an id wins over a name. */
unibus_status unibus_room_find(unibus_client *c, const char *room, unibus_room *out)
{
    json_t *body, *list;
    unibus_status s = rooms_json(c, &body, &list);
    const json_t *by_id = NULL, *by_name = NULL;
    size_t named = 0;
    for (size_t i = 0; s == UNIBUS_OK && !by_id && i < json_array_size(list); i++) {
        const json_t *j = json_array_get(list, i);
        if (strcmp(json_string_value(json_object_get(j, "id")), room) == 0)
            by_id = j;
        else if (strcmp(json_string_value(json_object_get(j, "name")), room) == 0 && named++ == 0)
            by_name = j;
    }
    if (s == UNIBUS_OK && (by_id || named == 1))
        room_from_json(by_id ? by_id : by_name, out);
    else if (s == UNIBUS_OK && named == 0)
        s = client_fail(c, UNIBUS_ERR_NOT_FOUND, "no room %s among yours (see: unibus rooms)", room);
    else if (s == UNIBUS_OK)
        s = client_fail(c, UNIBUS_ERR_CONFLICT, "%zu rooms are named %s: give the room id", named, room);
    json_decref(body);
    return s;
}

unibus_status unibus_room_create(unibus_client *c, const char *name, bool e2e, bool sign, unibus_room *out)
{
    if (!name || !name[0])
        return client_fail(c, UNIBUS_ERR_INVALID_ARG, "a room needs a name");
    json_t *req = json_pack("{s:s, s:s, s:b}", "name", name, "mode", e2e ? "e2e" : "cleartext", "sign", sign);
    if (e2e) {
        uint8_t key[ENVELOPE_KEY_LEN];
        randombytes_buf(key, sizeof key);
        char *sealed = room_key_sealed_b64(busauth_identity_public_key(c->id), key);
        sodium_memzero(key, sizeof key);
        json_object_set_new(req, "sealed_key", json_string(sealed ? sealed : ""));
        free(sealed);
    }
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    json_t *body = NULL;
    unibus_status s = text ? client_call(c, "POST", "/v1/rooms", text, &body) : UNIBUS_ERR_NOMEM;
    free(text);
    if (s == UNIBUS_OK && !room_json_valid(body))
        s = client_fail(c, UNIBUS_ERR_PROTOCOL, "POST /v1/rooms returned a malformed room");
    s = client_answer_about(c, s, body, "name", name, "room name");
    if (s == UNIBUS_OK)
        room_from_json(body, out);
    json_decref(body);
    return s;
}

static bool member_from_json(const json_t *j, const char *owner, unibus_member *out)
{
    const char *name = json_string_value(json_object_get(j, "name"));
    const char *nkey = json_string_value(json_object_get(j, "nkey"));
    uint8_t pk[32];
    if (!name || !nkey || busauth_nkey_decode_public(nkey, pk) != BUSAUTH_OK)
        return false;
    snprintf(out->name, sizeof out->name, "%s", name);
    snprintf(out->nkey, sizeof out->nkey, "%s", nkey);
    out->owner = owner && strcmp(owner, nkey) == 0;
    return true;
}

unibus_status unibus_room_members(unibus_client *c, const char *room, unibus_member *members, size_t cap, size_t *n)
{
    unibus_room r = {0};
    *n = 0;
    unibus_status s = room ? unibus_room_find(c, room, &r) : client_fail(c, UNIBUS_ERR_INVALID_ARG, "which room?");
    char target[64];
    snprintf(target, sizeof target, "/v1/rooms/%s", r.id);
    json_t *body = NULL;
    if (s == UNIBUS_OK)
        s = client_call(c, "GET", target, NULL, &body);
    s = client_answer_about(c, s, body, "id", r.id, "room");
    json_t *list = json_object_get(body, "members");
    if (s == UNIBUS_OK && !json_is_array(list))
        s = client_fail(c, UNIBUS_ERR_PROTOCOL, "%s did not return a member list", target);
    const char *owner = json_string_value(json_object_get(body, "owner"));
    size_t i;
    json_t *m;
    json_array_foreach(list, i, m) {
        if (s != UNIBUS_OK)
            break;
        unibus_member scratch;
        if (!member_from_json(m, owner, *n < cap ? &members[*n] : &scratch))
            s = client_fail(c, UNIBUS_ERR_PROTOCOL, "%s returned a malformed member", target);
        (*n)++;
    }
    json_decref(body);
    return s;
}

unibus_status client_room_key(unibus_client *c, const char *room_id, uint32_t epoch,
                              uint8_t key[ENVELOPE_KEY_LEN], uint32_t *got_epoch)
{
    char target[96];
    if (epoch)
        snprintf(target, sizeof target, "/v1/rooms/%s/key?epoch=%u", room_id, epoch);
    else
        snprintf(target, sizeof target, "/v1/rooms/%s/key", room_id);
    json_t *body = NULL;
    unibus_status s = client_call(c, "GET", target, NULL, &body);
    s = client_answer_about(c, s, body, "room", room_id, "room");
    json_int_t got = json_integer_value(json_object_get(body, "epoch"));
    if (s == UNIBUS_OK && (got < 1 || got > UINT32_MAX || (epoch && got != epoch)))
        s = client_fail(c, UNIBUS_ERR_PROTOCOL, "the server answered with the key of another epoch than %u", epoch);
    const char *text = json_string_value(json_object_get(body, "sealed_key"));
    uint8_t sealed[SEALED_KEY_LEN];
    size_t len = 0;
    if (s == UNIBUS_OK && (!text || sodium_base642bin(sealed, sizeof sealed, text, strlen(text), NULL, &len, NULL,
                                                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
                           len != sizeof sealed))
        s = client_fail(c, UNIBUS_ERR_PROTOCOL, "the sealed key of room %s is malformed", room_id);
    if (s == UNIBUS_OK && busauth_identity_unseal(c->id, sealed, len, key) != BUSAUTH_OK)
        s = client_fail(c, UNIBUS_ERR_CRYPTO, "the key of room %s was not sealed to this identity", room_id);
    if (s == UNIBUS_OK)
        *got_epoch = (uint32_t)got;
    json_decref(body);
    return s;
}

/* POST members: with the current key sealed to the new member and the
 * epoch it belongs to (the server refuses it if the room moved on) in an
 * e2e room. */
static unibus_status post_member(unibus_client *c, room_state *rs, const char *nkey, const char *sealed)
{
    json_t *req = json_pack("{s:s}", "public_key", nkey);
    if (sealed) {
        json_object_set_new(req, "sealed_key", json_string(sealed));
        json_object_set_new(req, "epoch", json_integer(room_state_epoch(rs)));
    }
    char *text = json_dumps(req, JSON_COMPACT), target[96];
    json_decref(req);
    snprintf(target, sizeof target, "/v1/rooms/%s/members", room_state_id(rs));
    json_t *body = NULL;
    unibus_status s = text ? client_call(c, "POST", target, text, &body) : UNIBUS_ERR_NOMEM;
    free(text);
    s = client_answer_about(c, s, body, "room", room_state_id(rs), "room");
    s = client_answer_about(c, s, json_object_get(body, "member"), "nkey", nkey, "member");
    json_decref(body);
    return s;
}

/* The current key sealed to member (NULL in a cleartext room); keys the
 * epoch first if nobody has yet. */
static unibus_status seal_current_to(unibus_client *c, room_state *rs, const uint8_t member[32], char **sealed)
{
    *sealed = NULL;
    if (!room_state_e2e(rs))
        return UNIBUS_OK;
    uint8_t key[ENVELOPE_KEY_LEN];
    unibus_status s = rotation_current_key(c, rs, key);
    if (s == UNIBUS_OK && !(*sealed = room_key_sealed_b64(member, key)))
        s = client_fail(c, UNIBUS_ERR_CRYPTO, "cannot seal the key of room %s to the new member", room_state_id(rs));
    sodium_memzero(key, sizeof key);
    return s;
}

unibus_status unibus_room_add(unibus_client *c, const char *room, const char *nkey)
{
    uint8_t member[BUSAUTH_KEY_BYTES];
    if (!room || !nkey || busauth_pubkey_parse(nkey, member) != BUSAUTH_OK)
        return client_fail(c, UNIBUS_ERR_INVALID_ARG, "not a public key (U... or 64 hex characters)");
    char member_nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1]; /* as the server spells it back */
    busauth_nkey_encode_public(member, member_nkey);
    pthread_mutex_lock(&c->state_lock);
    room_state *rs;
    char *sealed = NULL;
    unibus_status s = room_state_resolve(c, room, &rs);
    if (s == UNIBUS_OK)
        s = room_state_refresh(c, rs, 0);
    if (s == UNIBUS_OK)
        s = seal_current_to(c, rs, member, &sealed);
    if (s == UNIBUS_OK)
        s = post_member(c, rs, member_nkey, sealed);
    if (s == UNIBUS_OK) /* what this client knows of the room now includes the new member */
        room_state_refresh(c, rs, 0);
    pthread_mutex_unlock(&c->state_lock);
    free(sealed);
    return s;
}
