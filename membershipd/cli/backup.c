/* membershipd backup --to DIR: the database (SQLite online backup) and the
 * server identity, consistent while the server runs (dev/backup.md). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "membershipd/backup/backup_files.h"
#include "membershipd/cli/cli.h"
#include "membershipd/config/server_identity.h"

static int copy_database(const store_location *loc, const char *to, backup_manifest *m)
{
    store *s;
    int rc = cli_open_store(loc, STORE_OPEN_READONLY, &s);
    if (rc != EXIT_OK)
        return rc;
    char err[2 * PATH_MAX];
    m->schema_version = store_schema_version(s);
    if (store_backup_to(s, to, err, sizeof err) != STORE_OK) {
        cli_error("%s", err);
        rc = EXIT_FAILED;
    }
    store_close(s);
    if (rc == EXIT_OK && backup_file_sha256(to, m->database_sha256) != 0) {
        cli_error("cannot read back %s: %s", to, strerror(errno));
        rc = EXIT_FAILED;
    }
    return rc;
}

/* Read before anything is written: a data dir without an identity (a
 * server never started) has nothing clients could have pinned. */
static busauth_identity *load_identity(const store_location *loc)
{
    char dir[PATH_MAX], path[PATH_MAX];
    if (cli_data_dir(loc, STORE_OPEN_READONLY, dir) != EXIT_OK)
        return NULL;
    server_identity_path(dir, path);
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        cli_error("no server identity at %s: start membershipd serve on this data directory once (it makes the "
                  "key clients pin), or check --data-dir", path);
        return NULL;
    }
    return backup_load_seed(path);
}

static int write_backup(const store_location *loc, const char *to, const busauth_identity *id)
{
    backup_paths p;
    if (backup_paths_in(to, &p) != EXIT_OK)
        return EXIT_USAGE;
    backup_manifest m = {.format = BACKUP_FORMAT};
    cli_format_time(store_now_ms(), m.created);
    busauth_nkey_encode_public(busauth_identity_public_key(id), m.server_key);
    int rc = copy_database(loc, p.db, &m);
    if (rc == EXIT_OK)
        rc = backup_write_seed(p.seed, id);
    if (rc == EXIT_OK && (backup_manifest_write(p.manifest, &m) != 0 || backup_sync_dir(to) != 0)) {
        cli_error("cannot write %s: %s", p.manifest, strerror(errno));
        rc = EXIT_FAILED;
    }
    if (rc == EXIT_OK)
        printf("backup written to %s: schema %d, server key %s\n", to, m.schema_version, m.server_key);
    return rc;
}

int cmd_backup(int argc, char **argv)
{
    store_location loc = {0};
    const char *to = NULL;
    const cli_flag flags[] = {
        {"--to", "DIR", &to, NULL, "a new (or empty) directory for the backup; required"},
        STORE_LOCATION_FLAGS(loc),
        {0},
    };
    const cli_spec spec = {"backup", "",
                           "Copy the database (SQLite online backup: consistent while the server runs)\n"
                           "and the server identity seed into a new private directory. The backup holds\n"
                           "a secret: keep it as you keep the data directory.",
                           flags, 0, 0};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    if (!to) {
        cli_error("no backup directory given: add --to DIR (a new directory)");
        return EXIT_USAGE;
    }
    busauth_identity *id = load_identity(&loc);
    bool created = false;
    rc = id ? backup_claim_empty_dir(to, "--to", &created) : EXIT_FAILED;
    /* Only a directory claimed empty is ever cleaned up. */
    if (rc == EXIT_OK && (rc = write_backup(&loc, to, id)) != EXIT_OK)
        backup_discard(to, created);
    busauth_identity_free(id);
    return rc;
}
