/* The bench's bus: users beyond the fixture's four, each owning one room,
 * written into the store before membershipd first starts (a fixture seed
 * function), so 10,000 of them take seconds, not 10,000 API calls. */
#ifndef UNIBUS_BENCH_POPULATION_H
#define UNIBUS_BENCH_POPULATION_H

#include <stddef.h>
#include <stdint.h>
#include "membershipd/store/store.h"

#define FIXTURE_USERS 4  /* admin, alice, bob, carol */

typedef struct {
    size_t n;            /* users beyond the fixture's, each owning one room */
    uint8_t (*seeds)[32];
} population;

/* Room for total users (the fixture's four included); population_free
 * wipes the seeds. */
void population_init(population *p, size_t total);
void population_free(population *p);
/* A fixture_seed_fn: p's users and rooms into s, with fresh keys. */
int population_seed(store *s, void *p);

#endif
