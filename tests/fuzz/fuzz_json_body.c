/*
 * Every route that takes a JSON body, as the handler sees it: the route
 * from the real table, the caller already authenticated, the body as
 * received, a real SQLite store behind.  After a change, the data plane's
 * configuration is rendered from the store and checked as in
 * fuzz_nats_config.c: hostile names through the API must not reach it.
 * Input: a route byte, a caller byte, then the body.
 */
#include <string.h>
#include "fuzz.h"
#include "fuzz_world.h"
#include "membershipd/api/routes.h"

static void route_for(uint8_t pick, const fuzz_world *w, char *method, char target[TARGET_MAX + 1])
{
    const char *room = pick & 0x10 ? w->cleartext.id : w->e2e.id;
    switch (pick % 4) {
    case 0: strcpy(method, "POST"), snprintf(target, TARGET_MAX + 1, "/v1/users"); break;
    case 1: strcpy(method, "POST"), snprintf(target, TARGET_MAX + 1, "/v1/rooms"); break;
    case 2: strcpy(method, "POST"), snprintf(target, TARGET_MAX + 1, "/v1/rooms/%s/members", room); break;
    default: strcpy(method, "PUT"), snprintf(target, TARGET_MAX + 1, "/v1/rooms/%s/keys", room); break;
    }
}

static void authenticate(const fuzz_world *w, uint8_t pick, request *req)
{
    req->caller = w->users[pick % WORLD_USERS];
    req->has_caller = true;
    busauth_nkey_encode_public(req->caller.public_key, req->claimed_key);
}

/* A refusal is a client error with a one-line message; never a 500. */
static void check_reply(const reply *out)
{
    FUZZ_CHECK(out->status >= 200 && out->status < 500);
    json_t *error = json_object_get(out->json, "error");
    const char *message = json_string_value(json_object_get(error, "message"));
    FUZZ_CHECK(out->status < 400 ? !error : message && message[0] && !strchr(message, '\n'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fuzz_world w;
    static server srv;
    if (size < 2)
        return 0;
    fuzz_world_open(&w);
    srv.store = w.st;
    srv.identity = (busauth_identity *)w.server;
    srv.cfg.bind_is_loopback = data[0] & 0x20;
    if (!srv.member_limits) { /* the limits never bite here: the fuzzer explores the routes */
        srv.member_limits = ratelimit_new(1e6, 1000000, 64);
        srv.key_audit = ratelimit_new(1e6, 1000000, 64);
        srv.audit_budget = ratelimit_new(1e6, 1000000, 1);
    }
    pthread_mutex_init(&srv.store_lock, NULL);

    request *req = calloc(1, sizeof *req);
    char method[8];
    bool path_known;
    route_for(data[0], &w, method, req->target);
    req->method = method;
    req->query = "";
    req->route = route_match(method, req->target, req, &path_known);
    FUZZ_CHECK(req->route && req->route->body_limit >= size - 2);
    snprintf(req->id, sizeof req->id, "fuzz");
    snprintf(req->ip, sizeof req->ip, "127.0.0.1");
    authenticate(&w, data[1], req);
    req->body_len = size - 2;
    req->body = malloc(req->body_len + 1);
    memcpy(req->body, data + 2, req->body_len);

    reply out = {0};
    route_dispatch(&srv, req, &out);
    check_reply(&out);
    if (out.status < 300) {
        fuzz_world_render_and_check(&w);
    }
    json_decref(out.json);
    if (out.stream.release) /* a blob read back, never sent here */
        out.stream.release(out.stream.ctx);
    free(req->body);
    free(req);
    pthread_mutex_destroy(&srv.store_lock);
    return 0;
}
