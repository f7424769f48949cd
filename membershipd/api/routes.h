/*
 * The /v1 API: one table of routes, each with who may call it and how
 * large a body it takes.  Authorization is default-deny: a route is public
 * only when the table says so.
 */
#ifndef MEMBERSHIPD_ROUTES_H
#define MEMBERSHIPD_ROUTES_H

#include "membershipd/http/server.h"

typedef enum { ACCESS_PUBLIC, ACCESS_USER, ACCESS_ADMIN } route_access;

typedef void (*route_handler)(server *srv, request *req, reply *out);

typedef struct route {
    const char *method;
    const char *pattern; /* segments; {room}, {nkey}, {sha256} are parameters */
    route_access access;
    size_t body_limit;
    route_handler handler;
} route;

/* The table's size has this bound, so per-route counters can be a fixed
 * array (membershipd/metrics/metrics.c). */
#define ROUTE_COUNT_MAX 32
size_t route_count(void);
const route *route_at(size_t index);
/* route's position in the table: route_at(route_index(r)) == r. */
size_t route_index(const route *r);

/* A request target of only the characters dev/signed-requests.md allows
 * (there is nothing to percent-decode), starting with '/'. */
bool route_target_valid(const char *target);

/* Matches method and path (the target without its query); fills
 * req->params.  On no match returns NULL, with *path_known set when the
 * path exists for another method. */
const route *route_match(const char *method, const char *path, request *req, bool *path_known);

/* Runs the route's handler once the caller is authenticated: checks the
 * route's access rule first, then audits denials. */
void route_dispatch(server *srv, request *req, reply *out);

/* Writes the audit entry for a refused request (out->denied).  Failed
 * authentications come from a server-wide budget (AUDIT_FAILED_AUTH_*);
 * how many it left out is recorded as one "audit.suppressed" row (and a
 * log line) at most once per AUDIT_SUPPRESSED_LOG_MS. */
void route_audit_if_denied(server *srv, request *req, const reply *out);
/* One audit row's worth of the server-wide budget for refusals anyone
 * can cause (failed authentications, refused joins); false, counted as
 * suppressed, when it is spent. */
bool route_audit_budget_take(server *srv);
/* Records suppressed failed authentications not yet recorded: when the
 * interval has passed, or now when stopping.  Called once a second. */
void route_audit_suppressed_flush(server *srv, bool stopping);

/* Handlers, in api_*.c. */
void api_health(server *srv, request *req, reply *out);
void api_info(server *srv, request *req, reply *out);
void api_me(server *srv, request *req, reply *out);
void api_user_get(server *srv, request *req, reply *out);
void api_user_list(server *srv, request *req, reply *out);
void api_user_add(server *srv, request *req, reply *out);
void api_user_revoke(server *srv, request *req, reply *out);
void api_room_create(server *srv, request *req, reply *out);
void api_room_list(server *srv, request *req, reply *out);
void api_room_get(server *srv, request *req, reply *out);
void api_room_member_add(server *srv, request *req, reply *out);
void api_room_member_remove(server *srv, request *req, reply *out);
void api_room_keys_put(server *srv, request *req, reply *out);
void api_room_key_get(server *srv, request *req, reply *out);
void api_blob_put(server *srv, request *req, reply *out);
void api_blob_get(server *srv, request *req, reply *out);
void api_join(server *srv, request *req, reply *out);

#endif
