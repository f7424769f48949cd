/* A TLS connection by hand (OpenSSL) to a server on loopback, for tests
 * that need the socket under it: records sent raw, a connection held
 * across a certificate rotation, the peer's certificate. */
#ifndef UNIBUS_TLS_CLIENT_H
#define UNIBUS_TLS_CLIENT_H

#include <openssl/ssl.h>

typedef struct {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
} tls_client;

/* Connects to 127.0.0.1:port and completes a handshake that verifies the
 * server as "localhost" against ca_file.  0, or -1 (c is then closed). */
int tls_client_open(tls_client *c, unsigned port, const char *ca_file);
void tls_client_close(tls_client *c);

#endif
