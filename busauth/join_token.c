#include "busauth/join_token.h"

#include <ctype.h>
#include <string.h>
#include <sodium.h>
#include "busauth/signing.h"

#define SECRET_B64_LEN 43

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
    bool ok = busauth_nkey_decode_public(server_nkey, key) == BUSAUTH_OK && all_base64url(secret_b64, SECRET_B64_LEN) &&
              sodium_base642bin(secret, BUSAUTH_JOIN_SECRET_BYTES, secret_b64, SECRET_B64_LEN, NULL, &n, NULL,
                                sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
              n == BUSAUTH_JOIN_SECRET_BYTES;
    if (!ok)
        sodium_memzero(secret, BUSAUTH_JOIN_SECRET_BYTES);
    return ok;
}
