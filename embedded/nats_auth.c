#include "embedded/nats_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>

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

static natsStatus sign_nonce(char **custom_error, unsigned char **signature, int *signature_len,
                             const char *nonce, void *closure)
{
    (void)custom_error;
    const busauth_identity *id = closure;
    *signature = malloc(BUSAUTH_SIGNATURE_BYTES); /* nats.c frees it */
    if (!*signature)
        return NATS_NO_MEMORY;
    busauth_identity_sign(id, (const uint8_t *)nonce, strlen(nonce), *signature);
    *signature_len = BUSAUTH_SIGNATURE_BYTES;
    return NATS_OK;
}

natsStatus nats_auth_connect(natsConnection **nc, natsOptions *opts)
{
    natsStatus s = NATS_ERR;
    for (int attempt = 0; attempt < 3; attempt++) {
        if (attempt)
            nanosleep(&(struct timespec){0, 150 * 1000000L}, NULL);
        s = natsConnection_Connect(nc, opts);
        if (s != NATS_CONNECTION_AUTH_FAILED)
            break;
    }
    return s;
}

natsStatus nats_auth_use_identity(natsOptions *opts, const busauth_identity *id)
{
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    busauth_nkey_encode_public(busauth_identity_public_key(id), nkey);
    return natsOptions_SetNKey(opts, nkey, sign_nonce, (void *)id);
}

int nats_auth_probe(const char *url, const busauth_identity *id, bool tls, int timeout_ms)
{
    natsOptions *opts = NULL;
    natsConnection *nc = NULL;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(opts, url);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(opts, timeout_ms);
    if (s == NATS_OK)
        s = natsOptions_SetAllowReconnect(opts, false);
    if (s == NATS_OK && id)
        s = nats_auth_use_identity(opts, id);
    if (s == NATS_OK && tls)
        s = natsOptions_SetSecure(opts, true);
    if (s == NATS_OK && tls)
        s = natsOptions_SkipServerVerification(opts, true);
    if (s == NATS_OK)
        s = natsConnection_Connect(&nc, opts);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    return s == NATS_OK ? 0 : -1;
}
