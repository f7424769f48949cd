/*
 * The nats-server configuration for what the store holds now: every active
 * user with the rooms it belongs to, membershipd's own identity with no
 * rights, the system account's user (monitoring), and in a cluster the
 * routes with the keys of the bus's valid node certificates pinned.
 * Shared by the reloader (dataplane.c), tests and the fuzzers.
 */
#ifndef MEMBERSHIPD_DATAPLANE_RENDER_H
#define MEMBERSHIPD_DATAPLANE_RENDER_H

#include "membershipd/dataplane/dataplane.h"
#include "membershipd/store/store.h"

/* A set of user keys, sorted (memcmp order). */
typedef struct {
    uint8_t (*keys)[32];
    size_t n;
} dataplane_keys;

typedef struct {
    char *text;
    /* In a cluster, when users listed in `before` are gone: the same
     * configuration with them still listed and denied everything, to be
     * applied first (dev/cluster.md, "Removing a user").  Else NULL. */
    char *retiring_text;
    dataplane_keys users;       /* in a cluster, the users text lists; else none */
} dataplane_rendering;

/* 0, or -1 when the store cannot be read or holds something
 * natsconf_render refuses.  before may be NULL; size_hint is the length
 * of the text rendered last (0: none); blocks (may be NULL) keeps the
 * users' blocks from one call to the next. */
int dataplane_render_change(store *s, const dataplane_config *cfg, const dataplane_keys *before, size_t size_hint,
                            natsconf_blocks *blocks, dataplane_rendering *out);
void dataplane_rendering_free(dataplane_rendering *r);
/* A rendered text holds the route password: wiped, then freed. */
void dataplane_text_free(char *text);

/* The text alone (malloc'd), or NULL. */
char *dataplane_render(store *s, const dataplane_config *cfg);

/* The cluster block for what the store holds: cfg->cluster with its pins
 * (the valid node certificates' keys and cfg->self_pin, minus every
 * revoked one; never empty) and without the routes to hosts only revoked
 * node certificates name.  0, or -1; release with
 * dataplane_cluster_free. */
int dataplane_cluster_block(store *s, const dataplane_config *cfg, natsconf_cluster *out);
void dataplane_cluster_free(natsconf_cluster *c);

#endif
