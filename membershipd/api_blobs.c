/* /v1/blobs/{sha256}: opaque, client-encrypted content by its hash. */
#include "membershipd/api.h"

#include <stdlib.h>
#include <string.h>

void api_blob_put(server *srv, request *req, reply *out)
{
    uint8_t claimed[BUSAUTH_SHA256_BYTES];
    sodium_hex2bin(claimed, sizeof claimed, req->params[0], 64, NULL, NULL, NULL);
    if (sodium_memcmp(claimed, req->body_sha256, sizeof claimed) != 0) {
        reply_error(out, 400, "hash_mismatch", "the body's SHA-256 is not the one in the path");
        return;
    }
    store_actor by = request_actor(req);
    bool created;
    store_status status = WITH_STORE(srv, store_blob_put(srv->store, claimed, req->body, req->body_len,
                                                         req->caller.id, &by, &created));
    if (status == STORE_OK)
        reply_json(out, created ? 201 : 200, json_pack("{s:s, s:I}", "sha256", req->params[0],
                                                       "size", (json_int_t)req->body_len));
    else
        reply_store_failure(out, status);
}

/* The uploader, and whoever shares a room with the uploader, may read. */
void api_blob_get(server *srv, request *req, reply *out)
{
    uint8_t hash[BUSAUTH_SHA256_BYTES];
    sodium_hex2bin(hash, sizeof hash, req->params[0], 64, NULL, NULL, NULL);
    int64_t owner;
    uint8_t *content = NULL;
    size_t len = 0;
    bool share = false;
    store_status status = WITH_STORE(srv, store_blob_get(srv->store, hash, &owner, &content, &len));
    if (status == STORE_OK && owner != req->caller.id)
        status = WITH_STORE(srv, store_users_share_room(srv->store, req->caller.id, owner, &share));
    if (status == STORE_OK && (owner == req->caller.id || share)) {
        out->status = 200;
        out->raw = content;
        out->raw_len = len;
        return;
    }
    free(content);
    if (status == STORE_OK || status == STORE_NOT_FOUND)
        reply_hidden(out, "blob");
    else
        reply_store_failure(out, status);
}
