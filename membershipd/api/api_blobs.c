/* /v1/blobs/{sha256}?room=ID: opaque, client-encrypted content by its
 * hash, shared with one room.  Only the room's members may put or get it,
 * so adding someone to a room of one's own grants nothing of theirs. */
#include "membershipd/api/api.h"

#include <stdlib.h>
#include <string.h>

/* The room named by "room=ID" in the query, if the caller is a member. */
static bool blob_room(server *srv, const request *req, char room_id[STORE_ROOM_ID_LEN + 1], reply *out)
{
    if (strncmp(req->query, "room=", 5) != 0 || !store_room_id_valid(req->query + 5)) {
        reply_error(out, 400, "bad_request", "blobs belong to a room: add ?room=ROOM-ID");
        return false;
    }
    memcpy(room_id, req->query + 5, STORE_ROOM_ID_LEN + 1);
    bool member = false;
    store_status status = WITH_STORE(srv, store_room_is_member(srv->store, room_id, req->caller.id, &member));
    if (status == STORE_OK && member)
        return true;
    if (status == STORE_OK)
        reply_hidden(out, "room");
    else
        reply_store_failure(out, status);
    return false;
}

void api_blob_put(server *srv, request *req, reply *out)
{
    char room[STORE_ROOM_ID_LEN + 1];
    if (!blob_room(srv, req, room, out))
        return;
    uint8_t claimed[BUSAUTH_SHA256_BYTES];
    sodium_hex2bin(claimed, sizeof claimed, req->params[0], 64, NULL, NULL, NULL);
    if (sodium_memcmp(claimed, req->body_sha256, sizeof claimed) != 0) {
        reply_error(out, 400, "hash_mismatch", "the body's SHA-256 is not the one in the path");
        return;
    }
    store_actor by = request_actor(req);
    bool created;
    store_status status = WITH_STORE(srv, store_blob_put(srv->store, room, claimed, req->body, req->body_len,
                                                         req->caller.id, &by, &created));
    if (status == STORE_OK)
        reply_json(out, created ? 201 : 200, json_pack("{s:s, s:s, s:I}", "sha256", req->params[0],
                                                       "room", room, "size", (json_int_t)req->body_len));
    else
        reply_store_failure(out, status);
}

void api_blob_get(server *srv, request *req, reply *out)
{
    char room[STORE_ROOM_ID_LEN + 1];
    if (!blob_room(srv, req, room, out))
        return;
    uint8_t hash[BUSAUTH_SHA256_BYTES];
    sodium_hex2bin(hash, sizeof hash, req->params[0], 64, NULL, NULL, NULL);
    uint8_t *content = NULL;
    size_t len = 0;
    store_status status = WITH_STORE(srv, store_blob_get(srv->store, room, hash, &content, &len));
    if (status == STORE_OK) {
        out->status = 200;
        out->raw = content;
        out->raw_len = len;
    } else if (status == STORE_NOT_FOUND) {
        reply_hidden(out, "blob");
    } else {
        reply_store_failure(out, status);
    }
}
