/* membershipd join URL --ca ca.crt --token-file FILE --name NAME --data-dir DIR:
 * a node's certificate from the bus CA, for a key made here (dev/pki.md). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>
#include "busauth/join_token.h"
#include "membershipd/config/cluster_config.h"
#include "membershipd/cli/pki_cli.h"

#define ANSWER_MAX (256 * 1024)
#define JOIN_TIMEOUT_S 30

typedef struct {
    char *data;
    size_t len;
} buffer;

static size_t on_body(char *ptr, size_t size, size_t n, void *ctx)
{
    buffer *b = ctx;
    size_t add = size * n;
    if (b->len + add > ANSWER_MAX)
        return 0;
    char *grown = realloc(b->data, b->len + add + 1);
    if (!grown)
        return 0;
    memcpy(grown + b->len, ptr, add);
    b->data = grown;
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/* The join request: the token's key signs a proof bound to this server,
 * this name and this key; the token itself stays here. */
static char *request_body(const char *token, const char *name, EVP_PKEY *key, const char *csr,
                          char server_nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1])
{
    char subject[65], proof[BUSAUTH_SIG_B64_LEN + 1], token_key_hex[2 * BUSAUTH_KEY_BYTES + 1];
    uint8_t token_key[BUSAUTH_KEY_BYTES];
    if (!pki_key_spki_sha256_hex(key, subject) ||
        !busauth_join_prove(token, strlen(token), "node", name, subject, server_nkey, token_key, proof))
        return NULL;
    sodium_bin2hex(token_key_hex, sizeof token_key_hex, token_key, sizeof token_key);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "role", "node", "token_key", token_key_hex, "proof", proof,
                          "name", name, "csr", csr);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

/* POSTs body to URL/v1/join, trusting only ca_file; *answer is the JSON. */
static int post_join(const char *url, const char *ca_file, const char *body, json_t **answer)
{
    char target[2048];
    snprintf(target, sizeof target, "%s/v1/join", url);
    CURL *curl = curl_easy_init();
    buffer b = {0};
    long http = 0;
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, target);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(curl, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L); /* never switched off */
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)JOIN_TIMEOUT_S);
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    *answer = b.data ? json_loads(b.data, 0, NULL) : NULL;
    free(b.data);
    if (rc != CURLE_OK) {
        cli_error("cannot reach %s: %s (is the URL https, and --ca the bus CA?)", target, curl_easy_strerror(rc));
        return EXIT_FAILED;
    }
    if (http != 201) {
        json_t *err = json_object_get(*answer, "error");
        cli_error("the server refused the join (%ld %s): %s", http,
                  json_string_value(json_object_get(err, "code")) ?: "", 
                  json_string_value(json_object_get(err, "message")) ?: "no detail");
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

typedef struct {
    const char *url, *ca, *token_file, *token_env, *name;
    store_location loc;
} join_flags;

/* The answer's certificate is for our key, from the CA we were given. */
static X509 *checked_certificate(json_t *answer, X509 *ca, EVP_PKEY *key, const char *server_nkey)
{
    const char *pem = json_string_value(json_object_get(answer, "certificate"));
    const char *ca_pem = json_string_value(json_object_get(answer, "ca"));
    const char *server = json_string_value(json_object_get(answer, "server_key"));
    X509 *cert = pem ? pki_cert_parse(pem, strlen(pem)) : NULL;
    X509 *their_ca = ca_pem ? pki_cert_parse(ca_pem, strlen(ca_pem)) : NULL;
    bool ok = cert && their_ca && X509_cmp(their_ca, ca) == 0 && pki_cert_issued_by(cert, ca) &&
              X509_check_private_key(cert, key) == 1 && server && strcmp(server, server_nkey) == 0;
    X509_free(their_ca);
    if (!ok) {
        X509_free(cert);
        cli_error("the server's answer is not a certificate for this key from the CA in --ca, or not from the server "
                  "the token names; nothing written");
        return NULL;
    }
    return cert;
}

/* The route keys the answer says the bus pins: the node pins them until
 * its store knows the bus's own (dev/cluster.md, "A node joining"). */
static bool save_route_pins(int tls, json_t *answer, char *err, size_t errlen)
{
    json_t *list = json_object_get(answer, "route_pins");
    char pins[CLUSTER_PINS_MAX][65];
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(list) && n < CLUSTER_PINS_MAX; i++) {
        const char *pin = json_string_value(json_array_get(list, i));
        if (!pin || strlen(pin) != 64 || strspn(pin, "0123456789abcdef") != 64) {
            snprintf(err, errlen, "the server's answer holds a route key that is not 64 lowercase hex");
            return false;
        }
        snprintf(pins[n++], sizeof pins[0], "%s", pin);
    }
    if (n == 0) {
        snprintf(err, errlen, "the server's answer names no route key to pin");
        return false;
    }
    return cli_route_pins_write(tls, (const char (*)[65])pins, n, err, errlen);
}

