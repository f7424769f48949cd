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
static const char SIGNER[] = "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK";
static const char SERVER[] = "UAU2ZOXBIG6MV4FSFYNJJU2NBPDTMHSSNUF74EWIS6KLZEZCSZW5PMRM";
static const char CANONICAL[] =
    "unibus-v2-request\nUAU2ZOXBIG6MV4FSFYNJJU2NBPDTMHSSNUF74EWIS6KLZEZCSZW5PMRM\n"
    "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK\nPOST\n/v1/rooms\n1700000000000\n"
    "00112233445566778899aabbccddeeff\n25049c21e62b9ccec87690ba784a230f486f49cb057ce0f8df5964ccd46913d5";
static const char SIGNATURE[] =
    "lQ8UxLmWLXmkkom7jocXbC-Hj1snZpYU7uSX4xe5noQ_0rkKVCMu05N2TE8VJer98O-aIz1kiuTZ8UWwgpJbAw";
static const char RESPONSE_BODY[] = "{\"id\":\"00112233445566778899aabbccddeeff\"}";
static const char RESPONSE_CANONICAL[] =
    "unibus-v2-response\n66bf2e414dcedb01802af5312d60de9164536d14c1932234cdc6c8d9ed94ee6e\n201\n";
static const char RESPONSE_SIGNATURE[] =
    "BKTgHd8YcjiKcdAdi1d3FwWf4HpjQQhWuci0AG2GiBeYjYpY-UWknYfjYbyQWtmrI2IVhy0KhIElZ7K2DiBUAA";

/* Seed bytes first, first + 1, ... first + 31: 0 for the signer, 32 for
 * the server. */
static busauth_identity *vector_identity_from(int first)
{
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(first + i);
    busauth_identity *id;
    assert_int_equal(busauth_identity_from_seed(seed, &id), BUSAUTH_OK);
    return id;
}

static busauth_identity *vector_identity(void)
{
    return vector_identity_from(0);
}

static void request_vector(void **state)
{
    (void)state;
    uint8_t hash[32];
    crypto_hash_sha256(hash, (const uint8_t *)BODY, strlen(BODY));
    char canonical[512], sig[BUSAUTH_SIG_B64_LEN + 1];
    busauth_request r = {.server_key = SERVER, .key = SIGNER, .method = "POST", .target = "/v1/rooms",
                         .time_ms = "1700000000000", .nonce = NONCE, .body_sha256 = hash};
    size_t n = busauth_request_canonical(canonical, sizeof canonical, &r);
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
    uint8_t request_hash[32], body_hash[32];
    crypto_hash_sha256(request_hash, (const uint8_t *)CANONICAL, strlen(CANONICAL));
    crypto_hash_sha256(body_hash, (const uint8_t *)RESPONSE_BODY, strlen(RESPONSE_BODY));
    char canonical[512], sig[BUSAUTH_SIG_B64_LEN + 1], body_hex[65];
    size_t n = busauth_response_canonical(canonical, sizeof canonical, request_hash, 201, body_hash);
    sodium_bin2hex(body_hex, sizeof body_hex, body_hash, sizeof body_hash);
    assert_int_equal(strncmp(canonical, RESPONSE_CANONICAL, strlen(RESPONSE_CANONICAL)), 0);
    assert_string_equal(canonical + strlen(RESPONSE_CANONICAL), body_hex);
    busauth_identity *server = vector_identity_from(32);
    busauth_sign_text(server, canonical, n, sig);
    assert_string_equal(sig, RESPONSE_SIGNATURE);
    busauth_identity_free(server);
}

/* An answer to a request that did not verify names no request: it can
 * never verify as the answer to one that did. */
static void unbound_responses_name_no_request(void **state)
{
    (void)state;
    uint8_t request_hash[32] = {0}, body_hash[32] = {0};
    char bound[512], unbound[512];
    busauth_response_canonical(bound, sizeof bound, request_hash, 401, body_hash);
    busauth_response_canonical(unbound, sizeof unbound, NULL, 401, body_hash);
    assert_string_equal(unbound, "unibus-v2-response\n\n401\n"
                                 "0000000000000000000000000000000000000000000000000000000000000000");
    assert_string_not_equal(bound, unbound);
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
    assert_int_equal(sig[43], '_');
    sig[43] = (char)0xA1;
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
        cmocka_unit_test(unbound_responses_name_no_request),
        cmocka_unit_test(malformed_signatures_are_refused),
        cmocka_unit_test(nonces_are_fresh_lowercase_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
