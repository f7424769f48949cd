#include "population.h"

#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>

void population_init(population *p, size_t total)
{
    p->n = total > FIXTURE_USERS ? total - FIXTURE_USERS : 0;
    p->seeds = malloc((p->n ? p->n : 1) * sizeof *p->seeds);
}

void population_free(population *p)
{
    sodium_memzero(p->seeds, p->n * sizeof *p->seeds);
    free(p->seeds);
    p->seeds = NULL;
}

int population_seed(store *s, void *ctx)
{
    population *p = ctx;
    store_actor by = {"local:bench", NULL, NULL};
    for (size_t i = 0; i < p->n; i++) {
        uint8_t pk[32], sk[64];
        char name[32];
        randombytes_buf(p->seeds[i], 32);
        crypto_sign_seed_keypair(pk, sk, p->seeds[i]);
        sodium_memzero(sk, sizeof sk);
        snprintf(name, sizeof name, "user-%05zu", i);
        store_user user;
        store_room room;
        if (store_user_add(s, name, pk, STORE_ROLE_MEMBER, &by) != STORE_OK ||
            store_user_get_by_key(s, pk, &user) != STORE_OK ||
            store_room_create(s, name, STORE_ROOM_CLEARTEXT, false, user.id, 0, NULL, 0, &by, &room) != STORE_OK) {
            fprintf(stderr, "bench: seeding user %zu failed: %s\n", i, store_errmsg(s));
            return -1;
        }
    }
    return 0;
}
