/* Where cert issue, cert renew and join put NAME.key, NAME.crt and ca.crt
 * (dev/pki.md, "Renewal and revocation"): one directory opened once and
 * checked through its descriptor, every file made, renamed and removed
 * relative to it, so a symlink swapped on the way cannot send a key
 * elsewhere. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "membershipd/cli/pki_cli.h"

/* The directory itself is ours and closed to others; the directories above
 * where it really is (not where its path led) let no one else swap it. */
static bool out_dir_problem(const char *dir, int fd, char *why, size_t len)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(why, len, "--out %s: %s", dir, strerror(errno));
        return true;
    }
    if (store_owner_problem("--out directory", dir, st.st_uid, why, len))
        return true;
    if (st.st_mode & 022) {
        snprintf(why, len, "--out %s may be written by group or others (mode %03o), who could swap the key; run: "
                 "chmod 700 %s", dir, (unsigned)(st.st_mode & 0777), dir);
        return true;
    }
    char parent[64];
    snprintf(parent, sizeof parent, "/proc/self/fd/%d/..", fd);
    return cli_dir_chain_problem("--out directory", dir, parent, why, len) != 0;
}

/* Before mkdir, so a refused --out makes nothing; checked again from the
 * directory opened. */
static bool parent_problem(const char *path, char *why, size_t len)
{
    char parent[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else
        snprintf(parent, sizeof parent, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    return cli_dir_chain_problem("--out directory", path, parent, why, len) != 0;
}

/* Without trailing slashes: "link/" would follow link despite O_NOFOLLOW. */
static bool out_path(const char *dir, char path[PATH_MAX])
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    return snprintf(path, PATH_MAX, "%.*s", (int)n, dir) < PATH_MAX;
}

int cli_out_dir_open(const char *dir, int *fd)
{
    char path[PATH_MAX], why[3 * PATH_MAX];
    if (!out_path(dir, path)) {
        cli_error("--out path too long: %.64s...", dir);
        return EXIT_USAGE;
    }
    if (parent_problem(path, why, sizeof why)) {
        cli_error("%s", why);
        return EXIT_FAILED;
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        cli_error("cannot make --out %s: %s", path, strerror(errno));
        return EXIT_FAILED;
    }
    *fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*fd < 0 && (errno == ELOOP || errno == ENOTDIR))
        snprintf(why, sizeof why, "--out %s is a symlink or not a directory: give a directory (a symlink is refused, "
                 "as it could be swapped between the check and the writes)", path);
    else if (*fd < 0)
        snprintf(why, sizeof why, "cannot open --out %s: %s", path, strerror(errno));
    else if (out_dir_problem(path, *fd, why, sizeof why))
        ; /* why says it */
    else if (flock(*fd, LOCK_EX | LOCK_NB) != 0) /* held until the descriptor closes: one writer at a time */
        snprintf(why, sizeof why, "another membershipd cert or join is writing in %s; run this again when it is done",
                 path);
    else
        return EXIT_OK;
    cli_error("%s", why);
    if (*fd >= 0)
        close(*fd);
    return EXIT_FAILED;
}

bool cli_ca_file_fits(int dir, X509 *ca, char *err, size_t errlen)
{
    struct stat st;
    if (fstatat(dir, "ca.crt", &st, AT_SYMLINK_NOFOLLOW) != 0)
        return true;
    X509 *existing = pki_cert_read_at(dir, "ca.crt", err, errlen);
    bool same = existing && X509_cmp(existing, ca) == 0;
    if (existing && !same)
        snprintf(err, errlen, "ca.crt holds another CA's certificate");
    X509_free(existing);
    return same;
}

/* ca.crt beside the certificate: written once, and left as it is when it
 * already holds this CA. */
static bool write_ca_file(int dir, X509 *ca, char *err, size_t errlen)
{
    struct stat st;
    if (fstatat(dir, "ca.crt", &st, AT_SYMLINK_NOFOLLOW) == 0)
        return cli_ca_file_fits(dir, ca, err, errlen);
    char *pem = pki_cert_pem(ca);
    bool ok = pem && pki_write_file_at(dir, "ca.crt", pem, 0644, err, errlen);
    free(pem);
    return ok;
}

typedef struct {
    char key[NAME_MAX + 1], crt[NAME_MAX + 1], key_new[NAME_MAX + 1], crt_new[NAME_MAX + 1], key_old[NAME_MAX + 1];
} pair_names;

static void name_pair(const char *name, pair_names *n)
{
    snprintf(n->key, sizeof n->key, "%s.key", name);
    snprintf(n->crt, sizeof n->crt, "%s.crt", name);
    snprintf(n->key_new, sizeof n->key_new, "%s.key.new", name);
    snprintf(n->crt_new, sizeof n->crt_new, "%s.crt.new", name);
    snprintf(n->key_old, sizeof n->key_old, "%s.key.old", name);
}

