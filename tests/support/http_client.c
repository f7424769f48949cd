#include "http_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <sodium.h>

typedef struct {
    const uint8_t *data;
    size_t len, pos;
} upload;

static size_t on_body(char *ptr, size_t size, size_t n, void *ctx)
{
    http_result *r = ctx;
    size_t add = size * n;
    char *grown = realloc(r->body, r->body_len + add + 1);
    if (!grown)
        return 0;
    memcpy(grown + r->body_len, ptr, add);
    r->body = grown;
    r->body_len += add;
    r->body[r->body_len] = '\0';
    return add;
}

static void copy_header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t name_len = strlen(name);
    if (len <= name_len || strncasecmp(line, name, name_len) != 0)
        return;
    const char *v = line + name_len;
    size_t vlen = len - name_len;
    while (vlen && (*v == ' '))
        v++, vlen--;
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
        vlen--;
    snprintf(out, cap, "%.*s", (int)vlen, v);
}

static size_t on_header(char *line, size_t size, size_t n, void *ctx)
{
    http_result *r = ctx;
    size_t len = size * n;
    copy_header_value(line, len, "X-Unibus-Server-Signature:", r->server_signature, sizeof r->server_signature);
    copy_header_value(line, len, "Retry-After:", r->retry_after, sizeof r->retry_after);
    return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ctx)
{
    upload *u = ctx;
    size_t room = size * n, left = u->len - u->pos;
    size_t take = left < room ? left : room;
    memcpy(buf, u->data + u->pos, take);
    u->pos += take;
    return take;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void flip_last(char *s)
{
    size_t len = strlen(s);
    s[len - 1] = s[len - 1] == 'a' ? 'b' : 'a';
}

typedef struct {
    char time_text[32];
    char sig[BUSAUTH_SIG_B64_LEN + 1];
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    char server[BUSAUTH_NKEY_PUBLIC_LEN + 1];
} signed_fields;

/* The server_key a server at base_url presents (GET /v1/info), or "". */
static void learn_server_nkey(const char *base_url, const http_opts *o, char out[BUSAUTH_NKEY_PUBLIC_LEN + 1])
{
    http_opts plain = {.ca_file = o->ca_file};
    http_result info;
    http_call(base_url, "GET", "/v1/info", NULL, 0, &plain, &info);
    const char *key = json_string_value(json_object_get(info.json, "server_key"));
    snprintf(out, BUSAUTH_NKEY_PUBLIC_LEN + 1, "%s", key ? key : "");
    http_result_free(&info);
}

/* Signs (server, key, method, target, time, nonce, body) as
 * dev/signed-requests.md says; f->server must be set. */
static void sign_fields(const char *method, const char *target, const uint8_t *body, size_t len,
                        const http_opts *o, char nonce[BUSAUTH_NONCE_HEX_LEN + 1], signed_fields *f,
                        uint8_t request_sha256[32])
{
    char canonical[2048];
    uint8_t hash[32];
    snprintf(f->time_text, sizeof f->time_text, "%lld",
             (long long)(o->time_ms ? o->time_ms : now_ms() + o->time_offset_ms));
    if (o->nonce)
        snprintf(nonce, BUSAUTH_NONCE_HEX_LEN + 1, "%s", o->nonce);
    else
        busauth_nonce_new(nonce);
    crypto_hash_sha256(hash, body, len);
    busauth_nkey_encode_public(busauth_identity_public_key(o->id), f->nkey);
    busauth_request r = {.server_key = f->server, .key = f->nkey, .method = method, .target = target,
                         .time_ms = f->time_text, .nonce = nonce, .body_sha256 = hash};
    size_t n = busauth_request_canonical(canonical, sizeof canonical, &r);
    busauth_sign_text(o->id, canonical, n, f->sig);
    crypto_hash_sha256(request_sha256, (const uint8_t *)canonical, n);
}

static void tamper(const http_opts *o, char *target, uint8_t *body, size_t len, char *nonce, signed_fields *f)
{
    if (o->tamper == TAMPER_BODY && len)
        body[len / 2] ^= 1;
    if (o->tamper == TAMPER_PATH)
        flip_last(target);
    if (o->tamper == TAMPER_TIME) {
        char *last = f->time_text + strlen(f->time_text) - 1;
        *last = *last == '0' ? '1' : '0';
    }
    if (o->tamper == TAMPER_NONCE)
        flip_last(nonce);
    if (o->tamper == TAMPER_SIGNATURE)
        f->sig[10] = f->sig[10] == 'A' ? 'B' : 'A';
    if (o->tamper == TAMPER_KEY) {
        busauth_identity *other;
        busauth_identity_generate(&other);
        busauth_nkey_encode_public(busauth_identity_public_key(other), f->nkey);
        busauth_identity_free(other);
    }
}

static struct curl_slist *sign(const char *base_url, const char *method, char *target, uint8_t *body,
                               size_t len, const http_opts *o, http_result *out)
{
    signed_fields f;
    if (o->server_nkey)
        snprintf(f.server, sizeof f.server, "%s", o->server_nkey);
    else
        learn_server_nkey(base_url, o, f.server);
    sign_fields(method, target, body, len, o, out->nonce, &f, out->request_sha256);
    out->request_signed = true;
    tamper(o, target, body, len, out->nonce, &f);
    char line[256];
    struct curl_slist *h = NULL;
    snprintf(line, sizeof line, "X-Unibus-Server: %s", f.server);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "X-Unibus-Key: %s", f.nkey);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "X-Unibus-Time: %s", f.time_text);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "X-Unibus-Nonce: %s", out->nonce);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "X-Unibus-Signature: %s", f.sig);
    return curl_slist_append(h, line);
}

