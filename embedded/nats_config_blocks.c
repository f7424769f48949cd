/* The users' blocks kept from one rendering to the next (nats_config.h). */
#include "embedded/nats_config.h"
#include "embedded/nats_config_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sodium.h>

/* One user's block, with what it was rendered from: the key and the room
 * ids in order (each NATSCONF_ROOM_ID_LEN characters), then the text. */
typedef struct {
    uint8_t key[32];
    size_t nrooms, len;
    char *text;
    char rooms[]; /* nrooms ids, then the text */
} block;

/* Open addressing; a slot whose block moved to the next table holds
 * MOVED, so that lookups probe past it. */
typedef struct {
    block **slots;
    size_t cap; /* a power of two, or 0 */
} table;

struct natsconf_blocks {
    /* Keyed: a member's key is hers to choose, and a key grinding the
     * unkeyed index's low bits would make every lookup a long probe. */
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    table last; /* the last rendering's blocks */
    table next; /* this rendering's */
};

static block moved_marker;
#define MOVED (&moved_marker)

natsconf_blocks *natsconf_blocks_new(void)
{
    natsconf_blocks *b = calloc(1, sizeof *b);
    if (b)
        crypto_shorthash_keygen(b->hash_key);
    return b;
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i] != MOVED)
            free(t->slots[i]);
    free(t->slots);
    *t = (table){0};
}

void natsconf_blocks_free(natsconf_blocks *b)
{
    if (!b)
        return;
    table_free(&b->last);
    table_free(&b->next);
    free(b);
}

static size_t slot_of(const natsconf_blocks *b, const table *t, const uint8_t key[32])
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, key, 32, b->hash_key);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return (size_t)v & (t->cap - 1);
}

void natsconf_blocks_begin(natsconf_blocks *b, size_t nusers)
{
    table_free(&b->next);
    size_t cap = 16;
    while (cap < 2 * nusers)
        cap *= 2;
    b->next.slots = calloc(cap, sizeof *b->next.slots);
    b->next.cap = b->next.slots ? cap : 0;
}

void natsconf_blocks_end(natsconf_blocks *b)
{
    table_free(&b->last);
    b->last = b->next;
    b->next = (table){0};
}

static bool rendered_from(const block *k, const natsconf_user *u)
{
    if (k->nrooms != u->nrooms || memcmp(k->key, u->public_key, 32) != 0)
        return false;
    for (size_t r = 0; r < u->nrooms; r++)
        if (memcmp(k->rooms + r * NATSCONF_ROOM_ID_LEN, u->room_ids[r], NATSCONF_ROOM_ID_LEN) != 0)
            return false;
    return true;
}

static void insert(natsconf_blocks *b, block *k)
{
    size_t i = slot_of(b, &b->next, k->key);
    while (b->next.slots[i])
        i = (i + 1) & (b->next.cap - 1);
    b->next.slots[i] = k;
}

const char *natsconf_blocks_find(natsconf_blocks *b, const natsconf_user *u, size_t *len)
{
    if (!b->last.cap || !b->next.cap)
        return NULL;
    for (size_t i = slot_of(b, &b->last, u->public_key); b->last.slots[i]; i = (i + 1) & (b->last.cap - 1)) {
        block *k = b->last.slots[i];
        if (k == MOVED || memcmp(k->key, u->public_key, 32) != 0)
            continue;
        if (!rendered_from(k, u))
            return NULL; /* her rooms changed: rendered again, this one dropped at the end */
        b->last.slots[i] = MOVED;
        insert(b, k);
        *len = k->len;
        return k->text;
    }
    return NULL;
}

void natsconf_blocks_keep(natsconf_blocks *b, const natsconf_user *u, const char *text, size_t len)
{
    size_t rooms = u->nrooms * NATSCONF_ROOM_ID_LEN;
    block *k = b->next.cap ? malloc(sizeof *k + rooms + len) : NULL;
    if (!k)
        return; /* only the saving is lost */
    memcpy(k->key, u->public_key, 32);
    k->nrooms = u->nrooms;
    for (size_t r = 0; r < u->nrooms; r++)
        memcpy(k->rooms + r * NATSCONF_ROOM_ID_LEN, u->room_ids[r], NATSCONF_ROOM_ID_LEN);
    k->text = k->rooms + rooms;
    memcpy(k->text, text, len);
    k->len = len;
    insert(b, k);
}
