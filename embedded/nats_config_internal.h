/* Shared by the files that render the nats-server configuration. */
#ifndef EMBEDDED_NATS_CONFIG_INTERNAL_H
#define EMBEDDED_NATS_CONFIG_INTERNAL_H

#include <stdio.h>
#include "embedded/nats_config.h"

/* host:port, an IPv6 host in brackets. */
void natsconf_render_host_port(FILE *f, const char *host, unsigned port);
/* The cluster block, listening on host (an IP literal); c is valid. */
void natsconf_render_cluster(FILE *f, const char *host, const natsconf_cluster *c);

/* A rendering of the users (b not NULL): begin, then for each user find
 * (the block kept for exactly this key and these rooms, and *len, or NULL)
 * or keep (a copy of the block rendered; failing to keep loses only the
 * saving), then end, which drops every block not found or kept since
 * begin. */
void natsconf_blocks_begin(natsconf_blocks *b, size_t nusers);
const char *natsconf_blocks_find(natsconf_blocks *b, const natsconf_user *u, size_t *len);
void natsconf_blocks_keep(natsconf_blocks *b, const natsconf_user *u, const char *text, size_t len);
void natsconf_blocks_end(natsconf_blocks *b);

#endif
