#include "membershipd/http/reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MESSAGE_MAX 512

void reply_error(reply *out, unsigned status, const char *code, const char *fmt, ...)
{
    char message[MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    json_decref(out->json);
    out->json = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
    out->status = status;
    out->error_code = code;
}

void reply_json(reply *out, unsigned status, json_t *json)
{
    json_decref(out->json);
    out->json = json;
    out->status = status;
}

void reply_hidden(reply *out, const char *what)
{
    reply_error(out, 404, "not_found", "no such %s", what);
    out->denied = true;
}

void reply_store_failure(reply *out, store_status status)
{
    if (status == STORE_BUSY)
        reply_error(out, 503, "store_busy", "the database is busy; retry shortly");
    else if (status == STORE_NO_QUORUM)
        reply_error(out, 503, "cluster_no_quorum",
                    "the bus log cannot take changes now (too few nodes reachable, or a leader election); retry "
                    "shortly: a change that timed out may still take effect");
    else
        reply_error(out, 500, "store_failure", "the server could not read or write its database");
    out->retry_after_s = status == STORE_BUSY ? 1 : status == STORE_NO_QUORUM ? 2 : 0;
}

store_actor request_actor(const request *req)
{
    const char *actor = req->claimed_key[0] ? req->claimed_key : "anonymous";
    return (store_actor){.actor = actor, .peer_ip = req->ip, .request_id = req->id};
}

#define FALLBACK_BODY "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}"

static void sign_response(server *srv, const request *req, unsigned status,
                          const uint8_t body_sha256[BUSAUTH_SHA256_BYTES], char sig[BUSAUTH_SIG_B64_LEN + 1])
{
    char canonical[256];
    /* Bound to the request only when its signature verified: nothing else
     * can be told apart from another request's answer. */
    size_t n = busauth_response_canonical(canonical, sizeof canonical, req->verified ? req->request_sha256 : NULL,
                                          status, body_sha256);
    busauth_sign_text(srv->identity, canonical, n, sig);
}

/* The JSON body as one malloc'd buffer, which the response will own. */
static uint8_t *json_body(reply *out, size_t *len)
{
    char *text = out->json ? json_dumps(out->json, JSON_COMPACT) : NULL;
    if (!text) {
        text = strdup(FALLBACK_BODY);
        out->status = 500;
        out->error_code = "internal";
    }
    *len = text ? strlen(text) : 0;
    return (uint8_t *)text;
}

static struct MHD_Response *json_response(reply *out, uint8_t body_sha256[BUSAUTH_SHA256_BYTES])
{
    size_t len;
    uint8_t *body = json_body(out, &len);
    if (!body)
        return NULL;
    crypto_hash_sha256(body_sha256, body, len);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp)
        free(body);
    return resp;
}

static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    reply_stream *stream = cls;
    ssize_t n = stream->read(stream->ctx, pos, buf, max);
    return n > 0 ? n : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void release_stream(void *cls)
{
    reply_stream *stream = cls;
    stream->release(stream->ctx);
    free(stream);
}

/* Reads through a buffer of STORE_BLOB_CHUNK bytes: one chunk per call. */
static struct MHD_Response *stream_response(reply *out, uint8_t body_sha256[BUSAUTH_SHA256_BYTES])
{
    reply_stream *stream = malloc(sizeof *stream);
    if (!stream) {
        out->stream.release(out->stream.ctx);
        return NULL;
    }
    *stream = out->stream;
    memcpy(body_sha256, stream->sha256, BUSAUTH_SHA256_BYTES);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(stream->size, STORE_BLOB_CHUNK, read_stream, stream, release_stream);
    if (!resp)
        release_stream(stream);
    return resp;
}

/* A cluster node cut off from most of the bus answers reads from a state
 * that may miss what the others did meanwhile: for at least this long. */
static void add_staleness(server *srv, struct MHD_Response *resp)
{
    int64_t ms = srv->stale_ms ? srv->stale_ms(srv) : 0;
    if (ms > 0) {
        char text[24];
        snprintf(text, sizeof text, "%lld", (long long)ms);
        MHD_add_response_header(resp, "X-Unibus-Stale-Ms", text);
    }
}

static void add_headers(server *srv, struct MHD_Response *resp, const request *req, const reply *out,
                        const char *content_type, const char *sig)
{
    add_staleness(srv, resp);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, "X-Unibus-Server-Signature", sig);
    MHD_add_response_header(resp, "X-Request-Id", req->id);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (out->unconfirmed[0])
        MHD_add_response_header(resp, "X-Unibus-Unconfirmed-Nodes", out->unconfirmed);
    if (out->retry_after_s) {
        char seconds[16];
        snprintf(seconds, sizeof seconds, "%u", out->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, seconds);
    }
}

enum MHD_Result reply_send(server *srv, struct MHD_Connection *conn, request *req, reply *out)
{
    uint8_t body_sha256[BUSAUTH_SHA256_BYTES];
    bool streamed = out->stream.read != NULL;
    struct MHD_Response *resp = streamed ? stream_response(out, body_sha256) : json_response(out, body_sha256);
    out->stream = (reply_stream){0};
    json_decref(out->json);
    out->json = NULL;
    if (!resp)
        return MHD_NO;
    char sig[BUSAUTH_SIG_B64_LEN + 1];
    sign_response(srv, req, out->status, body_sha256, sig);
    add_headers(srv, resp, req, out, streamed ? "application/octet-stream" : "application/json", sig);
    enum MHD_Result result = MHD_queue_response(conn, out->status, resp);
    MHD_destroy_response(resp);
    req->responded = true;
    req->status = out->status;
    req->error_code = out->error_code;
    return result;
}
