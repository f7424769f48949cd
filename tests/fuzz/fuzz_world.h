/*
 * A real membership store for the targets that need one: a fresh SQLite
 * file per input (so a crash reproduces from its input alone) on tmpfs
 * when there is one, with admin, alice and bob, an e2e room of alice's
 * that bob is in and a cleartext room of alice's.
 */
#ifndef UNIBUS_FUZZ_WORLD_H
#define UNIBUS_FUZZ_WORLD_H

#include <limits.h>
#include "busauth/identity.h"
#include "membershipd/store/store.h"

enum { WORLD_ADMIN, WORLD_ALICE, WORLD_BOB, WORLD_USERS };

typedef struct {
    store *st;
    char db_path[PATH_MAX];
    store_user users[WORLD_USERS];
    store_room e2e, cleartext;
    const busauth_identity *server; /* membershipd's own identity */
} fuzz_world;

/* Replaces the previous world's database with a fresh one. */
void fuzz_world_open(fuzz_world *w);
void fuzz_world_close(fuzz_world *w);

/* The public key of test key number i (seed i, i, ...). */
const uint8_t *fuzz_world_key(uint8_t i);

/* Renders the nats-server configuration from w's store as the reloader
 * does, and aborts unless it is exactly what the renderer's grammar
 * allows for what the database holds (read here with SQL of its own): the
 * fixed lines, membershipd's identity, then each active user's nkey with
 * its rooms' subjects and inbox, nothing else.  No text must mean the
 * database holds a room id the renderer has to refuse. */
void fuzz_world_render_and_check(const fuzz_world *w);

#endif
