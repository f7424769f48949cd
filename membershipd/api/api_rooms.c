/* /v1/rooms: rooms, members and sealed room keys.  A caller who is neither
 * a member nor an admin learns nothing about a room: 404, never 403. */
#include "membershipd/api/api.h"

#include <stdlib.h>
#include <string.h>

static const json_field CREATE_FIELDS[] = {
    {"name", JSON_STRING, true, STORE_ROOM_NAME_MAX},
    {"mode", JSON_STRING, false, 16},
    {"sign", JSON_TRUE, false, 0},
    {"sealed_key", JSON_STRING, false, 2 * STORE_SEALED_KEY_MAX},
    {0},
};

/* 32 hex digits read as a room id: a room so named could take messages
 * meant for the room with that id (adversarial pass 8). */
static bool reads_as_room_id(const char *name)
{
    return strlen(name) == 32 && strspn(name, "0123456789abcdefABCDEF") == 32;
}

static bool name_ok(const char *name)
{
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return name[0] != '\0' && !reads_as_room_id(name);
}

static bool parse_mode(server *srv, json_t *body, store_room_mode *mode, reply *out)
{
    const char *text = json_string_value(json_object_get(body, "mode"));
    if (!text || strcmp(text, "e2e") == 0) {
        *mode = STORE_ROOM_E2E;
        return true;
    }
    if (strcmp(text, "cleartext") != 0) {
        reply_error(out, 400, "bad_request", "field \"mode\" must be \"e2e\" or \"cleartext\"");
        return false;
    }
    if (!srv->cfg.bind_is_loopback) {
        reply_error(out, 403, "cleartext_forbidden",
                    "this deployment is not on loopback: every room is end-to-end encrypted (mode e2e)");
        out->denied = true;
        return false;
    }
    *mode = STORE_ROOM_CLEARTEXT;
    return true;
}

/* An e2e room needs the sealed key; a cleartext room must not have one. */
static bool parse_sealed(json_t *body, store_room_mode mode, uint8_t *sealed, size_t *len, reply *out)
{
    *len = 0;
    bool given = json_object_get(body, "sealed_key") != NULL;
    if (mode == STORE_ROOM_CLEARTEXT && given) {
        reply_error(out, 400, "bad_request", "a cleartext room has no sealed key");
        return false;
    }
    if (mode == STORE_ROOM_E2E && !given) {
        reply_error(out, 400, "bad_request", "field \"sealed_key\" is required for an e2e room");
        return false;
    }
    return !given || api_b64_field(body, "sealed_key", sealed, STORE_SEALED_KEY_MIN, STORE_SEALED_KEY_MAX, len, out);
}

void api_room_create(server *srv, request *req, reply *out)
{
    json_t *body = api_body(req, CREATE_FIELDS, out);
    store_room_mode mode;
    uint8_t sealed[STORE_SEALED_KEY_MAX];
    size_t sealed_len;
    if (body && !name_ok(json_string_value(json_object_get(body, "name"))))
        reply_error(out, 400, "bad_request",
                    "field \"name\" must be non-empty, without control characters, and not 32 hex digits (a room id)");
    else if (body && parse_mode(srv, body, &mode, out) && parse_sealed(body, mode, sealed, &sealed_len, out)) {
        json_t *sign = json_object_get(body, "sign");
        store_actor by = request_actor(req);
        store_room room;
        /* Every room a member owns is grants in every node's nats.conf and
         * every reload: bounded per member (dev/control-plane-limits.md). */
        unsigned max_owned = req->caller.role == STORE_ROLE_ADMIN ? 0 : srv->cfg.member_rooms;
        store_status status = WITH_STORE(srv, store_room_create(srv->store,
            json_string_value(json_object_get(body, "name")), mode, !sign || json_is_true(sign),
            req->caller.id, max_owned, sealed_len ? sealed : NULL, sealed_len, &by, &room));
        if (status == STORE_QUOTA)
            reply_error(out, 403, "quota_exceeded", "you own %u rooms, as many as this server lets a member own: "
                        "ask the operator to raise membershipd's --member-rooms", max_owned);
        else if (status == STORE_OK && api_dataplane_sync(srv, req, out))
            reply_json(out, 201, api_room_json(&room));
        else
            reply_store_failure(out, status);
    }
    json_decref(body);
}

