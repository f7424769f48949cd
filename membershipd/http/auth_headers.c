#include "membershipd/http/auth_headers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool parse_time(const char *text, int64_t *ms)
{
    size_t len = strnlen(text, BUSAUTH_TIME_MAX_LEN + 1);
    if (len == 0 || len > 16 || strspn(text, "0123456789") != len)
        return false;
    *ms = strtoll(text, NULL, 10);
    return true;
}

auth_headers_result auth_time_check(const char *text, int64_t now_ms, char *reason, size_t cap)
{
    int64_t t;
    if (!parse_time(text, &t)) {
        snprintf(reason, cap, "X-Unibus-Time must be Unix time in milliseconds");
        return AUTH_HEADERS_MALFORMED;
    }
    int64_t skew = t - now_ms;
    if (llabs(skew) <= BUSAUTH_REQUEST_SKEW_MS)
        return AUTH_HEADERS_OK;
    snprintf(reason, cap, "request time is %lld ms %s server time %lld (allowed: %d ms); check the client clock",
             llabs(skew), skew > 0 ? "ahead of" : "behind", (long long)now_ms, BUSAUTH_REQUEST_SKEW_MS);
    return AUTH_HEADERS_SKEWED;
}

static auth_headers_result malformed(char *reason, size_t cap, const char *why)
{
    snprintf(reason, cap, "%s", why);
    return AUTH_HEADERS_MALFORMED;
}

auth_headers_result auth_headers_parse(const auth_headers *h, const char *server_key, int64_t now_ms,
                                       request *req, char *reason, size_t cap)
{
    if (busauth_nkey_decode_public(h->key, req->claimed_public_key) == BUSAUTH_OK)
        snprintf(req->claimed_key, sizeof req->claimed_key, "%s", h->key);
    if (!h->server[0] || !h->key[0] || !h->time[0] || !h->nonce[0] || !h->signature[0])
        return malformed(reason, cap,
                         "signed request headers missing: X-Unibus-Server, X-Unibus-Key, X-Unibus-Time, "
                         "X-Unibus-Nonce, X-Unibus-Signature");
    if (strcmp(h->server, server_key) != 0) {
        /* The header is not echoed: it may be any bytes, and JSON needs UTF-8. */
        snprintf(reason, cap, "this request was signed for another server, not this one (%s); "
                 "sign for the server_key of GET /v1/info", server_key);
        return AUTH_HEADERS_MALFORMED;
    }
    if (!req->claimed_key[0])
        return malformed(reason, cap, "X-Unibus-Key is not a user nkey (U...)");
    if (!busauth_nonce_valid(h->nonce))
        return malformed(reason, cap, "X-Unibus-Nonce must be 32 lowercase hex characters");
    if (strnlen(h->signature, BUSAUTH_SIG_B64_LEN + 1) != BUSAUTH_SIG_B64_LEN)
        return malformed(reason, cap, "X-Unibus-Signature must be 86 base64url characters");
    auth_headers_result time_result = auth_time_check(h->time, now_ms, reason, cap);
    if (time_result == AUTH_HEADERS_MALFORMED)
        return time_result;
    /* Kept when skewed too: soft mode goes on to check the signature. */
    memcpy(req->nonce, h->nonce, sizeof req->nonce);
    snprintf(req->signed_time, sizeof req->signed_time, "%s", h->time);
    snprintf(req->signature, sizeof req->signature, "%s", h->signature);
    return time_result;
}
