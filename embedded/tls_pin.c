#include "embedded/tls_pin.h"

#include <stdio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

SSL_CTX *tls_pin_client(const char *cert_file, X509 **leaf)
{
    FILE *f = fopen(cert_file, "r");
    *leaf = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    SSL_CTX *ctx = *leaf ? SSL_CTX_new(TLS_client_method()) : NULL;
    /* A leaf is an anchor only with PARTIAL_CHAIN; nats.c 3.4.1 cannot set
     * it, which is why the data-plane probe is not a nats.c client. */
    if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), *leaf) != 1 ||
        X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_NO_CHECK_TIME) !=
            1) {
        SSL_CTX_free(ctx);
        X509_free(*leaf);
        *leaf = NULL;
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

bool tls_pin_matches(SSL *ssl, const X509 *leaf)
{
    X509 *peer = SSL_get1_peer_certificate(ssl);
    bool same = peer && SSL_get_verify_result(ssl) == X509_V_OK && X509_cmp(peer, leaf) == 0;
    X509_free(peer);
    return same;
}
