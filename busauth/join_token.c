#include "busauth/join_token.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "busauth/domain.h"
#include "busauth/signing.h"

/* Checked here: libsodium 1.0.18 decodes some bytes >= 0x80 as if they
 * were base64url characters (found by tests/fuzz/fuzz_join_token). */
static bool all_base64url(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!s[i] || !strchr(BUSAUTH_B64URL_ALPHABET, s[i]))
            return false;
    return true;
}

bool busauth_join_token_split(const char *text, size_t len, char server_nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1],
                              uint8_t secret[BUSAUTH_JOIN_SECRET_BYTES])
{
    while (len && isspace((unsigned char)text[len - 1]))
        len--;
    while (len && isspace((unsigned char)*text))
        text++, len--;
    size_t prefix = sizeof BUSAUTH_JOIN_TOKEN_PREFIX - 1;
    if (len != BUSAUTH_JOIN_TOKEN_LEN || memcmp(text, BUSAUTH_JOIN_TOKEN_PREFIX, prefix) != 0 ||
        text[prefix + BUSAUTH_NKEY_PUBLIC_LEN] != '.')
        return false;
    memcpy(server_nkey, text + prefix, BUSAUTH_NKEY_PUBLIC_LEN);
    server_nkey[BUSAUTH_NKEY_PUBLIC_LEN] = '\0';
    const char *secret_b64 = text + prefix + BUSAUTH_NKEY_PUBLIC_LEN + 1;
    uint8_t key[BUSAUTH_KEY_BYTES];
    size_t n = 0;
    bool ok = busauth_nkey_decode_public(server_nkey, key) == BUSAUTH_OK && all_base64url(secret_b64, BUSAUTH_JOIN_SECRET_B64_LEN) &&
              sodium_base642bin(secret, BUSAUTH_JOIN_SECRET_BYTES, secret_b64, BUSAUTH_JOIN_SECRET_B64_LEN, NULL, &n, NULL,
                                sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
              n == BUSAUTH_JOIN_SECRET_BYTES;
    if (!ok)
        sodium_memzero(secret, BUSAUTH_JOIN_SECRET_BYTES);
    return ok;
}

busauth_status busauth_join_token_identity(const uint8_t secret[BUSAUTH_JOIN_SECRET_BYTES], busauth_identity **out)
{
    static const char domain[] = "unibus-join-token-key-v1\n";
    uint8_t seed[BUSAUTH_KEY_BYTES];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)domain, sizeof domain - 1);
    crypto_hash_sha256_update(&st, secret, BUSAUTH_JOIN_SECRET_BYTES);
    crypto_hash_sha256_final(&st, seed);
    busauth_status status = busauth_identity_from_seed(seed, out);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(&st, sizeof st);
    return status;
}

size_t busauth_join_proof_text(char *out, size_t cap, const char *server_nkey, const char *role, const char *name,
                               const char *subject)
{
    /* One field per line: a field holding a newline could pass for two. */
    if (strchr(server_nkey, '\n') || strchr(role, '\n') || strchr(name, '\n') || strchr(subject, '\n'))
        return 0;
    int n = snprintf(out, cap, BUSAUTH_DOMAIN_JOIN "%s\n%s\n%s\n%s\n", server_nkey, role, name, subject);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

#define PROOF_TEXT_MAX 512

bool busauth_join_prove(const char *text, size_t len, const char *role, const char *name, const char *subject,
                        char server_nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1], uint8_t token_key[BUSAUTH_KEY_BYTES],
                        char proof[BUSAUTH_SIG_B64_LEN + 1])
{
    uint8_t secret[BUSAUTH_JOIN_SECRET_BYTES];
    busauth_identity *id = NULL;
    char signed_text[PROOF_TEXT_MAX];
    bool ok = busauth_join_token_split(text, len, server_nkey, secret) &&
              busauth_join_token_identity(secret, &id) == BUSAUTH_OK;
    sodium_memzero(secret, sizeof secret);
    size_t n = ok ? busauth_join_proof_text(signed_text, sizeof signed_text, server_nkey, role, name, subject) : 0;
    if (n) {
        memcpy(token_key, busauth_identity_public_key(id), BUSAUTH_KEY_BYTES);
        busauth_sign_text(id, signed_text, n, proof);
    }
    busauth_identity_free(id);
    return n > 0;
}

bool busauth_join_proof_verify(const uint8_t token_key[BUSAUTH_KEY_BYTES], const char *server_nkey, const char *role,
                               const char *name, const char *subject, const char *proof)
{
    char signed_text[PROOF_TEXT_MAX];
    size_t n = busauth_join_proof_text(signed_text, sizeof signed_text, server_nkey, role, name, subject);
    return n > 0 && busauth_verify_text(token_key, signed_text, n, proof) == BUSAUTH_OK;
}

bool busauth_join_token_make(const char *server_nkey, char text[BUSAUTH_JOIN_TOKEN_LEN + 1],
                             uint8_t token_key[BUSAUTH_KEY_BYTES])
{
    uint8_t secret[BUSAUTH_JOIN_SECRET_BYTES];
    char b64[BUSAUTH_JOIN_SECRET_B64_LEN + 1];
    randombytes_buf(secret, sizeof secret);
    sodium_bin2base64(b64, sizeof b64, secret, sizeof secret, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(text, BUSAUTH_JOIN_TOKEN_LEN + 1, BUSAUTH_JOIN_TOKEN_PREFIX "%s.%s", server_nkey, b64);
    busauth_identity *id = NULL;
    bool ok = busauth_join_token_identity(secret, &id) == BUSAUTH_OK;
    if (ok)
        memcpy(token_key, busauth_identity_public_key(id), BUSAUTH_KEY_BYTES);
    busauth_identity_free(id);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(b64, sizeof b64);
    if (!ok)
        sodium_memzero(text, BUSAUTH_JOIN_TOKEN_LEN + 1);
    return ok;
}
