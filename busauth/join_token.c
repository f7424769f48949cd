#include "busauth/join_token.h"

#include <ctype.h>
#include <string.h>
#include <sodium.h>

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
    uint8_t key[BUSAUTH_KEY_BYTES];
    size_t n = 0;
    bool ok = busauth_nkey_decode_public(server_nkey, key) == BUSAUTH_OK &&
              sodium_base642bin(secret, BUSAUTH_JOIN_SECRET_BYTES, text + prefix + BUSAUTH_NKEY_PUBLIC_LEN + 1, 43,
                                NULL, &n, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
              n == BUSAUTH_JOIN_SECRET_BYTES;
    if (!ok)
        sodium_memzero(secret, BUSAUTH_JOIN_SECRET_BYTES);
    return ok;
}
