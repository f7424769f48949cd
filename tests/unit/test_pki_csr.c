/* Certificate requests: the key pki_csr_public_key gives back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/core_names.h>
#include "membershipd/pki/pki.h"

/* DER SubjectPublicKeyInfo of a P-256 key up to its point: named curve
 * prime256v1, then an uncompressed point (RFC 5480; what Go's TLS takes). */
static const uint8_t named_uncompressed[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce,
                                             0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
                                             0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04};

static EVP_PKEY *p256_key(const char *encoding, const char *point_format)
{
    EVP_PKEY *key = pki_key_generate();
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, (char *)encoding, 0),
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, (char *)point_format, 0),
        OSSL_PARAM_construct_end(),
    };
    assert_non_null(key);
    assert_int_equal(EVP_PKEY_set_params(key, params), 1);
    return key;
}

static bool spki_is_named_uncompressed(EVP_PKEY *key)
{
    uint8_t *der = NULL;
    int len = i2d_PUBKEY(key, &der);
    bool ok = len == (int)sizeof named_uncompressed + 64 &&
              memcmp(der, named_uncompressed, sizeof named_uncompressed) == 0;
    OPENSSL_free(der);
    return ok;
}

/* A CSR carrying the key with the curve's explicit parameters or a
 * compressed point gives the same key back as a named curve with an
 * uncompressed point, which is what a certificate must carry (found by
 * tests/fuzz/fuzz_csr). */
static void gives_keys_back_named_and_uncompressed(void **state)
{
    (void)state;
    const char *forms[][2] = {{"named_curve", "uncompressed"}, {"explicit", "uncompressed"},
                              {"named_curve", "compressed"}, {"explicit", "compressed"}};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        EVP_PKEY *key = p256_key(forms[i][0], forms[i][1]);
        assert_int_equal(spki_is_named_uncompressed(key), i == 0);
        char *pem = pki_csr_make(key, "node-1");
        assert_non_null(pem);
        char err[256];
        EVP_PKEY *got = pki_csr_public_key(pem, strlen(pem), err, sizeof err);
        assert_non_null(got);
        assert_true(spki_is_named_uncompressed(got));
        assert_int_equal(EVP_PKEY_eq(got, key), 1);
        EVP_PKEY_free(got);
        free(pem);
        EVP_PKEY_free(key);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gives_keys_back_named_and_uncompressed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
