/* Finding and opening the store from the command line's flags. */
#include "membershipd/config/datadir.h"

#include "common/cli_args.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_DATA_DIR "./unibus-data"
#define DB_FILE_NAME "membership.db"

const char *cli_data_dir_path(const store_location *loc)
{
    const char *env = getenv("UNIBUS_DATA_DIR");
    if (loc->data_dir)
        return loc->data_dir;
    return env && env[0] ? env : DEFAULT_DATA_DIR;
}

/* mkdir -p, each new directory 0700. */
static int make_dirs(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* Whoever may rename a directory above the data dir may put one of their
 * own in its place between two starts (or two opens): so, as ssh checks
 * ~/.ssh, start and every directory above it must be owned by root or this
 * user and writable by nobody else, unless sticky (/tmp: others cannot
 * rename what they do not own). */
int cli_dir_chain_problem(const char *what, const char *dir, const char *start, char *why, size_t len)
{
    char path[PATH_MAX];
    if (!realpath(start, path)) {
        snprintf(why, len, "%s %s: %s: %s", what, dir, start, strerror(errno));
        return -1;
    }
    for (;;) {
        struct stat st;
        if (stat(path, &st) != 0) {
            snprintf(why, len, "%s %s: %s: %s", what, dir, path, strerror(errno));
            return -1;
        }
        if (st.st_uid != 0 && st.st_uid != geteuid()) {
            snprintf(why, len, "%s %s is inside %s, owned by uid %u, who can swap it for their own: "
                     "use a directory under one owned by you or root", what, dir, path, (unsigned)st.st_uid);
            return -1;
        }
        if ((st.st_mode & 022) && !(st.st_mode & S_ISVTX)) {
            snprintf(why, len, "%s %s is inside %s, which group or others may write, so they can swap "
                     "it for their own; fix with: chmod go-w %s", what, dir, path, path);
            return -1;
        }
        if (strcmp(path, "/") == 0)
            return 0;
        char *slash = strrchr(path, '/');
        slash[slash == path] = '\0'; /* "/x" leaves "/" */
    }
}

/* Checked before mkdir -p, so a refused start makes nothing. */
static int missing_dir_problem(const char *dir, char *why, size_t len)
{
    char existing[PATH_MAX];
    snprintf(existing, sizeof existing, "%s", dir);
    struct stat st;
    do {
        char *slash = strrchr(existing, '/');
        if (!slash)
            snprintf(existing, sizeof existing, ".");
        else
            slash[slash == existing] = '\0';
    } while (stat(existing, &st) != 0 && strcmp(existing, ".") != 0 && strcmp(existing, "/") != 0);
    return cli_dir_chain_problem("data directory", dir, existing, why, len);
}

int cli_data_dir_problem(const char *dir, char *why, size_t len)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            return missing_dir_problem(dir, why, len) < 0 ? -1 : 1;
        snprintf(why, len, "data directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, len, "data directory %s is not a directory", dir);
        return -1;
    }
    /* Before the mode: chmod on a directory someone else planted would be the wrong fix. */
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s/..", dir);
    if (store_owner_problem("data directory", dir, st.st_uid, why, len) ||
        cli_dir_chain_problem("data directory", dir, parent, why, len) != 0)
        return -1;
    if (st.st_mode & 077) {
        snprintf(why, len, "data directory %s is accessible to group or others; fix with: chmod 700 %s",
                 dir, dir);
        return -1;
    }
    return store_path_unwritable(dir, why, len) ? -1 : 0;
}

static int check_data_dir(const char *dir, store_open_mode mode)
{
    char why[2 * PATH_MAX];
    int problem = cli_data_dir_problem(dir, why, sizeof why);
    if (problem < 0) {
        cli_error("%s", why);
        return EXIT_FAILED;
    }
    if (problem == 0)
        return EXIT_OK;
    if (mode != STORE_OPEN_CREATE) {
        cli_error("no data directory %s: check --data-dir or UNIBUS_DATA_DIR (user add creates it)", dir);
        return EXIT_FAILED;
    }
    if (make_dirs(dir) != 0) {
        cli_error("cannot create data directory %s: %s", dir, strerror(errno));
        return EXIT_FAILED;
    }
    /* make_dirs accepts a directory that appeared meanwhile: check what is there. */
    if (cli_data_dir_problem(dir, why, sizeof why) != 0) {
        cli_error("%s", why);
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

int cli_data_dir(const store_location *loc, store_open_mode mode, char out[PATH_MAX])
{
    const char *dir = cli_data_dir_path(loc);
    int rc = check_data_dir(dir, mode);
    if (rc == EXIT_OK && snprintf(out, PATH_MAX, "%s", dir) >= PATH_MAX) {
        cli_error("data directory path is too long: %.64s...", dir);
        rc = EXIT_USAGE;
    }
    return rc;
}

bool cli_db_file(const store_location *loc, char path[PATH_MAX])
{
    if (loc->db)
        return snprintf(path, PATH_MAX, "%s", loc->db) < PATH_MAX;
    return snprintf(path, PATH_MAX, "%s/%s", cli_data_dir_path(loc), DB_FILE_NAME) < PATH_MAX;
}

int cli_db_path(const store_location *loc, store_open_mode mode, char path[PATH_MAX])
{
    char dir[PATH_MAX];
    int rc = loc->db ? EXIT_OK : cli_data_dir(loc, mode, dir);
    if (rc == EXIT_OK && !cli_db_file(loc, path)) {
        cli_error("database path is too long: %.64s...", loc->db ? loc->db : dir);
        rc = EXIT_USAGE;
    }
    return rc;
}

int cli_open_store(const store_location *loc, store_open_mode mode, store **out)
{
    char path[PATH_MAX];
    int rc = cli_db_path(loc, mode, path);
    if (rc != EXIT_OK)
        return rc;
    char err[PATH_MAX + 256];
    if (store_open(path, mode, out, err, sizeof err) != STORE_OK) {
        cli_error("%s", err);
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

int cli_store_error(const store *s, store_status status, const char *doing)
{
    if (status == STORE_BUSY)
        cli_error("cannot %s: the database stayed locked by another process for %d ms; try again",
                  doing, STORE_BUSY_TIMEOUT_MS);
    else if (status == STORE_NO_QUORUM)
        cli_error("cannot %s: the bus log cannot take the change now (too few of its nodes are up, or a leader "
                  "election); a change that timed out may still take effect: check before trying again", doing);
    else
        cli_error("cannot %s: %s", doing, store_errmsg(s));
    return EXIT_FAILED;
}

store_actor cli_local_actor(void)
{
    static char actor[64];
    const struct passwd *pw = getpwuid(geteuid());
    if (pw)
        snprintf(actor, sizeof actor, "local:%s", pw->pw_name);
    else
        snprintf(actor, sizeof actor, "local:uid=%u", (unsigned)geteuid());
    return (store_actor){.actor = actor, .peer_ip = NULL, .request_id = NULL};
}

void cli_format_time(int64_t unix_ms, char out[32])
{
    time_t t = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
