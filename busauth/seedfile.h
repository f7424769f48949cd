/*
 * Seed files: one NATS user seed ("SU...") on a line, mode 0600, the format
 * the NATS tools and nats.c's natsOptions_SetNKeyFromSeed read.
 */
#ifndef BUSAUTH_SEEDFILE_H
#define BUSAUTH_SEEDFILE_H

#include <stddef.h>
#include "busauth/identity.h"
#include "busauth/status.h"

/* Writes id's seed to path with mode 0600 through a temporary file in the
 * same directory, fsynced, then linked into place: the file appears whole or
 * not at all, and an existing path is never replaced (BUSAUTH_ERR_EXISTS). */
busauth_status busauth_seedfile_create(const char *path, const busauth_identity *id);

/* Loads the identity in path.  Refuses a file owned by another user than
 * the effective one, root included (BUSAUTH_ERR_OWNER), a file that group
 * or others may access (BUSAUTH_ERR_PERMISSIONS) and anything but a
 * regular file.  On
 * BUSAUTH_ERR_IO, errno tells why.  *out is the caller's to free. */
busauth_status busauth_seedfile_load(const char *path, busauth_identity **out);

/* One line for an operator: what failed with which file, and the fix. */
void busauth_seedfile_describe_error(char *buf, size_t len, const char *path,
                                     busauth_status status, int saved_errno);

#endif
