/* membershipd restore --from DIR --data-dir NEW: a checked backup into a
 * new data directory (dev/backup.md). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "busauth/signing.h"
#include "membershipd/backup/backup_files.h"
#include "membershipd/cli/cli.h"

/* Everything about the backup is checked before the target is touched. */
static int check_backup(const backup_paths *from, const backup_manifest *m, busauth_identity **id)
{
    char sha[65], err[2 * PATH_MAX];
    int version = 0;
    if (backup_file_sha256(from->db, sha) != 0) {
        cli_error("cannot read %s: %s", from->db, strerror(errno));
        return EXIT_FAILED;
    }
    if (strcmp(sha, m->database_sha256) != 0) {
        cli_error("%s does not match its manifest's SHA-256 (changed or truncated since the backup): "
                  "use another backup", from->db);
        return EXIT_FAILED;
    }
    if (store_file_verify(from->db, &version, err, sizeof err) != STORE_OK) {
        cli_error("%s", err);
        return EXIT_FAILED;
    }
    *id = backup_load_seed(from->seed);
    if (!*id)
        return EXIT_FAILED;
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    busauth_nkey_encode_public(busauth_identity_public_key(*id), nkey);
    if (strcmp(nkey, m->server_key) != 0) {
        cli_error("%s holds server key %s but the manifest says %s: the files come from different backups",
                  from->seed, nkey, m->server_key);
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

/* The original server may have accepted requests after the backup was
 * taken, and the restored one has no record of them: with the floor past
 * the latest time any request signed before now could carry (now plus the
 * skew), the restored server refuses them all (dev/backup.md). */
static int raise_request_floor(store *s)
{
    store_status status = store_request_floor_raise(s, store_now_ms() + BUSAUTH_REQUEST_SKEW_MS);
    return status == STORE_OK ? EXIT_OK : cli_store_error(s, status, "raise the request time floor");
}

/* Opening it once through the store turns WAL on and brings an older
 * schema up to date, so the first serve starts on a ready database. */
static int install(const backup_paths *from, const char *dir, const busauth_identity *id)
{
    backup_paths to;
    int rc = backup_paths_in(dir, &to);
    if (rc == EXIT_OK && backup_copy_file(from->db, to.db) != 0) {
        cli_error("cannot copy %s to %s: %s", from->db, to.db, strerror(errno));
        rc = EXIT_FAILED;
    }
    /* A data dir keeps its identity under the same name as a backup. */
    if (rc == EXIT_OK)
        rc = backup_write_seed(to.seed, id);
    store_location loc = {.data_dir = dir};
    store *s = NULL;
    if (rc == EXIT_OK)
        rc = cli_open_store(&loc, STORE_OPEN_EXISTING, &s);
    if (rc == EXIT_OK)
        rc = raise_request_floor(s);
    store_close(s);
    return rc;
}

int cmd_restore(int argc, char **argv)
{
    const char *from = NULL, *data_dir = NULL;
    const cli_flag flags[] = {
        {"--from", "DIR", &from, NULL, "a directory made by membershipd backup; required"},
        {"--data-dir", "DIR", &data_dir, NULL,
         "the new data directory: must not exist or be empty (default $UNIBUS_DATA_DIR, else ./unibus-data)"},
        {0},
    };
    const cli_spec spec = {"restore", "",
                           "Check a backup (manifest, SHA-256, PRAGMA integrity_check, server identity)\n"
                           "and install it into a new data directory; then start serve on it.",
                           flags, 0, 0};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    if (!from) {
        cli_error("no backup given: add --from DIR (a directory made by membershipd backup)");
        return EXIT_USAGE;
    }
    store_location loc = {.data_dir = data_dir};
    const char *dir = cli_data_dir_path(&loc);
    backup_paths src;
    backup_manifest m;
    busauth_identity *id = NULL;
    bool created = false;
    rc = backup_paths_in(from, &src);
    if (rc == EXIT_OK)
        rc = backup_check_source(from, &src);
    if (rc == EXIT_OK)
        rc = backup_manifest_read(src.manifest, &m);
    if (rc == EXIT_OK)
        rc = check_backup(&src, &m, &id);
    if (rc == EXIT_OK)
        rc = backup_claim_empty_dir(dir, "data directory", &created);
    /* Only a directory claimed empty is ever cleaned up. */
    if (rc == EXIT_OK && (rc = install(&src, dir, id)) != EXIT_OK)
        backup_discard(dir, created);
    if (rc == EXIT_OK)
        printf("restored %s (taken %s) into %s: server key %s; it refuses every request signed before now "
               "(the original may have accepted them); never run it beside the original: both hold the same key\n",
               from, m.created, dir, m.server_key);
    busauth_identity_free(id);
    return rc;
}
