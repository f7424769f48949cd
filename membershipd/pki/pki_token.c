/* Join tokens as text (dev/pki.md, "Join tokens"). */
#include "membershipd/pki/pki_internal.h"

#include <string.h>
#include <sodium.h>
#include "busauth/join_token.h"

#define TOKEN_HASH_DOMAIN "unibus-join-token-v1\n"
#define SECRET_B64_LEN 43

_Static_assert(PKI_TOKEN_SECRET_BYTES == BUSAUTH_JOIN_SECRET_BYTES, "one secret size");

static void secret_hash(const uint8_t secret[PKI_TOKEN_SECRET_BYTES], uint8_t hash[32])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)TOKEN_HASH_DOMAIN, sizeof TOKEN_HASH_DOMAIN - 1);
    crypto_hash_sha256_update(&st, secret, PKI_TOKEN_SECRET_BYTES);
    crypto_hash_sha256_final(&st, hash);
}

void pki_token_make(const char *server_nkey, char text[PKI_TOKEN_LEN + 1], uint8_t hash[32])
{
    uint8_t secret[PKI_TOKEN_SECRET_BYTES];
    randombytes_buf(secret, sizeof secret);
    char b64[SECRET_B64_LEN + 1];
    sodium_bin2base64(b64, sizeof b64, secret, sizeof secret, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(text, PKI_TOKEN_LEN + 1, BUSAUTH_JOIN_TOKEN_PREFIX "%s.%s", server_nkey, b64);
    secret_hash(secret, hash);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(b64, sizeof b64);
}

bool pki_token_parse(const char *text, size_t len, char server_nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1], uint8_t hash[32])
{
    uint8_t secret[BUSAUTH_JOIN_SECRET_BYTES];
    bool ok = busauth_join_token_split(text, len, server_nkey, secret);
    if (ok)
        secret_hash(secret, hash);
    sodium_memzero(secret, sizeof secret);
    return ok;
}
