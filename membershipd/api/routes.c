#include "membershipd/api/routes.h"

#include <stdio.h>
#include <string.h>
#include "busauth/nkey.h"
#include "embedded/clock.h"
#include "common/log.h"

static const route ROUTES[] = {
    {"GET", "/v1/health", ACCESS_PUBLIC, 0, api_health},
    {"GET", "/v1/info", ACCESS_PUBLIC, 0, api_info},
    {"GET", "/v1/me", ACCESS_USER, 0, api_me},
    {"GET", "/v1/users", ACCESS_ADMIN, 0, api_user_list},
    {"POST", "/v1/users", ACCESS_ADMIN, JSON_BODY_LIMIT, api_user_add},
    {"GET", "/v1/users/{nkey}", ACCESS_USER, 0, api_user_get},
    {"DELETE", "/v1/users/{nkey}", ACCESS_ADMIN, 0, api_user_revoke},
    {"GET", "/v1/rooms", ACCESS_USER, 0, api_room_list},
    {"POST", "/v1/rooms", ACCESS_USER, JSON_BODY_LIMIT, api_room_create},
    {"GET", "/v1/rooms/{room}", ACCESS_USER, 0, api_room_get},
    {"POST", "/v1/rooms/{room}/members", ACCESS_USER, JSON_BODY_LIMIT, api_room_member_add},
    {"DELETE", "/v1/rooms/{room}/members/{nkey}", ACCESS_USER, 0, api_room_member_remove},
    {"PUT", "/v1/rooms/{room}/keys", ACCESS_USER, JSON_BODY_LIMIT, api_room_keys_put},
    {"GET", "/v1/rooms/{room}/key", ACCESS_USER, 0, api_room_key_get},
    {"PUT", "/v1/blobs/{sha256}", ACCESS_USER, BLOB_BODY_LIMIT, api_blob_put},
    {"GET", "/v1/blobs/{sha256}", ACCESS_USER, 0, api_blob_get},
    {"POST", "/v1/join", ACCESS_PUBLIC, JOIN_BODY_LIMIT, api_join},
};

_Static_assert(sizeof ROUTES / sizeof ROUTES[0] <= ROUTE_COUNT_MAX, "raise ROUTE_COUNT_MAX");

size_t route_count(void)
{
    return sizeof ROUTES / sizeof ROUTES[0];
}

const route *route_at(size_t index)
{
    return &ROUTES[index];
}

size_t route_index(const route *r)
{
    return (size_t)(r - ROUTES);
}

bool route_target_valid(const char *target)
{
    static const char path_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_.-";
    static const char query_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-=&";
    if (target[0] != '/')
        return false;
    size_t path_len = strspn(target, path_chars);
    if (target[path_len] == '\0')
        return true;
    return target[path_len] == '?' && target[path_len + 1 + strspn(target + path_len + 1, query_chars)] == '\0';
}

static bool is_lower_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* A parameter segment must have its exact shape, or the route does not match. */
static bool param_fits(const char *name, size_t name_len, const char *seg, size_t len)
{
    if (strncmp(name, "{room}", name_len) == 0)
        return len == STORE_ROOM_ID_LEN && is_lower_hex(seg, len);
    if (strncmp(name, "{sha256}", name_len) == 0)
        return len == 64 && is_lower_hex(seg, len);
    if (strncmp(name, "{nkey}", name_len) == 0)
        return len == BUSAUTH_NKEY_PUBLIC_LEN && strspn(seg, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") >= len;
    return false;
}

static bool path_matches(const char *pattern, const char *path, request *req)
{
    size_t nparams = 0;
    while (*pattern && *path) {
        if (*pattern != '/' || *path != '/')
            return false;
        pattern++, path++;
        size_t plen = strcspn(pattern, "/"), len = strcspn(path, "/");
        if (pattern[0] == '{') {
            if (!param_fits(pattern, plen, path, len) || nparams == ROUTE_MAX_PARAMS)
                return false;
            snprintf(req->params[nparams++], ROUTE_PARAM_MAX + 1, "%.*s", (int)len, path);
        } else if (plen != len || strncmp(pattern, path, len) != 0) {
            return false;
        }
        pattern += plen, path += len;
    }
    return !*pattern && !*path;
}

const route *route_match(const char *method, const char *path, request *req, bool *path_known)
{
    *path_known = false;
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++) {
        if (!path_matches(ROUTES[i].pattern, path, req))
            continue;
        if (strcmp(ROUTES[i].method, method) == 0)
            return &ROUTES[i];
        *path_known = true;
    }
    return NULL;
}

static void audit_denial(server *srv, request *req)
{
    store_actor by = request_actor(req);
    char action[96];
    snprintf(action, sizeof action, "%s %s", req->method, req->route ? req->route->pattern : "?");
    pthread_mutex_lock(&srv->store_lock);
    store_audit_append(srv->store, &by, action, req->target, "denied");
    pthread_mutex_unlock(&srv->store_lock);
}

/* Every change is a bus-log entry each node applies, and most reload
 * every node's nats-server: one member looping changes stalled a 10,000-
 * user cluster (dev/control-plane-limits.md), whatever addresses she used.
 * Per member, on each node; admins are trusted with bulk changes. */
