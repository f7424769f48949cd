/* The signature scheme of dev/signed-requests.md, pinned by its test vector
 * (also checked against nkeys.js in tests/interop/nkeys.mjs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>
#include "busauth/signing.h"

static const char BODY[] = "{\"name\":\"ops\",\"sealed_key\":\"AAAA\"}";
static const char NONCE[] = "00112233445566778899aabbccddeeff";
static const char CANONICAL[] =
    "unibus-v1\nPOST\n/v1/rooms\n1700000000000\n00112233445566778899aabbccddeeff\n"
    "25049c21e62b9ccec87690ba784a230f486f49cb057ce0f8df5964ccd46913d5";
static const char SIGNATURE[] =
    "2yKAAxz7jcau9CXyud5wmiqonMf-H0WajWINo6pqgGxW3NwlmGe27QLHMjQ2FOC6Pa7pN8H-sHr_7XAisXbXCg";
static const char RESPONSE_CANONICAL[] =
    "unibus-v1-resp\n00112233445566778899aabbccddeeff\n200\n"
    "25049c21e62b9ccec87690ba784a230f486f49cb057ce0f8df5964ccd46913d5";
static const char RESPONSE_SIGNATURE[] =
    "KAknRSFhpB6lQFn6sLDNhxI8SQSVB9BDOLburd-FPaPWOPjaZyd34X6guulgxznrB4Dy2k8MDRylsFpKF37jBA";

static busauth_identity *vector_identity(void)
{
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
    busauth_identity *id;
    assert_int_equal(busauth_identity_from_seed(seed, &id), BUSAUTH_OK);
    return id;
}

static void request_vector(void **state)
{
    (void)state;
    uint8_t hash[32];
    crypto_hash_sha256(hash, (const uint8_t *)BODY, strlen(BODY));
    char canonical[512], sig[BUSAUTH_SIG_B64_LEN + 1];
    size_t n = busauth_request_canonical(canonical, sizeof canonical, "POST", "/v1/rooms", "1700000000000",
                                         NONCE, hash);
    assert_string_equal(canonical, CANONICAL);
    assert_int_equal(n, strlen(CANONICAL));
    busauth_identity *id = vector_identity();
    busauth_sign_text(id, canonical, n, sig);
    assert_string_equal(sig, SIGNATURE);
    assert_int_equal(busauth_verify_text(busauth_identity_public_key(id), canonical, n, sig), BUSAUTH_OK);
    busauth_identity_free(id);
}

static void response_vector(void **state)
{
    (void)state;
    uint8_t hash[32];
    crypto_hash_sha256(hash, (const uint8_t *)BODY, strlen(BODY));
    char canonical[512], sig[BUSAUTH_SIG_B64_LEN + 1];
    size_t n = busauth_response_canonical(canonical, sizeof canonical, NONCE, 200, hash);
    assert_string_equal(canonical, RESPONSE_CANONICAL);
    busauth_identity *id = vector_identity();
    busauth_sign_text(id, canonical, n, sig);
    assert_string_equal(sig, RESPONSE_SIGNATURE);
    busauth_identity_free(id);
}

static void malformed_signatures_are_refused(void **state)
{
    (void)state;
    busauth_identity *id = vector_identity();
    const uint8_t *pk = busauth_identity_public_key(id);
    size_t n = strlen(CANONICAL);
    char sig[BUSAUTH_SIG_B64_LEN + 2];
    memcpy(sig, SIGNATURE, sizeof SIGNATURE);
    assert_int_equal(busauth_verify_text(pk, CANONICAL, n - 1, sig), BUSAUTH_ERR_SIGNATURE);
    sig[85] = '\0';
    assert_int_equal(busauth_verify_text(pk, CANONICAL, n, sig), BUSAUTH_ERR_LENGTH);
    memcpy(sig, SIGNATURE, sizeof SIGNATURE);
    sig[3] = '+'; /* standard base64, not base64url */
    assert_int_equal(busauth_verify_text(pk, CANONICAL, n, sig), BUSAUTH_ERR_BASE64);
    memcpy(sig, SIGNATURE, sizeof SIGNATURE);
    sig[85] = 'h'; /* non-zero unused bits in the last character */
    assert_int_equal(busauth_verify_text(pk, CANONICAL, n, sig), BUSAUTH_ERR_BASE64);
    /* libsodium 1.0.18 reads 0xA1 as '_' (found by fuzz_signed_request):
     * a second spelling of the same signature must not verify. */
    memcpy(sig, SIGNATURE, sizeof SIGNATURE);
    assert_int_equal(sig[75], '_');
    sig[75] = (char)0xA1;
    assert_int_equal(busauth_verify_text(pk, CANONICAL, n, sig), BUSAUTH_ERR_BASE64);
    busauth_identity_free(id);
}

static void nonces_are_fresh_lowercase_hex(void **state)
{
    (void)state;
    char a[BUSAUTH_NONCE_HEX_LEN + 1], b[BUSAUTH_NONCE_HEX_LEN + 1];
    busauth_nonce_new(a);
    busauth_nonce_new(b);
    assert_true(busauth_nonce_valid(a));
    assert_string_not_equal(a, b);
    assert_false(busauth_nonce_valid("00112233445566778899AABBCCDDEEFF"));
    assert_false(busauth_nonce_valid("00112233445566778899aabbccddeef"));
    assert_false(busauth_nonce_valid("00112233445566778899aabbccddeeff0"));
    assert_false(busauth_nonce_valid("0011223344556677889-aabbccddeeff"));
}

int main(void)
{
    if (busauth_init() != BUSAUTH_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_vector),
        cmocka_unit_test(response_vector),
        cmocka_unit_test(malformed_signatures_are_refused),
        cmocka_unit_test(nonces_are_fresh_lowercase_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
