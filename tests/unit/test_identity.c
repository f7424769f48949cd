/* Identities: generation, derivation from a seed, signatures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>
#include "busauth/identity.h"

static void same_seed_same_identity(void **state)
{
    (void)state;
    uint8_t seed[32];
    randombytes_buf(seed, sizeof seed);
    busauth_identity *a, *b;
    assert_int_equal(busauth_identity_from_seed(seed, &a), BUSAUTH_OK);
    assert_int_equal(busauth_identity_from_seed(seed, &b), BUSAUTH_OK);
    assert_memory_equal(busauth_identity_public_key(a), busauth_identity_public_key(b), 32);

    char text[BUSAUTH_NKEY_SEED_LEN + 1];
    uint8_t back[32];
    busauth_identity_seed_nkey(a, text);
    assert_int_equal(busauth_nkey_decode_seed(text, back), BUSAUTH_OK);
    assert_memory_equal(back, seed, 32);
    busauth_identity_free(a);
    busauth_identity_free(b);
}

static void generated_identities_differ(void **state)
{
    (void)state;
    busauth_identity *a, *b;
    assert_int_equal(busauth_identity_generate(&a), BUSAUTH_OK);
    assert_int_equal(busauth_identity_generate(&b), BUSAUTH_OK);
    assert_memory_not_equal(busauth_identity_public_key(a), busauth_identity_public_key(b), 32);
    busauth_identity_free(a);
    busauth_identity_free(b);
}

static void signatures_verify_and_tampering_fails(void **state)
{
    (void)state;
    busauth_identity *id, *other;
    assert_int_equal(busauth_identity_generate(&id), BUSAUTH_OK);
    assert_int_equal(busauth_identity_generate(&other), BUSAUTH_OK);
    uint8_t msg[] = "unibus-v1\nGET\n/v1/me\n0\n00\n";
    uint8_t sig[BUSAUTH_SIGNATURE_BYTES];
    busauth_identity_sign(id, msg, sizeof msg, sig);
    const uint8_t *pk = busauth_identity_public_key(id);
    assert_int_equal(busauth_signature_verify(pk, msg, sizeof msg, sig), BUSAUTH_OK);

    msg[0] ^= 1;
    assert_int_equal(busauth_signature_verify(pk, msg, sizeof msg, sig), BUSAUTH_ERR_SIGNATURE);
    msg[0] ^= 1;
    sig[5] ^= 0x80;
    assert_int_equal(busauth_signature_verify(pk, msg, sizeof msg, sig), BUSAUTH_ERR_SIGNATURE);
    sig[5] ^= 0x80;
    assert_int_equal(busauth_signature_verify(busauth_identity_public_key(other), msg, sizeof msg, sig),
                     BUSAUTH_ERR_SIGNATURE);
    busauth_identity_free(id);
    busauth_identity_free(other);
}
/* A derived identity is the same from the same seed and context, differs
 * by context and from its parent, and matches libsodium's crypto_kdf
 * computed here by hand (subkey 1 of the parent's seed). */
static void derived_identities_are_stable_and_distinct(void **state)
{
    (void)state;
    uint8_t seed[32], subkey[32];
    randombytes_buf(seed, sizeof seed);
    busauth_identity *parent, *a, *b, *other, *expected;
    assert_int_equal(busauth_identity_from_seed(seed, &parent), BUSAUTH_OK);
    assert_int_equal(busauth_identity_derive(parent, "natssys1", &a), BUSAUTH_OK);
    assert_int_equal(busauth_identity_derive(parent, "natssys1", &b), BUSAUTH_OK);
    assert_int_equal(busauth_identity_derive(parent, "another1", &other), BUSAUTH_OK);
    assert_memory_equal(busauth_identity_public_key(a), busauth_identity_public_key(b), 32);
    assert_memory_not_equal(busauth_identity_public_key(a), busauth_identity_public_key(other), 32);
    assert_memory_not_equal(busauth_identity_public_key(a), busauth_identity_public_key(parent), 32);
    assert_int_equal(crypto_kdf_derive_from_key(subkey, sizeof subkey, 1, "natssys1", seed), 0);
    assert_int_equal(busauth_identity_from_seed(subkey, &expected), BUSAUTH_OK);
    assert_memory_equal(busauth_identity_public_key(a), busauth_identity_public_key(expected), 32);
    busauth_identity_free(parent);
    busauth_identity_free(a);
    busauth_identity_free(b);
    busauth_identity_free(other);
    busauth_identity_free(expected);
}

static void free_accepts_null(void **state)
{
    (void)state;
    busauth_identity_free(NULL);
    assert_int_equal(busauth_init(), BUSAUTH_OK);
}

int main(void)
{
    if (busauth_init() != BUSAUTH_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_seed_same_identity),
        cmocka_unit_test(generated_identities_differ),
        cmocka_unit_test(signatures_verify_and_tampering_fails),
        cmocka_unit_test(derived_identities_are_stable_and_distinct),
        cmocka_unit_test(free_accepts_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
