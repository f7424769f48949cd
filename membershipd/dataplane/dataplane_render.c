/* From the store to the nats-server configuration text. */
#include "membershipd/dataplane/dataplane_render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "embedded/nats_config.h"

typedef struct {
    natsconf_user *users;
    size_t n, cap;
} user_list;

static void free_users(user_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->users[i].room_ids);
    free(l->users);
}

static natsconf_user *user_for(user_list *l, const uint8_t *key)
{
    if (l->n && memcmp(l->users[l->n - 1].public_key, key, 32) == 0)
        return &l->users[l->n - 1];
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        natsconf_user *grown = realloc(l->users, cap * sizeof *grown);
        if (!grown)
            return NULL;
        l->users = grown;
        l->cap = cap;
    }
    natsconf_user *u = &l->users[l->n++];
    memset(u, 0, sizeof *u);
    memcpy(u->public_key, key, 32);
    return u;
}

typedef struct {
    user_list list;
    const uint8_t *internal_key, *system_key;
} render_ctx;

static int add_membership(const uint8_t *key, const char *room_id, void *ctx)
{
    render_ctx *r = ctx;
    user_list *l = &r->list;
    /* The internal identity is listed once, with no rights, and the system
     * account's user once, whatever the database says: a second entry
     * would make nats-server reject the file. */
    if (memcmp(key, r->internal_key, 32) == 0 || memcmp(key, r->system_key, 32) == 0)
        return 0;
    natsconf_user *u = user_for(l, key);
    if (!u)
        return -1;
    if (!room_id)
        return 0;
    /* Whole or not at all: cut to 32 characters, a longer id could name
     * another room.  The renderer refuses any other bad shape. */
    if (strlen(room_id) > NATSCONF_ROOM_ID_LEN)
        return -1;
    char (*rooms)[NATSCONF_ROOM_ID_LEN + 1] = realloc(u->room_ids, (u->nrooms + 1) * sizeof *rooms);
    if (!rooms)
        return -1;
    u->room_ids = rooms;
    snprintf(rooms[u->nrooms++], NATSCONF_ROOM_ID_LEN + 1, "%s", room_id);
    return 0;
}

char *dataplane_render(store *s, const dataplane_config *cfg)
{
    render_ctx r = {.internal_key = busauth_identity_public_key(cfg->internal),
                    .system_key = busauth_identity_public_key(cfg->system)};
    user_list *l = &r.list;
    char *text = NULL;
    if (store_active_memberships(s, add_membership, &r) == STORE_OK) {
        natsconf conf = {
            .host = cfg->host, .port = cfg->port, .max_payload = cfg->max_payload,
            .max_connections = DATAPLANE_MAX_CONNECTIONS, .tls_cert = cfg->tls_cert,
            .tls_key = cfg->tls_key, .authorization = cfg->authorization,
            .users = l->users, .nusers = l->n,
        };
        memcpy(conf.internal_key, r.internal_key, 32);
        memcpy(conf.system_key, r.system_key, 32);
        text = natsconf_render(&conf);
    }
    free_users(l);
    return text;
}
