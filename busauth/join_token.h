/*
 * A join token's text (dev/pki.md, "Join tokens"):
 * "ubj1." + the server's nkey + "." + 43 base64url characters of a 32-byte
 * secret.  The server key in it lets the joiner pin the server before the
 * secret leaves its machine; the server keeps only a hash of the secret.
 */
#ifndef BUSAUTH_JOIN_TOKEN_H
#define BUSAUTH_JOIN_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "busauth/nkey.h"
#include "busauth/secret.h"

#define BUSAUTH_JOIN_SECRET_BYTES 32
#define BUSAUTH_JOIN_TOKEN_LEN (sizeof BUSAUTH_JOIN_TOKEN_PREFIX - 1 + BUSAUTH_NKEY_PUBLIC_LEN + 1 + 43)

/* Splits a token (surrounding whitespace allowed) into the server key it
 * names and its secret; false when text is not a token. */
bool busauth_join_token_split(const char *text, size_t len, char server_nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1],
                              uint8_t secret[BUSAUTH_JOIN_SECRET_BYTES]);

#endif
