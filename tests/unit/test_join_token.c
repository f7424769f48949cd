/* Join tokens as text: what busauth_join_token_split accepts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "busauth/identity.h"
#include "busauth/join_token.h"

/* The test vector's server key and a secret of 32 0xff bytes, whose
 * base64url is 42 '_' and an '8'. */
#define SERVER "UAU2ZOXBIG6MV4FSFYNJJU2NBPDTMHSSNUF74EWIS6KLZEZCSZW5PMRM"
#define TOKEN BUSAUTH_JOIN_TOKEN_PREFIX SERVER ".__________________________________________8"

static void splits_a_token(void **state)
{
    (void)state;
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    uint8_t secret[BUSAUTH_JOIN_SECRET_BYTES], ones[BUSAUTH_JOIN_SECRET_BYTES];
    memset(ones, 0xff, sizeof ones);
    const char text[] = " " TOKEN "\n";
    assert_true(busauth_join_token_split(text, sizeof text - 1, nkey, secret));
    assert_string_equal(nkey, SERVER);
    assert_memory_equal(secret, ones, sizeof ones);
}

/* libsodium 1.0.18 decodes 0xa1 as '_': the same secret under another
 * text, which busauth_redact would not recognise (found by
 * tests/fuzz/fuzz_join_token). */
static void refuses_bytes_outside_base64url(void **state)
{
    (void)state;
    char text[] = TOKEN, nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    uint8_t secret[BUSAUTH_JOIN_SECRET_BYTES];
    for (size_t i = sizeof text - 44; i < sizeof text - 2; i++) {
        text[i] = (char)0xa1;
        assert_false(busauth_join_token_split(text, sizeof text - 1, nkey, secret));
        text[i] = '_';
    }
    assert_true(busauth_join_token_split(text, sizeof text - 1, nkey, secret));
}

int main(void)
{
    if (busauth_init() != BUSAUTH_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(splits_a_token),
        cmocka_unit_test(refuses_bytes_outside_base64url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
