/*
 * The four signed-request headers (dev/signed-requests.md) checked for
 * shape and time.  Pure: request_auth.c calls it with the headers of a live
 * request, tests/fuzz/fuzz_signed_request.c with hostile ones.
 */
#ifndef MEMBERSHIPD_AUTH_HEADERS_H
#define MEMBERSHIPD_AUTH_HEADERS_H

#include <stddef.h>
#include <stdint.h>
#include "membershipd/server.h"

typedef struct {
    const char *key, *time, *nonce, *signature; /* header values, "" when absent */
} auth_headers;

typedef enum { AUTH_HEADERS_OK, AUTH_HEADERS_MALFORMED, AUTH_HEADERS_SKEWED } auth_headers_result;

/* Records in req what is well-formed whatever else fails (the nonce, so a
 * refusal is still signed over it; the claimed key, for the log), and once
 * all four are well-formed the signed time and signature.  Anything but
 * AUTH_HEADERS_OK comes with one line in reason. */
auth_headers_result auth_headers_parse(const auth_headers *h, int64_t now_ms, request *req, char *reason,
                                       size_t cap);

/* X-Unibus-Time alone: decimal milliseconds within BUSAUTH_REQUEST_SKEW_MS
 * of now_ms. */
auth_headers_result auth_time_check(const char *text, int64_t now_ms, char *reason, size_t cap);

#endif
