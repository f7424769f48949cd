/* SIGHUP: certificate and key rotation without a restart. */
#ifndef MEMBERSHIPD_RELOAD_H
#define MEMBERSHIPD_RELOAD_H

#include "membershipd/http/server.h"

/* Re-reads the TLS certificate and key named at start, serves new
 * connections with them (connections already open keep theirs), and has
 * nats-server reload (its TLS files and the allowlist).  Checked first as
 * at boot: a reload that cannot be done changes nothing, and says why in
 * one log line. */
void serve_reload(server *srv);

#endif