static int append_room(const store_room *room, void *ctx)
{
    return json_array_append_new(ctx, api_room_json(room));
}

void api_room_list(server *srv, request *req, reply *out)
{
    json_t *rooms = json_array();
    store_status status = WITH_STORE(srv, store_room_foreach_of_user(srv->store, req->caller.id, append_room, rooms));
    if (status == STORE_OK)
        reply_json(out, 200, json_pack("{s:o}", "rooms", rooms));
    else {
        json_decref(rooms);
        reply_store_failure(out, status);
    }
}

static int append_member(const store_user *user, void *ctx)
{
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    busauth_nkey_encode_public(user->public_key, nkey);
    return json_array_append_new(ctx, json_pack("{s:s, s:s, s:s}", "name", user->name, "nkey", nkey,
                                                "status", user->revoked_ms ? "revoked" : "active"));
}

static json_t *room_with_members(server *srv, const store_room *room, store_status *status)
{
    json_t *json = api_room_json(room), *members = json_array();
    store_user owner;
    *status = WITH_STORE(srv, store_room_foreach_member(srv->store, room->id, append_member, members));
    if (*status == STORE_OK)
        *status = WITH_STORE(srv, store_user_get_by_id(srv->store, room->owner_id, &owner));
    if (*status == STORE_OK) {
        char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
        busauth_nkey_encode_public(owner.public_key, nkey);
        json_object_set_new(json, "owner", json_string(nkey));
    }
    json_object_set_new(json, "members", members);
    json_object_set_new(json, "key_pending", json_boolean(room->key_pending));
    return json;
}

void api_room_get(server *srv, request *req, reply *out)
{
    store_room room;
    bool member;
    if (!api_visible_room(srv, req, &room, &member, out))
        return;
    store_status status;
    json_t *json = room_with_members(srv, &room, &status);
    if (status == STORE_OK)
        reply_json(out, 200, json);
    else {
        json_decref(json);
        reply_store_failure(out, status);
    }
}

/* Managing members: the room's owner, or an admin. */
static bool may_manage(const request *req, const store_room *room, reply *out)
{
    if (room->owner_id == req->caller.id || req->caller.role == STORE_ROLE_ADMIN)
        return true;
    reply_error(out, 403, "forbidden", "only the room's owner or an admin may do this");
    out->denied = true;
    return false;
}

/* Adding to an e2e room hands over its key, so only who holds the key may:
 * the owner, or an admin who is a member.  An admin outside the room could
 * only seal a key it lacks, and, once in, key the next epoch itself and
 * read everything (finding 4); it may remove members, never add one. */
static bool may_add(const request *req, const store_room *room, bool member, reply *out)
{
    if (room->mode == STORE_ROOM_E2E && !member && req->caller.role == STORE_ROLE_ADMIN) {
        reply_error(out, 403, "forbidden",
                    "an admin outside an end-to-end encrypted room cannot add members to it, itself included:"
                    " ask the room's owner, who holds its key");
        out->denied = true;
        return false;
    }
    return may_manage(req, room, out);
}

static const json_field MEMBER_FIELDS[] = {
    {"public_key", JSON_STRING, true, BUSAUTH_PUBKEY_HEX_LEN},
    {"sealed_key", JSON_STRING, false, 2 * STORE_SEALED_KEY_MAX},
    {"epoch", JSON_INTEGER, false, 0}, /* the epoch whose key was sealed: checked when given */
    {0},
};

static bool new_member(server *srv, json_t *body, store_user *user, reply *out)
{
    uint8_t key[BUSAUTH_KEY_BYTES];
    if (busauth_pubkey_parse(json_string_value(json_object_get(body, "public_key")), key) != BUSAUTH_OK) {
        reply_error(out, 400, "bad_request", "field \"public_key\" must be a user nkey or 64 hex characters");
        return false;
    }
    store_status status = WITH_STORE(srv, store_user_get_by_key(srv->store, key, user));
    if (status == STORE_OK && user->revoked_ms == 0)
        return true;
    if (status == STORE_OK || status == STORE_NOT_FOUND)
        reply_error(out, 404, "not_found", "no active user with that public key");
    else
        reply_store_failure(out, status);
    return false;
}

