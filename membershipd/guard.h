/*
 * The fail-closed boot guard: every rule a configuration must meet before
 * membershipd opens a socket.  There is no override.  See dev/boot-guard.md.
 */
#ifndef MEMBERSHIPD_GUARD_H
#define MEMBERSHIPD_GUARD_H

#include "membershipd/serve_config.h"

/* Checks the whole configuration, the key files it names and the server
 * identity in the data dir.  Returns EXIT_OK, or EXIT_CONFIG after printing
 * "membershipd: refusing to start: <rule>" on one line. */
int guard_check(const serve_config *cfg);

#endif
