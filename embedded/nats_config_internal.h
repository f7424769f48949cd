/* Shared by the files that render the nats-server configuration. */
#ifndef EMBEDDED_NATS_CONFIG_INTERNAL_H
#define EMBEDDED_NATS_CONFIG_INTERNAL_H

#include <stdio.h>
#include "embedded/nats_config.h"

/* host:port, an IPv6 host in brackets. */
void natsconf_render_host_port(FILE *f, const char *host, unsigned port);
/* The cluster block, listening on host (an IP literal); c is valid. */
void natsconf_render_cluster(FILE *f, const char *host, const natsconf_cluster *c);

#endif