static void add_member(server *srv, request *req, const store_room *room, json_t *body, reply *out)
{
    store_user user;
    uint8_t sealed[STORE_SEALED_KEY_MAX];
    size_t sealed_len;
    if (!new_member(srv, body, &user, out) || !parse_sealed(body, room->mode, sealed, &sealed_len, out))
        return;
    store_sealed_key key = {user.id, sealed_len ? sealed : NULL, sealed_len};
    store_actor by = request_actor(req);
    json_int_t epoch = json_integer_value(json_object_get(body, "epoch"));
    store_status status = WITH_STORE(srv, store_room_add_member(srv->store, room->id, &key, epoch, &by));
    if (status == STORE_OK && !api_dataplane_sync(srv, req, out))
        return;
    if (status == STORE_OK)
        reply_json(out, 201, json_pack("{s:s, s:o, s:I}", "room", room->id, "member", api_user_json(&user),
                                       "key_epoch", (json_int_t)room->key_epoch));
    else if (status == STORE_DUPLICATE_KEY)
        reply_error(out, 409, "conflict", "already a member of this room");
    else if (status == STORE_CONFLICT)
        reply_error(out, 409, "conflict",
                    "the room has moved to a new key epoch, or its current epoch has no key yet: re-read the room,"
                    " key it if needed (PUT /v1/rooms/{id}/keys) and seal the current key");
    else
        reply_store_failure(out, status);
}

void api_room_member_add(server *srv, request *req, reply *out)
{
    store_room room;
    bool member;
    if (!api_visible_room(srv, req, &room, &member, out) || !may_add(req, &room, member, out))
        return;
    json_t *body = api_body(req, MEMBER_FIELDS, out);
    if (body)
        add_member(srv, req, &room, body, out);
    json_decref(body);
}

static int append_nkey(const store_user *user, void *ctx)
{
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    busauth_nkey_encode_public(user->public_key, nkey);
    return json_array_append_new(ctx, json_string(nkey));
}

