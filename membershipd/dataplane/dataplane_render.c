/* From the store to the nats-server configuration text. */
#include "membershipd/dataplane/dataplane_render.h"

#include <sodium.h>
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
    const uint8_t *internal_key, *system_key, *log_key;
} render_ctx;

static int add_membership(const uint8_t *key, const char *room_id, void *ctx)
{
    render_ctx *r = ctx;
    user_list *l = &r->list;
    /* The internal identity is listed once, with no rights, and the system
     * account's user once, whatever the database says: a second entry
     * would make nats-server reject the file. */
    if (memcmp(key, r->internal_key, 32) == 0 || memcmp(key, r->system_key, 32) == 0 ||
        (r->log_key && memcmp(key, r->log_key, 32) == 0))
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

static int key_order(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

/* The users' keys, sorted. */
static int keys_of(const user_list *l, dataplane_keys *out)
{
    out->n = l->n;
    out->keys = malloc((l->n ? l->n : 1) * sizeof *out->keys);
    if (!out->keys)
        return -1;
    for (size_t i = 0; i < l->n; i++)
        memcpy(out->keys[i], l->users[i].public_key, 32);
    qsort(out->keys, out->n, sizeof *out->keys, key_order);
    return 0;
}

/* before minus now (both sorted). */
static int keys_gone(const dataplane_keys *before, const dataplane_keys *now, dataplane_keys *out)
{
    out->n = 0;
    out->keys = malloc((before->n ? before->n : 1) * sizeof *out->keys);
    if (!out->keys)
        return -1;
    size_t j = 0;
    for (size_t i = 0; i < before->n; i++) {
        while (j < now->n && memcmp(now->keys[j], before->keys[i], 32) < 0)
            j++;
        if (j == now->n || memcmp(now->keys[j], before->keys[i], 32) != 0)
            memcpy(out->keys[out->n++], before->keys[i], 32);
    }
    return 0;
}

static int render_texts(const dataplane_config *cfg, natsconf *conf, const dataplane_keys *before,
                        size_t size_hint, dataplane_rendering *out)
{
    if (!(out->text = natsconf_render(conf, size_hint)))
        return -1;
    if (!cfg->cluster || !before)
        return 0;
    /* Only with routes: a server without them cannot lose route interest
     * to a removal (FACTS.md, trap 1); alone, one reload is enough. */
    dataplane_keys gone;
    if (keys_gone(before, &out->users, &gone) != 0)
        return -1;
    if (gone.n) {
        conf->retiring = (const uint8_t (*)[32])gone.keys;
        conf->nretiring = gone.n;
        out->retiring_text = natsconf_render(conf, size_hint);
    }
    free(gone.keys);
    return gone.n && !out->retiring_text ? -1 : 0;
}

int dataplane_render_change(store *s, const dataplane_config *cfg, const dataplane_keys *before, size_t size_hint,
                            natsconf_blocks *blocks, dataplane_rendering *out)
{
    memset(out, 0, sizeof *out);
    render_ctx r = {.internal_key = busauth_identity_public_key(cfg->internal),
                    .system_key = busauth_identity_public_key(cfg->system),
                    .log_key = cfg->log_user ? busauth_identity_public_key(cfg->log_user) : NULL};
    user_list *l = &r.list;
    natsconf_cluster cluster = {0};
    /* Closed to peers: membershipd's own users alone (dev/cluster.md). */
    bool listed = cfg->peers_closed || store_active_memberships(s, add_membership, &r) == STORE_OK;
    /* Only a cluster compares them (a removal's two reloads): sorting
     * 10,000 keys was a tenth of a change's rendering. */
    int rc = listed && (!cfg->cluster || keys_of(l, &out->users) == 0) ? 0 : -1;
    if (rc == 0 && cfg->cluster)
        rc = dataplane_cluster_block(s, cfg, &cluster);
    if (rc == 0) {
        natsconf conf = {
            .host = cfg->host, .port = cfg->port, .max_payload = cfg->max_payload,
            .max_connections = DATAPLANE_MAX_CONNECTIONS, .tls_cert = cfg->tls_cert,
            .tls_key = cfg->tls_key, .authorization = cfg->authorization,
            .users = l->users, .nusers = l->n, .cluster = cfg->cluster ? &cluster : NULL,
            .blocks = blocks,
        };
        memcpy(conf.internal_key, r.internal_key, 32);
        memcpy(conf.system_key, r.system_key, 32);
        if (cfg->jetstream_dir) {
            conf.jetstream_dir = cfg->jetstream_dir;
            memcpy(conf.log_key, busauth_identity_public_key(cfg->log_user), 32);
        }
        rc = render_texts(cfg, &conf, before, size_hint, out);
    }
    if (cfg->cluster)
        dataplane_cluster_free(&cluster);
    free_users(l);
    if (rc != 0)
        dataplane_rendering_free(out);
    return rc;
}

void dataplane_text_free(char *text)
{
    if (text)
        sodium_memzero(text, strlen(text));
    free(text);
}

void dataplane_rendering_free(dataplane_rendering *r)
{
    dataplane_text_free(r->text);
    dataplane_text_free(r->retiring_text);
    free(r->users.keys);
    memset(r, 0, sizeof *r);
}

char *dataplane_render(store *s, const dataplane_config *cfg)
{
    dataplane_rendering r;
    if (dataplane_render_change(s, cfg, NULL, 0, NULL, &r) != 0)
        return NULL;
    char *text = r.text;
    r.text = NULL;
    dataplane_rendering_free(&r);
    return text;
}
