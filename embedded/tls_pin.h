/*
 * A TLS client that trusts one certificate: the one membershipd serves
 * (--tls-cert), for its own checks of the servers it runs (the data-plane
 * probe, doctor).  Stricter than a client's CA trust: any other
 * certificate, even from the same CA for the same names, is refused.
 */
#ifndef EMBEDDED_TLS_PIN_H
#define EMBEDDED_TLS_PIN_H

#include <stdbool.h>
#include <openssl/ssl.h>

/* A client context (TLS 1.2 or later) whose only trust anchor is the first
 * certificate of cert_file, which goes to *leaf (X509_free it), dates not
 * checked: expiry is doctor's tls.expiry business, not a reason to call
 * the server someone else.  NULL when the file holds no certificate. */
SSL_CTX *tls_pin_client(const char *cert_file, X509 **leaf);

/* After a completed handshake: whether the peer presented leaf itself. */
bool tls_pin_matches(SSL *ssl, const X509 *leaf);

#endif
