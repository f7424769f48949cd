/* A running membershipd with an admin and three members, for API tests. */
#ifndef UNIBUS_FIXTURE_H
#define UNIBUS_FIXTURE_H

#include <limits.h>
#include "busauth/identity.h"
#include "harness.h"
#include "http_client.h"
#include "membershipd/store/store.h"

typedef struct {
    char dir[PATH_MAX];
    char data_dir[PATH_MAX + 16];
    harness_server server;
    uint8_t server_key[32];
    char server_nkey[57];
    busauth_identity *admin, *alice, *bob, *carol;
    char alice_nkey[57], bob_nkey[57], carol_nkey[57], admin_nkey[57];
    const char *ca_file;  /* trusted by fixture_call on a TLS server, once set */
} fixture;

/* Makes the users in a fresh data dir, then starts membershipd on it with
 * extra serve flags (NULL-terminated, may be NULL). */
int fixture_start(fixture *f, const char *const *flags);
/* The same, calling seed (when not NULL) on the store after the fixture's
 * users are in and before the server starts: more users, rooms... */
typedef int (*fixture_seed_fn)(store *s, void *ctx);
int fixture_start_seeded(fixture *f, const char *const *flags, fixture_seed_fn seed, void *ctx);
/* Only the first half: the data dir with the users (and seed's), no server. */
int fixture_prepare(fixture *f, fixture_seed_fn seed, void *ctx);
/* Starts membershipd again on the same data dir (after a crash, say). */
int fixture_restart(fixture *f, const char *const *flags);
/* fixture_restart in two halves (harness_launch, harness_await), for
 * servers that must start together.  A copy of f with another data_dir is
 * another node of the same bus, with the same users (not freed with it). */
int fixture_launch(fixture *f, const char *const *flags);
int fixture_await(fixture *f, int timeout_ms);
/* Stops the server; -1 unless it shut down cleanly (exit 0, so no leaks). */
int fixture_stop(fixture *f);
/* What fixture_stop does besides stopping the server: frees the users and
 * removes the directory. */
void fixture_release(fixture *f);

/* The port of the running server's data plane. */
unsigned fixture_nats_port(const fixture *f);

/* A fresh test PKI (tests/helpers/make_test_pki.sh) in a new temporary
 * directory; fills the CA, server certificate and key paths. */
int fixture_make_pki(char ca[PATH_MAX + 64], char cert[PATH_MAX + 64], char key[PATH_MAX + 64]);

/* A signed call as id (NULL: unsigned); body is JSON text or NULL. */
http_result fixture_call(fixture *f, busauth_identity *id, const char *method, const char *target,
                         const char *body);
/* The same, with options (id goes in opts). */
http_result fixture_call_opts(fixture *f, const http_opts *opts, const char *method, const char *target,
                              const void *body, size_t len);

/* Notes a secret the test used (seed, key) under $UNIBUS_TEST_SECRETS_DIR,
 * so logs.secrets can prove no log line ever held it. */
void fixture_record_secret(const char *text);
void fixture_record_identity(const busauth_identity *id);
/* Each base64 line of a PEM private key file, so no log may ever hold one. */
void fixture_record_key_file(const char *path);

/* Runs a count query (one optional text parameter) on the server's
 * database through a separate SQLite connection. */
long fixture_db_count(fixture *f, const char *sql, const char *arg);

/* Creates an e2e room (a fake sealed key) owned by owner; id gets its id.
 * Returns 0, or -1 unless the server answered 201. */
int fixture_make_room(fixture *f, busauth_identity *owner, const char *name, char id[33]);
/* owner adds nkey to room with a fake sealed key: the HTTP status. */
long fixture_add_member(fixture *f, busauth_identity *owner, const char *room, const char *nkey);
/* The chat subject of a room on the data plane. */
void fixture_room_subject(const char *room, char out[96]);

/* A sealed key's worth of random bytes, base64url. */
void fixture_fake_sealed_key(char out[128]);

#endif
