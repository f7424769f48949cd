/* Checking TLS certificate and key files before anything listens. */
#ifndef MEMBERSHIPD_TLS_FILES_H
#define MEMBERSHIPD_TLS_FILES_H

#include <stddef.h>
#include <stdint.h>

#define TLS_PEM_LIMIT (1024 * 1024) /* a certificate chain or key file, at most */

/* Verifies that cert_path holds a PEM certificate that has not expired and
 * key_path an unencrypted PEM private key matching it, mode 0600 or
 * stricter.  On failure writes one line into err and returns -1. */
int tls_files_check(const char *cert_path, const char *key_path, char *err, size_t errlen);

/* Reads a whole PEM file into a NUL-terminated buffer (sodium_malloc'd,
 * for keys; release with tls_pem_free, which wipes it).  NULL on error. */
char *tls_pem_read(const char *path, size_t max_bytes);
void tls_pem_free(char *pem);

/* When the first certificate in a PEM text expires (Unix seconds); 0 when
 * there is none. */
int64_t tls_pem_not_after(const char *pem);

#endif