static int save(const char *dir, int tls, const join_flags *f, X509 *cert, EVP_PKEY *key, X509 *ca, json_t *answer)
{
    char info_path[PATH_MAX], err[1024];
    if (snprintf(info_path, sizeof info_path, "%s/join.json", dir) >= (int)sizeof info_path) {
        cli_error("data directory path too long");
        return EXIT_USAGE;
    }
    json_t *info = json_pack("{s:s, s:O, s:O, s:O, s:O}", "url", f->url, "name", json_object_get(answer, "name"),
                             "serial", json_object_get(answer, "serial"), "trust_domain",
                             json_object_get(answer, "trust_domain"), "server_key", json_object_get(answer, "server_key"));
    char *text = info ? json_dumps(info, JSON_INDENT(2)) : NULL;
    bool ok = text && cli_cert_files_write(tls, f->name, cert, key, ca, false, err, sizeof err) &&
              save_route_pins(tls, answer, err, sizeof err) &&
              pki_write_file_at(AT_FDCWD, info_path, text, 0600, err, sizeof err);
    if (ok)
        cli_cert_files_print(dir, f->name);
    else
        cli_error("%s; the server issued certificate %s for %s, which nothing holds now: have it revoked (membershipd "
                  "cert revoke %s)", text ? err : "out of memory", json_string_value(json_object_get(answer, "serial")),
                  f->name, json_string_value(json_object_get(answer, "serial")));
    free(text);
    json_decref(info);
    return ok ? EXIT_OK : EXIT_FAILED;
}

/* The token is single use: an earlier join's files, which save() would
 * never replace, are refused before it is spent on a certificate that
 * could not be written.  tls is DATA-DIR/tls, opened and locked. */
