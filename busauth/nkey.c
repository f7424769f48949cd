#include "busauth/nkey.h"

#include <pthread.h>
#include <string.h>
#include <sodium.h>
#include "busauth/signing.h"

/* Prefix bytes from the NATS nkeys specification. */
#define PREFIX_SEED 0x90 /* 18 << 3 */
#define PREFIX_USER 0xA0 /* 20 << 3 */

#define PUBLIC_RAW_LEN (1 + BUSAUTH_KEY_BYTES + 2)
#define SEED_RAW_LEN   (2 + BUSAUTH_KEY_BYTES + 2)

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* Without branches or tables on the data: seeds go through it too. */
static uint16_t crc16_xmodem(const uint8_t *data, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(data[i] << 8);
        for (int bit = 0; bit < 8; bit++)
            crc = (uint16_t)((crc << 1) ^ (0x1021 & -(crc >> 15)));
    }
    return crc;
}

/* The same CRC a byte at a time from a table, for public keys only (a
 * table indexed by a seed's bytes would leak them through the cache):
 * nats.conf is rendered on every change with every user's nkey, and the
 * bitwise CRC was a fifth of that at 10,000 users (dev/bench.md). */
static uint16_t crc_table[256];
static pthread_once_t crc_table_made = PTHREAD_ONCE_INIT;

static void make_crc_table(void)
{
    for (unsigned byte = 0; byte < 256; byte++) {
        uint8_t b = (uint8_t)byte;
        crc_table[byte] = crc16_xmodem(&b, 1);
    }
}

static uint16_t crc16_xmodem_public(const uint8_t *data, size_t len)
{
    pthread_once(&crc_table_made, make_crc_table);
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++)
        crc = (uint16_t)((crc << 8) ^ crc_table[(crc >> 8) ^ data[i]]);
    return crc;
}

static void base32_encode(const uint8_t *in, size_t len, char *out)
{
    uint32_t buffer = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        buffer = (buffer << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = ALPHABET[(buffer >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = ALPHABET[(buffer << (5 - bits)) & 31];
    out[o] = '\0';
    buffer = 0;
}

static int base32_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= '2' && c <= '7') return c - '2' + 26;
    return -1;
}

/* Strict: every character in the alphabet, unused trailing bits zero, so
 * each key has exactly one text form. */
static busauth_status base32_decode(const char *in, size_t len, uint8_t *out, size_t outlen)
{
    uint32_t buffer = 0;
    int bits = 0;
    size_t o = 0;
    busauth_status status = BUSAUTH_OK;
    for (size_t i = 0; i < len && status == BUSAUTH_OK; i++) {
        int v = base32_value(in[i]);
        if (v < 0) {
            status = BUSAUTH_ERR_BASE32;
            break;
        }
        buffer = (buffer << 5) | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            if (o == outlen)
                status = BUSAUTH_ERR_LENGTH;
            else
                out[o++] = (uint8_t)(buffer >> (bits - 8));
            bits -= 8;
        }
    }
    if (status == BUSAUTH_OK && (o != outlen || (buffer & ((1u << bits) - 1)) != 0))
        status = BUSAUTH_ERR_BASE32;
    buffer = 0;
    return status;
}

static void append_crc(uint8_t *raw, size_t body_len)
{
    uint16_t crc = crc16_xmodem(raw, body_len);
    raw[body_len] = (uint8_t)(crc & 0xff);
    raw[body_len + 1] = (uint8_t)(crc >> 8);
}

static int crc_matches(const uint8_t *raw, size_t raw_len)
{
    uint16_t crc = crc16_xmodem(raw, raw_len - 2);
    return raw[raw_len - 2] == (crc & 0xff) && raw[raw_len - 1] == (crc >> 8);
}

void busauth_nkey_encode_public(const uint8_t pk[BUSAUTH_KEY_BYTES],
                                char out[BUSAUTH_NKEY_PUBLIC_LEN + 1])
{
    uint8_t raw[PUBLIC_RAW_LEN];
    raw[0] = PREFIX_USER;
    memcpy(raw + 1, pk, BUSAUTH_KEY_BYTES);
    uint16_t crc = crc16_xmodem_public(raw, 1 + BUSAUTH_KEY_BYTES);
    raw[1 + BUSAUTH_KEY_BYTES] = (uint8_t)(crc & 0xff);
    raw[2 + BUSAUTH_KEY_BYTES] = (uint8_t)(crc >> 8);
    base32_encode(raw, sizeof raw, out);
}

void busauth_nkey_encode_seed(const uint8_t seed[BUSAUTH_KEY_BYTES],
                              char out[BUSAUTH_NKEY_SEED_LEN + 1])
{
    uint8_t raw[SEED_RAW_LEN];
    raw[0] = PREFIX_SEED | (PREFIX_USER >> 5);
    raw[1] = (uint8_t)((PREFIX_USER & 31) << 3);
    memcpy(raw + 2, seed, BUSAUTH_KEY_BYTES);
    append_crc(raw, 2 + BUSAUTH_KEY_BYTES);
    base32_encode(raw, sizeof raw, out);
    sodium_memzero(raw, sizeof raw);
}