/* The key first, then the certificate.  Until the certificate is in place
 * the old key stays reachable as NAME.key.old, so a failed second rename
 * puts it back: the pair on disk is the old one or the new one. */
static bool rename_pair(int dir, const pair_names *n, bool replace, char *err, size_t errlen)
{
    unsigned flags = replace ? 0 : RENAME_NOREPLACE;
    unlinkat(dir, n->key_old, 0); /* a leftover of an interrupted renewal */
    bool had_key = replace && linkat(dir, n->key, dir, n->key_old, 0) == 0;
    if (replace && !had_key && errno != ENOENT)
        return snprintf(err, errlen, "cannot keep the old key as %s: %s", n->key_old, strerror(errno)), false;
    if (renameat2(dir, n->key_new, dir, n->key, flags) != 0)
        return snprintf(err, errlen, "cannot put %s in place: %s", n->key, strerror(errno)), false;
    if (renameat2(dir, n->crt_new, dir, n->crt, flags) != 0) {
        int saved = errno;
        bool undone = had_key ? renameat(dir, n->key_old, dir, n->key) == 0 : unlinkat(dir, n->key, 0) == 0;
        if (undone)
            snprintf(err, errlen, "cannot put %s in place: %s; the old files are kept", n->crt, strerror(saved));
        else
            snprintf(err, errlen, "cannot put %s in place: %s; the old key is %s: rename it to %s", n->crt,
                     strerror(saved), n->key_old, n->key);
        return false;
    }
    if (had_key)
        unlinkat(dir, n->key_old, 0);
    return true;
}

/* Both new files are whole on disk before anything is renamed. */
static bool write_pair(int dir, const char *name, const char *key_pem, const char *cert_pem, bool replace,
                       char *err, size_t errlen)
{
    pair_names n;
    name_pair(name, &n);
    unlinkat(dir, n.key_new, 0); /* leftovers of an interrupted run */
    unlinkat(dir, n.crt_new, 0);
    bool ok = pki_write_file_at(dir, n.key_new, key_pem, 0600, err, errlen) &&
              pki_write_file_at(dir, n.crt_new, cert_pem, 0644, err, errlen) &&
              rename_pair(dir, &n, replace, err, errlen);
    if (!ok) {
        unlinkat(dir, n.key_new, 0);
        unlinkat(dir, n.crt_new, 0);
    }
    return ok;
}

/* The certificate followed by the CA's: a chain up to its root, which is
 * what membershipd's own clients of a TLS data plane verify it with
 * (dev/control-log.md, "Connecting to the log"). */
static char *chain_pem(X509 *cert, X509 *ca)
{
    char *leaf = pki_cert_pem(cert), *root = pki_cert_pem(ca), *chain = NULL;
    if (leaf && root && (chain = malloc(strlen(leaf) + strlen(root) + 1)))
        strcat(strcpy(chain, leaf), root);
    free(leaf);
    free(root);
    return chain;
}

bool cli_cert_files_write(int dir, const char *name, X509 *cert, EVP_PKEY *key, X509 *ca, bool replace, char *err,
                          size_t errlen)
{
    char *key_pem = pki_key_pem(key), *cert_pem = chain_pem(cert, ca);
    bool ok = key_pem && cert_pem && write_ca_file(dir, ca, err, errlen) &&
              write_pair(dir, name, key_pem, cert_pem, replace, err, errlen);
    if (!key_pem || !cert_pem)
        snprintf(err, errlen, "out of memory");
    else if (ok && fsync(dir) != 0)
        ok = (snprintf(err, errlen, "cannot sync the directory: %s", strerror(errno)), false);
    pki_pem_free(key_pem);
    free(cert_pem);
    return ok;
}

void cli_cert_files_print(const char *dir, const char *name)
{
    printf("%s/%s.crt\n%s/%s.key\n%s/ca.crt\n", dir, name, dir, name, dir);
}



bool cli_route_pins_write(int dir, const char (*pins)[65], size_t n, char *err, size_t errlen)
{
    char *text = calloc(n ? n : 1, 65 + 1);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    for (size_t i = 0; i < n; i++)
        strcat(strcat(text, pins[i]), "\n");
    /* A renewal's keys replace the last ones: written aside, then renamed. */
    unlinkat(dir, CLI_ROUTE_PINS_FILE ".new", 0);
    bool ok = pki_write_file_at(dir, CLI_ROUTE_PINS_FILE ".new", text, 0644, err, errlen);
    if (ok && renameat(dir, CLI_ROUTE_PINS_FILE ".new", dir, CLI_ROUTE_PINS_FILE) != 0) {
        snprintf(err, errlen, "cannot put " CLI_ROUTE_PINS_FILE " in place: %s", strerror(errno));
        ok = false;
    }
    free(text);
    return ok;
}
