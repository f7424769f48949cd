#include "embedded/nats_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "busauth/nkey.h"

/*
 * nats.c 3.4's final cleanup frees OpenSSL's compression-methods stack,
 * which OpenSSL frees again in its own exit handler: a crash at exit in
 * any process that used TLS through nats.c (seen under ASan and plain).
 * OpenSSL's exit handler is turned off; its memory goes with the process.
 */
__attribute__((constructor)) static void keep_openssl_exit_cleanup_single(void)
{
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
}

/* Whether the attempt on this thread ended because its signature began
 * with 0x00.  nats.c calls the signing callback on the thread that called
 * natsConnection_Connect (reconnects: on its own thread, whose loop asks
 * for a new nonce by itself), so nats_auth_connect reads it there. */
static _Thread_local bool zero_lead_signature;

static natsStatus refuse(char **custom_error, const char *why)
{
    *custom_error = strdup(why); /* nats.c frees it; NULL still refuses */
    return NATS_ERR;
}

/*
 * Signs a NATS login nonce and nothing else: the key also signs control-plane
 * requests and messages, and whoever answers on the data-plane port chooses
 * the nonce (busauth/domain.h says why the shape check is enough).
 * nats.c 3.4.1 base64-encodes the signature as a C string (src/util.c
 * _base64Encode stops at src[0] == '\0'), so one signature in 256 would go
 * out as a CONNECT without "sig" and be refused; such an attempt stops here
 * instead, before anything is sent, and the next one brings a new nonce.
 */
static natsStatus sign_nonce(char **custom_error, unsigned char **signature, int *signature_len,
                             const char *nonce, void *closure)
{
    const busauth_identity *id = closure;
    if (!busauth_nats_nonce_signable(nonce))
        return refuse(custom_error, NATS_AUTH_NONCE_REFUSED);
    uint8_t sig[BUSAUTH_SIGNATURE_BYTES];
    busauth_identity_sign(id, (const uint8_t *)nonce, strlen(nonce), sig);
    if (sig[0] == 0x00) {
        zero_lead_signature = true;
        return refuse(custom_error, "this nonce's signature starts with 0x00, which nats.c 3.4.1 would not send");
    }
    *signature = malloc(sizeof sig); /* nats.c frees it */
    if (!*signature)
        return NATS_NO_MEMORY;
    memcpy(*signature, sig, sizeof sig);
    *signature_len = sizeof sig;
    return NATS_OK;
}

/* Each attempt fails this way with odds 1/256: four in a row, 2^-32. */
#define ZERO_LEAD_ATTEMPTS 4

natsStatus nats_auth_connect(natsConnection **nc, natsOptions *opts)
{
    natsStatus s;
    int attempt = 0;
    do {
        zero_lead_signature = false;
        s = natsConnection_Connect(nc, opts);
    } while (s != NATS_OK && zero_lead_signature && ++attempt < ZERO_LEAD_ATTEMPTS);
    return s;
}

natsStatus nats_auth_use_identity(natsOptions *opts, const busauth_identity *id)
{
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    busauth_nkey_encode_public(busauth_identity_public_key(id), nkey);
    return natsOptions_SetNKey(opts, nkey, sign_nonce, (void *)id);
}
