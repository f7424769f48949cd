#include "busauth/identity.h"
#include "busauth/sealing.h"

#include <string.h>
#include <sodium.h>

struct busauth_identity {
    uint8_t public_key[crypto_sign_PUBLICKEYBYTES];
    uint8_t secret_key[crypto_sign_SECRETKEYBYTES]; /* seed || public key */
};

busauth_status busauth_init(void)
{
    return sodium_init() < 0 ? BUSAUTH_ERR_CRYPTO : BUSAUTH_OK;
}

static busauth_status identity_alloc(busauth_identity **out)
{
    if (busauth_init() != BUSAUTH_OK)
        return BUSAUTH_ERR_CRYPTO;
    *out = sodium_malloc(sizeof **out);
    return *out ? BUSAUTH_OK : BUSAUTH_ERR_NOMEM;
}

busauth_status busauth_identity_generate(busauth_identity **out)
{
    busauth_identity *id;
    busauth_status status = identity_alloc(&id);
    if (status != BUSAUTH_OK)
        return status;
    crypto_sign_keypair(id->public_key, id->secret_key);
    sodium_mprotect_readonly(id);
    *out = id;
    return BUSAUTH_OK;
}

busauth_status busauth_identity_from_seed(const uint8_t seed[BUSAUTH_KEY_BYTES],
                                          busauth_identity **out)
{
    busauth_identity *id;
    busauth_status status = identity_alloc(&id);
    if (status != BUSAUTH_OK)
        return status;
    crypto_sign_seed_keypair(id->public_key, id->secret_key, seed);
    sodium_mprotect_readonly(id);
    *out = id;
    return BUSAUTH_OK;
}

busauth_status busauth_identity_derive(const busauth_identity *id, const char context[8],
                                       busauth_identity **out)
{
    uint8_t seed[crypto_sign_SEEDBYTES], derived[crypto_sign_SEEDBYTES];
    _Static_assert(crypto_kdf_KEYBYTES == crypto_sign_SEEDBYTES, "a seed is a KDF key");
    crypto_sign_ed25519_sk_to_seed(seed, id->secret_key);
    int rc = crypto_kdf_derive_from_key(derived, sizeof derived, 1, context, seed);
    sodium_memzero(seed, sizeof seed);
    busauth_status status = rc == 0 ? busauth_identity_from_seed(derived, out) : BUSAUTH_ERR_CRYPTO;
    sodium_memzero(derived, sizeof derived);
    return status;
}

void busauth_identity_free(busauth_identity *id)
{
    sodium_free(id); /* wipes before unmapping; accepts NULL */
}

const uint8_t *busauth_identity_public_key(const busauth_identity *id)
{
    return id->public_key;
}

void busauth_identity_seed_nkey(const busauth_identity *id, char out[BUSAUTH_NKEY_SEED_LEN + 1])
{
    uint8_t seed[crypto_sign_SEEDBYTES];
    crypto_sign_ed25519_sk_to_seed(seed, id->secret_key);
    busauth_nkey_encode_seed(seed, out);
    sodium_memzero(seed, sizeof seed);
}

busauth_status busauth_identity_unseal(const busauth_identity *id, const uint8_t *sealed, size_t len,
                                       uint8_t *out)
{
    if (len < crypto_box_SEALBYTES)
        return BUSAUTH_ERR_LENGTH;
    uint8_t pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
    busauth_status status = BUSAUTH_ERR_CRYPTO;
    if (crypto_sign_ed25519_pk_to_curve25519(pk, id->public_key) == 0 &&
        crypto_sign_ed25519_sk_to_curve25519(sk, id->secret_key) == 0)
        status = crypto_box_seal_open(out, sealed, len, pk, sk) == 0 ? BUSAUTH_OK : BUSAUTH_ERR_SIGNATURE;
    sodium_memzero(sk, sizeof sk);
    return status;
}

busauth_status busauth_seal_to(const uint8_t recipient[BUSAUTH_KEY_BYTES], const uint8_t *msg, size_t len,
                               uint8_t *out)
{
    uint8_t pk[crypto_box_PUBLICKEYBYTES];
    if (crypto_sign_ed25519_pk_to_curve25519(pk, recipient) != 0)
        return BUSAUTH_ERR_CRYPTO; /* not a valid Ed25519 point */
    return crypto_box_seal(out, msg, len, pk) == 0 ? BUSAUTH_OK : BUSAUTH_ERR_CRYPTO;
}

void busauth_identity_sign(const busauth_identity *id, const uint8_t *msg, size_t len,
                           uint8_t sig[BUSAUTH_SIGNATURE_BYTES])
{
    crypto_sign_detached(sig, NULL, msg, len, id->secret_key);
}

busauth_status busauth_signature_verify(const uint8_t pk[BUSAUTH_KEY_BYTES],
                                        const uint8_t *msg, size_t len,
                                        const uint8_t sig[BUSAUTH_SIGNATURE_BYTES])
{
    return crypto_sign_verify_detached(sig, msg, len, pk) == 0 ? BUSAUTH_OK
                                                               : BUSAUTH_ERR_SIGNATURE;
}
