/* Checking TLS certificate and key files before anything listens. */
#ifndef MEMBERSHIPD_TLS_FILES_H
#define MEMBERSHIPD_TLS_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "membershipd/pki/pki.h"
#include "membershipd/store/store.h"

/* The GnuTLS priority string for --tls-min 12 or 13: shared by the
 * control-plane and metrics listeners. */
const char *tls_priorities(int tls_min);

/* Verifies that cert_path holds a PEM certificate that has not expired and
 * key_path an unencrypted PEM private key matching it, mode 0600 or
 * stricter.  On failure writes one line into err and returns -1. */
int tls_files_check(const char *cert_path, const char *key_path, char *err, size_t errlen);

/* Reads both PEM files whole (at most 1 MiB each) into NUL-terminated,
 * guarded buffers (sodium_malloc: the key is a secret; release with
 * tls_pem_free, which wipes them): true, or false with both NULL. */
bool tls_pem_read_pair(const char *cert_path, const char *key_path, char **cert, char **key);
/* A copy of pem in its own guarded buffer (tls_pem_free it), or NULL. */
char *tls_pem_copy(const char *pem);
void tls_pem_free(char *pem);

/* Whether the certificate (the first in cert_path) verifies against the
 * roots in its own file, the bus CA (ca_pem, may be NULL) or the system's
 * trust store, as membershipd's own nats.c clients will verify nats-server:
 * 0, or -1 with one line in err. */
int tls_chain_check(const char *cert_path, const char *ca_pem, char *err, size_t errlen);

/* Where membershipd's own clients reach a data plane listening on
 * bind:port (url) and, with TLS (cert_path not NULL), what they verify its
 * certificate against: with a DNS name among its SANs, that name
 * (expected, for nats.c) at bind, or at loopback when bind is a wildcard;
 * otherwise at its first IP SAN (which nats.c checks against the address
 * dialled).  expected "" when the address is what is checked. */
void tls_dataplane_target(const char *cert_path, const char *bind, unsigned port, char url[128], char expected[256]);

/* The lifetime of the first certificate in a PEM text (all 0 when there
 * is none). */
void tls_pem_lifetime(const char *pem, pki_lifetime *out);
/* Logs that this bus revoked the certificate in pem (one of its CA's),
 * when it did; the caller holds the store.  Serving goes on: a revocation
 * is a record until the cluster enforces it (dev/pki.md). */
void tls_warn_if_revoked(store *s, const char *cert_path, const char *pem);
/* Logs that the certificate (expiring at not_after) should be renewed,
 * when now is past renew_at (a third of its lifetime left; Unix seconds);
 * returns whether it did. */
bool tls_warn_if_renew_due(const char *cert_path, int64_t not_after, int64_t renew_at, int64_t now);

#endif
