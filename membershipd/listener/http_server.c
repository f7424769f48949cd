#include "membershipd/listener/http_server.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <microhttpd.h>
#include "embedded/clock.h"
#include "common/cli_args.h"
#include "membershipd/http/conn_guard.h"
#include "common/log.h"
#include "membershipd/metrics/metrics.h"
#include "membershipd/http/reply.h"
#include "membershipd/http/request_auth.h"
#include "membershipd/api/routes.h"
#include "membershipd/config/tls_files.h"

static void peer_of(struct MHD_Connection *conn, request *req)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = info ? info->client_addr : NULL;
    if (!sa) {
        snprintf(req->ip, sizeof req->ip, "unknown");
        return;
    }
    size_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    memcpy(&req->peer, sa, len);
    const void *addr = sa->sa_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                                                 : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
    inet_ntop(sa->sa_family, addr, req->ip, sizeof req->ip);
}

/* MHD calls this with the raw request target, before anything else: the
 * exact bytes the client signed. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *conn)
{
    server *srv = cls;
    request *req = calloc(1, sizeof *req);
    if (!req)
        return NULL;
    size_t len = strlen(uri);
    req->target_too_long = len > TARGET_MAX;
    snprintf(req->target, sizeof req->target, "%s", req->target_too_long ? "" : uri);
    uint8_t id[8];
    randombytes_buf(id, sizeof id);
    sodium_bin2hex(req->id, sizeof req->id, id, sizeof id);
    req->started_ms = clock_mono_ms();
    req->query = "";
    crypto_hash_sha256_init(&req->hash);
    peer_of(conn, req);
    atomic_fetch_add(&srv->in_flight, 1);
    return req;
}

static int sum_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

static bool check_target(struct MHD_Connection *conn, request *req, reply *out)
{
    size_t header_bytes = 0;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, (MHD_KeyValueIterator)sum_header, &header_bytes);
    if (header_bytes > HTTP_HEADER_LIMIT) {
        reply_error(out, 431, "headers_too_large", "request headers exceed %d bytes", HTTP_HEADER_LIMIT);
        return false;
    }
    if (req->target_too_long) {
        reply_error(out, 414, "uri_too_long", "request target exceeds %d bytes", TARGET_MAX);
        return false;
    }
    if (!route_target_valid(req->target)) {
        reply_error(out, 400, "bad_request", "request target may hold only letters, digits and / _ . - (query: = &)");
        return false;
    }
    char *q = strchr(req->target, '?');
    req->query = q ? q + 1 : "";
    return true;
}

static bool find_route(request *req, reply *out)
{
    char path[TARGET_MAX + 1];
    snprintf(path, sizeof path, "%.*s", (int)strcspn(req->target, "?"), req->target);
    bool path_known;
    req->route = route_match(req->method, path, req, &path_known);
    if (req->route)
        return true;
    if (path_known)
        reply_error(out, 405, "method_not_allowed", "%s is not allowed on this path", req->method);
    else
        reply_error(out, 404, "not_found", "no such route");
    return false;
}

/* Declared lengths over the cap are refused before a byte of body is read. */
static bool check_declared_length(struct MHD_Connection *conn, request *req, reply *out)
{
    req->body_limit = req->route->body_limit;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl)
        return true;
    char *end;
    unsigned long long declared = strtoull(cl, &end, 10);
    if (*end == '\0' && declared <= req->body_limit)
        return true;
    reply_error(out, 413, "message_too_large", "request body over %zu bytes for this route", req->body_limit);
    return false;
}

static enum MHD_Result respond(server *srv, struct MHD_Connection *conn, request *req, reply *out)
{
    route_audit_if_denied(srv, req, out);
    return reply_send(srv, conn, req, out);
}

static conn_slot *slot_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

static enum MHD_Result start(server *srv, struct MHD_Connection *conn, request *req)
{
    reply out = {0};
    unsigned retry;
    conn_guard_busy(srv->conns, slot_of(conn));
    if (!ratelimit_take(srv->limits, (struct sockaddr *)&req->peer, clock_mono_ms(), &retry)) {
        reply_error(&out, 429, "rate_limited", "too many requests from this address; retry in %u s", retry);
        out.retry_after_s = retry;
        return respond(srv, conn, req, &out);
    }
    bool ok = check_target(conn, req, &out) && find_route(req, &out) &&
              check_declared_length(conn, req, &out) &&
              (req->route->access == ACCESS_PUBLIC || auth_check_headers(srv, conn, req, &out));
    if (ok && req->route->access == ACCESS_PUBLIC)
        auth_note_headers(srv, conn, req);
    return ok ? MHD_YES : respond(srv, conn, req, &out);
}

