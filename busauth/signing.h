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

/* RFC 4648 section 5, checked by hand: libsodium 1.0.18's decoder takes some
 * bytes >= 0x80 for these. */
#define BUSAUTH_B64URL_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#define BUSAUTH_NONCE_HEX_LEN  32 /* 16 random bytes */
#define BUSAUTH_SIG_B64_LEN    86 /* 64 bytes, base64url without padding */
#define BUSAUTH_SHA256_BYTES   32
#define BUSAUTH_TIME_MAX_LEN   19 /* decimal digits of an int64 */
#define BUSAUTH_REQUEST_SKEW_MS 30000

/* A signed request's fields (dev/signed-requests.md, "Request"): the
 * server it is for, the signer, and what it asks. */
typedef struct {
    const char *server_key; /* the server's nkey, as GET /v1/info gives it */
    const char *key;        /* the signer's user nkey (X-Unibus-Key) */
    const char *method, *target, *time_ms, *nonce;
    const uint8_t *body_sha256; /* BUSAUTH_SHA256_BYTES */
} busauth_request;

/* BUSAUTH_DOMAIN_REQUEST SERVER-KEY "\n" KEY "\n" METHOD "\n" TARGET "\n"
 * TIME "\n" NONCE "\n" hex(SHA-256(body)).  Returns the length written
 * (without the NUL), or 0 if cap is too small. */
size_t busauth_request_canonical(char *out, size_t cap, const busauth_request *r);

/* BUSAUTH_DOMAIN_RESPONSE REQUEST "\n" STATUS "\n" hex(SHA-256(body)), where
 * REQUEST is hex(SHA-256(the request's canonical string)) for the answer to
 * a request whose signature verified, and "" (request_sha256 NULL) for any
 * other: such an answer can never pass for the answer to a signed request. */
size_t busauth_response_canonical(char *out, size_t cap, const uint8_t *request_sha256, unsigned status,
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