typedef enum { KIND_USER_PUBLIC, KIND_USER_SEED, KIND_OTHER } nkey_kind;

/* Decodes either form into raw (SEED_RAW_LEN bytes, wiped by the caller). */
static busauth_status nkey_unpack(const char *text, uint8_t raw[SEED_RAW_LEN], nkey_kind *kind)
{
    size_t len = strnlen(text, BUSAUTH_NKEY_SEED_LEN + 1);
    size_t raw_len;
    if (len == BUSAUTH_NKEY_PUBLIC_LEN)
        raw_len = PUBLIC_RAW_LEN;
    else if (len == BUSAUTH_NKEY_SEED_LEN)
        raw_len = SEED_RAW_LEN;
    else
        return BUSAUTH_ERR_LENGTH;

    busauth_status status = base32_decode(text, len, raw, raw_len);
    if (status != BUSAUTH_OK)
        return status;
    if (!crc_matches(raw, raw_len))
        return BUSAUTH_ERR_CHECKSUM;

    if (raw_len == PUBLIC_RAW_LEN && raw[0] == PREFIX_USER)
        *kind = KIND_USER_PUBLIC;
    else if (raw_len == SEED_RAW_LEN && (raw[0] & 0xf8) == PREFIX_SEED &&
             (((raw[0] & 7) << 5) | (raw[1] >> 3)) == PREFIX_USER)
        *kind = KIND_USER_SEED;
    else
        *kind = KIND_OTHER;
    return BUSAUTH_OK;
}

static busauth_status decode_kind(const char *text, nkey_kind want, uint8_t key[BUSAUTH_KEY_BYTES])
{
    uint8_t raw[SEED_RAW_LEN];
    nkey_kind kind;
    busauth_status status = nkey_unpack(text, raw, &kind);
    if (status == BUSAUTH_OK && kind != want) {
        if (kind == KIND_OTHER)
            status = BUSAUTH_ERR_PREFIX;
        else
            status = want == KIND_USER_PUBLIC ? BUSAUTH_ERR_IS_SEED : BUSAUTH_ERR_NOT_SEED;
    }
    if (status == BUSAUTH_OK)
        memcpy(key, raw + (want == KIND_USER_PUBLIC ? 1 : 2), BUSAUTH_KEY_BYTES);
    sodium_memzero(raw, sizeof raw);
    return status;
}

busauth_status busauth_nkey_decode_public(const char *text, uint8_t pk[BUSAUTH_KEY_BYTES])
{
    return decode_kind(text, KIND_USER_PUBLIC, pk);
}

busauth_status busauth_nkey_decode_seed(const char *text, uint8_t seed[BUSAUTH_KEY_BYTES])
{
    return decode_kind(text, KIND_USER_SEED, seed);
}

bool busauth_nkey_is_wellformed(const char *text)
{
    uint8_t raw[SEED_RAW_LEN];
    nkey_kind kind;
    bool ok = nkey_unpack(text, raw, &kind) == BUSAUTH_OK;
    sodium_memzero(raw, sizeof raw);
    return ok;
}

static busauth_status hex_decode_key(const char *text, uint8_t pk[BUSAUTH_KEY_BYTES])
{
    for (size_t i = 0; i < BUSAUTH_PUBKEY_HEX_LEN; i++) {
        char c = text[i];
        int is_hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (!is_hex)
            return BUSAUTH_ERR_HEX;
    }
    size_t bin_len = 0;
    if (sodium_hex2bin(pk, BUSAUTH_KEY_BYTES, text, BUSAUTH_PUBKEY_HEX_LEN, NULL, &bin_len, NULL) != 0 ||
        bin_len != BUSAUTH_KEY_BYTES)
        return BUSAUTH_ERR_HEX;
    return BUSAUTH_OK;
}

busauth_status busauth_pubkey_parse(const char *text, uint8_t pk[BUSAUTH_KEY_BYTES])
{
    if (strnlen(text, BUSAUTH_PUBKEY_HEX_LEN + 1) == BUSAUTH_PUBKEY_HEX_LEN)
        return hex_decode_key(text, pk);
    return busauth_nkey_decode_public(text, pk);
}

void busauth_pubkey_to_hex(const uint8_t pk[BUSAUTH_KEY_BYTES],
                           char out[BUSAUTH_PUBKEY_HEX_LEN + 1])
{
    sodium_bin2hex(out, BUSAUTH_PUBKEY_HEX_LEN + 1, pk, BUSAUTH_KEY_BYTES);
}

bool busauth_nats_nonce_signable(const char *nonce)
{
    size_t n = nonce ? strnlen(nonce, BUSAUTH_NATS_NONCE_MAX + 1) : 0;
    return n >= 1 && n <= BUSAUTH_NATS_NONCE_MAX && strspn(nonce, BUSAUTH_B64URL_ALPHABET) == n;
}