static bool grow_body(request *req, size_t need)
{
    if (need <= req->body_cap)
        return true;
    size_t cap = req->body_cap ? req->body_cap : 4096;
    while (cap < need)
        cap *= 2;
    if (cap > req->body_limit)
        cap = req->body_limit;
    uint8_t *body = realloc(req->body, cap);
    if (!body)
        return false;
    req->body = body;
    req->body_cap = cap;
    return true;
}

/* Chunked or lying bodies are cut off at the cap: nothing past it is kept. */
static bool overdue(const request *req, reply *out)
{
    if (clock_mono_ms() - req->started_ms <= HTTP_REQUEST_DEADLINE_MS)
        return false;
    reply_error(out, 408, "request_timeout", "the request took over %d ms from headers to end of body",
                HTTP_REQUEST_DEADLINE_MS);
    return true;
}

static enum MHD_Result absorb(server *srv, struct MHD_Connection *conn, request *req,
                              const char *data, size_t n)
{
    reply out = {0};
    if (overdue(req, &out))
        return respond(srv, conn, req, &out);
    if (n > req->body_limit - req->body_len) {
        reply_error(&out, 413, "message_too_large", "request body over %zu bytes for this route", req->body_limit);
        return respond(srv, conn, req, &out);
    }
    if (!grow_body(req, req->body_len + n)) {
        reply_error(&out, 503, "server_busy", "out of memory for this request");
        return respond(srv, conn, req, &out);
    }
    memcpy(req->body + req->body_len, data, n);
    req->body_len += n;
    crypto_hash_sha256_update(&req->hash, (const uint8_t *)data, n);
    return MHD_YES;
}

static enum MHD_Result finish(server *srv, struct MHD_Connection *conn, request *req)
{
    reply out = {0};
    crypto_hash_sha256_final(&req->hash, req->body_sha256);
    if (overdue(req, &out))
        return respond(srv, conn, req, &out);
    if (req->route->access == ACCESS_PUBLIC)
        auth_verify_for_reply(srv, req); /* refuses nothing: says what the answer is to */
    if (req->route->access == ACCESS_PUBLIC || auth_check_signature(srv, req, &out))
        route_dispatch(srv, req, &out);
    else
        route_audit_if_denied(srv, req, &out);
    return reply_send(srv, conn, req, &out);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)url, (void)version;
    server *srv = cls;
    request *req = *con_cls;
    if (!req)
        return MHD_NO; /* out of memory: drop the connection */
    if (!req->started) {
        req->started = true;
        req->method = method;
        return start(srv, conn, req);
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return req->responded ? MHD_YES : absorb(srv, conn, req, upload_data, n);
    }
    return req->responded ? MHD_YES : finish(srv, conn, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    server *srv = cls;
    request *req = *con_cls;
    if (!req)
        return;
    conn_guard_idle(srv->conns, slot_of(conn));
    double ms = (double)(clock_mono_ms() - req->started_ms);
    log_event(req->status >= 500 ? LOG_ERROR : LOG_INFO, "request",
              "req=%s ip=%s key=%s method=%s route=%s status=%u code=%s dur_ms=%.0f end=%d", req->id,
              req->ip, req->claimed_key[0] ? req->claimed_key : "-", req->method ? req->method : "-",
              req->route ? req->route->pattern : "-", req->status, req->error_code ? req->error_code : "-",
              ms, (int)why);
    metrics_request_done(req->route, req->responded ? req->status : 0, req->error_code);
    free(req->body);
    free(req);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->in_flight, 1);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode event)
{
    server *srv = cls;
    if (event == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn_guard_close(srv->conns, *socket_context);
        return;
    }
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    *socket_context = info ? conn_guard_open(srv->conns, info->connect_fd) : NULL;
}

/* MHD's own format strings (clang checks them only when told). */
__attribute__((format(printf, 2, 0))) static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char text[512];
    vsnprintf(text, sizeof text, fmt, ap);
    text[strcspn(text, "\n")] = '\0';
    log_event(LOG_WARN, "http", "detail=\"%s\"", text);
}

struct MHD_Daemon *http_mhd_start(server *srv, int listen_fd, const char *cert_pem, const char *key_pem)
{
    /* A thread per connection: a handler may wait for the data plane to
     * apply its change without stalling other clients; the connection caps
     * bound the threads. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (cert_pem)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key_pem},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)tls_priorities(srv->cfg.tls_min)},
        {MHD_OPTION_END, 0, NULL},
    };
    return MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, srv,
        MHD_OPTION_LISTEN_SOCKET, listen_fd,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)HTTP_THREAD_STACK,
        MHD_OPTION_CONNECTION_LIMIT, srv->cfg.max_conns + HTTP_CLOSING_HEADROOM(srv->cfg.max_conns),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, srv->cfg.max_conns_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(2 * HTTP_HEADER_LIMIT),
        MHD_OPTION_URI_LOG_CALLBACK, on_request_line, srv,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
        MHD_OPTION_ARRAY, cert_pem ? tls : tls + 3,
        MHD_OPTION_END);
}