/* The owner or an admin removes anyone but the owner; a member may leave. */
void api_room_member_remove(server *srv, request *req, reply *out)
{
    store_room room;
    store_user user;
    bool member;
    if (!api_visible_room(srv, req, &room, &member, out))
        return;
    char own[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    busauth_nkey_encode_public(req->caller.public_key, own);
    /* Who may manage is settled before the key is looked up: no telling
     * whether a key exists to those who may not ask. */
    if (strcmp(own, req->params[1]) != 0 && !may_manage(req, &room, out))
        return;
    if (!api_param_user(srv, req->params[1], &user, out))
        return;
    if (user.id == room.owner_id) {
        reply_error(out, 409, "conflict", "the owner cannot be removed from their room");
        return;
    }
    store_actor by = request_actor(req);
    int64_t epoch;
    store_status status = WITH_STORE(srv, store_room_remove_member(srv->store, room.id, user.id, &by, &epoch));
    if (status == STORE_OK && !api_dataplane_sync(srv, req, out))
        return;
    json_t *remaining = json_array();
    if (status == STORE_OK)
        status = WITH_STORE(srv, store_room_foreach_member(srv->store, room.id, append_nkey, remaining));
    if (status == STORE_OK)
        reply_json(out, 200, json_pack("{s:s, s:I, s:o}", "room", room.id, "key_epoch", (json_int_t)epoch,
                                       "members", remaining));
    else {
        json_decref(remaining);
        if (status == STORE_NOT_FOUND)
            reply_error(out, 404, "not_found", "that user is not a member of this room");
        else
            reply_store_failure(out, status);
    }
}

static const json_field KEYS_FIELDS[] = {
    {"epoch", JSON_INTEGER, true, 0},
    {"keys", JSON_OBJECT, true, 0},
    {0},
};

#define KEYS_MAX 1000

/* Decodes {"<nkey>": "<sealed b64>", ...} into keys (and their buffers). */
static size_t parse_keys(server *srv, json_t *map, store_sealed_key *keys, uint8_t (*buffers)[STORE_SEALED_KEY_MAX],
                         reply *out)
{
    const char *nkey;
    json_t *value;
    size_t n = 0;
    json_object_foreach(map, nkey, value) {
        store_user user;
        json_t *wrapper = json_pack("{s:O}", "sealed_key", value);
        bool ok = n < KEYS_MAX && api_param_user(srv, nkey, &user, out) &&
                  api_b64_field(wrapper, "sealed_key", buffers[n], STORE_SEALED_KEY_MIN, STORE_SEALED_KEY_MAX,
                                &keys[n].sealed_len, out);
        json_decref(wrapper);
        if (!ok) {
            if (n >= KEYS_MAX)
                reply_error(out, 400, "bad_request", "at most %d keys per request", KEYS_MAX);
            return (size_t)-1;
        }
        keys[n].user_id = user.id;
        keys[n].sealed = buffers[n];
        n++;
    }
    return n;
}

static void store_keys(server *srv, request *req, const store_room *room, json_t *body, reply *out)
{
    json_int_t epoch = json_integer_value(json_object_get(body, "epoch"));
    store_sealed_key *keys = calloc(KEYS_MAX, sizeof *keys);
    uint8_t (*buffers)[STORE_SEALED_KEY_MAX] = calloc(KEYS_MAX, STORE_SEALED_KEY_MAX);
    size_t n = keys && buffers ? parse_keys(srv, json_object_get(body, "keys"), keys, buffers, out) : (size_t)-1;
    if (n != (size_t)-1) {
        store_actor by = request_actor(req);
        store_status status = WITH_STORE(srv, store_room_put_keys(srv->store, room->id, epoch, keys, n, &by));
        if (status == STORE_OK)
            reply_json(out, 200, json_pack("{s:s, s:I, s:I}", "room", room->id, "epoch", epoch,
                                           "stored", (json_int_t)n));
        else if (status == STORE_CONFLICT)
            reply_error(out, 409, "conflict",
                        "an upload keys the current epoch once, for exactly its active members: re-read the room"
                        " (GET /v1/rooms/{id}); if it still says key_pending, upload again for its members");
        else
            reply_store_failure(out, status);
    } else if (!out->json) {
        reply_error(out, 503, "server_busy", "out of memory for this request");
    }
    free(keys);
    free(buffers);
}

/* Any member may key a new epoch (whoever first needs it: the remover, or
 * the next to publish when the one who left cannot); the uploader knows
 * the key, so never a non-member, admins included. */
void api_room_keys_put(server *srv, request *req, reply *out)
{
    store_room room;
    bool member;
    if (!api_visible_room(srv, req, &room, &member, out))
        return;
    if (!member) {
        reply_error(out, 403, "forbidden", "only a member of the room may upload its keys");
        out->denied = true;
        return;
    }
    if (room.mode == STORE_ROOM_CLEARTEXT) {
        reply_error(out, 409, "conflict", "a cleartext room has no keys");
        return;
    }
    json_t *body = api_body(req, KEYS_FIELDS, out);
    if (body)
        store_keys(srv, req, &room, body, out);
    json_decref(body);
}

static bool parse_epoch_query(const char *query, int64_t current, int64_t *epoch, reply *out)
{
    *epoch = current;
    if (!query[0])
        return true;
    char *end;
    if (strncmp(query, "epoch=", 6) == 0) {
        long long v = strtoll(query + 6, &end, 10);
        if (end != query + 6 && *end == '\0' && v >= 1 && v <= current) {
            *epoch = v;
            return true;
        }
    }
    reply_error(out, 400, "bad_request", "the only query is epoch=N, from 1 to %lld", (long long)current);
    return false;
}

void api_room_key_get(server *srv, request *req, reply *out)
{
    store_room room;
    bool member;
    int64_t epoch;
    if (!api_visible_room(srv, req, &room, &member, out))
        return;
    if (!member) {
        reply_hidden(out, "key");
        return;
    }
    if (!parse_epoch_query(req->query, room.key_epoch, &epoch, out))
        return;
    uint8_t sealed[STORE_SEALED_KEY_MAX];
    size_t len;
    store_status status = WITH_STORE(srv, store_room_get_key(srv->store, room.id, epoch, req->caller.id,
                                                             sealed, sizeof sealed, &len));
    char *b64 = status == STORE_OK ? api_b64_encode(sealed, len) : NULL;
    if (b64)
        reply_json(out, 200, json_pack("{s:s, s:I, s:s}", "room", room.id, "epoch", (json_int_t)epoch,
                                       "sealed_key", b64));
    else if (status == STORE_NOT_FOUND)
        reply_error(out, 404, "key_pending",
                    "no key for you in epoch %lld: the epoch is not keyed yet (the next member to publish keys it),"
                    " or you joined after it", (long long)epoch);
    else
        reply_store_failure(out, status);
    free(b64);
}
