/* The boot guard's rules for cluster mode (dev/cluster.md); each is a
 * guard_rule_fn, listed in GUARD_RULES.  Without a cluster flag each
 * passes. */
#ifndef MEMBERSHIPD_GUARD_CLUSTER_H
#define MEMBERSHIPD_GUARD_CLUSTER_H

#include <stddef.h>
#include "membershipd/config/serve_config.h"

int guard_cluster_names(const serve_config *cfg, char *why, size_t len);
int guard_cluster_tls(const serve_config *cfg, char *why, size_t len);
int guard_cluster_secret(const serve_config *cfg, char *why, size_t len);
int guard_cluster_routes(const serve_config *cfg, char *why, size_t len);
int guard_store_cluster(const serve_config *cfg, char *why, size_t len);
int guard_cluster_pins(const serve_config *cfg, char *why, size_t len);
int guard_cluster_cert_revoked(const serve_config *cfg, char *why, size_t len);

#endif
