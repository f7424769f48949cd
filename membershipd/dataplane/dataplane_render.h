/*
 * The nats-server configuration for what the store holds now: every active
 * user with the rooms it belongs to, membershipd's own identity with no
 * rights, the system account's user (monitoring).  Shared by the reloader (dataplane.c) and
 * tests/fuzz/fuzz_nats_config.c.
 */
#ifndef MEMBERSHIPD_DATAPLANE_RENDER_H
#define MEMBERSHIPD_DATAPLANE_RENDER_H

#include "membershipd/dataplane/dataplane.h"
#include "membershipd/store/store.h"

/* The text (malloc'd), or NULL when the store cannot be read or holds
 * something natsconf_render refuses. */
char *dataplane_render(store *s, const dataplane_config *cfg);

#endif
