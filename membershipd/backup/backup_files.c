#include "membershipd/backup/backup_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <sodium.h>
#include "busauth/seedfile.h"
#include "common/cli_args.h"
#include "membershipd/config/datadir.h"

#define COPY_CHUNK 65536

int backup_paths_in(const char *dir, backup_paths *p)
{
    if (snprintf(p->db, PATH_MAX, "%s/%s", dir, BACKUP_DB_NAME) < PATH_MAX &&
        snprintf(p->seed, PATH_MAX, "%s/%s", dir, BACKUP_SEED_NAME) < PATH_MAX &&
        snprintf(p->manifest, PATH_MAX, "%s/%s", dir, BACKUP_MANIFEST_NAME) < PATH_MAX)
        return EXIT_OK;
    cli_error("path too long: %.64s...", dir);
    return EXIT_USAGE;
}

static bool dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    const struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d)))
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

int backup_claim_empty_dir(const char *dir, const char *what, bool *created)
{
    char why[2 * PATH_MAX];
    int problem = cli_data_dir_problem(dir, why, sizeof why);
    *created = problem == 1;
    if (problem < 0) {
        cli_error("%s: %s", what, why);
        return EXIT_FAILED;
    }
    if (problem == 0 && !dir_is_empty(dir)) {
        cli_error("%s %s is not empty: name a new or empty directory (nothing is ever overwritten)", what, dir);
        return EXIT_FAILED;
    }
    if (problem == 1) {
        store_location loc = {.data_dir = dir};
        char made[PATH_MAX];
        return cli_data_dir(&loc, STORE_OPEN_CREATE, made);
    }
    return EXIT_OK;
}

/* A file only its owner may have written: this user, and nobody else may write it now. */
static int check_source_file(const char *path)
{
    struct stat st;
    char why[2 * PATH_MAX];
    if (lstat(path, &st) != 0)
        return EXIT_OK; /* the reader says what is missing */
    if (store_owner_problem("backup file", path, st.st_uid, why, sizeof why)) {
        cli_error("%s", why);
        return EXIT_FAILED;
    }
    if (st.st_mode & 022) {
        cli_error("backup file %s is writable by group or others; fix with: chmod 600 %s", path, path);
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

int backup_check_source(const char *dir, const backup_paths *p)
{
    char why[2 * PATH_MAX];
    if (cli_data_dir_problem(dir, why, sizeof why) < 0) {
        cli_error("--from: %s", why);
        return EXIT_FAILED;
    }
    const char *files[] = {p->manifest, p->db, p->seed};
    int rc = EXIT_OK;
    for (size_t i = 0; i < 3 && rc == EXIT_OK; i++)
        rc = check_source_file(files[i]);
    return rc;
}

busauth_identity *backup_load_seed(const char *path)
{
    busauth_identity *id = NULL;
    busauth_status status = busauth_seedfile_load(path, &id);
    if (status == BUSAUTH_OK)
        return id;
    char why[2 * PATH_MAX];
    busauth_seedfile_describe_error(why, sizeof why, path, status, errno);
    cli_error("cannot read the server identity: %s", why);
    return NULL;
}

int backup_write_seed(const char *path, const busauth_identity *id)
{
    busauth_status status = busauth_seedfile_create(path, id);
    if (status == BUSAUTH_OK)
        return EXIT_OK;
    char why[2 * PATH_MAX];
    busauth_seedfile_describe_error(why, sizeof why, path, status, errno);
    cli_error("cannot write the server identity: %s", why);
    return EXIT_FAILED;
}

int backup_file_sha256(const char *path, char hex[65])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    unsigned char buf[COPY_CHUNK];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
    close(fd);
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st, digest);
    sodium_bin2hex(hex, 65, digest, sizeof digest);
    return n == 0 ? 0 : -1;
}

static int copy_fd(int in, int out)
{
    unsigned char buf[COPY_CHUNK];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno != EINTR)
                return -1;
            done += w > 0 ? w : 0;
        }
    }
    return n == 0 ? fsync(out) : -1;
}

int backup_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd >= 0 ? fsync(fd) : -1;
    if (fd >= 0)
        close(fd);
    return rc;
}

int backup_copy_file(const char *src, const char *dst)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.partial", dst) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int out = in >= 0 ? open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600) : -1;
    int rc = out >= 0 ? copy_fd(in, out) : -1;
    int saved = errno;
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0)
        rc = -1;
    if (rc == 0)
        rc = rename(tmp, dst);
    if (rc != 0 && out >= 0) {
        saved = errno;
        unlink(tmp);
    }
    errno = saved;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", dst);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    return rc == 0 ? backup_sync_dir(slash ? dir : ".") : -1;
}

int backup_manifest_write(const char *path, const backup_manifest *m)
{
    json_t *doc = json_pack("{s:i, s:s, s:s, s:i, s:s, s:s, s:s}", "format", m->format, "created", m->created,
                            "server_key", m->server_key, "schema_version", m->schema_version, "database",
                            BACKUP_DB_NAME, "database_sha256", m->database_sha256, "server_seed",
                            BACKUP_SEED_NAME);
    int fd = doc ? open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600) : -1;
    int rc = fd >= 0 && json_dumpfd(doc, fd, JSON_INDENT(2)) == 0 && write(fd, "\n", 1) == 1 && fsync(fd) == 0
                 ? 0 : -1;
    if (fd >= 0)
        close(fd);
    json_decref(doc);
    return rc;
}

int backup_manifest_read(const char *path, backup_manifest *m)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    const char *created = NULL, *key = NULL, *sha = NULL;
    bool wellformed = doc && json_unpack(doc, "{s:i, s:s, s:s, s:i, s:s}", "format", &m->format, "created",
                                         &created, "server_key", &key, "schema_version", &m->schema_version,
                                         "database_sha256", &sha) == 0 &&
                      strlen(key) == BUSAUTH_NKEY_PUBLIC_LEN && strlen(sha) == 64;
    if (wellformed && m->format == BACKUP_FORMAT) {
        snprintf(m->created, sizeof m->created, "%s", created);
        snprintf(m->server_key, sizeof m->server_key, "%s", key);
        snprintf(m->database_sha256, sizeof m->database_sha256, "%s", sha);
        json_decref(doc);
        return EXIT_OK;
    }
    json_decref(doc);
    if (!wellformed)
        cli_error("%s is missing or not a backup manifest (%s): --from must name a directory made by "
                  "membershipd backup", path, doc ? "fields missing" : jerr.text);
    else
        cli_error("%s is backup format %d: this membershipd restores format %d", path, m->format, BACKUP_FORMAT);
    return EXIT_FAILED;
}

void backup_discard(const char *dir, bool created)
{
    static const char *const names[] = {
        BACKUP_DB_NAME, BACKUP_DB_NAME ".partial", BACKUP_DB_NAME "-wal", BACKUP_DB_NAME "-shm",
        BACKUP_DB_NAME "-journal", BACKUP_SEED_NAME, BACKUP_MANIFEST_NAME,
    };
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) < (int)sizeof path)
            unlink(path);
    if (created)
        rmdir(dir);
}
