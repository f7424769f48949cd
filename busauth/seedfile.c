#include "busauth/seedfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#define SEEDFILE_MAX_BYTES 4096

static busauth_status write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return BUSAUTH_ERR_IO;
        buf += n;
        len -= (size_t)n;
    }
    return BUSAUTH_OK;
}

/* A rename is durable only once its directory is synced. */
static busauth_status sync_parent_dir(const char *path)
{
    char copy[PATH_MAX];
    if (snprintf(copy, sizeof copy, "%s", path) >= (int)sizeof copy)
        return BUSAUTH_ERR_IO;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return BUSAUTH_ERR_IO;
    int rc = fsync(dfd);
    close(dfd);
    return rc == 0 ? BUSAUTH_OK : BUSAUTH_ERR_IO;
}

static busauth_status write_temp_seed(int fd, const busauth_identity *id)
{
    char line[BUSAUTH_NKEY_SEED_LEN + 2];
    busauth_identity_seed_nkey(id, line);
    line[BUSAUTH_NKEY_SEED_LEN] = '\n';
    line[BUSAUTH_NKEY_SEED_LEN + 1] = '\0';
    busauth_status status = BUSAUTH_ERR_IO;
    if (fchmod(fd, 0600) == 0 && write_all(fd, line, BUSAUTH_NKEY_SEED_LEN + 1) == BUSAUTH_OK &&
        fsync(fd) == 0)
        status = BUSAUTH_OK;
    sodium_memzero(line, sizeof line);
    return status;
}

busauth_status busauth_seedfile_create(const char *path, const busauth_identity *id)
{
    char temp[PATH_MAX];
    if (snprintf(temp, sizeof temp, "%s.tmp-XXXXXX", path) >= (int)sizeof temp) {
        errno = ENAMETOOLONG;
        return BUSAUTH_ERR_IO;
    }
    int fd = mkostemp(temp, O_CLOEXEC);
    if (fd < 0)
        return BUSAUTH_ERR_IO;

    busauth_status status = write_temp_seed(fd, id);
    if (close(fd) != 0 && status == BUSAUTH_OK)
        status = BUSAUTH_ERR_IO;
    /* link(2), unlike rename(2), fails instead of replacing an existing file. */
    if (status == BUSAUTH_OK && link(temp, path) != 0)
        status = errno == EEXIST ? BUSAUTH_ERR_EXISTS : BUSAUTH_ERR_IO;
    int saved = errno;
    unlink(temp);
    if (status == BUSAUTH_OK)
        return sync_parent_dir(path);
    errno = saved;
    return status;
}

static busauth_status read_bounded(int fd, char *buf, size_t cap, size_t *len)
{
    size_t used = 0;
    for (;;) {
        ssize_t n = read(fd, buf + used, cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return BUSAUTH_ERR_IO;
        if (n == 0)
            break;
        used += (size_t)n;
        if (used == cap)
            return BUSAUTH_ERR_FORMAT;
    }
    buf[used] = '\0';
    *len = used;
    return BUSAUTH_OK;
}

/* The first line that starts with "SU" (after blanks) holds the seed. */
static busauth_status parse_seed(const char *text, uint8_t seed[BUSAUTH_KEY_BYTES])
{
    const char *line = text;
    while (line) {
        line += strspn(line, " \t");
        if (strncmp(line, "SU", 2) == 0) {
            size_t n = strcspn(line, " \t\r\n");
            if (n != BUSAUTH_NKEY_SEED_LEN)
                return BUSAUTH_ERR_FORMAT;
            char candidate[BUSAUTH_NKEY_SEED_LEN + 1];
            memcpy(candidate, line, n);
            candidate[n] = '\0';
            busauth_status status = busauth_nkey_decode_seed(candidate, seed);
            sodium_memzero(candidate, sizeof candidate);
            return status;
        }
        const char *newline = strchr(line, '\n');
        line = newline ? newline + 1 : NULL;
    }
    return BUSAUTH_ERR_FORMAT;
}

static busauth_status check_mode(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return BUSAUTH_ERR_IO;
    if (!S_ISREG(st.st_mode))
        return BUSAUTH_ERR_NOT_FILE;
    /* Whoever owns the file may have written it, so knows the key. */
    if (st.st_uid != geteuid())
        return BUSAUTH_ERR_OWNER;
    if (st.st_mode & 077)
        return BUSAUTH_ERR_PERMISSIONS;
    return BUSAUTH_OK;
}

busauth_status busauth_seedfile_load(const char *path, busauth_identity **out)
{
    if (busauth_init() != BUSAUTH_OK)
        return BUSAUTH_ERR_CRYPTO;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return BUSAUTH_ERR_IO;
    char *text = sodium_malloc(SEEDFILE_MAX_BYTES + 1);
    busauth_status status = text ? check_mode(fd) : BUSAUTH_ERR_NOMEM;
    size_t len = 0;
    if (status == BUSAUTH_OK)
        status = read_bounded(fd, text, SEEDFILE_MAX_BYTES, &len);
    int saved = errno;
    close(fd);

    uint8_t seed[BUSAUTH_KEY_BYTES];
    if (status == BUSAUTH_OK)
        status = parse_seed(text, seed);
    if (status == BUSAUTH_OK)
        status = busauth_identity_from_seed(seed, out);
    sodium_memzero(seed, sizeof seed);
    sodium_free(text);
    errno = saved;
    return status;
}

static void describe_owner(char *buf, size_t len, const char *path)
{
    struct stat st;
    unsigned owner = stat(path, &st) == 0 ? (unsigned)st.st_uid : (unsigned)-1, me = (unsigned)geteuid();
    snprintf(buf, len, "seed file %s is owned by uid %u, not by uid %u that uses it: its owner may know the key; "
             "if it is yours, fix with: chown %u %s", path, owner, me, me, path);
}

void busauth_seedfile_describe_error(char *buf, size_t len, const char *path,
                                     busauth_status status, int saved_errno)
{
    switch (status) {
    case BUSAUTH_ERR_PERMISSIONS:
        snprintf(buf, len, "seed file %s is accessible to group or others; fix with: chmod 600 %s",
                 path, path);
        break;
    case BUSAUTH_ERR_OWNER:
        describe_owner(buf, len, path);
        break;
    case BUSAUTH_ERR_EXISTS:
        snprintf(buf, len, "%s already exists; refusing to overwrite a key file (choose another path)",
                 path);
        break;
    case BUSAUTH_ERR_IO:
        snprintf(buf, len, "seed file %s: %s", path, strerror(saved_errno));
        break;
    case BUSAUTH_ERR_FORMAT:
    case BUSAUTH_ERR_LENGTH:
    case BUSAUTH_ERR_BASE32:
    case BUSAUTH_ERR_CHECKSUM:
    case BUSAUTH_ERR_PREFIX:
        snprintf(buf, len, "seed file %s holds no valid user seed (SU...): %s; make a new identity with keygen",
                 path, busauth_strerror(status));
        break;
    default:
        snprintf(buf, len, "seed file %s: %s", path, busauth_strerror(status));
        break;
    }
}
