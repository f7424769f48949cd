/* Signed requests to the control plane over libcurl, and their signed answers. */
#include "client_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "busauth/signing.h"

#define MAX_RESPONSE (32 * 1024 * 1024)

typedef struct {
    char *body;
    size_t len;
    char signature[BUSAUTH_SIG_B64_LEN + 8];
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

static size_t on_header(char *line, size_t size, size_t n, void *ctx)
{
    response *r = ctx;
    size_t len = size * n;
    static const char name[] = "X-Unibus-Server-Signature:";
    if (len > sizeof name && strncasecmp(line, name, sizeof name - 1) == 0) {
        const char *v = line + sizeof name - 1;
        size_t vlen = len - (sizeof name - 1);
        while (vlen && *v == ' ')
            v++, vlen--;
        while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
            vlen--;
        snprintf(r->signature, sizeof r->signature, "%.*s", (int)vlen, v);
    }
    return len;
}

static struct curl_slist *signed_headers(unibus_client *c, const char *method, const char *target,
                                         const uint8_t body_hash[32], char nonce[BUSAUTH_NONCE_HEX_LEN + 1])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char time_ms[32], canonical[2048], sig[BUSAUTH_SIG_B64_LEN + 1], line[160];
    snprintf(time_ms, sizeof time_ms, "%lld", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    busauth_nonce_new(nonce);
    size_t n = busauth_request_canonical(canonical, sizeof canonical, method, target, time_ms, nonce, body_hash);
    busauth_sign_text(c->id, canonical, n, sig);
    struct curl_slist *h = NULL;
    snprintf(line, sizeof line, "X-Unibus-Key: %s", c->nkey);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "X-Unibus-Time: %s", time_ms);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "X-Unibus-Nonce: %s", nonce);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "X-Unibus-Signature: %s", sig);
    h = curl_slist_append(h, line);
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

static unibus_status transport_error(unibus_client *c, CURLcode rc)
{
    bool tls = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ||
               rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM;
    return client_fail(c, tls ? UNIBUS_ERR_TLS : UNIBUS_ERR_NETWORK, "cannot reach %s: %s", c->url,
                       curl_easy_strerror(rc));
}

static bool response_verifies(const unibus_client *c, response *r, const char *nonce, long status)
{
    uint8_t hash[32];
    char canonical[256];
    if (r->sink)
        crypto_hash_sha256_final(&r->sink_hash, hash);
    else
        crypto_hash_sha256(hash, (const uint8_t *)(r->body ? r->body : ""), r->len);
    size_t n = busauth_response_canonical(canonical, sizeof canonical, nonce, (unsigned)status, hash);
    return busauth_verify_text(c->server_key, canonical, n, r->signature) == BUSAUTH_OK;
}

static unibus_status status_of(unibus_client *c, long http, json_t *json)
{
    json_t *err = json_object_get(json, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    const char *message = json_string_value(json_object_get(err, "message"));
    message = message ? message : "no detail";
    if (http == 401 && json_object_get(err, "server_time_ms"))
        return client_fail(c, UNIBUS_ERR_CLOCK_SKEW, "clock skew: %s", message);
    if (http == 401)
        return client_fail(c, UNIBUS_ERR_AUTH, "the server refused this identity (%s): %s; is it allowlisted, or revoked?",
                           c->nkey, message);
    unibus_status s = http == 403 ? UNIBUS_ERR_FORBIDDEN : http == 404 ? UNIBUS_ERR_NOT_FOUND
                    : http == 409 ? UNIBUS_ERR_CONFLICT : http == 429 ? UNIBUS_ERR_RATE_LIMITED
                    : http >= 500 ? UNIBUS_ERR_SERVER : http == 400 ? UNIBUS_ERR_INVALID_ARG
                    : UNIBUS_ERR_PROTOCOL;
    return client_fail(c, s, "server said %ld %s: %s", http, code ? code : "", message);
}

/* The key the server presents; the response must then verify under it. */
static int learn_server_key(unibus_client *c, const response *r)
{
    json_t *info = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
    const char *key = json_string_value(json_object_get(info, "server_key"));
    int rc = key && busauth_nkey_decode_public(key, c->server_key) == BUSAUTH_OK ? 0 : -1;
    if (rc == 0)
        snprintf(c->server_nkey, sizeof c->server_nkey, "%s", key);
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

static unibus_status call_locked(unibus_client *c, const char *method, const char *target, const call_body *body,
                                 FILE *sink, json_t **json)
{
    *json = NULL;
    char url[2048], nonce[BUSAUTH_NONCE_HEX_LEN + 1];
    snprintf(url, sizeof url, "%s%s", c->url, target);
    response r = {.sink = sink};
    if (sink)
        crypto_hash_sha256_init(&r.sink_hash);
    struct curl_slist *headers = signed_headers(c, method, target, body->sha256, nonce);
    set_options(c, url, method, body, headers, &r);
    CURLcode rc = curl_easy_perform(c->curl);
    long http = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &http);
    curl_slist_free_all(headers);
    unibus_status status = UNIBUS_OK;
    if (rc != CURLE_OK)
        status = r.too_large ? client_fail(c, UNIBUS_ERR_PROTOCOL, "response over %d bytes", MAX_RESPONSE)
                             : transport_error(c, rc);
    else if (c->learning_key && http != 200)
        /* No key yet to check the answer with: say what it was, trust nothing in it. */
        status = status_of(c, http, NULL);
    else if (c->learning_key && learn_server_key(c, &r) != 0)
        status = client_fail(c, UNIBUS_ERR_PROTOCOL, "%s/v1/info does not present a server key", c->url);
    if (status == UNIBUS_OK && !response_verifies(c, &r, nonce, http))
        status = client_fail(c, UNIBUS_ERR_SERVER_KEY,
                             "the response to %s %s is not signed by server key %s: refusing it", method,
                             target, c->server_nkey);
    if (status == UNIBUS_OK && sink && (http < 200 || http > 299))
        reload_error_body(&r);
    json_t *parsed = status == UNIBUS_OK && r.body ? json_loadb(r.body, strlen(r.body), 0, NULL) : NULL;
    if (status == UNIBUS_OK && (http < 200 || http > 299))
        status = status_of(c, http, parsed);
    free(r.body);
    if (status == UNIBUS_OK)
        *json = parsed;
    else
        json_decref(parsed);
    return status;
}
