/* The server's own Ed25519 identity: DATA-DIR/server.seed, made on first start. */
#ifndef MEMBERSHIPD_SERVER_IDENTITY_H
#define MEMBERSHIPD_SERVER_IDENTITY_H

#include <limits.h>
#include "busauth/identity.h"

void server_identity_path(const char *data_dir, char out[PATH_MAX]);
/* Loads the identity, creating it (0600) when missing.  Prints the reason
 * and returns NULL on failure. */
busauth_identity *server_identity_load_or_create(const char *data_dir);
/* nats-server's system-account user, the monitoring client
 * (dev/data-plane.md): derived from the server identity with this
 * busauth_identity_derive context, so serve and doctor, who both read
 * server.seed, log in as the same user and no other secret is stored.
 * NULL when memory runs out. */
#define SERVER_IDENTITY_SYSTEM_CONTEXT "nats-sys"
busauth_identity *server_identity_system_user(const busauth_identity *server);
/* The bus log's account's user (dev/control-log.md), derived the same way. */
#define SERVER_IDENTITY_LOG_CONTEXT "nats-log"
busauth_identity *server_identity_log_user(const busauth_identity *server);

#endif
