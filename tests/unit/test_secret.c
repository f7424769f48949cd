/* Constant-time comparison and log redaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "busauth/identity.h"
#include "busauth/secret.h"

static void compares_secrets(void **state)
{
    (void)state;
    const char a[] = "0123456789abcdef", b[] = "0123456789abcdef", c[] = "0123456789abcdeF";
    assert_true(busauth_secret_equal(a, b, 16));
    assert_false(busauth_secret_equal(a, c, 16));
    assert_true(busauth_secret_equal(a, c, 15));
}

static void redacts_seeds(void **state)
{
    (void)state;
    busauth_identity *id;
    assert_int_equal(busauth_identity_generate(&id), BUSAUTH_OK);
    char seed[BUSAUTH_NKEY_SEED_LEN + 1], line[256];
    busauth_identity_seed_nkey(id, seed);
    snprintf(line, sizeof line, "msg=loaded seed=%s user=alice again:%s.", seed, seed);
    assert_int_equal(busauth_redact(line), 2);
    assert_string_equal(line, "msg=loaded seed=[REDACTED] user=alice again:[REDACTED].");
    busauth_identity_free(id);
}

static void redacts_hex_secret_keys(void **state)
{
    (void)state;
    char line[300] = "sk=";
    for (int i = 0; i < 128; i++)
        strcat(line, "a1");
    strcat(line, " end");
    assert_int_equal(busauth_redact(line), 1);
    assert_string_equal(line, "sk=[REDACTED] end");
}

static void redacts_join_tokens(void **state)
{
    (void)state;
    char line[300] = "msg=join token=ubj1.UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK."
                     "BMYZ_oiGhBfFm8kPkrWNw_DWCD7H0rqCM1ukCdSQKlQ\" end";
    assert_int_equal(busauth_redact(line), 1);
    assert_string_equal(line, "msg=join token=[REDACTED]\" end");
    char short_one[] = "word ubj1.abc stays";
    assert_int_equal(busauth_redact(short_one), 0);
}

/* nats-server 2.9.10 logs a removed route with its password
 * (reload.go:410): "[INF] Removed route nats-route://user:pass@host:port". */
static void redacts_passwords_in_urls(void **state)
{
    (void)state;
    char line[] = "line=\"[INF] Removed route nats-route://unibus-route:"
                  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef@127.0.0.2:6250\"";
    assert_int_equal(busauth_redact(line), 1);
    assert_string_equal(line, "line=\"[INF] Removed route nats-route[REDACTED]@127.0.0.2:6250\"");
    char plain[] = "url=https://example.com:8470/v1/me and nats://127.0.0.1:4222 and a://b@c";
    assert_int_equal(busauth_redact(plain), 0);
}

static void leaves_public_material_alone(void **state)
{
    (void)state;
    char line[] = "key=UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK "
                  "hex=46ae8f0fcb836e00d9e26c4a3ea40d7bcd42defb5de1725a42951587518f9c4a "
                  "route=/v1/rooms status=200 SHORT=SABC";
    char before[sizeof line];
    memcpy(before, line, sizeof line);
    assert_int_equal(busauth_redact(line), 0);
    assert_string_equal(line, before);
}

int main(void)
{
    if (busauth_init() != BUSAUTH_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(compares_secrets),
        cmocka_unit_test(redacts_seeds),
        cmocka_unit_test(redacts_hex_secret_keys),
        cmocka_unit_test(redacts_join_tokens),
        cmocka_unit_test(redacts_passwords_in_urls),
        cmocka_unit_test(leaves_public_material_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
