/* membershipd cert issue | list | info | revoke | renew (dev/pki.md). */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>
#include "membershipd/cli/store_change.h"
#include "membershipd/config/cluster_config.h"
#include "membershipd/store/store_pki.h"
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

/* Refuses before anything is issued when the files are there already. */
static int files_absent(int dir, const char *dir_path, const char *name)
{
    char file[NAME_MAX + 1];
    const char *exts[] = {"key", "crt"};
    struct stat st;
    for (int i = 0; i < 2; i++) {
        snprintf(file, sizeof file, "%s.%s", name, exts[i]);
        if (fstatat(dir, file, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            cli_error("%s/%s exists; nothing issued (to replace it: membershipd cert renew %s --out %s)", dir_path,
                      file, name, dir_path);
            return EXIT_FAILED;
        }
    }
    return EXIT_OK;
}

typedef struct {
    int fd;
    const char *path;
} out_dir;

/* A certificate the files do not hold is revoked: the store lists no valid
 * certificate that nothing holds (dev/pki.md, "Renewal and revocation"). */
static int write_or_revoke(store *s, const out_dir *out, const char *name, X509 *cert, EVP_PKEY *key, X509 *ca,
                           const store_cert *record, bool renewal)
{
    char err[1024];
    if (cli_cert_files_write(out->fd, name, cert, key, ca, renewal, err, sizeof err)) {
        cli_cert_files_print(out->path, name);
        printf("serial %s\n", record->serial);
        return EXIT_OK;
    }
    store_actor by = cli_local_actor();
    if (store_cert_revoke(s, record->serial, &by) == STORE_OK)
        cli_error("in %s: %s; certificate %s, issued for them, is revoked", out->path, err, record->serial);
    else
        cli_error("in %s: %s; and certificate %s, issued for them, could not be revoked: %s; run: membershipd cert "
                  "revoke %s", out->path, err, record->serial, store_errmsg(s), record->serial);
    return EXIT_FAILED;
}

/* A node's certificate comes with the keys the bus pins now: what it pins
 * until it has the bus's state. */
static int write_route_pins(store *s, const out_dir *out)
{
    char pins[CLUSTER_PINS_MAX][STORE_PIN_HEX_LEN + 1], err[512];
    size_t n = 0;
    if (store_cert_node_pins(s, (int64_t)time(NULL) * 1000, pins, CLUSTER_PINS_MAX, &n) != STORE_OK)
        return cli_store_error(s, STORE_ERROR, "list the node keys");
    if (!cli_route_pins_write(out->fd, (const char (*)[65])pins, n, err, sizeof err)) {
        cli_error("in %s: %s (the certificate is written; run cert issue again with another --out)", out->path, err);
        return EXIT_FAILED;
    }
    printf("%s/" CLI_ROUTE_PINS_FILE "\n", out->path);
    return EXIT_OK;
}

/* Issues, records, then writes: a certificate on disk is always one the
 * bus knows (and can revoke).  A renewal replaces the files. */
static int issue_and_write(store *s, const pki_ca *ca, const pki_profile *p, const out_dir *out, bool renewal)
{
    char err[4200];
    /* Refused first, so a refusal leaves neither files nor a record. */
    if (!cli_ca_file_fits(out->fd, ca->cert, err, sizeof err)) {
        cli_error("in %s: %s; nothing issued (give another --out)", out->path, err);
        return EXIT_FAILED;
    }
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
        rc = status == STORE_OK ? write_or_revoke(s, out, p->name, cert, key, ca->cert, &record, renewal)
             : status == STORE_DUPLICATE_NAME ? EXIT_FAILED : cli_store_error(s, status, "record the certificate");
        if (rc == EXIT_OK && p->role == STORE_CERT_NODE)
            rc = write_route_pins(s, out);
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
    out_dir out = {-1, dir};
    if ((rc = cli_out_dir_open(dir, &out.fd)) != EXIT_OK)
        return rc;
    store *s;
    pki_ca ca;
    if ((rc = files_absent(out.fd, dir, p.name)) == EXIT_OK &&
        (rc = cli_ca_open(&loc, kek_flag, true, &s, &ca)) == EXIT_OK) {
        rc = issue_and_write(s, &ca, &p, &out, false);
        pki_ca_free(&ca);
        cli_close_store_for_change(s);
    }
    close(out.fd);
    return rc;
}

static int renew_latest(store *s, const pki_ca *ca, const char *name, int days, const out_dir *out)
{
    store_cert latest;
    store_status status = store_cert_get_latest(s, name, true, &latest);
    if (status == STORE_NOT_FOUND && store_cert_get_latest(s, name, false, &latest) == STORE_OK) {
        cli_error("every certificate of %s is revoked: a revoked identity is not renewed (if you mean it, issue a new "
                  "one: membershipd cert issue %s ...)", latest.name, latest.name);
        return EXIT_FAILED;
    }
    if (status == STORE_OK) {
        pki_profile p = {latest.name, latest.role, latest.dns, latest.ip, days};
        return issue_and_write(s, ca, &p, out, true);
    }
    if (status != STORE_NOT_FOUND)
        return cli_store_error(s, status, "find the certificate");
    cli_error("no certificate named %s (see: membershipd cert list)", name);
    return EXIT_FAILED;
}

int cmd_cert_renew(int argc, char **argv)
{
    store_location loc = {0};
    const char *days_text = NULL, *dir = NULL, *kek_flag = NULL;
    const cli_flag flags[] = {
        {"--days", "N", &days_text, NULL, "lifetime (default 90)"},
        {"--out", "DIR", &dir, NULL, "where NAME.crt and NAME.key are replaced (both new, or neither)"},
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
    out_dir out = {-1, dir};
    if ((rc = cli_days(days_text, PKI_CERT_DAYS_DEFAULT, &days)) != EXIT_OK ||
        (rc = cli_out_dir_open(dir, &out.fd)) != EXIT_OK)
        return rc;
    store *s;
    pki_ca ca;
    if ((rc = cli_ca_open(&loc, kek_flag, true, &s, &ca)) == EXIT_OK) {
        rc = renew_latest(s, &ca, args.v[0], days, &out);
        pki_ca_free(&ca);
        cli_close_store_for_change(s);
    }
    close(out.fd);
    return rc;
}
