#include "membershipd/request_auth.h"

#include "embedded/clock.h"
#include "membershipd/auth_headers.h"
#include "membershipd/log.h"

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

bool auth_check_headers(server *srv, struct MHD_Connection *conn, request *req, reply *out)
{
    const auth_headers h = {header(conn, "X-Unibus-Key"), header(conn, "X-Unibus-Time"),
                            header(conn, "X-Unibus-Nonce"), header(conn, "X-Unibus-Signature")};
    char reason[256];
    int64_t now = store_now_ms();
    auth_headers_result result = auth_headers_parse(&h, now, req, reason, sizeof reason);
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

bool auth_check_signature(server *srv, request *req, reply *out)
{
    if (srv->cfg.bus_auth == BUS_AUTH_OFF || !req->signature[0])
        return true; /* off, or soft with the headers already reported */
    /* Again now the body is in: a body dragged out past the window must not
     * outlive the nonce's memory, nor a revocation made meanwhile. */
    char reason[256];
    int64_t now = store_now_ms();
    auth_headers_result result = auth_time_check(req->signed_time, now, reason, sizeof reason);
    if ((result != AUTH_HEADERS_OK && !refuse_headers(srv, req, out, result, reason, now)) ||
        !check_key(srv, req, out))
        return false;
    char canonical[TARGET_MAX + 256];
    size_t n = busauth_request_canonical(canonical, sizeof canonical, req->method, req->target,
                                         req->signed_time, req->nonce, req->body_sha256);
    if (n == 0 || busauth_verify_text(req->claimed_public_key, canonical, n, req->signature) != BUSAUTH_OK)
        return refuse(srv, req, out, "auth_failed", "signature does not verify");
    return check_replay(srv, req, out);
}
