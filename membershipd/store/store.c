/* Opening the store: file creation, pragmas, migrations, transactions. */
#include "membershipd/store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include "membershipd/store/schema.h"

int64_t store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

store_status store_from_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return STORE_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return STORE_BUSY;
    default:
        return STORE_ERROR;
    }
}

sqlite3_stmt *store_prepare(store *s, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    return sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL) == SQLITE_OK ? stmt : NULL;
}

store_status store_exec_stmt(sqlite3_stmt *stmt)
{
    if (!stmt)
        return STORE_ERROR;
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return store_from_sqlite(rc);
}

store_status store_query_int(sqlite3_stmt *stmt, int64_t *out)
{
    if (!stmt)
        return STORE_ERROR;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOT_FOUND : store_from_sqlite(rc);
}

store_status store_query_int_of(store *s, const char *sql, int64_t id, int64_t *out)
{
    sqlite3_stmt *stmt = store_prepare(s, sql);
    if (stmt)
        sqlite3_bind_int64(stmt, 1, id);
    return store_query_int(stmt, out);
}

const char *store_errmsg(const store *s)
{
    return s && s->db ? sqlite3_errmsg(s->db) : "no database";
}

bool store_owner_problem(const char *what, const char *path, uid_t owner, char *why, size_t len)
{
    uid_t me = geteuid();
    if (owner == me)
        return false;
    snprintf(why, len, "%s %s is owned by uid %u, not by uid %u that runs membershipd: its owner may have put keys "
             "or users in it; if it is yours, fix with: chown -R %u %s", what, path, (unsigned)owner, (unsigned)me,
             (unsigned)me, path);
    return true;
}

int store_file_problem(const char *path, char *why, size_t len)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return 1;
        snprintf(why, len, "cannot open database %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, len, "database %s is not a regular file", path);
        return -1;
    }
    if (store_owner_problem("database", path, st.st_uid, why, len))
        return -1;
    if (st.st_mode & 077) {
        snprintf(why, len, "database %s is accessible to group or others; fix with: chmod 600 %s", path, path);
        return -1;
    }
    return 0;
}

/* SQLite creates the file with the process umask; we make it 0600 first and
 * refuse an existing one that is not this user's alone. */
static store_status prepare_file(const char *path, store_open_mode mode, char *err, size_t errlen)
{
    int problem = store_file_problem(path, err, errlen);
    if (problem < 0)
        return STORE_ERROR;
    if (problem == 1) {
        if (mode != STORE_OPEN_CREATE) {
            snprintf(err, errlen, "no database at %s: check --db or --data-dir", path);
            return STORE_MISSING;
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create database %s: %s", path, strerror(errno));
            return STORE_ERROR;
        }
        if (fd >= 0)
            close(fd);
    }
    return STORE_OK;
}

static store_status store_tx_begin(store *s);
static store_status store_tx_commit(store *s);
static void store_tx_rollback(store *s);

