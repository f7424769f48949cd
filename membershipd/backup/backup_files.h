/*
 * What backup and restore share: the layout of a backup directory, its
 * manifest, and careful file handling (dev/backup.md).
 *
 *   DIR/membership.db   the database, one self-contained SQLite file (0600)
 *   DIR/server.seed     the server identity (0600): clients pin its key
 *   DIR/backup.json     the manifest (0600)
 */
#ifndef MEMBERSHIPD_BACKUP_FILES_H
#define MEMBERSHIPD_BACKUP_FILES_H

#include <limits.h>
#include <stdint.h>
#include "busauth/identity.h"
#include "busauth/nkey.h"

#define BACKUP_FORMAT 1
#define BACKUP_DB_NAME "membership.db"
#define BACKUP_SEED_NAME "server.seed"
#define BACKUP_MANIFEST_NAME "backup.json"

typedef struct {
    int format;
    char created[32];
    char server_key[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    int schema_version;
    char database_sha256[65];
} backup_manifest;

typedef struct {
    char db[PATH_MAX], seed[PATH_MAX], manifest[PATH_MAX];
} backup_paths;

/* The three files' paths in dir; one line and EXIT_USAGE when too long. */
int backup_paths_in(const char *dir, backup_paths *p);
/* Makes dir (0700, parents too) or accepts an existing empty private one;
 * refuses anything else with one line naming the fix; what says which
 * flag named it.  *created tells whether it was made here.  Returns an
 * exit code. */
int backup_claim_empty_dir(const char *dir, const char *what, bool *created);
/* A backup is trusted only as far as whoever could write it: dir must be
 * a private directory of this user (as a data dir), and the files p names
 * that exist this user's and writable by nobody else.  Prints why;
 * returns an exit code. */
int backup_check_source(const char *dir, const backup_paths *p);
/* Loads the seed file at path, printing why on failure. */
busauth_identity *backup_load_seed(const char *path);
/* Writes id's seed to a new file at path (0600, never replacing one). */
int backup_write_seed(const char *path, const busauth_identity *id);
/* Lowercase hex SHA-256 of a file's content; -1 (errno set) on failure. */
int backup_file_sha256(const char *path, char hex[65]);
/* Copies src to a new file dst (0600) through a temporary name in dst's
 * directory, fsynced, then renamed; the directory is fsynced.  -1 with
 * errno on failure. */
int backup_copy_file(const char *src, const char *dst);
/* fsync of a directory, so the names in it are durable. */
int backup_sync_dir(const char *dir);
/* Removes what a failed backup or restore left in dir (the files above
 * and SQLite's side files), and dir itself when it was made for it. */
void backup_discard(const char *dir, bool created);
int backup_manifest_write(const char *path, const backup_manifest *m);
/* Prints why and returns an exit code when the manifest is missing or
 * malformed. */
int backup_manifest_read(const char *path, backup_manifest *m);

#endif
