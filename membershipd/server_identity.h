/* The server's own Ed25519 identity: DATA-DIR/server.seed, made on first start. */
#ifndef MEMBERSHIPD_SERVER_IDENTITY_H
#define MEMBERSHIPD_SERVER_IDENTITY_H

#include <limits.h>
#include "busauth/identity.h"

void server_identity_path(const char *data_dir, char out[PATH_MAX]);
/* Loads the identity, creating it (0600) when missing.  Prints the reason
 * and returns NULL on failure. */
busauth_identity *server_identity_load_or_create(const char *data_dir);

#endif
