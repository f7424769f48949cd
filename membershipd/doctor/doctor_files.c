/* Everything membershipd keeps is its user's alone: every file in the
 * data dir (database, WAL, server seed, nats.conf, and whatever secrets
 * later issues put there) and a database kept elsewhere with --db are
 * owned by the user running doctor (who must be the one running serve)
 * and out of reach of group and others.  The
 * TLS key and the data dir itself are guard rules (guard.tls_files,
 * guard.data_dir). */
#include "membershipd/doctor/doctor.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LIST_MAX 1024

typedef struct {
    char foreign[LIST_MAX];     /* paths another user owns */
    char open[LIST_MAX];        /* paths group or others can reach */
    unsigned checked;
} findings;

static void append(char list[LIST_MAX], const char *path)
{
    size_t used = strlen(list);
    snprintf(list + used, LIST_MAX - used, "%s%s", used ? " " : "", path);
}

static void note(findings *f, const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    f->checked++;
    if (st.st_uid != geteuid())
        append(f->foreign, path);
    else if ((st.st_mode & 077) && !S_ISLNK(st.st_mode))
        append(f->open, path);
}

static void walk_data_dir(const char *dir, findings *f)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    while (dp && (e = readdir(dp))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        note(f, path);
    }
    if (dp)
        closedir(dp);
}

/* --db outside the data dir: the file and its WAL companions. */
static void database_elsewhere(const doctor *d, findings *f)
{
    if (!d->cfg->store.db)
        return;
    char copy[sizeof d->db_path], real_db_dir[PATH_MAX], real_data_dir[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", d->db_path);
    if (realpath(dirname(copy), real_db_dir) && realpath(d->data_dir, real_data_dir) &&
        strcmp(real_db_dir, real_data_dir) == 0)
        return; /* walked already */
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char path[sizeof d->db_path + 8];
        snprintf(path, sizeof path, "%s%s", d->db_path, suffixes[i]);
        note(f, path);
    }
}

void doctor_files(doctor *d)
{
    if (!d->data_dir_exists && !d->cfg->store.db) {
        doctor_addf(d, "files.private", DOCTOR_SKIP, NULL, "no data directory %s yet (serve creates it)", d->data_dir);
        return;
    }
    findings f = {0};
    walk_data_dir(d->data_dir, &f);
    database_elsewhere(d, &f);
    if (f.foreign[0]) {
        char fix[LIST_MAX + 64];
        snprintf(fix, sizeof fix, "if they are yours, fix with: chown %u %s", (unsigned)geteuid(), f.foreign);
        doctor_addf(d, "files.private", DOCTOR_FAIL, fix, "another user owns %s (and may have written it)",
                    f.foreign);
    } else if (f.open[0]) {
        char fix[LIST_MAX + 64];
        snprintf(fix, sizeof fix, "fix with: chmod go-rwx %s", f.open);
        doctor_addf(d, "files.private", DOCTOR_FAIL, fix, "group or others can reach %s", f.open);
    } else {
        doctor_addf(d, "files.private", DOCTOR_OK, NULL, "%u files in %s and the database are the owner's alone",
                    f.checked, d->data_dir);
    }
}
