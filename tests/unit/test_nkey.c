/* nkey encoding: known answers from nkeys.js, round trips, every rejection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>
#include "busauth/domain.h"
#include "busauth/nkey.h"

/* Seed bytes 0x00..0x1f, encoded by nkeys.js 1.1.0 (Codec.encodeSeed / getPublicKey). */
static const char KAT_SEED[] = "SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776Y";
static const char KAT_PUBLIC[] = "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK";
/* An account public key made by nkeys.js: well formed, but not a user key. */
static const char ACCOUNT_PUBLIC[] = "ACVMUARYV3KCP2C2AMMQES66HRCSDHSWAMOSG7L6PQYUT3ZTFEPRCNBY";

static void kat_seed_bytes(uint8_t seed[32])
{
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
}

static void encodes_seed_like_nkeys_js(void **state)
{
    (void)state;
    uint8_t seed[32];
    char text[BUSAUTH_NKEY_SEED_LEN + 1];
    kat_seed_bytes(seed);
    busauth_nkey_encode_seed(seed, text);
    assert_string_equal(text, KAT_SEED);
}

static void encodes_public_like_nkeys_js(void **state)
{
    (void)state;
    uint8_t seed[32], pk[32], sk[64];
    char text[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    kat_seed_bytes(seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    busauth_nkey_encode_public(pk, text);
    assert_string_equal(text, KAT_PUBLIC);
}

static void decodes_known_answers(void **state)
{
    (void)state;
    uint8_t seed[32], expected[32], pk[32], sk[64], decoded[32];
    kat_seed_bytes(expected);
    assert_int_equal(busauth_nkey_decode_seed(KAT_SEED, seed), BUSAUTH_OK);
    assert_memory_equal(seed, expected, 32);
    crypto_sign_seed_keypair(pk, sk, seed);
    assert_int_equal(busauth_nkey_decode_public(KAT_PUBLIC, decoded), BUSAUTH_OK);
    assert_memory_equal(decoded, pk, 32);
}

static void round_trips_random_keys(void **state)
{
    (void)state;
    for (int i = 0; i < 2000; i++) {
        uint8_t key[32], back[32];
        char pub[BUSAUTH_NKEY_PUBLIC_LEN + 1], seed[BUSAUTH_NKEY_SEED_LEN + 1];
        randombytes_buf(key, sizeof key);
        busauth_nkey_encode_public(key, pub);
        assert_int_equal(strlen(pub), BUSAUTH_NKEY_PUBLIC_LEN);
        assert_int_equal(pub[0], 'U');
        assert_int_equal(busauth_nkey_decode_public(pub, back), BUSAUTH_OK);
        assert_memory_equal(back, key, 32);

        busauth_nkey_encode_seed(key, seed);
        assert_int_equal(strlen(seed), BUSAUTH_NKEY_SEED_LEN);
        assert_true(seed[0] == 'S' && seed[1] == 'U');
        assert_int_equal(busauth_nkey_decode_seed(seed, back), BUSAUTH_OK);
        assert_memory_equal(back, key, 32);
    }
}

/* Re-encodes text with one bit of its decoded body flipped, keeping the
 * old checksum: exactly what a transmission error does. */
static void flip_bit_keep_crc(char *text, size_t byte, int bit)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    size_t bitpos = byte * 8 + (size_t)bit;
    size_t ch = bitpos / 5;
    int within = 4 - (int)(bitpos % 5);
    int v = (int)(strchr(alphabet, text[ch]) - alphabet);
    text[ch] = alphabet[v ^ (1 << within)];
}

static void rejects_flipped_bits(void **state)
{
    (void)state;
    uint8_t out[32];
    for (size_t byte = 1; byte < 33; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            char pub[] = "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK";
            flip_bit_keep_crc(pub, byte, bit);
            assert_int_equal(busauth_nkey_decode_public(pub, out), BUSAUTH_ERR_CHECKSUM);
            char seed[] = "SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776Y";
            flip_bit_keep_crc(seed, byte + 1, bit);
            assert_int_equal(busauth_nkey_decode_seed(seed, out), BUSAUTH_ERR_CHECKSUM);
        }
    }
}

static void rejects_checksum_bit_itself(void **state)
{
    (void)state;
    uint8_t out[32];
    char pub[] = "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK";
    flip_bit_keep_crc(pub, 33, 0); /* first CRC byte */
    assert_int_equal(busauth_nkey_decode_public(pub, out), BUSAUTH_ERR_CHECKSUM);
}

static void rejects_seed_where_public_belongs(void **state)
{
    (void)state;
    uint8_t out[32];
    memset(out, 0xAA, sizeof out);
    assert_int_equal(busauth_nkey_decode_public(KAT_SEED, out), BUSAUTH_ERR_IS_SEED);
    assert_int_equal(busauth_pubkey_parse(KAT_SEED, out), BUSAUTH_ERR_IS_SEED);
    for (size_t i = 0; i < sizeof out; i++)
        assert_int_equal(out[i], 0xAA); /* nothing of the seed leaked into out */
}

static void rejects_public_where_seed_belongs(void **state)
{
    (void)state;
    uint8_t out[32];
    assert_int_equal(busauth_nkey_decode_seed(KAT_PUBLIC, out), BUSAUTH_ERR_NOT_SEED);
}

static void rejects_other_key_types(void **state)
{
    (void)state;
    uint8_t out[32];
    assert_int_equal(busauth_nkey_decode_public(ACCOUNT_PUBLIC, out), BUSAUTH_ERR_PREFIX);
    assert_int_equal(busauth_nkey_decode_seed(ACCOUNT_PUBLIC, out), BUSAUTH_ERR_PREFIX);
    assert_true(busauth_nkey_is_wellformed(ACCOUNT_PUBLIC));
}

