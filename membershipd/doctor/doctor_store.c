/* The database: SQLite's quick_check, and a WAL that checkpoints keep
 * small.  Opened read-only: doctor never changes what it examines. */
#include "membershipd/doctor/doctor.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include "membershipd/store/store.h"

/* SQLite checkpoints at ~4 MiB; a WAL far beyond that means a reader
 * that never lets go (dev/doctor.md). */
#define WAL_WARN_BYTES (64LL * 1024 * 1024)

static void integrity(doctor *d)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_open_v2(d->db_path, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK)
        sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    const char *first = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(stmt, 0) : NULL;
    if (first && strcmp(first, "ok") == 0)
        doctor_addf(d, "store.integrity", DOCTOR_OK, NULL, "PRAGMA quick_check on %s: ok", d->db_path);
    else if (first)
        doctor_addf(d, "store.integrity", DOCTOR_FAIL,
                    "stop membershipd and restore the database from a backup",
                    "PRAGMA quick_check on %s found damage: %.200s", d->db_path, first);
    else
        doctor_addf(d, "store.integrity", DOCTOR_FAIL, "check the file and its permissions",
                    "cannot check %s: %s", d->db_path, db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

static void wal_size(doctor *d)
{
    char wal[sizeof d->db_path + 8];
    snprintf(wal, sizeof wal, "%s-wal", d->db_path);
    struct stat st;
    long long bytes = stat(wal, &st) == 0 ? (long long)st.st_size : 0;
    json_t *check;
    if (bytes > WAL_WARN_BYTES)
        check = doctor_addf(d, "store.wal_size", DOCTOR_WARN,
                            "find the process holding a long read transaction on the database and end it",
                            "%s is %lld MiB (over %lld): checkpoints are not keeping up", wal, bytes >> 20,
                            WAL_WARN_BYTES >> 20);
    else
        check = doctor_addf(d, "store.wal_size", DOCTOR_OK, NULL, "the WAL is %lld KiB (warns over %lld MiB)",
                            bytes >> 10, WAL_WARN_BYTES >> 20);
    json_object_set_new(check, "details", json_pack("{s:I, s:I}", "bytes", (json_int_t)bytes, "warn_above",
                                                    (json_int_t)WAL_WARN_BYTES));
}

void doctor_store(doctor *d)
{
    struct stat st;
    if (stat(d->db_path, &st) != 0 && errno == ENOENT) {
        doctor_addf(d, "store.integrity", DOCTOR_SKIP, NULL, "no database at %s yet", d->db_path);
        doctor_addf(d, "store.wal_size", DOCTOR_SKIP, NULL, "no database at %s yet", d->db_path);
        return;
    }
    integrity(d);
    wal_size(d);
}
