#include "busauth/signing.h"

#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "busauth/domain.h"


static size_t finish(int n, size_t cap)
{
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t busauth_request_canonical(char *out, size_t cap, const busauth_request *r)
{
    char hash_hex[2 * BUSAUTH_SHA256_BYTES + 1];
    sodium_bin2hex(hash_hex, sizeof hash_hex, r->body_sha256, BUSAUTH_SHA256_BYTES);
    return finish(snprintf(out, cap, BUSAUTH_DOMAIN_REQUEST "%s\n%s\n%s\n%s\n%s\n%s\n%s", r->server_key, r->key,
                           r->method, r->target, r->time_ms, r->nonce, hash_hex), cap);
}

size_t busauth_response_canonical(char *out, size_t cap, const uint8_t *request_sha256, unsigned status,
                                  const uint8_t body_sha256[BUSAUTH_SHA256_BYTES])
{
    char request_hex[2 * BUSAUTH_SHA256_BYTES + 1] = "", body_hex[2 * BUSAUTH_SHA256_BYTES + 1];
    if (request_sha256)
        sodium_bin2hex(request_hex, sizeof request_hex, request_sha256, BUSAUTH_SHA256_BYTES);
    sodium_bin2hex(body_hex, sizeof body_hex, body_sha256, BUSAUTH_SHA256_BYTES);
    return finish(snprintf(out, cap, BUSAUTH_DOMAIN_RESPONSE "%s\n%u\n%s", request_hex, status, body_hex), cap);
}

void busauth_sign_text(const busauth_identity *id, const char *text, size_t len,
                       char out[BUSAUTH_SIG_B64_LEN + 1])
{
    uint8_t sig[BUSAUTH_SIGNATURE_BYTES];
    busauth_identity_sign(id, (const uint8_t *)text, len, sig);
    sodium_bin2base64(out, BUSAUTH_SIG_B64_LEN + 1, sig, sizeof sig,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

busauth_status busauth_verify_text(const uint8_t public_key[BUSAUTH_KEY_BYTES], const char *text,
                                   size_t len, const char *signature_b64)
{
    if (strnlen(signature_b64, BUSAUTH_SIG_B64_LEN + 1) != BUSAUTH_SIG_B64_LEN)
        return BUSAUTH_ERR_LENGTH;
    /* Checked here: libsodium 1.0.18 decodes some bytes >= 0x80 as if they
     * were '_', '-' or letters (found by tests/fuzz/fuzz_signed_request). */
    if (strspn(signature_b64, BUSAUTH_B64URL_ALPHABET) != BUSAUTH_SIG_B64_LEN)
        return BUSAUTH_ERR_BASE64;
    uint8_t sig[BUSAUTH_SIGNATURE_BYTES];
    size_t sig_len = 0;
    if (sodium_base642bin(sig, sizeof sig, signature_b64, BUSAUTH_SIG_B64_LEN, NULL, &sig_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        sig_len != sizeof sig)
        return BUSAUTH_ERR_BASE64;
    return busauth_signature_verify(public_key, (const uint8_t *)text, len, sig);
}

void busauth_nonce_new(char out[BUSAUTH_NONCE_HEX_LEN + 1])
{
    uint8_t raw[BUSAUTH_NONCE_HEX_LEN / 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(out, BUSAUTH_NONCE_HEX_LEN + 1, raw, sizeof raw);
}

bool busauth_nonce_valid(const char *nonce)
{
    if (strnlen(nonce, BUSAUTH_NONCE_HEX_LEN + 1) != BUSAUTH_NONCE_HEX_LEN)
        return false;
    for (size_t i = 0; i < BUSAUTH_NONCE_HEX_LEN; i++) {
        char c = nonce[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}
