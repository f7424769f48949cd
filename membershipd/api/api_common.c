#include "membershipd/api/api.h"
#include "membershipd/dataplane/dataplane.h"
#include "common/log.h"

#include <stdlib.h>
#include <string.h>

/* In a cluster, "in force" is on every node heard from lately
 * (dev/control-log.md); those that did not confirm within the bound are
 * named in the answer and counted, and the change stands. */
static void wait_for_other_nodes(server *srv, const request *req, reply *out)
{
    if (!srv->wait_in_force || srv->wait_in_force(srv, out->unconfirmed, sizeof out->unconfirmed) == 0)
        return;
    atomic_fetch_add(&srv->cluster_unconfirmed, 1);
    log_event(LOG_WARN, "cluster_unconfirmed", "req=%s nodes=%s detail=\"these nodes did not confirm the change in "
              "time; it is in the log and they apply it when they can\"", req->id, out->unconfirmed);
}

bool api_dataplane_sync(server *srv, const request *req, reply *out)
{
    if (dataplane_sync(srv->dataplane, req->started_ms) == 0) {
        wait_for_other_nodes(srv, req, out);
        return true;
    }
    log_event(LOG_ERROR, "dataplane_sync_timeout", "req=%s timeout_ms=%d", req->id, DATAPLANE_SYNC_TIMEOUT_MS);
    reply_error(out, 503, "dataplane_pending",
                "the change is saved but nats-server has not applied it yet (it keeps retrying); see membershipd's log");
    return false;
}

store_status api_unlock_after(server *srv, store_status status)
{
    pthread_mutex_unlock(&srv->store_lock);
    return status;
}

static const char *type_name(json_type type)
{
    switch (type) {
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    default: return "a boolean";
    }
}

static bool type_matches(const json_t *value, json_type type)
{
    return type == JSON_TRUE ? json_is_boolean(value) : json_typeof(value) == type;
}

static const json_field *field_named(const json_field *fields, const char *name)
{
    for (const json_field *f = fields; f->name; f++)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static bool check_fields(json_t *obj, const json_field *fields, reply *out)
{
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value) {
        const json_field *f = field_named(fields, key);
        if (!f) {
            reply_error(out, 400, "bad_request", "unknown field \"%.64s\"", key);
            return false;
        }
        if (!type_matches(value, f->type)) {
            reply_error(out, 400, "bad_request", "field \"%s\" must be %s", f->name, type_name(f->type));
            return false;
        }
        if (f->type == JSON_STRING && json_string_length(value) > f->max_len) {
            reply_error(out, 400, "bad_request", "field \"%s\" is longer than %zu bytes", f->name, f->max_len);
            return false;
        }
    }
    for (const json_field *f = fields; f->name; f++) {
        if (f->required && !json_object_get(obj, f->name)) {
            reply_error(out, 400, "bad_request", "field \"%s\" is required", f->name);
            return false;
        }
    }
    return true;
}

json_t *api_body(const request *req, const json_field *fields, reply *out)
{
    json_error_t err;
    json_t *obj = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!obj) {
        reply_error(out, 400, "bad_request", "malformed JSON at byte %d: %.128s", err.position, err.text);
        return NULL;
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        reply_error(out, 400, "bad_request", "the body must be a JSON object");
        return NULL;
    }
    if (!check_fields(obj, fields, out)) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

bool api_b64_field(json_t *obj, const char *field, uint8_t *out, size_t min, size_t max,
                   size_t *len, reply *reply_out)
{
    const char *text = json_string_value(json_object_get(obj, field));
    size_t text_len = text ? strlen(text) : 0;
    if (text && sodium_base642bin(out, max, text, text_len, NULL, len, NULL,
                                  sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
        *len >= min)
        return true;
    reply_error(reply_out, 400, "bad_request", "field \"%s\" must be base64url without padding, %zu to %zu bytes",
                field, min, max);
    return false;
}

char *api_b64_encode(const uint8_t *data, size_t len)
{
    size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *text = malloc(cap);
    if (text)
        sodium_bin2base64(text, cap, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return text;
}

json_t *api_user_json(const store_user *user)
{
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    busauth_nkey_encode_public(user->public_key, nkey);
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:o}", "name", user->name, "nkey", nkey,
                     "role", store_role_name(user->role),
                     "status", user->revoked_ms ? "revoked" : "active",
                     "created_ms", (json_int_t)user->created_ms,
                     "revoked_ms", user->revoked_ms ? json_integer(user->revoked_ms) : json_null());
}

json_t *api_room_json(const store_room *room)
{
    return json_pack("{s:s, s:s, s:s, s:b, s:I, s:I}", "id", room->id, "name", room->name,
                     "mode", store_room_mode_name(room->mode), "sign", room->signed_messages,
                     "key_epoch", (json_int_t)room->key_epoch, "created_ms", (json_int_t)room->created_ms);
}

bool api_param_user(server *srv, const char *nkey, store_user *user, reply *out)
{
    uint8_t key[BUSAUTH_KEY_BYTES];
    if (busauth_nkey_decode_public(nkey, key) != BUSAUTH_OK) {
        reply_error(out, 400, "bad_request", "not a user nkey (U...)");
        return false;
    }
    store_status status = WITH_STORE(srv, store_user_get_by_key(srv->store, key, user));
    if (status == STORE_OK)
        return true;
    if (status == STORE_NOT_FOUND)
        reply_hidden(out, "user");
    else
        reply_store_failure(out, status);
    return false;
}

bool api_visible_room(server *srv, request *req, store_room *room, bool *member, reply *out)
{
    const char *id = req->params[0];
    store_status status = WITH_STORE(srv, store_room_get(srv->store, id, room));
    if (status == STORE_OK)
        status = WITH_STORE(srv, store_room_is_member(srv->store, id, req->caller.id, member));
    if (status == STORE_OK && (*member || req->caller.role == STORE_ROLE_ADMIN))
        return true;
    if (status == STORE_OK || status == STORE_NOT_FOUND)
        reply_hidden(out, "room");
    else
        reply_store_failure(out, status);
    return false;
}
