/* Online backup of the store and verification of a copy (dev/backup.md). */
#include "membershipd/store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "membershipd/store/schema.h"

/* Pages copied per step: small enough that a writer waits at most a few
 * milliseconds for the read lock between steps. */
#define BACKUP_PAGES_PER_STEP 256
#define BACKUP_BUSY_PAUSE_MS 20

/* The copy's file exists, empty and 0600, before SQLite opens it, so the
 * umask never decides its mode and an existing file is never replaced. */
static store_status create_private(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return STORE_ERROR;
    }
    close(fd);
    return STORE_OK;
}

static int copy_pages(sqlite3 *dest, sqlite3 *src)
{
    sqlite3_backup *b = sqlite3_backup_init(dest, "main", src, "main");
    if (!b)
        return sqlite3_errcode(dest);
    int rc;
    do {
        rc = sqlite3_backup_step(b, BACKUP_PAGES_PER_STEP);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
            struct timespec pause = {0, BACKUP_BUSY_PAUSE_MS * 1000000L};
            nanosleep(&pause, NULL);
        }
    } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    int finish = sqlite3_backup_finish(b);
    return rc == SQLITE_DONE ? finish : rc;
}

store_status store_backup_to(store *s, const char *path, char *err, size_t errlen)
{
    store_status status = create_private(path, err, errlen);
    if (status != STORE_OK)
        return status;
    sqlite3 *dest = NULL;
    int rc = sqlite3_open_v2(path, &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
    if (rc == SQLITE_OK)
        rc = copy_pages(dest, s->db);
    /* One file to carry: no -wal beside it. */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(dest, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        snprintf(err, errlen, "cannot back up the database to %s: %s", path,
                 dest ? sqlite3_errmsg(dest) : sqlite3_errstr(rc));
    sqlite3_close_v2(dest);
    return store_from_sqlite(rc);
}

/* The first line integrity_check returns: "ok" when the file is sound. */
static int integrity(sqlite3 *db, char *first, size_t len)
{
    sqlite3_stmt *stmt;
    int rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        snprintf(first, len, "%s", (const char *)sqlite3_column_text(stmt, 0));
        for (char *nl = strchr(first, '\n'); nl; nl = strchr(nl, '\n'))
            *nl = ' '; /* one line for the operator */
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    return rc;
}

static int read_version(sqlite3 *db, int *version)
{
    sqlite3_stmt *stmt;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        *version = sqlite3_column_int(stmt, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    return rc;
}

store_status store_file_verify(const char *path, int *schema_version, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    char verdict[256] = "";
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL);
    if (rc == SQLITE_OK)
        rc = integrity(db, verdict, sizeof verdict);
    if (rc == SQLITE_OK)
        rc = read_version(db, schema_version);
    store_status status = STORE_ERROR;
    if (rc != SQLITE_OK)
        snprintf(err, errlen, "%s is not a readable SQLite database: %s", path,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    else if (strcmp(verdict, "ok") != 0)
        snprintf(err, errlen, "%s fails PRAGMA integrity_check (%s): take another backup", path, verdict);
    else if (*schema_version < 1 || *schema_version > schema_version_latest())
        snprintf(err, errlen, "%s has schema %d; this membershipd reads 1 to %d", path, *schema_version,
                 schema_version_latest());
    else
        status = STORE_OK;
    sqlite3_close_v2(db);
    return status;
}
