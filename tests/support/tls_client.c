#include "tls_client.h"

#include <string.h>
#include <unistd.h>
#include "raw_socket.h"

int tls_client_open(tls_client *c, unsigned port, const char *ca_file)
{
    memset(c, 0, sizeof *c);
    c->fd = raw_connect(port, NULL);
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (c->fd < 0 || !c->ctx || SSL_CTX_load_verify_locations(c->ctx, ca_file, NULL) != 1) {
        tls_client_close(c);
        return -1;
    }
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 || SSL_set1_host(c->ssl, "localhost") != 1 ||
        SSL_connect(c->ssl) != 1) {
        tls_client_close(c);
        return -1;
    }
    return 0;
}

void tls_client_close(tls_client *c)
{
    SSL_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    SSL_CTX_free(c->ctx);
    c->ssl = NULL;
    c->ctx = NULL;
    c->fd = -1;
}
