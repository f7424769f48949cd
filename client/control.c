/* Signed requests to the control plane over libcurl, and their signed answers. */
#include "client_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include "busauth/signing.h"
#include "embedded/clock.h"

#define MAX_RESPONSE (32 * 1024 * 1024)
/* The server rounds its floor up to a whole second above a request time
 * inside its skew window (membershipd/request_floor.c), so floor + 1 is at
 * most about a second beyond that window: a retry waits that long at most. */
#define RETRY_WAIT_MAX_MS 1500

typedef struct {
    char *body;
    size_t len;
    char signature[BUSAUTH_SIG_B64_LEN + 8];
    int retry_after_s;                   /* Retry-After in seconds; 0: none */
    bool too_large;
    FILE *sink;                          /* raw downloads go here, hashed on the way */
    crypto_hash_sha256_state sink_hash;
} response;

unibus_status client_fail(unibus_client *c, unibus_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof c->error, fmt, ap);
    va_end(ap);
    return status;
}

static size_t on_body(char *ptr, size_t size, size_t n, void *ctx)
{
    response *r = ctx;
    size_t add = size * n;
    if (r->sink) {
        crypto_hash_sha256_update(&r->sink_hash, (const uint8_t *)ptr, add);
        r->len += add;
        return fwrite(ptr, 1, add, r->sink);
    }
    if (r->len + add > MAX_RESPONSE) {
        r->too_large = true;
        return 0;
    }
    char *grown = realloc(r->body, r->len + add + 1);
    if (!grown)
        return 0;
    memcpy(grown + r->len, ptr, add);
    r->body = grown;
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

/* The value of header `name` (with its colon) if line is that header. */
static const char *header_value(const char *line, size_t len, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    if (len <= nlen || strncasecmp(line, name, nlen) != 0)
        return NULL;
    const char *v = line + nlen;
    *vlen = len - nlen;
    while (*vlen && *v == ' ')
        v++, (*vlen)--;
    while (*vlen && (v[*vlen - 1] == '\r' || v[*vlen - 1] == '\n'))
        (*vlen)--;
    return v;
}

static size_t on_header(char *line, size_t size, size_t n, void *ctx)
{
    response *r = ctx;
    size_t len = size * n, vlen;
    const char *v;
    if ((v = header_value(line, len, "X-Unibus-Server-Signature:", &vlen)))
        snprintf(r->signature, sizeof r->signature, "%.*s", (int)vlen, v);
    else if ((v = header_value(line, len, "Retry-After:", &vlen)) && vlen && vlen < 6 &&
             strspn(v, "0123456789") >= vlen)
        r->retry_after_s = atoi(v); /* whole seconds: the form membershipd sends */
    return len;
}

static struct curl_slist *add_header(struct curl_slist *h, const char *name, const char *value)
{
    char line[160];
    snprintf(line, sizeof line, "%s: %s", name, value);
    return curl_slist_append(h, line);
}

/* The request signed for the server whose key the client holds (none yet
 * while learning it: the server then cannot bind its answer, see
 * unbound_answer_acceptable); request_sha256 is what the answer must name. */
static struct curl_slist *signed_headers(unibus_client *c, const char *method, const char *target,
                                         const uint8_t body_hash[32], int64_t time,
                                         uint8_t request_sha256[BUSAUTH_SHA256_BYTES])
{
    char time_ms[32], nonce[BUSAUTH_NONCE_HEX_LEN + 1], canonical[2048], sig[BUSAUTH_SIG_B64_LEN + 1];
    snprintf(time_ms, sizeof time_ms, "%lld", (long long)time);
    busauth_nonce_new(nonce);
    busauth_request r = {.server_key = c->node->nkey, .key = c->nkey, .method = method, .target = target,
                         .time_ms = time_ms, .nonce = nonce, .body_sha256 = body_hash};
    size_t n = busauth_request_canonical(canonical, sizeof canonical, &r);
    busauth_sign_text(c->id, canonical, n, sig);
    crypto_hash_sha256(request_sha256, (const uint8_t *)canonical, n);
    struct curl_slist *h = c->node->nkey[0] ? add_header(NULL, "X-Unibus-Server", c->node->nkey) : NULL;
    h = add_header(h, "X-Unibus-Key", c->nkey);
    h = add_header(h, "X-Unibus-Time", time_ms);
    h = add_header(h, "X-Unibus-Nonce", nonce);
    h = add_header(h, "X-Unibus-Signature", sig);
    return curl_slist_append(h, "Expect:");
}

static size_t on_read(char *buf, size_t size, size_t n, void *ctx)
{
    return fread(buf, 1, size * n, ctx);
}

static void set_options(unibus_client *c, const char *url, const char *method, const call_body *body,
                        struct curl_slist *headers, response *r)
{
    curl_easy_reset(c->curl); /* keeps the connection cache: keep-alive survives */
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 1L); /* never switched off */
    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (c->ca_file)
        curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->ca_file);
    if (body && body->text) {
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body->text);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body->text));
    } else if (body && body->file) {
        curl_easy_setopt(c->curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c->curl, CURLOPT_READDATA, body->file);
        curl_easy_setopt(c->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body->file_len);
    }
}

