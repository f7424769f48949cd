/* Handling secrets: constant-time comparison and log redaction. */
#ifndef BUSAUTH_SECRET_H
#define BUSAUTH_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/* Constant-time in len: for tokens, MACs, shared secrets. */
bool busauth_secret_equal(const void *a, const void *b, size_t len);

/* How a join token starts (dev/pki.md, "Join tokens"). */
#define BUSAUTH_JOIN_TOKEN_PREFIX "ubj1."

/* Scrubs, in place, anything in a log line that looks like an nkey seed
 * (S + 57 base32 characters), a join token, a 64-byte hex secret key or a
 * URL's user and password ("://user:password@"), replacing it with
 * "[REDACTED]".  A last line of defence: callers never log secrets anyway.
 * Returns the number of redactions. */
size_t busauth_redact(char *line);

#endif
