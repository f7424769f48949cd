/* Seed files: 0600, atomic, never overwritten, refused when exposed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "busauth/seedfile.h"
#include "testutil.h"

typedef struct {
    char dir[PATH_MAX];
    char path[PATH_MAX + 32];
} fixture;

static int setup(void **state)
{
    static fixture f;
    test_make_temp_dir(f.dir);
    snprintf(f.path, sizeof f.path, "%s/id.seed", f.dir);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    test_remove_tree(((fixture *)*state)->dir);
    return 0;
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void creates_0600_and_loads_back(void **state)
{
    fixture *f = *state;
    busauth_identity *id, *loaded;
    assert_int_equal(busauth_identity_generate(&id), BUSAUTH_OK);
    umask(0); /* the file must be 0600 whatever the umask */
    assert_int_equal(busauth_seedfile_create(f->path, id), BUSAUTH_OK);
    umask(022);
    assert_int_equal(test_file_mode(f->path), 0600);
    assert_int_equal(count_entries(f->dir), 1); /* no temporary file left */

    assert_int_equal(busauth_seedfile_load(f->path, &loaded), BUSAUTH_OK);
    assert_memory_equal(busauth_identity_public_key(id), busauth_identity_public_key(loaded), 32);
    busauth_identity_free(id);
    busauth_identity_free(loaded);
}

static void file_is_one_seed_line(void **state)
{
    fixture *f = *state;
    busauth_identity *id;
    assert_int_equal(busauth_identity_generate(&id), BUSAUTH_OK);
    assert_int_equal(busauth_seedfile_create(f->path, id), BUSAUTH_OK);
    char content[128] = {0}, expected[BUSAUTH_NKEY_SEED_LEN + 1];
    FILE *fp = fopen(f->path, "r");
    size_t n = fread(content, 1, sizeof content - 1, fp);
    fclose(fp);
    busauth_identity_seed_nkey(id, expected);
    assert_int_equal(n, BUSAUTH_NKEY_SEED_LEN + 1);
    assert_memory_equal(content, expected, BUSAUTH_NKEY_SEED_LEN);
    assert_int_equal(content[BUSAUTH_NKEY_SEED_LEN], '\n');
    busauth_identity_free(id);
}

static void refuses_to_overwrite(void **state)
{
    fixture *f = *state;
    test_write_file(f->path, "precious\n", 0600);
    busauth_identity *id;
    assert_int_equal(busauth_identity_generate(&id), BUSAUTH_OK);
    assert_int_equal(busauth_seedfile_create(f->path, id), BUSAUTH_ERR_EXISTS);
    char content[32] = {0};
    FILE *fp = fopen(f->path, "r");
    assert_non_null(fgets(content, sizeof content, fp));
    fclose(fp);
    assert_string_equal(content, "precious\n");
    assert_int_equal(count_entries(f->dir), 1);
    busauth_identity_free(id);
}

/* Eight processes race to create one path: one wins, the file is whole. */
static void concurrent_creation_has_one_winner(void **state)
{
    fixture *f = *state;
    enum { RACERS = 8 };
    pid_t pids[RACERS];
    for (int i = 0; i < RACERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            busauth_identity *id;
            busauth_identity_generate(&id);
            _exit(busauth_seedfile_create(f->path, id) == BUSAUTH_OK ? 0 : 1);
        }
    }
    int winners = 0;
    for (int i = 0; i < RACERS; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        assert_true(WIFEXITED(status));
        winners += WEXITSTATUS(status) == 0;
    }
    assert_int_equal(winners, 1);
    assert_int_equal(count_entries(f->dir), 1);
    busauth_identity *loaded;
    assert_int_equal(busauth_seedfile_load(f->path, &loaded), BUSAUTH_OK);
    busauth_identity_free(loaded);
}

static void refuses_exposed_files(void **state)
{
    fixture *f = *state;
    busauth_identity *id, *loaded = NULL;
    assert_int_equal(busauth_identity_generate(&id), BUSAUTH_OK);
    assert_int_equal(busauth_seedfile_create(f->path, id), BUSAUTH_OK);
    const int exposed[] = {0640, 0604, 0644, 0660, 0601, 0610};
    for (size_t i = 0; i < sizeof exposed / sizeof exposed[0]; i++) {
        chmod(f->path, (mode_t)exposed[i]);
        assert_int_equal(busauth_seedfile_load(f->path, &loaded), BUSAUTH_ERR_PERMISSIONS);
        assert_null(loaded);
    }
    chmod(f->path, 0400);
    assert_int_equal(busauth_seedfile_load(f->path, &loaded), BUSAUTH_OK);
    busauth_identity_free(loaded);
    busauth_identity_free(id);
}