static int read_int_pragma(sqlite3 *db, const char *sql, int *value)
{
    sqlite3_stmt *stmt;
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *value = sqlite3_column_int(stmt, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    return rc;
}

static int enable_wal(sqlite3 *db)
{
    sqlite3_stmt *stmt;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        rc = strcmp((const char *)sqlite3_column_text(stmt, 0), "wal") == 0 ? SQLITE_OK
                                                                          : SQLITE_CANTOPEN;
    sqlite3_finalize(stmt);
    return rc;
}

static int configure(sqlite3 *db, store_open_mode mode)
{
    sqlite3_extended_result_codes(db, 1);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
    /* A reader takes the journal mode the writers chose (WAL). */
    int rc = mode == STORE_OPEN_READONLY ? SQLITE_OK : enable_wal(db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
                          NULL, NULL, NULL);
    return rc;
}

static store_status migrate_locked(store *s, char *err, size_t errlen)
{
    int version = 0;
    store_status status = store_from_sqlite(read_int_pragma(s->db, "PRAGMA user_version", &version));
    if (status == STORE_OK && version > schema_version_latest()) {
        snprintf(err, errlen, "database schema %d is newer than this membershipd (%d): upgrade membershipd",
                 version, schema_version_latest());
        return STORE_TOO_NEW;
    }
    for (int v = version + 1; status == STORE_OK && v <= schema_version_latest(); v++)
        status = store_from_sqlite(sqlite3_exec(s->db, schema_migration(v), NULL, NULL, NULL));
    return status;
}

/* Checked without a lock first, so opening an up-to-date database never
 * waits for a writer; migrations run under the write lock, re-checked
 * there, so two processes never migrate at once. */
static store_status migrate(store *s, store_open_mode mode, char *err, size_t errlen)
{
    int version = 0;
    store_status status = store_from_sqlite(read_int_pragma(s->db, "PRAGMA user_version", &version));
    if (status == STORE_OK && version == schema_version_latest())
        return STORE_OK;
    if (status == STORE_OK && mode == STORE_OPEN_READONLY) {
        snprintf(err, errlen, "database schema %d is not this membershipd's (%d): %s", version,
                 schema_version_latest(), version > schema_version_latest() ? "upgrade membershipd"
                 : "start membershipd serve on it once to upgrade it");
        return version > schema_version_latest() ? STORE_TOO_NEW : STORE_ERROR;
    }
    if (status == STORE_OK)
        status = store_tx_begin(s);
    if (status == STORE_OK)
        status = migrate_locked(s, err, errlen);
    if (status == STORE_OK)
        status = store_tx_commit(s);
    if (status != STORE_OK && status != STORE_TOO_NEW)
        snprintf(err, errlen, "cannot migrate database: %s", sqlite3_errmsg(s->db));
    store_tx_rollback(s);
    return status;
}

bool store_path_unwritable(const char *path, char *why, size_t len)
{
    struct statvfs fs;
    if (statvfs(path, &fs) == 0 && (fs.f_flag & ST_RDONLY)) {
        snprintf(why, len, "%s is on a read-only file system; membershipd must write there "
                 "(database, write-ahead log, nats-server configuration): remount it read-write or use "
                 "another --data-dir", path);
        return true;
    }
    if (access(path, W_OK) != 0 && errno == EACCES) {
        snprintf(why, len, "%s is not writable by uid %d; run membershipd as its owner", path, (int)geteuid());
        return true;
    }
    return false;
}

/* SQLite says "unable to open database file" alike for a read-only disk,
 * a file the user may not write and a missing directory; the operator
 * needs to know which. */
static void explain_open_failure(const char *path, sqlite3 *db, char *err, size_t errlen)
{
    if (!store_path_unwritable(path, err, errlen))
        snprintf(err, errlen, "cannot open database %s: %s", path, sqlite3_errmsg(db));
}

store_status store_open(const char *path, store_open_mode mode, store **out,
                        char *err, size_t errlen)
{
    store_status status = prepare_file(path, mode, err, errlen);
    if (status != STORE_OK)
        return status;
    store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    int open_flags = mode == STORE_OPEN_READONLY ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    int rc = sqlite3_open_v2(path, &s->db, open_flags | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        rc = configure(s->db, mode);
    status = store_from_sqlite(rc);
    if (status == STORE_BUSY)
        snprintf(err, errlen, "database %s stayed locked by another process for %d ms; try again",
                 path, STORE_BUSY_TIMEOUT_MS);
    else if (status != STORE_OK)
        explain_open_failure(path, s->db, err, errlen);
    else
        status = migrate(s, mode, err, errlen);
    if (status != STORE_OK) {
        store_close(s);
        return status;
    }
    *out = s;
    return STORE_OK;
}

void store_close(store *s)
{
    if (!s)
        return;
    sqlite3_finalize(s->user_by_key);
    sqlite3_close_v2(s->db);
    free(s);
}

int store_schema_version(store *s)
{
    int version = -1;
    read_int_pragma(s->db, "PRAGMA user_version", &version);
    return version;
}

static store_status store_tx_begin(store *s)
{
    return store_from_sqlite(sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
}

static store_status store_tx_commit(store *s)
{
    return store_from_sqlite(sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL));
}

static void store_tx_rollback(store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

store_status store_in_tx(store *s, store_tx_fn fn, void *ctx)
{
    if (s->log.append)
        return store_log_in_tx(s, fn, ctx);
    store_status status = store_tx_begin(s);
    if (status == STORE_OK)
        status = fn(s, ctx);
    if (status == STORE_OK)
        status = store_tx_commit(s);
    if (status != STORE_OK)
        store_tx_rollback(s);
    return status;
}
