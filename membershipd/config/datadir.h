/*
 * Where a membershipd's data is: the data directory and database file the
 * flags name (--data-dir, --db, $UNIBUS_DATA_DIR), checked and opened the
 * same way by every subcommand (datadir.c).
 */
#ifndef MEMBERSHIPD_DATADIR_H
#define MEMBERSHIPD_DATADIR_H

#include <stddef.h>
#include <stdint.h>
#include "membershipd/store/store.h"

/* Where the database is: --db, else DATA-DIR/membership.db, with DATA-DIR
 * from --data-dir, $UNIBUS_DATA_DIR, or ./unibus-data. */
typedef struct {
    const char *data_dir;
    const char *db;
} store_location;

#define STORE_LOCATION_FLAGS(loc)                                                   \
    {"--data-dir", "DIR", &(loc).data_dir, NULL,                                    \
     "data directory (default $UNIBUS_DATA_DIR, else ./unibus-data)"},              \
    {"--db", "PATH", &(loc).db, NULL, "database file (default DATA-DIR/membership.db)"}

/* --data-dir, else $UNIBUS_DATA_DIR, else ./unibus-data. */
const char *cli_data_dir_path(const store_location *loc);
/* 0 when dir is a private directory, 1 when it does not exist, -1 (with
 * one line in why) when it is unusable or group or others can reach it. */
int cli_data_dir_problem(const char *dir, char *why, size_t len);
/* 0 when start (a directory's parent, or the nearest existing directory
 * above one yet to be made) and every directory above it are owned by root
 * or this user and writable by no one else unless sticky; else -1 with one
 * line in why naming what (e.g. "data directory") and dir. */
int cli_dir_chain_problem(const char *what, const char *dir, const char *start, char *why, size_t len);
/* The data directory, checked (0700, refused when group or others can
 * reach it) and, with STORE_OPEN_CREATE, created; prints the reason on
 * failure; returns an exit code. */
int cli_data_dir(const store_location *loc, store_open_mode mode, char out[4096]);
/* The database file the flags name, unchecked; false when too long. */
bool cli_db_file(const store_location *loc, char path[4096]);
/* The database file the flags name (making the data dir as cli_data_dir
 * does); returns an exit code. */
int cli_db_path(const store_location *loc, store_open_mode mode, char path[4096]);
/* Opens the store, printing the reason on failure; returns an exit code. */
int cli_open_store(const store_location *loc, store_open_mode mode, store **out);
/* Explains a store failure (busy, I/O, ...) while doing what; returns an
 * exit code. */
int cli_store_error(const store *s, store_status status, const char *doing);
/* The audit actor for a local administrator: "local:<login>". */
store_actor cli_local_actor(void);
/* "2026-11-23T13:45:01Z" */
void cli_format_time(int64_t unix_ms, char out[32]);

#endif