int http_signed_headers(const busauth_identity *id, const char *server_nkey, const char *method,
                        const char *target, const void *body, size_t len, char *out, size_t cap,
                        uint8_t *request_sha256)
{
    http_opts o = {.id = id};
    char nonce[BUSAUTH_NONCE_HEX_LEN + 1];
    uint8_t hash[32];
    signed_fields f;
    snprintf(f.server, sizeof f.server, "%s", server_nkey);
    sign_fields(method, target, body, len, &o, nonce, &f, hash);
    if (request_sha256)
        memcpy(request_sha256, hash, sizeof hash);
    return snprintf(out, cap,
                    "X-Unibus-Server: %s\r\nX-Unibus-Key: %s\r\nX-Unibus-Time: %s\r\nX-Unibus-Nonce: %s\r\n"
                    "X-Unibus-Signature: %s\r\n",
                    f.server, f.nkey, f.time_text, nonce, f.sig);
}

int http_call(const char *base_url, const char *method, const char *target, const void *body,
              size_t len, const http_opts *opts, http_result *out)
{
    static const http_opts none = {0};
    const http_opts *o = opts ? opts : &none;
    memset(out, 0, sizeof *out);
    char path[1024];
    snprintf(path, sizeof path, "%s", target);
    uint8_t *copy = malloc(len ? len : 1);
    if (len)
        memcpy(copy, body, len);
    struct curl_slist *headers = o->id && !o->key_only ? sign(base_url, method, path, copy, len, o, out) : NULL;
    if (o->id && o->key_only) {
        char line[128], nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
        busauth_nkey_encode_public(busauth_identity_public_key(o->id), nkey);
        snprintf(line, sizeof line, "X-Unibus-Key: %s", nkey);
        headers = curl_slist_append(headers, line);
    }
    headers = curl_slist_append(headers, "Expect:");
    if (o->chunked)
        headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
    char url[1200];
    snprintf(url, sizeof url, "%s%s", base_url, path);

    CURL *c = o->keep_alive ? o->keep_alive : curl_easy_init();
    if (o->keep_alive)
        curl_easy_reset(c); /* keeps the live connection */
    upload up = {copy, len, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    /* Callers run many threads at once: curl's signals are process-wide,
     * and its per-call SIGPIPE juggling costs seven syscalls a request.
     * Its own sends (TLS included) pass MSG_NOSIGNAL. */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
        if (!o->chunked)
            curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    }
    if (o->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
    if (o->send_bytes_per_s)
        curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)o->send_bytes_per_s);
    if (o->tls_version)
        curl_easy_setopt(c, CURLOPT_SSLVERSION, o->tls_version);
    if (o->ciphers)
        curl_easy_setopt(c, CURLOPT_SSL_CIPHER_LIST, o->ciphers);
    char interface[64];
    if (o->source_ip) {
        snprintf(interface, sizeof interface, "host!%s", o->source_ip);
        curl_easy_setopt(c, CURLOPT_INTERFACE, interface);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    else if (getenv("UNIBUS_TEST_VERBOSE"))
        fprintf(stderr, "curl: %s %s: %s\n", method, url, curl_easy_strerror(rc));
    if (!o->keep_alive)
        curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    free(copy);
    if (out->body)
        out->json = json_loadb(out->body, out->body_len, 0, NULL);
    return rc == CURLE_OK ? 0 : -1;
}

void http_result_free(http_result *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

static bool verifies_over(const uint8_t server_key[32], const http_result *r, const uint8_t *request_sha256)
{
    uint8_t hash[32];
    char canonical[256];
    crypto_hash_sha256(hash, (const uint8_t *)(r->body ? r->body : ""), r->body_len);
    size_t n = busauth_response_canonical(canonical, sizeof canonical, request_sha256, (unsigned)r->status, hash);
    return busauth_verify_text(server_key, canonical, n, r->server_signature) == BUSAUTH_OK;
}

bool http_response_verifies(const uint8_t server_key[32], const http_result *r)
{
    return verifies_over(server_key, r, r->request_signed ? r->request_sha256 : NULL);
}

bool http_response_verifies_unbound(const uint8_t server_key[32], const http_result *r)
{
    return verifies_over(server_key, r, NULL);
}

const char *http_error_code(const http_result *r)
{
    const char *code = json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
    return code ? code : "";
}