/* What an exchange found besides its status. */
typedef struct {
    int64_t retry_ms;     /* refused as before the server's floor: sign again with this time... */
    int wait_ms;          /* ...after this long (time_after_floor) */
    bool unreachable;     /* the request did not reach the node, or was a GET: another node may take it */
    int retry_after_s;    /* a 503 that says when to retry; 0: none */
    bool maybe_done;      /* a 503 cluster_no_quorum: a change that timed out may still take effect */
} outcome;

static bool is_read(const char *method)
{
    return strcmp(method, "GET") == 0;
}

/* A failed certificate or handshake is an attack signal: never a reason to
 * try another node.  Otherwise, a request that never left (nothing sent),
 * or a read, may go to another node; a change that may have arrived may
 * also have been done. */
static unibus_status transport_error(unibus_client *c, CURLcode rc, const char *method, outcome *o)
{
    bool tls = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ||
               rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM;
    long sent = 0;
    curl_easy_getinfo(c->curl, CURLINFO_REQUEST_SIZE, &sent);
    o->unreachable = !tls && (sent == 0 || is_read(method));
    return client_fail(c, tls ? UNIBUS_ERR_TLS : UNIBUS_ERR_NETWORK, "cannot reach %s: %s%s", c->node->url,
                       curl_easy_strerror(rc),
                       o->unreachable || tls ? "" : " (the request was sent: check whether it was done before "
                                                    "trying again)");
}

static bool signature_verifies(const unibus_client *c, const response *r, const uint8_t *request_sha256,
                               long status, const uint8_t body_hash[32])
{
    char canonical[256];
    size_t n = busauth_response_canonical(canonical, sizeof canonical, request_sha256, (unsigned)status, body_hash);
    return busauth_verify_text(c->node->key, canonical, n, r->signature) == BUSAUTH_OK;
}

/* An answer the server could not bind to a request (its signature did not
 * verify, or named no server yet) says nothing about this request: it is
 * taken only while learning the server key, which is checked on its own,
 * or as one of the refusals the server makes before it authenticates
 * anything.  Never as a success, nor as a 403, 404 or 409 about a thing. */
static bool unbound_answer_acceptable(const unibus_client *c, long status)
{
    return c->learning_key || status == 400 || status == 401 || status == 408 || status == 413 ||
           status == 414 || status == 429 || status == 431 || status == 500 || status == 503;
}

/* The answer is signed by the server as the answer to exactly the request
 * sent (request_sha256), or is an acceptable unbound one. */
static bool response_verifies(const unibus_client *c, response *r, const uint8_t request_sha256[32], long status)
{
    uint8_t hash[32];
    if (r->sink)
        crypto_hash_sha256_final(&r->sink_hash, hash);
    else
        crypto_hash_sha256(hash, (const uint8_t *)(r->body ? r->body : ""), r->len);
    if (signature_verifies(c, r, request_sha256, status, hash))
        return true;
    return unbound_answer_acceptable(c, status) && signature_verifies(c, r, NULL, status, hash);
}

