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
    store_blob_outcome outcome;
    store_status status = WITH_STORE(srv, store_blob_put(srv->store, room, claimed, req->body, req->body_len,
                                                         req->caller.id, srv->cfg.blob_quota, &by, &outcome));
    if (status != STORE_OK)
        reply_store_failure(out, status);
    else if (outcome == STORE_BLOB_OVER_QUOTA)
        reply_error(out, 507, "quota_exceeded",
                    "your blobs would pass this server's quota of %llu bytes each user may store: ask the "
                    "operator to raise membershipd's --blob-quota",
                    (unsigned long long)srv->cfg.blob_quota);
    else
        reply_json(out, outcome == STORE_BLOB_CREATED ? 201 : 200,
                   json_pack("{s:s, s:s, s:I}", "sha256", req->params[0], "room", room, "size",
                             (json_int_t)req->body_len));
}

/* One GET's view of a blob: each read takes one chunk under the store lock. */
typedef struct {
    server *srv;
    char room[STORE_ROOM_ID_LEN + 1];
    uint8_t sha256[BUSAUTH_SHA256_BYTES];
} blob_reader;

static ssize_t read_blob(void *ctx, uint64_t pos, char *buf, size_t max)
{
    blob_reader *r = ctx;
    size_t n = 0;
    store_status status =
        WITH_STORE(r->srv, store_blob_read(r->srv->store, r->room, r->sha256, pos, (uint8_t *)buf, max, &n));
    return status == STORE_OK && n > 0 ? (ssize_t)n : -1;
}

/* The blob is streamed: content-addressed and never changed once stored,
 * so reading it chunk by chunk gives the bytes the PUT verified against
 * the hash the response signature covers. */
void api_blob_get(server *srv, request *req, reply *out)
{
    char room[STORE_ROOM_ID_LEN + 1];
    if (!blob_room(srv, req, room, out))
        return;
    uint8_t hash[BUSAUTH_SHA256_BYTES];
    sodium_hex2bin(hash, sizeof hash, req->params[0], 64, NULL, NULL, NULL);
    uint64_t size = 0;
    store_status status = WITH_STORE(srv, store_blob_size(srv->store, room, hash, &size));
    blob_reader *reader = status == STORE_OK ? malloc(sizeof *reader) : NULL;
    if (status == STORE_NOT_FOUND)
        reply_hidden(out, "blob");
    else if (status != STORE_OK)
        reply_store_failure(out, status);
    else if (!reader)
        reply_error(out, 503, "server_busy", "out of memory for this request");
    if (!reader)
        return;
    reader->srv = srv;
    memcpy(reader->room, room, sizeof room);
    memcpy(reader->sha256, hash, sizeof hash);
    out->status = 200;
    out->stream = (reply_stream){.size = size, .read = read_blob, .release = free, .ctx = reader};
    memcpy(out->stream.sha256, hash, sizeof hash);
}
