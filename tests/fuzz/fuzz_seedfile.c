/*
 * Seed files as membershipd and the unibus CLI load them: the input is
 * written to a 0600 file and loaded with busauth_seedfile_load.  A load
 * that succeeds gives the identity of the seed the file names.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "busauth/identity.h"
#include "busauth/seedfile.h"
#include "fuzz.h"

static char dir[64], seed_file[80];

static void remove_dir(void)
{
    unlink(seed_file);
    rmdir(dir);
}

static const char *seed_path(void)
{
    if (!seed_file[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%.40s/unibus-fuzz-XXXXXX", base && base[0] ? base : "/tmp");
        if (!mkdtemp(dir) || busauth_init() != BUSAUTH_OK)
            abort();
        snprintf(seed_file, sizeof seed_file, "%s/id.seed", dir);
        atexit(remove_dir);
    }
    return seed_file;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = seed_path();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size || close(fd) != 0)
        abort();
    busauth_identity *id = NULL;
    busauth_status status = busauth_seedfile_load(path, &id);
    FUZZ_CHECK((status == BUSAUTH_OK) == (id != NULL));
    if (id) {
        char seed[BUSAUTH_NKEY_SEED_LEN + 1];
        busauth_identity_seed_nkey(id, seed);
        FUZZ_CHECK(memmem(data, size, seed, BUSAUTH_NKEY_SEED_LEN) != NULL);
        busauth_identity_free(id);
    }
    char message[512];
    busauth_seedfile_describe_error(message, sizeof message, path, status, 0);
    FUZZ_CHECK(!strchr(message, '\n'));
    return 0;
}
