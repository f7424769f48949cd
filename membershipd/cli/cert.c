/* membershipd cert issue | list | info | revoke | renew (dev/pki.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "membershipd/cli/pki_cli.h"

static const cli_command CERT_COMMANDS[] = {
    {"issue", cmd_cert_issue, "issue a node or client certificate from the bus CA"},
    {"list", cmd_cert_list, "list issued certificates: name, role, serial, not after, status"},
    {"info", cmd_cert_info, "describe a certificate file, and whether this bus issued and revoked it"},
    {"revoke", cmd_cert_revoke, "revoke a certificate by serial, or every one of a name"},
    {"renew", cmd_cert_renew, "a new key and certificate for a name, replacing its files"},
};

int cmd_cert(int argc, char **argv)
{
    return cli_dispatch("cert", CERT_COMMANDS, sizeof CERT_COMMANDS / sizeof CERT_COMMANDS[0], argc, argv);
}

static int out_dir(const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        cli_error("cannot make --out %s: %s", dir, strerror(errno));
        return EXIT_FAILED;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cli_error("--out %s is not a directory", dir);
        return EXIT_USAGE;
    }
    char why[4200];
    if (store_owner_problem("--out directory", dir, st.st_uid, why, sizeof why)) {
        cli_error("%s", why);
        return EXIT_FAILED;
    }
    if (st.st_mode & 022) {
        cli_error("--out %s may be written by group or others (mode %03o), who could swap the key; run: chmod 700 %s",
                  dir, (unsigned)(st.st_mode & 0777), dir);
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

/* ca.crt beside the certificate: written once, and left as it is when it
 * already holds this CA. */
static bool write_ca_file(const char *path, X509 *ca, char *err, size_t errlen)
{
    char *pem = pki_cert_pem(ca);
    X509 *existing = access(path, F_OK) == 0 ? pki_cert_read(path, err, errlen) : NULL;
    bool ok = pem && (existing ? X509_cmp(existing, ca) == 0 : pki_write_file(path, pem, 0644, false, err, errlen));
    if (existing && !ok)
        snprintf(err, errlen, "%s holds another CA's certificate; give another --out", path);
    X509_free(existing);
    free(pem);
    return ok;
}

int cli_write_cert_files(const char *dir, const char *name, X509 *cert, EVP_PKEY *key, X509 *ca, bool replace)
{
    char key_path[4096], cert_path[4096], ca_path[4096], err[4200];
    snprintf(key_path, sizeof key_path, "%s/%s.key", dir, name);
    snprintf(cert_path, sizeof cert_path, "%s/%s.crt", dir, name);
    snprintf(ca_path, sizeof ca_path, "%s/ca.crt", dir);
    char *key_pem = pki_key_pem(key), *cert_pem = pki_cert_pem(cert);
    bool ok = key_pem && cert_pem && pki_write_file(key_path, key_pem, 0600, replace, err, sizeof err) &&
              pki_write_file(cert_path, cert_pem, 0644, replace, err, sizeof err) &&
              write_ca_file(ca_path, ca, err, sizeof err);
    pki_pem_free(key_pem);
    free(cert_pem);
    if (!ok) {
        cli_error("%s", key_pem && cert_pem ? err : "out of memory");
        return EXIT_FAILED;
    }
    printf("%s\n%s\n%s\n", cert_path, key_path, ca_path);
    return EXIT_OK;
}

/* Refuses before anything is issued when the files are there already. */
static int files_absent(const char *dir, const char *name)
{
    char path[4096];
    const char *exts[] = {"key", "crt"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s.%s", dir, name, exts[i]);
        if (access(path, F_OK) == 0) {
            cli_error("%s exists; nothing issued (to replace it: membershipd cert renew %s --out %s)", path, name, dir);
            return EXIT_FAILED;
        }
    }
    return EXIT_OK;
}

/* Issues, records, then writes: a certificate on disk is always one the
 * bus knows (and can revoke).  A renewal replaces the files. */
