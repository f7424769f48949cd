/* /v1/users: the public-key directory and, for admins, the allowlist. */
#include "membershipd/api/api.h"

#include <string.h>

/* Members see themselves and users they share a room with; admins see all. */
static bool may_see(server *srv, const request *req, const store_user *user, reply *out)
{
    if (req->caller.role == STORE_ROLE_ADMIN || user->id == req->caller.id)
        return true;
    bool share = false;
    store_status status = WITH_STORE(srv, store_users_share_room(srv->store, req->caller.id, user->id, &share));
    if (status != STORE_OK)
        reply_store_failure(out, status);
    else if (!share)
        reply_hidden(out, "user");
    return status == STORE_OK && share;
}

void api_user_get(server *srv, request *req, reply *out)
{
    store_user user;
    if (api_param_user(srv, req->params[0], &user, out) && may_see(srv, req, &user, out))
        reply_json(out, 200, api_user_json(&user));
}

static int append_user(const store_user *user, void *ctx)
{
    return json_array_append_new(ctx, api_user_json(user));
}

void api_user_list(server *srv, request *req, reply *out)
{
    (void)req;
    json_t *users = json_array();
    store_status status = WITH_STORE(srv, store_user_foreach(srv->store, append_user, users));
    if (status == STORE_OK)
        reply_json(out, 200, json_pack("{s:o}", "users", users));
    else {
        json_decref(users);
        reply_store_failure(out, status);
    }
}

static const json_field USER_FIELDS[] = {
    {"name", JSON_STRING, true, STORE_USER_NAME_MAX},
    {"public_key", JSON_STRING, true, BUSAUTH_PUBKEY_HEX_LEN},
    {"role", JSON_STRING, false, 8},
    {0},
};

static bool parse_new_user(json_t *body, uint8_t *key, store_role *role, reply *out)
{
    const char *role_text = json_string_value(json_object_get(body, "role"));
    if (role_text && strcmp(role_text, "admin") != 0 && strcmp(role_text, "member") != 0) {
        reply_error(out, 400, "bad_request", "field \"role\" must be \"member\" or \"admin\"");
        return false;
    }
    *role = role_text && strcmp(role_text, "admin") == 0 ? STORE_ROLE_ADMIN : STORE_ROLE_MEMBER;
    busauth_status key_status = busauth_pubkey_parse(json_string_value(json_object_get(body, "public_key")), key);
    if (key_status != BUSAUTH_OK) {
        reply_error(out, 400, "bad_request", "field \"public_key\": %s", busauth_strerror(key_status));
        return false;
    }
    if (!store_user_name_valid(json_string_value(json_object_get(body, "name")))) {
        reply_error(out, 400, "bad_request",
                    "field \"name\": use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
        return false;
    }
    return true;
}

/* Answers once the new user can log in to the data plane. */
static void reply_added(server *srv, const request *req, const uint8_t *key, reply *out)
{
    store_user user;
    if (!api_dataplane_sync(srv, req, out))
        return;
    store_status status = WITH_STORE(srv, store_user_get_by_key(srv->store, key, &user));
    if (status == STORE_OK)
        reply_json(out, 201, api_user_json(&user));
    else
        reply_store_failure(out, status);
}

void api_user_add(server *srv, request *req, reply *out)
{
    json_t *body = api_body(req, USER_FIELDS, out);
    uint8_t key[BUSAUTH_KEY_BYTES];
    store_role role;
    if (!body || !parse_new_user(body, key, &role, out)) {
        json_decref(body);
        return;
    }
    if (sodium_memcmp(key, busauth_identity_public_key(srv->identity), BUSAUTH_KEY_BYTES) == 0) {
        reply_error(out, 400, "bad_request", "that is the server's own key, which cannot be a user");
        json_decref(body);
        return;
    }
    const char *name = json_string_value(json_object_get(body, "name"));
    store_actor by = request_actor(req);
    store_status status = WITH_STORE(srv, store_user_add(srv->store, name, key, role, &by));
    if (status == STORE_OK)
        reply_added(srv, req, key, out);
    else if (status == STORE_DUPLICATE_NAME || status == STORE_DUPLICATE_KEY)
        reply_error(out, 409, "conflict", "a user with that %s already exists (revoked users included)",
                    status == STORE_DUPLICATE_NAME ? "name" : "public key");
    else
        reply_store_failure(out, status);
    json_decref(body);
}

void api_user_revoke(server *srv, request *req, reply *out)
{
    store_user user;
    if (!api_param_user(srv, req->params[0], &user, out))
        return;
    if (user.id == req->caller.id) {
        reply_error(out, 409, "conflict", "an admin cannot revoke their own key; ask another admin");
        return;
    }
    store_actor by = request_actor(req);
    store_status status = WITH_STORE(srv, store_user_revoke(srv->store, user.id, &by, NULL));
    if (status == STORE_OK && !api_dataplane_sync(srv, req, out))
        return;
    if (status == STORE_OK || status == STORE_ALREADY_REVOKED)
        status = WITH_STORE(srv, store_user_get_by_id(srv->store, user.id, &user));
    if (status == STORE_OK)
        reply_json(out, 200, api_user_json(&user));
    else
        reply_store_failure(out, status);
}
