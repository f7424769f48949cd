#include "fuzz_world.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sodium.h>
#include "fuzz.h"

static char dir[PATH_MAX];

static void remove_files(void)
{
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
    char path[PATH_MAX + 16];
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/membership.db%s", dir, suffixes[i]);
        unlink(path);
    }
}

static void remove_dir(void)
{
    remove_files();
    rmdir(dir);
}

static void make_dir(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/unibus-fuzz-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(dir))
        abort();
    atexit(remove_dir);
}

const uint8_t *fuzz_world_key(uint8_t i)
{
    static uint8_t keys[256][BUSAUTH_KEY_BYTES];
    static bool made[256];
    if (!made[i]) {
        uint8_t seed[BUSAUTH_KEY_BYTES], sk[64];
        memset(seed, i, sizeof seed);
        crypto_sign_seed_keypair(keys[i], sk, seed);
        made[i] = true;
    }
    return keys[i];
}

static const busauth_identity *server_identity(void)
{
    static busauth_identity *id;
    uint8_t seed[BUSAUTH_KEY_BYTES];
    memset(seed, 0xee, sizeof seed);
    if (!id && (busauth_init() != BUSAUTH_OK || busauth_identity_from_seed(seed, &id) != BUSAUTH_OK))
        abort();
    return id;
}

static void must(store_status status)
{
    if (status != STORE_OK)
        abort();
}

static void populate(fuzz_world *w)
{
    const char *names[WORLD_USERS] = {"admin", "alice", "bob"};
    store_actor by = {"fuzz", NULL, NULL};
    for (uint8_t i = 0; i < WORLD_USERS; i++) {
        must(store_user_add(w->st, names[i], fuzz_world_key(i), i == WORLD_ADMIN ? STORE_ROLE_ADMIN : STORE_ROLE_MEMBER,
                            &by));
        must(store_user_get_by_name(w->st, names[i], &w->users[i]));
    }
    uint8_t sealed[STORE_SEALED_KEY_MIN] = {0};
    int64_t alice = w->users[WORLD_ALICE].id;
    must(store_room_create(w->st, "ops", STORE_ROOM_E2E, true, alice, 0, sealed, sizeof sealed, &by, &w->e2e));
    must(store_room_create(w->st, "lobby", STORE_ROOM_CLEARTEXT, false, alice, 0, NULL, 0, &by, &w->cleartext));
    store_sealed_key bob = {w->users[WORLD_BOB].id, sealed, sizeof sealed};
    must(store_room_add_member(w->st, w->e2e.id, &bob, 0, &by));
}

/* The populated database, made once: each input starts from a copy of it,
 * which is much faster than making it again. */
static struct {
    fuzz_world world;
    uint8_t *bytes;
    size_t len;
} pristine;

static void make_pristine(fuzz_world *w)
{
    char err[512];
    make_dir();
    snprintf(w->db_path, sizeof w->db_path, "%s/membership.db", dir);
    must(store_open(w->db_path, STORE_OPEN_CREATE, &w->st, err, sizeof err));
    populate(w);
    w->server = server_identity();
    fuzz_world_close(w); /* the last connection folds the WAL into the file */
    FILE *f = fopen(w->db_path, "rb");
    pristine.bytes = malloc(1 << 20);
    if (!f || !pristine.bytes || (pristine.len = fread(pristine.bytes, 1, 1 << 20, f)) == 0 || !feof(f))
        abort();
    fclose(f);
    pristine.world = *w;
}

void fuzz_world_open(fuzz_world *w)
{
    fuzz_world_close(w);
    if (!pristine.bytes)
        make_pristine(w);
    *w = pristine.world;
    remove_files();
    int fd = open(w->db_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, pristine.bytes, pristine.len) != (ssize_t)pristine.len || close(fd) != 0)
        abort();
    char err[512];
    must(store_open(w->db_path, STORE_OPEN_EXISTING, &w->st, err, sizeof err));
}

void fuzz_world_close(fuzz_world *w)
{
    store_close(w->st);
    w->st = NULL;
}
