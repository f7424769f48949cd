/*
 * A real HTTP(S) client for tests (libcurl) that signs requests the way
 * dev/signed-requests.md says, and can tamper with a request after
 * signing it, to prove the server notices.  Requests are signed for the
 * server opts->server_nkey names, else for the one GET /v1/info presents.
 */
#ifndef UNIBUS_HTTP_CLIENT_H
#define UNIBUS_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>
#include <jansson.h>
#include "busauth/identity.h"
#include "busauth/signing.h"

typedef enum {
    TAMPER_NONE, TAMPER_BODY, TAMPER_PATH, TAMPER_TIME, TAMPER_NONCE, TAMPER_SIGNATURE, TAMPER_KEY
} tamper_kind;

typedef struct {
    const busauth_identity *id; /* NULL: no signature headers */
    const char *server_nkey;    /* the server signed for; NULL: the server_key of GET /v1/info */
    int64_t time_offset_ms;     /* added to the clock before signing */
    int64_t time_ms;            /* when set, the exact X-Unibus-Time (replays) */
    const char *nonce;          /* NULL: a fresh one */
    tamper_kind tamper;         /* applied after signing */
    const char *ca_file;        /* trust for https:// */
    bool chunked;               /* send the body with chunked encoding */
    bool key_only;              /* only X-Unibus-Key, no signature (bus-auth off) */
    long tls_version;           /* a CURL_SSLVERSION_* value, 0 for the default */
    const char *ciphers;        /* an OpenSSL cipher list for TLS 1.2, or NULL */
    long send_bytes_per_s;      /* throttle the upload (a slow client), 0 for full speed */
    CURL *keep_alive;           /* a handle reused across calls (its connection stays open), or NULL */
    const char *source_ip;      /* a loopback address to call from (127.0.0.N: another client), or NULL */
} http_opts;

typedef struct {
    long status;                /* 0 when the transfer failed */
    char *body;                 /* NUL-terminated */
    size_t body_len;
    char server_signature[BUSAUTH_SIG_B64_LEN + 8];
    char retry_after[16];
    char nonce[BUSAUTH_NONCE_HEX_LEN + 1]; /* the nonce sent */
    bool request_signed;
    uint8_t request_sha256[BUSAUTH_SHA256_BYTES]; /* of the canonical string signed */
    json_t *json;               /* body parsed, or NULL */
} http_result;

int http_call(const char *base_url, const char *method, const char *target, const void *body,
              size_t len, const http_opts *opts, http_result *out);
void http_result_free(http_result *r);
/* The five signature header lines (each ending CRLF) of a request signed
 * by id for the server server_nkey, for tests that speak HTTP by hand.
 * Returns snprintf's count; request_sha256 (may be NULL) gets the hash of
 * the canonical string. */
int http_signed_headers(const busauth_identity *id, const char *server_nkey, const char *method,
                        const char *target, const void *body, size_t len, char *out, size_t cap,
                        uint8_t *request_sha256);
/* The server's response signature verifies as the answer to the request
 * sent (its hash, status, body); for an unsigned request, as an unbound one. */
bool http_response_verifies(const uint8_t server_key[32], const http_result *r);
/* It verifies as an answer bound to no request (dev/signed-requests.md):
 * what the server signs when the request's signature did not verify. */
bool http_response_verifies_unbound(const uint8_t server_key[32], const http_result *r);
/* The "error.code" of a JSON error body, or "". */
const char *http_error_code(const http_result *r);

#endif