static unibus_status status_of(unibus_client *c, long http, json_t *json)
{
    json_t *err = json_object_get(json, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    const char *message = json_string_value(json_object_get(err, "message"));
    message = message ? message : "no detail";
    if (http == 401 && json_object_get(err, "server_time_ms"))
        return client_fail(c, UNIBUS_ERR_CLOCK_SKEW, "clock skew: %s", message);
    /* Signed as the answer to this very request: it reached the server twice. */
    if (http == 401 && code && strcmp(code, "replay_detected") == 0)
        return client_fail(c, UNIBUS_ERR_AUTH, "the server received this request twice (replayed on the way?) and "
                           "refused the second: the first may have been done; check before trying again");
    if (http == 401)
        return client_fail(c, UNIBUS_ERR_AUTH, "the server refused this identity (%s): %s; is it allowlisted, or revoked?",
                           c->nkey, message);
    unibus_status s = http == 403 ? UNIBUS_ERR_FORBIDDEN : http == 404 ? UNIBUS_ERR_NOT_FOUND
                    : http == 409 ? UNIBUS_ERR_CONFLICT : http == 429 ? UNIBUS_ERR_RATE_LIMITED
                    : http >= 500 ? UNIBUS_ERR_SERVER : http == 400 ? UNIBUS_ERR_INVALID_ARG
                    : UNIBUS_ERR_PROTOCOL;
    return client_fail(c, s, "server said %ld %s: %s", http, code ? code : "", message);
}

unibus_status client_answer_about(unibus_client *c, unibus_status s, const json_t *answer, const char *field,
                                  const char *expected, const char *what)
{
    const char *got = json_string_value(json_object_get(answer, field));
    if (s != UNIBUS_OK || (got && strcmp(got, expected) == 0))
        return s;
    return client_fail(c, UNIBUS_ERR_PROTOCOL, "the server answered about another %s than %s: refusing the answer",
                       what, expected);
}

/* The key the node presents; the response must then verify under it
 * (client_node_settle then checks the key itself). */
static int learn_server_key(unibus_client *c, const response *r)
{
    json_t *info = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
    const char *key = json_string_value(json_object_get(info, "server_key"));
    int rc = key && busauth_nkey_decode_public(key, c->node->key) == BUSAUTH_OK ? 0 : -1;
    if (rc == 0)
        snprintf(c->node->nkey, sizeof c->node->nkey, "%s", key);
    json_decref(info);
    return rc;
}

static unibus_status call_locked(unibus_client *c, const char *method, const char *target, const call_body *body,
                                 FILE *sink, json_t **json);

unibus_status client_call(unibus_client *c, const char *method, const char *target, const char *body,
                          json_t **json)
{
    call_body b = {.text = body};
    crypto_hash_sha256(b.sha256, (const uint8_t *)(body ? body : ""), body ? strlen(body) : 0);
    pthread_mutex_lock(&c->http_lock);
    unibus_status s = call_locked(c, method, target, &b, NULL, json);
    pthread_mutex_unlock(&c->http_lock);
    return s;
}

unibus_status client_call_raw(unibus_client *c, const char *method, const char *target, const call_body *body,
                              FILE *sink, json_t **json)
{
    pthread_mutex_lock(&c->http_lock);
    unibus_status s = call_locked(c, method, target, body, sink, json);
    pthread_mutex_unlock(&c->http_lock);
    return s;
}

/* An error answer to a download went to the sink: read it back to parse it. */
static void reload_error_body(response *r)
{
    if (!r->sink || r->len > 65536 || fseek(r->sink, 0, SEEK_SET) != 0)
        return;
    r->body = malloc(r->len + 1);
    if (r->body)
        r->body[fread(r->body, 1, r->len, r->sink)] = '\0';
}

/* The time to sign a retry with when the server refused this one as not
 * after its floor (it restarted: dev/signed-requests.md, "Restarts"), or 0;
 * *wait_ms is how long to wait first.  floor + 1 is judged against the
 * server's clock as it answered, which only moves on before the retry
 * arrives: inside the server's skew window of that time, at once; up to
 * RETRY_WAIT_MAX_MS beyond it, once that much time has passed. */
static int64_t time_after_floor(long http, json_t *answer, int64_t sent_ms, int *wait_ms)
{
    json_t *err = json_object_get(answer, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    json_t *floor = json_object_get(err, "floor_ms"), *server_time = json_object_get(err, "server_time_ms");
    *wait_ms = 0;
    if (http != 401 || !code || strcmp(code, "time_floor") != 0 || !json_is_integer(floor) ||
        !json_is_integer(server_time))
        return 0;
    int64_t retry = json_integer_value(floor) + 1;
    int64_t beyond = retry - (json_integer_value(server_time) + BUSAUTH_REQUEST_SKEW_MS);
    if (retry <= sent_ms || beyond > RETRY_WAIT_MAX_MS)
        return 0;
    *wait_ms = beyond > 0 ? (int)beyond : 0;
    return retry;
}

/* A 503 that says when to come back: the bus log cannot take changes now
 * (no quorum, an election) or the store is busy. */
static void note_busy(long http, json_t *answer, const response *r, outcome *o)
{
    const char *code = json_string_value(json_object_get(json_object_get(answer, "error"), "code"));
    if (http != 503 || !r->retry_after_s)
        return;
    o->retry_after_s = r->retry_after_s;
    o->maybe_done = code && strcmp(code, "cluster_no_quorum") == 0;
}

/* One signed exchange with c->node at time_ms; o says what else it found. */
static unibus_status exchange(unibus_client *c, const char *method, const char *target, const call_body *body,
                              FILE *sink, json_t **json, int64_t time_ms, outcome *o)
{
    *json = NULL;
    *o = (outcome){0};
    char url[URL_MAX_LEN + 1024];
    uint8_t request_sha256[BUSAUTH_SHA256_BYTES];
    snprintf(url, sizeof url, "%s%s", c->node->url, target);
    response r = {.sink = sink};
    if (sink)
        crypto_hash_sha256_init(&r.sink_hash);
    struct curl_slist *headers = signed_headers(c, method, target, body->sha256, time_ms, request_sha256);
    set_options(c, url, method, body, headers, &r);
    CURLcode rc = curl_easy_perform(c->curl);
    long http = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &http);
    curl_slist_free_all(headers);
    unibus_status status = UNIBUS_OK;
    if (rc != CURLE_OK)
        status = r.too_large ? client_fail(c, UNIBUS_ERR_PROTOCOL, "response over %d bytes", MAX_RESPONSE)
                             : transport_error(c, rc, method, o);
    else if (c->learning_key && http != 200)
        /* No key yet to check the answer with: say what it was, trust nothing in it. */
        status = status_of(c, http, NULL);
    else if (c->learning_key && learn_server_key(c, &r) != 0)
        status = client_fail(c, UNIBUS_ERR_PROTOCOL, "%s/v1/info does not present a server key", c->node->url);
    if (status == UNIBUS_OK && !response_verifies(c, &r, request_sha256, http))
        status = client_fail(c, UNIBUS_ERR_SERVER_KEY,
                             "the response to %s %s is not signed by server key %s as the answer to this request: "
                             "refusing it", method, target, c->node->nkey);
    if (status == UNIBUS_OK && sink && (http < 200 || http > 299))
        reload_error_body(&r);
    json_t *parsed = status == UNIBUS_OK && r.body ? json_loadb(r.body, strlen(r.body), 0, NULL) : NULL;
    if (status == UNIBUS_OK && (http < 200 || http > 299)) {
        o->retry_ms = time_after_floor(http, parsed, time_ms, &o->wait_ms);
        note_busy(http, parsed, &r, o);
        status = status_of(c, http, parsed);
    }
    free(r.body);
    if (status == UNIBUS_OK)
        *json = parsed;
    else
        json_decref(parsed);
    return status;
}

/* Back to where the first attempt started, for a retry. */
static bool rewind_files(const call_body *body, FILE *sink)
{
    if (body->file && fseek(body->file, 0, SEEK_SET) != 0)
        return false;
    return !sink || (fflush(sink) == 0 && ftruncate(fileno(sink), 0) == 0 && fseek(sink, 0, SEEK_SET) == 0);
}

static void sleep_ms(int64_t ms)
{
    nanosleep(&(struct timespec){ms / 1000, ms % 1000 * 1000000L}, NULL);
}

/* One request to c->node, signed again once when refused as before the
 * server's floor (refused, not done: signing it again is safe). */
static unibus_status attempt(unibus_client *c, const char *method, const char *target, const call_body *body,
                             FILE *sink, json_t **json, outcome *o)
{
    unibus_status status = exchange(c, method, target, body, sink, json, clock_wall_ms(), o);
    if (status != UNIBUS_OK && o->retry_ms && rewind_files(body, sink)) {
        sleep_ms(o->wait_ms);
        status = exchange(c, method, target, body, sink, json, o->retry_ms, o);
    }
    return status;
}

unibus_status client_call_node(unibus_client *c, const char *method, const char *target, json_t **json,
                               bool *unreachable)
{
    call_body b = {0};
    crypto_hash_sha256(b.sha256, (const uint8_t *)"", 0);
    outcome o;
    unibus_status s = attempt(c, method, target, &b, NULL, json, &o);
    *unreachable = o.unreachable;
    return s;
}

static client_node *node_after(unibus_client *c, const client_node *node)
{
    return &c->nodes[((size_t)(node - c->nodes) + 1) % c->urls.n];
}

/* The request on c->node, else on each next node in turn that the request
 * did not reach (each tried once): the first that answers is kept. */
static unibus_status attempt_reachable(unibus_client *c, const char *method, const char *target,
                                       const call_body *body, FILE *sink, json_t **json, outcome *o)
{
    unibus_status s = UNIBUS_ERR_NETWORK;
    client_node *node = c->node;
    for (size_t tried = 0; tried < c->urls.n; tried++, node = node_after(c, node)) {
        bool unreachable;
        *o = (outcome){0};
        s = client_node_settle(c, node, &unreachable);
        if (s == UNIBUS_OK && !rewind_files(body, sink))
            return client_fail(c, UNIBUS_ERR_INVALID_ARG, "cannot rewind the file to send it again");
        if (s == UNIBUS_OK)
            s = attempt(c, method, target, body, sink, json, o);
        if (!unreachable && !o->unreachable)
            return s;
    }
    return client_fail_unreachable(c, s);
}

/* Retried after a 503 with Retry-After, on the next node: the error then
 * says it was given up after the bound, and for a 404 or 409 that an
 * earlier try refused in doubt may have done it. */
static unibus_status explain_final(unibus_client *c, unibus_status s, bool gave_up, bool maybe_done)
{
    char was[sizeof c->error];
    snprintf(was, sizeof was, "%s", c->error);
    if (gave_up)
        return client_fail(c, s, "%s (still refused after retrying for %lld s: are most of the bus's nodes up?)",
                           was, (long long)(c->retry_bound_ms / 1000));
    if (maybe_done && (s == UNIBUS_ERR_CONFLICT || s == UNIBUS_ERR_NOT_FOUND))
        return client_fail(c, s, "%s (an earlier try of this request was refused while the bus log had no "
                           "quorum and may have taken effect: check whether it did)", was);
    return s;
}

static unibus_status call_locked(unibus_client *c, const char *method, const char *target, const call_body *body,
                                 FILE *sink, json_t **json)
{
    int64_t deadline = clock_mono_ms() + c->retry_bound_ms;
    bool maybe_done = false, gave_up = false;
    outcome o;
    unibus_status s;
    while ((s = attempt_reachable(c, method, target, body, sink, json, &o)) != UNIBUS_OK && o.retry_after_s) {
        maybe_done = maybe_done || o.maybe_done;
        int64_t wait = o.retry_after_s * 1000LL;
        if ((gave_up = clock_mono_ms() + wait > deadline))
            break;
        sleep_ms(wait);
        c->node = node_after(c, c->node); /* a leader may be elected, or another node may have quorum */
    }
    return explain_final(c, s, gave_up, maybe_done);
}
