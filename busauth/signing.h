/*
 * The control plane's signature scheme (dev/signed-requests.md): the
 * canonical strings a client signs for each request and the server signs
 * for each response, and their base64url signatures.  Shared by server and
 * client so the two can never disagree.  Pure functions, thread-safe.
 */
#ifndef BUSAUTH_SIGNING_H
#define BUSAUTH_SIGNING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "busauth/identity.h"

#define BUSAUTH_NONCE_HEX_LEN  32 /* 16 random bytes */
#define BUSAUTH_SIG_B64_LEN    86 /* 64 bytes, base64url without padding */
#define BUSAUTH_SHA256_BYTES   32
#define BUSAUTH_TIME_MAX_LEN   19 /* decimal digits of an int64 */
#define BUSAUTH_REQUEST_SKEW_MS 30000

/* "unibus-v1\n" METHOD "\n" TARGET "\n" TIME "\n" NONCE "\n" hex(SHA-256(body)).
 * Returns the length written (without the NUL), or 0 if cap is too small. */
size_t busauth_request_canonical(char *out, size_t cap, const char *method, const char *target,
                                 const char *time_ms, const char *nonce,
                                 const uint8_t body_sha256[BUSAUTH_SHA256_BYTES]);

/* "unibus-v1-resp\n" NONCE "\n" STATUS "\n" hex(SHA-256(body)); NONCE is the
 * request's, or "" when the request carried none. */
size_t busauth_response_canonical(char *out, size_t cap, const char *nonce, unsigned status,
                                  const uint8_t body_sha256[BUSAUTH_SHA256_BYTES]);

void busauth_sign_text(const busauth_identity *id, const char *text, size_t len,
                       char out[BUSAUTH_SIG_B64_LEN + 1]);
/* BUSAUTH_ERR_LENGTH or BUSAUTH_ERR_BASE64 for a malformed signature,
 * BUSAUTH_ERR_SIGNATURE when it does not verify. */
busauth_status busauth_verify_text(const uint8_t public_key[BUSAUTH_KEY_BYTES], const char *text,
                                   size_t len, const char *signature_b64);

/* A fresh random nonce as 32 lowercase hex characters. */
void busauth_nonce_new(char out[BUSAUTH_NONCE_HEX_LEN + 1]);
/* True for exactly 32 lowercase hex characters. */
bool busauth_nonce_valid(const char *nonce);

#endif