static void rejects_wrong_lengths(void **state)
{
    (void)state;
    uint8_t out[32];
    char text[80];
    for (size_t len = 0; len < sizeof text - 1; len++) {
        memset(text, 'A', len);
        text[len] = '\0';
        busauth_status s = busauth_nkey_decode_public(text, out);
        if (len == BUSAUTH_NKEY_PUBLIC_LEN || len == BUSAUTH_NKEY_SEED_LEN)
            assert_int_not_equal(s, BUSAUTH_OK); /* right length, wrong content */
        else
            assert_int_equal(s, BUSAUTH_ERR_LENGTH);
    }
    assert_int_equal(busauth_nkey_decode_public("UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLK", out),
                     BUSAUTH_ERR_LENGTH);
    assert_int_equal(busauth_nkey_decode_public("UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKKA", out),
                     BUSAUTH_ERR_LENGTH);
}

static void rejects_bad_base32(void **state)
{
    (void)state;
    uint8_t out[32];
    const char *bad[] = {
        "uAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK", /* lower case */
        "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLK1", /* 1 is not base32 */
        "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLK=", /* padding */
        "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RL K",
        "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RL\xc3\xa9",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(busauth_nkey_decode_public(bad[i], out), BUSAUTH_ERR_BASE32);
    /* The last seed character carries two unused bits: they must be zero. */
    char seed[] = "SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776Y";
    seed[BUSAUTH_NKEY_SEED_LEN - 1] = 'Z';
    assert_int_equal(busauth_nkey_decode_seed(seed, out), BUSAUTH_ERR_BASE32);
}

static void parses_hex_public_keys(void **state)
{
    (void)state;
    uint8_t pk[32], expected[32];
    char hex[BUSAUTH_PUBKEY_HEX_LEN + 1];
    randombytes_buf(expected, sizeof expected);
    busauth_pubkey_to_hex(expected, hex);
    assert_int_equal(busauth_pubkey_parse(hex, pk), BUSAUTH_OK);
    assert_memory_equal(pk, expected, 32);
    for (char *p = hex; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    assert_int_equal(busauth_pubkey_parse(hex, pk), BUSAUTH_OK);
    assert_memory_equal(pk, expected, 32);
    hex[10] = 'g';
    assert_int_equal(busauth_pubkey_parse(hex, pk), BUSAUTH_ERR_HEX);
    hex[63] = '\0';
    assert_int_equal(busauth_pubkey_parse(hex, pk), BUSAUTH_ERR_LENGTH);
    assert_int_equal(busauth_pubkey_parse(KAT_PUBLIC, pk), BUSAUTH_OK);
}

static void every_status_has_a_message(void **state)
{
    (void)state;
    for (int s = BUSAUTH_OK; s <= BUSAUTH_ERR_CRYPTO; s++) {
        const char *msg = busauth_strerror((busauth_status)s);
        assert_non_null(msg);
        assert_string_not_equal(msg, "unknown busauth status");
    }
    assert_string_equal(busauth_strerror((busauth_status)999), "unknown busauth status");
}

/* The data-plane login signs these and nothing else (issue 11, finding 2). */
static void signs_only_nats_shaped_nonces(void **state)
{
    (void)state;
    assert_true(busauth_nats_nonce_signable("AbCdEfGh-_09xyz")); /* nats-server 2.9: 15 base64url */
    assert_true(busauth_nats_nonce_signable("x"));
    char longest[BUSAUTH_NATS_NONCE_MAX + 2];
    memset(longest, 'A', sizeof longest);
    longest[BUSAUTH_NATS_NONCE_MAX] = '\0';
    assert_true(busauth_nats_nonce_signable(longest));
    longest[BUSAUTH_NATS_NONCE_MAX] = 'A';
    longest[BUSAUTH_NATS_NONCE_MAX + 1] = '\0';
    assert_false(busauth_nats_nonce_signable(longest));
    assert_false(busauth_nats_nonce_signable(NULL));
    assert_false(busauth_nats_nonce_signable(""));
    const char *refused[] = {"AbCdEfGh+/09xy=", "AbCd EfGh", "AbCd\nEfGh", "AbCd\"EfGh", "AbCd\\nEfGh",
                             "\xc3\xa9t\xc3\xa9", BUSAUTH_DOMAIN_REQUEST, BUSAUTH_DOMAIN_RESPONSE,
                             BUSAUTH_DOMAIN_MESSAGE, BUSAUTH_DOMAIN_REQUEST "POST\n/v1/users\n1\nab\ncd"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        assert_false(busauth_nats_nonce_signable(refused[i]));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encodes_seed_like_nkeys_js),
        cmocka_unit_test(encodes_public_like_nkeys_js),
        cmocka_unit_test(decodes_known_answers),
        cmocka_unit_test(round_trips_random_keys),
        cmocka_unit_test(rejects_flipped_bits),
        cmocka_unit_test(rejects_checksum_bit_itself),
        cmocka_unit_test(rejects_seed_where_public_belongs),
        cmocka_unit_test(rejects_public_where_seed_belongs),
        cmocka_unit_test(rejects_other_key_types),
        cmocka_unit_test(rejects_wrong_lengths),
        cmocka_unit_test(rejects_bad_base32),
        cmocka_unit_test(parses_hex_public_keys),
        cmocka_unit_test(every_status_has_a_message),
        cmocka_unit_test(signs_only_nats_shaped_nonces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