static bool member_change_allowed(server *srv, request *req, reply *out)
{
    unsigned retry = 1;
    if (req->caller.role == STORE_ROLE_ADMIN || strcmp(req->method, "GET") == 0)
        return true;
    if ((req->change_charged = ratelimit_take_key(srv->member_limits, req->claimed_public_key, clock_mono_ms(),
                                                  &retry)))
        return true;
    reply_error(out, 429, "rate_limited", "this member made changes faster than --member-rate %g/s (burst %u); "
                "retry in %u s", srv->cfg.member_rate, srv->cfg.member_burst, retry);
    out->retry_after_s = retry;
    return false;
}

static bool allowed(server *srv, request *req, reply *out)
{
    route_access access = req->route->access;
    if (access == ACCESS_PUBLIC)
        return true;
    /* Its allowlist may miss revocations the others made (dev/cluster.md). */
    if (srv->cut_off && srv->cut_off(srv)) {
        reply_error(out, 503, "cluster_stale", "this node is cut off from most of the bus (or behind it) for longer "
                    "than --max-stale, so it serves no signed request: use another node");
        out->retry_after_s = 2;
        return false;
    }
    if (!req->has_caller) {
        reply_error(out, 401, "auth_failed", "this route needs a request signed by an allowlisted key");
        out->denied = true;
        return false;
    }
    if (access == ACCESS_ADMIN && req->caller.role != STORE_ROLE_ADMIN) {
        reply_error(out, 403, "forbidden", "this route is for admins");
        out->denied = true;
        return false;
    }
    return member_change_allowed(srv, req, out);
}

/* A busy store is the one failure known to have done nothing: a client
 * that retries it must not run out (tenth pass, F4).  Not a change whose
 * outcome is unknown (503 cluster_no_quorum), saved (503
 * dataplane_pending), or her own quota (507): eleventh pass, F2 and F3. */
static bool did_nothing(const reply *out)
{
    return out->error_code && strcmp(out->error_code, "store_busy") == 0;
}

void route_dispatch(server *srv, request *req, reply *out)
{
    if (allowed(srv, req, out)) {
        req->route->handler(srv, req, out);
        if (req->change_charged && did_nothing(out)) {
            ratelimit_give_back_key(srv->member_limits, req->claimed_public_key);
            req->change_charged = false;
        }
    }
    route_audit_if_denied(srv, req, out);
}

static void note_suppressed(server *srv, int64_t now, bool now_or_never)
{
    long long last = atomic_load(&srv->audit_suppressed_logged_ms); /* atomic_llong's own type (clang checks) */
    if ((!now_or_never && now - last < AUDIT_SUPPRESSED_LOG_MS) || atomic_load(&srv->audit_suppressed) == 0 ||
        !atomic_compare_exchange_strong(&srv->audit_suppressed_logged_ms, &last, now))
        return;
    unsigned count = atomic_exchange(&srv->audit_suppressed, 0);
    log_event(LOG_WARN, "audit_suppressed", "count=%u detail=\"denials past an audit budget (unknown keys' failed "
              "authentications over %d/s, a known key's over %d/s, a member's refusals past --member-rate) went to "
              "the request log only\"", count, AUDIT_FAILED_AUTH_RATE, AUDIT_KEY_RATE);
    char target[64];
    snprintf(target, sizeof target, "denials:%u", count);
    const store_actor by = {.actor = "membershipd"};
    pthread_mutex_lock(&srv->store_lock);
    store_audit_append(srv->store, &by, "audit.suppressed", target, "denied");
    pthread_mutex_unlock(&srv->store_lock);
}

static bool suppressed_unless(server *srv, bool taken, int64_t now)
{
    if (taken)
        return true;
    atomic_fetch_add(&srv->audit_suppressed, 1);
    note_suppressed(srv, now, false);
    return false;
}

/* Anyone can send requests that fail authentication, from as many
 * addresses as they have, each a row on disk: those rows come out of one
 * server-wide budget, and what it suppresses is counted. */
bool route_audit_budget_take(server *srv)
{
    static const struct sockaddr_in everyone = {.sin_family = AF_INET};
    unsigned retry;
    int64_t now = clock_mono_ms();
    return suppressed_unless(srv, ratelimit_take(srv->audit_budget, (const struct sockaddr *)&everyone, now, &retry),
                             now);
}

/* Every refusal is a row, and in a cluster an entry every node applies.
 * A key on the allowlist, active or revoked, refused authentication (a bad
 * signature, a replay, a revoked key): that key's own budget, which
 * strangers cannot spend (eleventh pass, F1: a revoked admin's attempts
 * went unrecorded once unknown keys had spent the server-wide one), and
 * not her change budget (whoever holds a copy of her request can replay
 * it).  A member's refusals (403, hidden 404): her --member-rate budget,
 * already paid for by a change (the tenth pass wrote 39 entries a second
 * with refused GETs).  An admin's refusals: always. */
static bool audit_budget_allows(server *srv, const request *req, const reply *out)
{
    unsigned retry;
    int64_t now = clock_mono_ms();
    if (out->status == 401 && req->caller.id)
        return suppressed_unless(srv, ratelimit_take_key(srv->key_audit, req->claimed_public_key, now, &retry), now);
    if (out->status == 401)
        return route_audit_budget_take(srv);
    if (!req->has_caller || req->caller.role == STORE_ROLE_ADMIN || req->change_charged)
        return true;
    return suppressed_unless(srv, ratelimit_take_key(srv->member_limits, req->claimed_public_key, now, &retry), now);
}

void route_audit_suppressed_flush(server *srv, bool stopping)
{
    note_suppressed(srv, clock_mono_ms(), stopping);
}

void route_audit_if_denied(server *srv, request *req, const reply *out)
{
    if (out->denied && audit_budget_allows(srv, req, out))
        audit_denial(srv, req);
}
