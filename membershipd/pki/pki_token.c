/* Join tokens, made (dev/pki.md, "Join tokens"; busauth/join_token.h has
 * their shape and proofs). */
#include "membershipd/pki/pki_internal.h"

#include <string.h>
#include <sodium.h>
#include "busauth/join_token.h"

#define SECRET_B64_LEN 43

bool pki_token_make(const char *server_nkey, char text[PKI_TOKEN_LEN + 1], uint8_t key[BUSAUTH_KEY_BYTES])
{
    uint8_t secret[BUSAUTH_JOIN_SECRET_BYTES];
    randombytes_buf(secret, sizeof secret);
    char b64[SECRET_B64_LEN + 1];
    sodium_bin2base64(b64, sizeof b64, secret, sizeof secret, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(text, PKI_TOKEN_LEN + 1, BUSAUTH_JOIN_TOKEN_PREFIX "%s.%s", server_nkey, b64);
    busauth_identity *id = NULL;
    bool ok = busauth_join_token_identity(secret, &id) == BUSAUTH_OK;
    if (ok)
        memcpy(key, busauth_identity_public_key(id), BUSAUTH_KEY_BYTES);
    busauth_identity_free(id);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(b64, sizeof b64);
    if (!ok)
        sodium_memzero(text, PKI_TOKEN_LEN + 1);
    return ok;
}
