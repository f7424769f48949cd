/*
 * A join token (dev/pki.md, "Join tokens"): "ubj1." + the server's nkey +
 * "." + 43 base64url characters of a 32-byte secret.  The secret never
 * leaves the joiner's machine: it is the seed of an Ed25519 key (the token
 * key) that signs a proof binding the join to this server, the role, the
 * name and the joiner's own key.  The server keeps only the token key's
 * public half, so neither a database thief nor whoever relays a join
 * learns anything that joins.
 */
#ifndef BUSAUTH_JOIN_TOKEN_H
#define BUSAUTH_JOIN_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "busauth/identity.h"
#include "busauth/nkey.h"
#include "busauth/secret.h"
#include "busauth/signing.h"

#define BUSAUTH_JOIN_SECRET_BYTES 32
#define BUSAUTH_JOIN_SECRET_B64_LEN 43 /* base64url without padding */
#define BUSAUTH_JOIN_TOKEN_LEN \
    (sizeof BUSAUTH_JOIN_TOKEN_PREFIX - 1 + BUSAUTH_NKEY_PUBLIC_LEN + 1 + BUSAUTH_JOIN_SECRET_B64_LEN)

/* A new token for the server whose key is server_nkey: its text
 * (NUL-ended; shown once) and the public half of its token key, the only
 * thing the server keeps.  False when libsodium fails (the text is wiped). */
bool busauth_join_token_make(const char *server_nkey, char text[BUSAUTH_JOIN_TOKEN_LEN + 1],
                             uint8_t token_key[BUSAUTH_KEY_BYTES]);

/* Splits a token (surrounding whitespace allowed) into the server key it
 * names and its secret; false when text is not a token. */
bool busauth_join_token_split(const char *text, size_t len, char server_nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1],
                              uint8_t secret[BUSAUTH_JOIN_SECRET_BYTES]);

/* The token key: an Ed25519 key whose seed is SHA-256 of
 * "unibus-join-token-key-v1\n" and the secret. */
busauth_status busauth_join_token_identity(const uint8_t secret[BUSAUTH_JOIN_SECRET_BYTES], busauth_identity **out);

/* What a join proof signs, with the token key (BUSAUTH_DOMAIN_JOIN):
 * "unibus-v2-join\n" SERVER-NKEY "\n" ROLE "\n" NAME "\n" SUBJECT "\n", where
 * SUBJECT is the joiner's nkey (member) or the lowercase hex SHA-256 of its
 * certificate request's SubjectPublicKeyInfo (node), and NAME is "" for a
 * member.  0 when it does not fit in cap. */
size_t busauth_join_proof_text(char *out, size_t cap, const char *server_nkey, const char *role, const char *name,
                               const char *subject);

/* The joiner's side: from a token's text, the server key it names, the
 * token key's public half and the proof (base64url) for this join.  The
 * secret is wiped before returning.  False when text is not a token. */
bool busauth_join_prove(const char *text, size_t len, const char *role, const char *name, const char *subject,
                        char server_nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1], uint8_t token_key[BUSAUTH_KEY_BYTES],
                        char proof[BUSAUTH_SIG_B64_LEN + 1]);
/* The server's side: whether proof is the token key's for this join to
 * the server whose key is server_nkey. */
bool busauth_join_proof_verify(const uint8_t token_key[BUSAUTH_KEY_BYTES], const char *server_nkey, const char *role,
                               const char *name, const char *subject, const char *proof);

#endif