static void explains_permission_refusal_with_the_fix(void **state)
{
    fixture *f = *state;
    char line[1024];
    busauth_seedfile_describe_error(line, sizeof line, f->path, BUSAUTH_ERR_PERMISSIONS, 0);
    assert_non_null(strstr(line, f->path));
    char fix[PATH_MAX + 48];
    snprintf(fix, sizeof fix, "chmod 600 %s", f->path);
    assert_non_null(strstr(line, fix));
    assert_null(strchr(line, '\n'));
}

/* Issue 11, finding 6: whoever owns a seed file may have written it (and
 * knows the key), whatever its mode.  Giving a file away needs root. */
static void refuses_a_file_another_user_owns(void **state)
{
    fixture *f = *state;
    if (geteuid() != 0)
        skip();
    busauth_identity *id, *loaded = NULL;
    assert_int_equal(busauth_identity_generate(&id), BUSAUTH_OK);
    assert_int_equal(busauth_seedfile_create(f->path, id), BUSAUTH_OK);
    assert_int_equal(chown(f->path, 65534, (gid_t)-1), 0);
    assert_int_equal(busauth_seedfile_load(f->path, &loaded), BUSAUTH_ERR_OWNER);
    assert_null(loaded);

    char line[1024], fix[PATH_MAX + 48];
    busauth_seedfile_describe_error(line, sizeof line, f->path, BUSAUTH_ERR_OWNER, 0);
    snprintf(fix, sizeof fix, "chown %u %s", (unsigned)geteuid(), f->path);
    assert_non_null(strstr(line, fix));
    assert_non_null(strstr(line, "owned by uid 65534"));
    assert_null(strchr(line, '\n'));

    assert_int_equal(chown(f->path, geteuid(), (gid_t)-1), 0);
    assert_int_equal(busauth_seedfile_load(f->path, &loaded), BUSAUTH_OK);
    busauth_identity_free(loaded);
    busauth_identity_free(id);
}

static void refuses_what_is_not_a_seed_file(void **state)
{
    fixture *f = *state;
    busauth_identity *loaded = NULL;
    assert_int_equal(busauth_seedfile_load(f->dir, &loaded), BUSAUTH_ERR_NOT_FILE);
    test_write_file(f->path, "hello\n", 0600);
    assert_int_equal(busauth_seedfile_load(f->path, &loaded), BUSAUTH_ERR_FORMAT);
    test_write_file(f->path, "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK\n", 0600);
    assert_int_equal(busauth_seedfile_load(f->path, &loaded), BUSAUTH_ERR_FORMAT);
    test_write_file(f->path, "SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776A\n", 0600);
    assert_int_equal(busauth_seedfile_load(f->path, &loaded), BUSAUTH_ERR_CHECKSUM);
    test_write_file(f->path, "", 0600);
    assert_int_equal(busauth_seedfile_load(f->path, &loaded), BUSAUTH_ERR_FORMAT);
    assert_null(loaded);
    char missing[PATH_MAX + 40];
    snprintf(missing, sizeof missing, "%s/nope", f->dir);
    assert_int_equal(busauth_seedfile_load(missing, &loaded), BUSAUTH_ERR_IO);
    assert_int_equal(errno, ENOENT);
}

static void accepts_nats_tool_layouts(void **state)
{
    fixture *f = *state;
    busauth_identity *loaded;
    /* nk -gen user writes the seed alone; .creds-style files put it after a header. */
    test_write_file(f->path,
                    "-----BEGIN USER NKEY SEED-----\n"
                    "  SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776Y\r\n"
                    "------END USER NKEY SEED------\n", 0600);
    assert_int_equal(busauth_seedfile_load(f->path, &loaded), BUSAUTH_OK);
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    busauth_nkey_encode_public(busauth_identity_public_key(loaded), nkey);
    assert_string_equal(nkey, "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK");
    busauth_identity_free(loaded);
}

static void create_fails_cleanly_in_missing_dir(void **state)
{
    fixture *f = *state;
    char path[PATH_MAX + 48];
    snprintf(path, sizeof path, "%s/missing/id.seed", f->dir);
    busauth_identity *id;
    assert_int_equal(busauth_identity_generate(&id), BUSAUTH_OK);
    assert_int_equal(busauth_seedfile_create(path, id), BUSAUTH_ERR_IO);
    assert_int_equal(errno, ENOENT);
    busauth_identity_free(id);
}

int main(void)
{
    if (busauth_init() != BUSAUTH_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(creates_0600_and_loads_back, setup, teardown),
        cmocka_unit_test_setup_teardown(file_is_one_seed_line, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_to_overwrite, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_creation_has_one_winner, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_exposed_files, setup, teardown),
        cmocka_unit_test_setup_teardown(explains_permission_refusal_with_the_fix, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_a_file_another_user_owns, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_what_is_not_a_seed_file, setup, teardown),
        cmocka_unit_test_setup_teardown(accepts_nats_tool_layouts, setup, teardown),
        cmocka_unit_test_setup_teardown(create_fails_cleanly_in_missing_dir, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