static int issue_and_write(store *s, const pki_ca *ca, const pki_profile *p, const char *dir, bool renewal)
{
    char err[512];
    EVP_PKEY *key = pki_key_generate();
    X509 *cert = NULL;
    store_cert record;
    store_actor by = cli_local_actor();
    int rc = EXIT_FAILED;
    if (!key)
        cli_error("cannot make a P-256 key");
    else if (!pki_issue(ca, key, p, &cert, &record, err, sizeof err))
        cli_error("%s", err);
    else {
        char *pem = pki_cert_pem(cert);
        store_status status = pem ? store_cert_add(s, &record, pem, renewal, &by) : STORE_ERROR;
        free(pem);
        if (status == STORE_DUPLICATE_NAME)
            cli_error("a valid certificate named %s exists; renew it (membershipd cert renew %s --out DIR) or "
                      "revoke it first", p->name, p->name);
        rc = status == STORE_OK ? cli_write_cert_files(dir, p->name, cert, key, ca->cert, renewal)
             : status == STORE_DUPLICATE_NAME ? EXIT_FAILED : cli_store_error(s, status, "record the certificate");
        if (rc == EXIT_OK)
            printf("serial %s\n", record.serial);
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

int cmd_cert_issue(int argc, char **argv)
{
    store_location loc = {0};
    const char *role = NULL, *dns = NULL, *ip = NULL, *days_text = NULL, *dir = NULL, *kek_flag = NULL;
    const cli_flag flags[] = {
        {"--role", "node|client", &role, NULL, "node: TLS server and client (control plane, routes); client: TLS client"},
        {"--dns", "NAMES", &dns, NULL, "DNS names, comma-separated"},
        {"--ip", "ADDRS", &ip, NULL, "IP addresses, comma-separated"},
        {"--days", "N", &days_text, NULL, "lifetime (default 90)"},
        {"--out", "DIR", &dir, NULL, "where NAME.crt, NAME.key (0600) and ca.crt go"},
        CA_KEK_FLAG(kek_flag),
        STORE_LOCATION_FLAGS(loc),
        {0},
    };
    const cli_spec spec = {"cert issue", "NAME", "Issue a certificate from the bus CA for a new key made here.\n"
                           "Its SANs are the given names and addresses and spiffe://TRUST-DOMAIN/ROLE/NAME.",
                           flags, 1, 1};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    pki_profile p = {args.v[0], STORE_CERT_NODE, dns ? dns : "", ip ? ip : "", 0};
    char err[512];
    if (!role || !store_cert_role_parse(role, &p.role) || !dir) {
        cli_error("give --role node|client and --out DIR");
        return EXIT_USAGE;
    }
    if ((rc = cli_days(days_text, PKI_CERT_DAYS_DEFAULT, &p.days)) != EXIT_OK)
        return rc;
    if (!pki_profile_valid(&p, err, sizeof err)) {
        cli_error("%s", err);
        return EXIT_USAGE;
    }
    if ((rc = out_dir(dir)) != EXIT_OK || (rc = files_absent(dir, p.name)) != EXIT_OK)
        return rc;
    store *s;
    pki_ca ca;
    if ((rc = cli_ca_open(&loc, kek_flag, true, &s, &ca)) != EXIT_OK)
        return rc;
    rc = issue_and_write(s, &ca, &p, dir, false);
    pki_ca_free(&ca);
    store_close(s);
    return rc;
}

int cmd_cert_renew(int argc, char **argv)
{
    store_location loc = {0};
    const char *days_text = NULL, *dir = NULL, *kek_flag = NULL;
    const cli_flag flags[] = {
        {"--days", "N", &days_text, NULL, "lifetime (default 90)"},
        {"--out", "DIR", &dir, NULL, "where NAME.crt and NAME.key are replaced (each in one rename)"},
        CA_KEK_FLAG(kek_flag),
        STORE_LOCATION_FLAGS(loc),
        {0},
    };
    const cli_spec spec = {"cert renew", "NAME", "A new key and certificate for NAME, with the role and SANs of its\n"
                           "latest certificate; the old one stays valid until it expires or is revoked.\n"
                           "Then send SIGHUP to the server using it: open connections stay.",
                           flags, 1, 1};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    if (!dir) {
        cli_error("give --out DIR");
        return EXIT_USAGE;
    }
    int days;
    if ((rc = cli_days(days_text, PKI_CERT_DAYS_DEFAULT, &days)) != EXIT_OK || (rc = out_dir(dir)) != EXIT_OK)
        return rc;
    store *s;
    pki_ca ca;
    if ((rc = cli_ca_open(&loc, kek_flag, true, &s, &ca)) != EXIT_OK)
        return rc;
    store_cert latest;
    store_status status = store_cert_get_latest(s, args.v[0], &latest);
    if (status == STORE_OK) {
        pki_profile p = {latest.name, latest.role, latest.dns, latest.ip, days};
        rc = issue_and_write(s, &ca, &p, dir, true);
    } else if (status == STORE_NOT_FOUND) {
        cli_error("no certificate named %s (see: membershipd cert list)", args.v[0]);
        rc = EXIT_FAILED;
    } else {
        rc = cli_store_error(s, status, "find the certificate");
    }
    pki_ca_free(&ca);
    store_close(s);
    return rc;
}
