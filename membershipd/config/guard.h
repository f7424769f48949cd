/*
 * The fail-closed boot guard: every rule a configuration must meet before
 * membershipd opens a socket.  There is no override.  See dev/boot-guard.md.
 */
#ifndef MEMBERSHIPD_GUARD_H
#define MEMBERSHIPD_GUARD_H

#include <limits.h>
#include "membershipd/config/serve_config.h"

#define GUARD_REASON_MAX (2 * PATH_MAX + 256)

/* One rule: 0 when the configuration meets it, else -1 with one line in
 * why saying what is wrong and how to fix it. */
typedef int (*guard_rule_fn)(const serve_config *cfg, char *why, size_t len);

typedef struct {
    const char *id;          /* stable: "public_tls"; doctor reports it as guard.<id> */
    const char *rule;        /* "a non-loopback bind needs TLS" */
    guard_rule_fn check;
    bool at_start_only;      /* true for what a running server itself holds (its ports) */
} guard_rule;

/* The rules, in the order serve applies them. */
extern const guard_rule GUARD_RULES[];
extern const size_t GUARD_RULE_COUNT;

/* Checks the whole configuration, the key files it names and the server
 * identity in the data dir.  Returns EXIT_OK, or EXIT_CONFIG after printing
 * "membershipd: refusing to start: <rule>" on one line. */
int guard_check(const serve_config *cfg);

#endif