static int no_earlier_join(const char *dir, int tls, const char *name, X509 *ca)
{
    char key[NAME_MAX + 1], crt[NAME_MAX + 1], info[PATH_MAX + 16], err[PATH_MAX + 128];
    struct stat st;
    snprintf(key, sizeof key, "%s.key", name);
    snprintf(crt, sizeof crt, "%s.crt", name);
    snprintf(info, sizeof info, "%s/join.json", dir);
    const char *earlier = fstatat(tls, key, &st, AT_SYMLINK_NOFOLLOW) == 0   ? key
                        : fstatat(tls, crt, &st, AT_SYMLINK_NOFOLLOW) == 0   ? crt
                        : fstatat(AT_FDCWD, info, &st, AT_SYMLINK_NOFOLLOW) == 0 ? "join.json"
                        : NULL;
    if (earlier) {
        cli_error("%s holds an earlier join; nothing sent, the token is unspent (give another --data-dir; found %s)",
                  dir, earlier);
        return EXIT_FAILED;
    }
    if (!cli_ca_file_fits(tls, ca, err, sizeof err)) {
        cli_error("%s/tls: %s; nothing sent, the token is unspent (give another --data-dir)", dir, err);
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

static int join_with(const join_flags *f, const char *dir, int tls, const char *token, X509 *ca)
{
    char server_nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    EVP_PKEY *key = pki_key_generate();
    char *csr = key ? pki_csr_make(key, f->name) : NULL;
    if (!csr) {
        cli_error("cannot make a P-256 key and its certificate request");
        EVP_PKEY_free(key);
        return EXIT_FAILED;
    }
    char *body = request_body(token, f->name, key, csr, server_nkey);
    json_t *answer = NULL;
    int rc = body ? post_join(f->url, f->ca, body, &answer)
                  : (cli_error("that is not a join token (ubj1....); ask the operator for the output of membershipd "
                               "token create"), EXIT_USAGE);
    X509 *cert = rc == EXIT_OK ? checked_certificate(answer, ca, key, server_nkey) : NULL;
    if (rc == EXIT_OK)
        rc = cert ? save(dir, tls, f, cert, key, ca, answer) : EXIT_FAILED;
    if (rc == EXIT_OK)
        printf("joined %s as node %s; certificate serial %s\n", f->url, f->name,
               json_string_value(json_object_get(answer, "serial")));
    free(body);
    free(csr);
    X509_free(cert);
    EVP_PKEY_free(key);
    json_decref(answer);
    return rc;
}

/* DATA-DIR/tls, checked and locked as cert issue's --out, and nothing of
 * an earlier join there: all before the token is spent. */
static int prepare(const char *dir, const join_flags *f, X509 *ca, int *tls)
{
    char tls_dir[PATH_MAX];
    if (snprintf(tls_dir, sizeof tls_dir, "%s/tls", dir) >= (int)sizeof tls_dir) {
        cli_error("data directory path too long");
        return EXIT_USAGE;
    }
    int rc = cli_out_dir_open(tls_dir, tls);
    if (rc == EXIT_OK && (rc = no_earlier_join(dir, *tls, f->name, ca)) != EXIT_OK) {
        close(*tls);
        *tls = -1;
    }
    return rc;
}

int cmd_join(int argc, char **argv)
{
    join_flags f = {0};
    const cli_flag flags[] = {
        {"--ca", "FILE", &f.ca, NULL, "the bus CA's certificate (ca.crt): the only trust for the URL"},
        {"--token-file", "FILE", &f.token_file, NULL, "the node join token, in a file of yours (mode 0600)"},
        {"--token-env", "NAME", &f.token_env, NULL, "the environment variable holding the token"},
        {"--name", "NAME", &f.name, NULL, "this node's name (the token's, when it names one)"},
        STORE_LOCATION_FLAGS(f.loc),
        {0},
    };
    const cli_spec spec = {"join", "URL", "Join a bus as a node: make a P-256 key here, send a CSR with a node join\n"
                           "token, and write DATA-DIR/tls/NAME.crt, NAME.key, ca.crt and DATA-DIR/join.json.\n"
                           "The key never leaves this machine; DATA-DIR/tls/route-pins holds the route keys\n"
                           "the bus pins now.  The route secret is copied by the operator.",
                           flags, 1, 1};
    cli_args args;
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc != CLI_PROCEED)
        return rc;
    char url[2048];
    if (snprintf(url, sizeof url, "%s", args.v[0]) >= (int)sizeof url) {
        cli_error("the URL is too long");
        return EXIT_USAGE;
    }
    for (size_t n = strlen(url); n && url[n - 1] == '/'; n--)
        url[n - 1] = '\0'; /* URL/ is URL, as for libunibus */
    f.url = url;
    if (!f.ca || !f.name || !store_user_name_valid(f.name)) {
        cli_error("give --ca FILE (the bus CA) and --name NAME (letters, digits, '.', '_', '-')");
        return EXIT_USAGE;
    }
    char token[BUSAUTH_JOIN_TOKEN_LEN + 64], dir[4096], err[4200];
    X509 *ca = NULL;
    if ((rc = cli_read_secret("token", f.token_file, f.token_env, token, sizeof token)) == EXIT_OK &&
        (rc = cli_data_dir(&f.loc, STORE_OPEN_CREATE, dir)) == EXIT_OK && !(ca = pki_cert_read(f.ca, err, sizeof err))) {
        cli_error("%s", err);
        rc = EXIT_USAGE;
    }
    int tls = -1;
    if (rc == EXIT_OK)
        rc = prepare(dir, &f, ca, &tls);
    if (rc == EXIT_OK)
        rc = join_with(&f, dir, tls, token, ca);
    if (tls >= 0)
        close(tls);
    sodium_memzero(token, sizeof token);
    X509_free(ca);
    return rc;
}
