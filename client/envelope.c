#include "envelope.h"

#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "busauth/domain.h"

#define DOMAIN_LEN (sizeof BUSAUTH_DOMAIN_MESSAGE - 1)
#define NONCE_OFFSET 38
_Static_assert(ENVELOPE_SESSION_LEN + 8 == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
               "the nonce is the session id and the sequence number");
#define AD_LEN (DOMAIN_LEN + ENVELOPE_ROOM_ID_LEN + ENVELOPE_HEADER_LEN)
/* Envelopes up to this size are signed and verified without a malloc. */
#define SIGNED_ON_STACK 2048

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)(v & 0xff);
}

static uint64_t get_be(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = (v << 8) | p[i];
    return v;
}

size_t envelope_sealed_len(size_t plaintext_len, bool sign)
{
    return ENVELOPE_HEADER_LEN + plaintext_len + ENVELOPE_TAG_LEN + (sign ? ENVELOPE_SIG_LEN : 0);
}

static void write_header(const envelope_header *h, bool sign, uint8_t *out)
{
    out[0] = ENVELOPE_VERSION;
    out[1] = (uint8_t)((sign ? ENVELOPE_FLAG_SIGNED : 0) | h->kind << ENVELOPE_KIND_SHIFT);
    put_be(out + 2, h->epoch, 4);
    memcpy(out + 6, h->sender, 32);
    memcpy(out + 38, h->session, ENVELOPE_SESSION_LEN);
    put_be(out + 54, h->sequence, 8);
    put_be(out + 62, h->time_ms, 8);
    memcpy(out + 70, h->answers, ENVELOPE_ID_LEN);
}

/* The version byte is in the header, so the AD names domain and version. */
static void associated_data(const char *room_id, const uint8_t *header, uint8_t ad[AD_LEN])
{
    memcpy(ad, BUSAUTH_DOMAIN_MESSAGE, DOMAIN_LEN);
    memcpy(ad + DOMAIN_LEN, room_id, ENVELOPE_ROOM_ID_LEN);
    memcpy(ad + DOMAIN_LEN + ENVELOPE_ROOM_ID_LEN, header, ENVELOPE_HEADER_LEN);
}

/* BUSAUTH_DOMAIN_MESSAGE || body in one piece, as Ed25519 signs it: in
 * stack when it fits, else malloc'd (NULL when memory ran out). */
static uint8_t *signed_bytes(const uint8_t *body, size_t len, uint8_t stack[SIGNED_ON_STACK])
{
    uint8_t *buf = DOMAIN_LEN + len <= SIGNED_ON_STACK ? stack : malloc(DOMAIN_LEN + len);
    if (buf) {
        memcpy(buf, BUSAUTH_DOMAIN_MESSAGE, DOMAIN_LEN);
        memcpy(buf + DOMAIN_LEN, body, len);
    }
    return buf;
}

unibus_status envelope_seal(const char *room_id, const uint8_t key[ENVELOPE_KEY_LEN], const envelope_header *h,
                            const busauth_identity *signer, const uint8_t *plaintext, size_t len, uint8_t *out)
{
    write_header(h, signer != NULL, out);
    uint8_t ad[AD_LEN];
    associated_data(room_id, out, ad);
    unsigned long long ct_len = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + ENVELOPE_HEADER_LEN, &ct_len, plaintext, len, ad,
                                               sizeof ad, NULL, out + NONCE_OFFSET, key);
    if (!signer)
        return UNIBUS_OK;
    size_t body_len = ENVELOPE_HEADER_LEN + (size_t)ct_len;
    uint8_t stack[SIGNED_ON_STACK], *msg = signed_bytes(out, body_len, stack);
    if (!msg)
        return UNIBUS_ERR_NOMEM;
    busauth_identity_sign(signer, msg, DOMAIN_LEN + body_len, out + body_len);
    if (msg != stack)
        free(msg);
    return UNIBUS_OK;
}

void envelope_id(const uint8_t *in, size_t len, uint8_t id[ENVELOPE_ID_LEN])
{
    crypto_generichash(id, ENVELOPE_ID_LEN, in, len, NULL, 0);
}

unibus_status envelope_peek(const uint8_t *in, size_t len, envelope_header *h)
{
    if (len < ENVELOPE_HEADER_LEN + ENVELOPE_TAG_LEN || in[0] != ENVELOPE_VERSION ||
        (in[1] >> ENVELOPE_KIND_SHIFT) > ENVELOPE_REPLY)
        return UNIBUS_ERR_MALFORMED;
    if ((in[1] & ENVELOPE_FLAG_SIGNED) && len < ENVELOPE_HEADER_LEN + ENVELOPE_TAG_LEN + ENVELOPE_SIG_LEN)
        return UNIBUS_ERR_MALFORMED;
    h->flags = in[1] & ENVELOPE_FLAG_SIGNED;
    h->kind = (envelope_kind)(in[1] >> ENVELOPE_KIND_SHIFT);
    h->epoch = (uint32_t)get_be(in + 2, 4);
    memcpy(h->sender, in + 6, 32);
    memcpy(h->session, in + 38, ENVELOPE_SESSION_LEN);
    h->sequence = get_be(in + 54, 8);
    h->time_ms = get_be(in + 62, 8);
    memcpy(h->answers, in + 70, ENVELOPE_ID_LEN);
    return UNIBUS_OK;
}

unibus_status envelope_verify(const uint8_t *in, size_t len)
{
    envelope_header h;
    if (envelope_peek(in, len, &h) != UNIBUS_OK || !(h.flags & ENVELOPE_FLAG_SIGNED))
        return UNIBUS_ERR_BAD_SIGNATURE;
    size_t body_len = len - ENVELOPE_SIG_LEN;
    uint8_t stack[SIGNED_ON_STACK], *msg = signed_bytes(in, body_len, stack);
    if (!msg)
        return UNIBUS_ERR_NOMEM;
    busauth_status s = busauth_signature_verify(h.sender, msg, DOMAIN_LEN + body_len, in + body_len);
    if (msg != stack)
        free(msg);
    return s == BUSAUTH_OK ? UNIBUS_OK : UNIBUS_ERR_BAD_SIGNATURE;
}

unibus_status envelope_decrypt(const char *room_id, const uint8_t key[ENVELOPE_KEY_LEN], const uint8_t *in,
                               size_t len, uint8_t *out, size_t *out_len)
{
    envelope_header h;
    unibus_status status = envelope_peek(in, len, &h);
    if (status != UNIBUS_OK)
        return status;
    size_t body_end = len - ((h.flags & ENVELOPE_FLAG_SIGNED) ? ENVELOPE_SIG_LEN : 0);
    uint8_t ad[AD_LEN];
    associated_data(room_id, in, ad);
    unsigned long long pt_len = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &pt_len, NULL, in + ENVELOPE_HEADER_LEN,
                                                   body_end - ENVELOPE_HEADER_LEN, ad, sizeof ad,
                                                   in + NONCE_OFFSET, key) != 0)
        return UNIBUS_ERR_DECRYPT;
    *out_len = (size_t)pt_len;
    return UNIBUS_OK;
}

unibus_status envelope_open(const char *room_id, const uint8_t key[ENVELOPE_KEY_LEN], const uint8_t *in,
                            size_t len, uint8_t *out, size_t *out_len)
{
    envelope_header h;
    unibus_status status = envelope_peek(in, len, &h);
    if (status == UNIBUS_OK && (h.flags & ENVELOPE_FLAG_SIGNED))
        status = envelope_verify(in, len);
    return status == UNIBUS_OK ? envelope_decrypt(room_id, key, in, len, out, out_len) : status;
}
