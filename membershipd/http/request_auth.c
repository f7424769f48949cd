#include "membershipd/http/request_auth.h"

#include <stdlib.h>
#include "embedded/clock.h"
#include "membershipd/http/auth_headers.h"
#include "common/log.h"

static const char *header(struct MHD_Connection *conn, const char *name)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
    return v ? v : "";
}

/* A refusal: in enforce mode the reply; in soft mode a log line. */
static bool refuse(server *srv, request *req, reply *out, const char *code, const char *reason)
{
    if (srv->cfg.bus_auth == BUS_AUTH_ENFORCE) {
        reply_error(out, 401, code, "%s", reason);
        out->denied = true;
        return false;
    }
    log_event(LOG_WARN, "auth_soft_failure", "req=%s ip=%s key=%s code=%s reason=\"%s\"", req->id,
              req->ip, req->claimed_key[0] ? req->claimed_key : "-", code, reason);
    return true;
}

/* A refusal of the headers; a skewed client learns the server's time. */
static bool refuse_headers(server *srv, request *req, reply *out, auth_headers_result result,
                           const char *reason, int64_t now)
{
    bool go_on = refuse(srv, req, out, "auth_failed", reason);
    if (!go_on && result == AUTH_HEADERS_SKEWED)
        json_object_set_new(json_object_get(out->json, "error"), "server_time_ms", json_integer(now));
    return go_on;
}

/* The caller is the claimed key's user, when that user is active.
 * Returns false (with out filled) only when the store fails. */
static bool find_caller(server *srv, request *req, reply *out)
{
    pthread_mutex_lock(&srv->store_lock);
    store_status status = store_user_get_by_key(srv->store, req->claimed_public_key, &req->caller);
    pthread_mutex_unlock(&srv->store_lock);
    if (status != STORE_OK && status != STORE_NOT_FOUND) {
        reply_store_failure(out, status);
        return false;
    }
    req->has_caller = status == STORE_OK && req->caller.revoked_ms == 0;
    return true;
}

static bool check_key(server *srv, request *req, reply *out)
{
    if (!find_caller(srv, req, out))
        return false;
    return req->has_caller || refuse(srv, req, out, "auth_failed", "unknown or revoked key");
}

static auth_headers_result parse_headers(server *srv, struct MHD_Connection *conn, request *req, int64_t now,
                                         char *reason, size_t cap)
{
    const auth_headers h = {header(conn, "X-Unibus-Server"), header(conn, "X-Unibus-Key"),
                            header(conn, "X-Unibus-Time"), header(conn, "X-Unibus-Nonce"),
                            header(conn, "X-Unibus-Signature")};
    return auth_headers_parse(&h, srv->identity_nkey, now, req, reason, cap);
}

void auth_note_headers(server *srv, struct MHD_Connection *conn, request *req)
{
    char reason[256];
    parse_headers(srv, conn, req, store_now_ms(), reason, sizeof reason);
}

bool auth_check_headers(server *srv, struct MHD_Connection *conn, request *req, reply *out)
{
    char reason[256];
    int64_t now = store_now_ms();
    auth_headers_result result = parse_headers(srv, conn, req, now, reason, sizeof reason);
    if (srv->cfg.bus_auth == BUS_AUTH_OFF)
        return !req->claimed_key[0] || find_caller(srv, req, out);
    if (result != AUTH_HEADERS_OK && !refuse_headers(srv, req, out, result, reason, now))
        return false;
    if (!req->claimed_key[0])
        return true; /* soft mode, already reported */
    return check_key(srv, req, out);
}

static bool check_replay(server *srv, request *req, reply *out)
{
    uint8_t nonce[NONCE_BYTES];
    sodium_hex2bin(nonce, sizeof nonce, req->nonce, BUSAUTH_NONCE_HEX_LEN, NULL, NULL, NULL);
    nonce_result seen = nonce_cache_insert(srv->nonces, nonce, clock_mono_ms());
    if (seen == NONCE_FRESH)
        return true;
    if (seen == NONCE_REPLAYED)
        return refuse(srv, req, out, "replay_detected", "this nonce was already used; sign each request with a fresh nonce");
    reply_error(out, 503, "server_busy", "too many requests in the replay window; retry shortly");
    out->retry_after_s = 1;
    return false;
}

/* Times at or below the floor loaded at start may have been accepted
 * before the restart; the refusal says what time would do. */
static bool check_floor(server *srv, request *req, reply *out, int64_t time_ms)
{
    if (request_floor_admits(&srv->floor, time_ms))
        return true;
    bool go_on = refuse(srv, req, out, "time_floor",
                        "request time is not after this server's request time floor (a restart); "
                        "sign again with a time after floor_ms");
    if (!go_on) {
        json_t *error = json_object_get(out->json, "error");
        json_object_set_new(error, "server_time_ms", json_integer(store_now_ms()));
        json_object_set_new(error, "floor_ms", json_integer(srv->floor.at_start));
    }
    return go_on;
}

/* Durably above this request's time before it is accepted, so that after
 * a restart it is refused. */
static bool cover_time(server *srv, reply *out, int64_t time_ms)
{
    store_status status = request_floor_cover(&srv->floor, srv->store, &srv->store_lock, time_ms);
    if (status == STORE_OK)
        return true;
    reply_store_failure(out, status);
    return false;
}

bool auth_verify_for_reply(server *srv, request *req)
{
    if (!req->signature[0])
        return false;
    busauth_request r = {.server_key = srv->identity_nkey, .key = req->claimed_key, .method = req->method,
                         .target = req->target, .time_ms = req->signed_time, .nonce = req->nonce,
                         .body_sha256 = req->body_sha256};
    char canonical[TARGET_MAX + 512];
    size_t n = busauth_request_canonical(canonical, sizeof canonical, &r);
    req->verified = n > 0 && busauth_verify_text(req->claimed_public_key, canonical, n, req->signature) == BUSAUTH_OK;
    if (req->verified)
        crypto_hash_sha256(req->request_sha256, (const uint8_t *)canonical, n);
    return req->verified;
}

bool auth_check_signature(server *srv, request *req, reply *out)
{
    if (srv->cfg.bus_auth == BUS_AUTH_OFF || !req->signature[0]) {
        auth_verify_for_reply(srv, req); /* checks nothing: says what the answer is to */
        return true; /* off, or soft with the headers already reported */
    }
    /* Again now the body is in: a body dragged out past the window must not
     * outlive the nonce's memory, nor a revocation made meanwhile. */
    char reason[256];
    int64_t now = store_now_ms();
    auth_headers_result result = auth_time_check(req->signed_time, now, reason, sizeof reason);
    if ((result != AUTH_HEADERS_OK && !refuse_headers(srv, req, out, result, reason, now)) ||
        !check_key(srv, req, out))
        return false;
    if (!auth_verify_for_reply(srv, req))
        return refuse(srv, req, out, "auth_failed", "signature does not verify");
    return auth_check_once(srv, req, out);
}

bool auth_check_once(server *srv, request *req, reply *out)
{
    int64_t time_ms = strtoll(req->signed_time, NULL, 10);
    return check_floor(srv, req, out, time_ms) && check_replay(srv, req, out) && cover_time(srv, out, time_ms);
}
