/* Join tokens as text (dev/pki.md, "Join tokens"). */
#include "membershipd/pki/pki_internal.h"

#include <ctype.h>
#include <string.h>
#include <sodium.h>
#include "busauth/secret.h"

#define TOKEN_HASH_DOMAIN "unibus-join-token-v1\n"
#define SECRET_B64_LEN 43

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
    while (len && isspace((unsigned char)text[len - 1]))
        len--;
    while (len && isspace((unsigned char)*text))
        text++, len--;
    size_t prefix = sizeof BUSAUTH_JOIN_TOKEN_PREFIX - 1;
    if (len != PKI_TOKEN_LEN || memcmp(text, BUSAUTH_JOIN_TOKEN_PREFIX, prefix) != 0 ||
        text[prefix + BUSAUTH_NKEY_PUBLIC_LEN] != '.')
        return false;
    memcpy(server_nkey, text + prefix, BUSAUTH_NKEY_PUBLIC_LEN);
    server_nkey[BUSAUTH_NKEY_PUBLIC_LEN] = '\0';
    uint8_t key[BUSAUTH_KEY_BYTES], secret[PKI_TOKEN_SECRET_BYTES];
    size_t n = 0;
    bool ok = busauth_nkey_decode_public(server_nkey, key) == BUSAUTH_OK &&
              sodium_base642bin(secret, sizeof secret, text + prefix + BUSAUTH_NKEY_PUBLIC_LEN + 1, SECRET_B64_LEN,
                                NULL, &n, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
              n == sizeof secret;
    if (ok)
        secret_hash(secret, hash);
    sodium_memzero(secret, sizeof secret);
    return ok;
}
