/*
 * The five signed-request headers (dev/signed-requests.md) checked for
 * shape and time.  Pure: request_auth.c calls it with the headers of a live
 * request, tests/fuzz/fuzz_signed_request.c with hostile ones.
 */
#ifndef MEMBERSHIPD_AUTH_HEADERS_H
#define MEMBERSHIPD_AUTH_HEADERS_H

#include <stddef.h>
#include <stdint.h>
#include "membershipd/http/server.h"

typedef struct {
    const char *server, *key, *time, *nonce, *signature; /* header values, "" when absent */
} auth_headers;

typedef enum { AUTH_HEADERS_OK, AUTH_HEADERS_MALFORMED, AUTH_HEADERS_SKEWED } auth_headers_result;

/* Records in req the claimed key whatever else fails (for the log), and
 * once all five are well-formed and the request names server_key (this
 * server's nkey) the nonce, signed time and signature.  Anything but
 * AUTH_HEADERS_OK comes with one line in reason. */
auth_headers_result auth_headers_parse(const auth_headers *h, const char *server_key, int64_t now_ms,
                                       request *req, char *reason, size_t cap);

/* X-Unibus-Time alone: decimal milliseconds within BUSAUTH_REQUEST_SKEW_MS
 * of now_ms. */
auth_headers_result auth_time_check(const char *text, int64_t now_ms, char *reason, size_t cap);

#endif
