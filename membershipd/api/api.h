/* What the api_*.c handlers share: JSON in and out, and who may see what. */
#ifndef MEMBERSHIPD_API_H
#define MEMBERSHIPD_API_H

#include "membershipd/api/routes.h"

typedef struct {
    const char *name;
    json_type type;     /* JSON_TRUE stands for any boolean */
    bool required;
    size_t max_len;     /* strings: bytes; 0 for other types */
} json_field;

/* The body as a JSON object with only the listed fields, each of its type
 * and size; NULL with a 400 in out otherwise.  The caller owns the result. */
json_t *api_body(const request *req, const json_field *fields, reply *out);
/* Decodes a base64url (no padding) string field into out; 400 on failure. */
bool api_b64_field(json_t *obj, const char *field, uint8_t *out, size_t min, size_t max,
                   size_t *len, reply *reply_out);
char *api_b64_encode(const uint8_t *data, size_t len); /* malloc'd */

json_t *api_user_json(const store_user *user);
json_t *api_room_json(const store_room *room);

/* Store access under the server's lock. */
#define WITH_STORE(srv, expr) \
    (pthread_mutex_lock(&(srv)->store_lock), api_unlock_after((srv), (expr)))
store_status api_unlock_after(server *srv, store_status status);

/* After a change the data plane must see: true once nats-server runs with
 * it; false, with a 503 in out, when that did not happen within the bound
 * (the change is saved and the data plane keeps retrying). */
bool api_dataplane_sync(server *srv, const request *req, reply *out);

/* The user a {nkey} parameter names; 404 (hidden) in out when unknown. */
bool api_param_user(server *srv, const char *nkey, store_user *user, reply *out);
/* The room a {room} parameter names, if the caller may see it (a member,
 * or an admin); 404 in out otherwise. */
bool api_visible_room(server *srv, request *req, store_room *room, bool *member, reply *out);

#endif
