/* The pki layer: the KEK file, the sealed CA key (and that the database
 * never holds it in the clear), serials, profiles, lifetimes, join tokens,
 * CSRs and the join request parser, each against what an attacker would
 * hand it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sodium.h>
#include "busauth/identity.h"
#include "busauth/nkey.h"
#include "membershipd/pki/pki_internal.h"
#include "membershipd/store/store.h"
#include "testutil.h"

static const store_actor BY = {"local:test", NULL, NULL};

typedef struct {
    char dir[PATH_MAX];
    char db[PATH_MAX + 32];
    char kek_path[PATH_MAX + 32];
    uint8_t kek[PKI_KEK_BYTES];
    store *s;
} world;

static int setup(void **state)
{
    static world w;
    char err[512];
    test_make_temp_dir(w.dir);
    snprintf(w.db, sizeof w.db, "%s/membership.db", w.dir);
    snprintf(w.kek_path, sizeof w.kek_path, "%s/" PKI_KEK_FILE, w.dir);
    if (store_open(w.db, STORE_OPEN_CREATE, &w.s, err, sizeof err) != STORE_OK ||
        !pki_kek_create(w.kek_path, w.kek, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = &w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    store_close(w->s);
    test_remove_tree(w->dir);
    return 0;
}

static void make_ca(world *w, pki_ca *ca)
{
    char err[512];
    assert_true(pki_ca_init(w->s, "bus.test", 30, w->kek, &BY, ca, err, sizeof err));
    assert_non_null(ca->key);
}

/* ---- the KEK file ---------------------------------------------------------- */

static void kek_is_created_0600_and_never_replaced(void **state)
{
    world *w = *state;
    char err[512];
    assert_int_equal(test_file_mode(w->kek_path), 0600);
    uint8_t again[PKI_KEK_BYTES], loaded[PKI_KEK_BYTES];
    assert_false(pki_kek_create(w->kek_path, again, err, sizeof err));
    assert_non_null(strstr(err, "File exists"));
    assert_true(pki_kek_load(w->kek_path, loaded, err, sizeof err));
    assert_memory_equal(loaded, w->kek, PKI_KEK_BYTES); /* the refused create left it alone */
}

/* Writes text as a KEK file candidate and says whether it loads. */
static bool loads(const world *w, const char *text, int mode)
{
    char path[PATH_MAX + 32], err[512];
    uint8_t kek[PKI_KEK_BYTES];
    snprintf(path, sizeof path, "%s/candidate.kek", w->dir);
    unlink(path);
    test_write_file(path, text, mode);
    chmod(path, (mode_t)mode);
    return pki_kek_load(path, kek, err, sizeof err);
}

static void kek_load_refuses_what_is_not_a_private_kek(void **state)
{
    world *w = *state;
    char good[128], hex[2 * PKI_KEK_BYTES + 1];
    sodium_bin2hex(hex, sizeof hex, w->kek, PKI_KEK_BYTES);
    snprintf(good, sizeof good, "unibus-ca-kek-1\n%s\n", hex);
    assert_true(loads(w, good, 0600));
    assert_true(loads(w, good, 0400));
    assert_false(loads(w, good, 0640));
    assert_false(loads(w, good, 0604));
    char text[160];
    snprintf(text, sizeof text, "unibus-ca-kek-2\n%s\n", hex);
    assert_false(loads(w, text, 0600));       /* another header */
    snprintf(text, sizeof text, "unibus-ca-kek-1\n%s\n\n", hex);
    assert_false(loads(w, text, 0600));       /* one byte too long */
    snprintf(text, sizeof text, "unibus-ca-kek-1\n%.62s\n", hex);
    assert_false(loads(w, text, 0600));       /* too short */
    snprintf(text, sizeof text, "unibus-ca-kek-1\n%.63sg\n", hex);
    assert_false(loads(w, text, 0600));       /* not hex */

    char link[PATH_MAX + 32], err[512];
    uint8_t kek[PKI_KEK_BYTES];
    snprintf(link, sizeof link, "%s/link.kek", w->dir);
    assert_int_equal(symlink(w->kek_path, link), 0);
    assert_false(pki_kek_load(link, kek, err, sizeof err));
    assert_false(pki_kek_create(link, kek, err, sizeof err)); /* nor written through */
    assert_true(pki_kek_load(w->kek_path, kek, err, sizeof err));
    assert_memory_equal(kek, w->kek, PKI_KEK_BYTES);
}

/* ---- the sealed CA key ------------------------------------------------------ */

static void sealed_key_opens_only_with_its_kek_and_trust_domain(void **state)
{
    world *w = *state;
    EVP_PKEY *key = pki_key_generate();
    size_t len;
    uint8_t *sealed = pki_key_seal(w->kek, "bus.test", key, &len);
    assert_non_null(sealed);
    EVP_PKEY *opened = pki_key_open(w->kek, "bus.test", sealed, len);
    assert_non_null(opened);
    assert_int_equal(EVP_PKEY_eq(key, opened), 1);
    EVP_PKEY_free(opened);

    uint8_t other[PKI_KEK_BYTES];
    memcpy(other, w->kek, sizeof other);
    other[0] ^= 1;
    assert_null(pki_key_open(other, "bus.test", sealed, len));
    assert_null(pki_key_open(w->kek, "bus.test2", sealed, len)); /* the AD binds the trust domain */
    assert_null(pki_key_open(w->kek, "bus.tes", sealed, len));
    sealed[len - 1] ^= 1;
    assert_null(pki_key_open(w->kek, "bus.test", sealed, len));
    assert_null(pki_key_open(w->kek, "bus.test", sealed, 10)); /* shorter than a nonce and tag */
    free(sealed);
    EVP_PKEY_free(key);
}

static void ca_is_made_once_and_signs_only_with_the_kek(void **state)
{
    world *w = *state;
    pki_ca ca, again, shown, wrong;
    char err[512];
    make_ca(w, &ca);
    assert_false(pki_ca_init(w->s, "other.test", 30, w->kek, &BY, &again, err, sizeof err));

    assert_true(pki_ca_load(w->s, NULL, &shown, err, sizeof err));
    assert_null(shown.key);
    assert_int_equal(X509_cmp(shown.cert, ca.cert), 0);
    assert_string_equal(shown.trust_domain, "bus.test");
    pki_ca_free(&shown);

    uint8_t other[PKI_KEK_BYTES];
    randombytes_buf(other, sizeof other);
    assert_false(pki_ca_load(w->s, other, &wrong, err, sizeof err));
    assert_non_null(strstr(err, "key-encryption key"));

    pki_ca loaded;
    assert_true(pki_ca_load(w->s, w->kek, &loaded, err, sizeof err));
    assert_int_equal(EVP_PKEY_eq(loaded.key, ca.key), 1);
    pki_ca_free(&loaded);
    pki_ca_free(&ca);
}

/* ---- no CA key in the clear in the database --------------------------------- */

static bool file_holds(const char *path, const void *needle, size_t len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    unsigned char *data = malloc(size > 0 ? (size_t)size : 1);
    bool found = false;
    if (data && fread(data, 1, (size_t)size, f) == (size_t)size)
        found = memmem(data, (size_t)size, needle, len) != NULL;
    free(data);
    fclose(f);
    return found;
}

typedef struct {
    uint8_t scalar[32];
    unsigned char *der;
    int der_len;
} key_bytes;

static bool db_holds_key(const world *w, const key_bytes *k)
{
    char wal[PATH_MAX + 64];
    snprintf(wal, sizeof wal, "%s-wal", w->db);
    const char *files[] = {w->db, wal};
    bool found = false;
    for (int i = 0; i < 2; i++)
        found = found || file_holds(files[i], k->scalar, sizeof k->scalar) ||
                file_holds(files[i], k->der, (size_t)k->der_len) || file_holds(files[i], "PRIVATE KEY", 11);
    return found;
}

static void database_holds_no_ca_key_in_the_clear(void **state)
{
    world *w = *state;
    pki_ca ca;
    make_ca(w, &ca);
    key_bytes k = {0};
    BIGNUM *priv = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(ca.key, OSSL_PKEY_PARAM_PRIV_KEY, &priv), 1);
    assert_int_equal(BN_bn2binpad(priv, k.scalar, sizeof k.scalar), 32);
    BN_clear_free(priv);
    k.der_len = i2d_PrivateKey(ca.key, &k.der);
    assert_true(k.der_len > 32);
    pki_ca_free(&ca);

    assert_false(db_holds_key(w, &k)); /* the store open, its WAL as written */
    store_close(w->s);
    assert_false(db_holds_key(w, &k)); /* closed, checkpointed */

    /* The scan finds the key where it is. */
    char planted[PATH_MAX + 64];
    snprintf(planted, sizeof planted, "%s-wal", w->db);
    FILE *f = fopen(planted, "ab");
    assert_non_null(f);
    fwrite("junk", 1, 4, f);
    fwrite(k.scalar, 1, sizeof k.scalar, f);
    fclose(f);
    assert_true(db_holds_key(w, &k));
    unlink(planted);
    assert_false(db_holds_key(w, &k));

    char err[512];
    assert_int_equal(store_open(w->db, STORE_OPEN_EXISTING, &w->s, err, sizeof err), STORE_OK);
    OPENSSL_clear_free(k.der, (size_t)k.der_len);
}

/* ---- issuing ------------------------------------------------------------------ */

static void serials_are_16_random_positive_bytes(void **state)
{
    world *w = *state;
    pki_ca ca;
    make_ca(w, &ca);
    enum { N = 24 };
    char serials[N][STORE_CERT_SERIAL_LEN + 1];
    EVP_PKEY *key = pki_key_generate();
    char err[512];
    for (int i = 0; i < N; i++) {
        pki_profile p = {"node1", STORE_CERT_NODE, "node1.bus.test", "127.0.0.1", 90};
        X509 *cert;
        store_cert record;
        assert_true(pki_issue(&ca, key, &p, &cert, &record, err, sizeof err));
        BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
        assert_false(BN_is_negative(serial));
        assert_false(BN_is_zero(serial));
        assert_true(BN_num_bytes(serial) <= 16);
        BN_free(serial);
        assert_int_equal(strlen(record.serial), 32);
        char hex[80];
        pki_cert_serial_hex(cert, hex, sizeof hex);
        assert_string_equal(hex, record.serial);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(serials[j], record.serial);
        snprintf(serials[i], sizeof serials[i], "%s", record.serial);
        assert_true(pki_cert_issued_by(cert, ca.cert));
        X509_free(cert);
    }
    EVP_PKEY_free(key);
    pki_ca_free(&ca);
}

/* A certificate never outlives the CA that signed it: past the CA's
 * end, no chain verifies, while the certificate's own lifetime would say
 * nothing is due. */
static void certificates_end_no_later_than_the_ca(void **state)
{
    world *w = *state;
    pki_ca ca;
    make_ca(w, &ca); /* 30 days */
    EVP_PKEY *key = pki_key_generate();
    pki_profile p = {"node1", STORE_CERT_NODE, "", "", 90};
    X509 *cert;
    store_cert record;
    char err[512];
    assert_true(pki_issue(&ca, key, &p, &cert, &record, err, sizeof err));
    assert_true(ASN1_TIME_compare(X509_get0_notAfter(cert), X509_get0_notAfter(ca.cert)) <= 0);
    pki_lifetime leaf, root;
    assert_true(pki_cert_lifetime(cert, 0, &leaf));
    assert_true(pki_cert_lifetime(ca.cert, 0, &root));
    assert_int_equal(record.not_after_ms, leaf.not_after * 1000);
    assert_true(leaf.not_after <= root.not_after);
    X509_free(cert);

    p.days = 7; /* shorter than the CA: as asked */
    assert_true(pki_issue(&ca, key, &p, &cert, &record, err, sizeof err));
    assert_true(pki_cert_lifetime(cert, 0, &leaf));
    assert_true(leaf.not_after < root.not_after);
    assert_true(leaf.not_after - (int64_t)time(NULL) > 6 * 86400);
    X509_free(cert);

    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(ca.cert), -60)); /* the CA as it will be, expired */
    assert_false(pki_issue(&ca, key, &p, &cert, &record, err, sizeof err));
    assert_non_null(strstr(err, "expired"));
    assert_null(cert);
    EVP_PKEY_free(key);
    pki_ca_free(&ca);
}

static bool profile_ok(const char *name, const char *dns, const char *ip, int days)
{
    char err[512];
    pki_profile p = {name, STORE_CERT_NODE, dns, ip, days};
    return pki_profile_valid(&p, err, sizeof err);
}

static void profiles_refuse_bad_names_addresses_and_days(void **state)
{
    (void)state;
    assert_true(profile_ok("node1", "", "", 90));
    assert_true(profile_ok("node1", "a.example,b-2.example", "10.0.0.1,::1", 1));
    assert_true(profile_ok("node1", "localhost", "", PKI_DAYS_MAX));
    assert_false(profile_ok("ca", "", "", 90)); /* ca.crt is the bus CA's file */
    assert_false(profile_ok("CA", "", "", 90));
    assert_true(profile_ok("ca1", "", "", 90));
    const char *bad_dns[] = {"-a.example", "a-.example", "a..example", "a.example.", ".a", "*.example",
                             "a_b.example", "a example", "a.example,", ",a.example", "a,,b"};
    for (size_t i = 0; i < sizeof bad_dns / sizeof *bad_dns; i++)
        assert_false(profile_ok("node1", bad_dns[i], "", 90));
    char long_label[80];
    memset(long_label, 'a', 64);
    long_label[64] = '\0';
    assert_false(profile_ok("node1", long_label, "", 90));
    long_label[63] = '\0';
    assert_true(profile_ok("node1", long_label, "", 90));
    const char *bad_ip[] = {"1.2.3", "1.2.3.256", "10.0.0.1,", "::g", "localhost", "10.0.0.1/8", " 10.0.0.1"};
    for (size_t i = 0; i < sizeof bad_ip / sizeof *bad_ip; i++)
        assert_false(profile_ok("node1", "", bad_ip[i], 90));
    const char *bad_names[] = {"", "-node", "no de", "node/1", "../x"};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++)
        assert_false(profile_ok(bad_names[i], "", "", 90));
    assert_false(profile_ok("node1", "", "", 0));
    assert_false(profile_ok("node1", "", "", -1));
    assert_false(profile_ok("node1", "", "", PKI_DAYS_MAX + 1));
}

static void renewal_is_due_under_a_third_of_the_lifetime(void **state)
{
    world *w = *state;
    pki_ca ca;
    make_ca(w, &ca);
    pki_lifetime l;
    assert_true(pki_cert_lifetime(ca.cert, 0, &l));
    int64_t span = l.not_after - l.not_before;
    assert_true(span > 0);
    assert_int_equal(l.renew_at, l.not_after - span / 3);
    assert_true(pki_cert_lifetime(ca.cert, l.renew_at - 1, &l)); /* a second before: not due */
    assert_int_equal(l.seconds_left, span / 3 + 1);
    assert_false(l.renew_due);
    assert_true(pki_cert_lifetime(ca.cert, l.renew_at, &l));     /* a third left: due */
    assert_int_equal(l.seconds_left, span / 3);
    assert_true(l.renew_due);
    assert_true(pki_cert_lifetime(ca.cert, l.not_after + 1, &l));
    assert_int_equal(l.seconds_left, -1);
    assert_true(l.renew_due);
    assert_true(pki_cert_lifetime(ca.cert, l.not_before, &l));
    assert_false(l.renew_due);
    pki_ca_free(&ca);
}

/* ---- join tokens ------------------------------------------------------------------ */

static void server_nkey(char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1])
{
    busauth_identity *id;
    assert_int_equal(busauth_identity_generate(&id), BUSAUTH_OK);
    busauth_nkey_encode_public(busauth_identity_public_key(id), nkey);
    busauth_identity_free(id);
}

static bool token_parses(const char *text)
{
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    uint8_t secret[BUSAUTH_JOIN_SECRET_BYTES];
    return busauth_join_token_split(text, strlen(text), nkey, secret);
}

/* What a joiner sends for a token: the server it names, the token key's
 * public half, a proof for this role, name and subject. */
typedef struct {
    char server[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    uint8_t key[BUSAUTH_KEY_BYTES];
    char proof[BUSAUTH_SIG_B64_LEN + 1];
} join_claim;

static bool prove(const char *text, const char *role, const char *name, const char *subject, join_claim *out)
{
    return busauth_join_prove(text, strlen(text), role, name, subject, out->server, out->key, out->proof);
}

static void tokens_round_trip_and_refuse_anything_else(void **state)
{
    (void)state;
    char server[BUSAUTH_NKEY_PUBLIC_LEN + 1], joiner[BUSAUTH_NKEY_PUBLIC_LEN + 1], text[BUSAUTH_JOIN_TOKEN_LEN + 1],
        other[BUSAUTH_JOIN_TOKEN_LEN + 1];
    uint8_t key[BUSAUTH_KEY_BYTES], other_key[BUSAUTH_KEY_BYTES];
    server_nkey(server);
    server_nkey(joiner);
    assert_true(busauth_join_token_make(server, text, key));
    assert_true(busauth_join_token_make(server, other, other_key));
    assert_int_equal(strlen(text), BUSAUTH_JOIN_TOKEN_LEN);
    assert_int_equal(strncmp(text, "ubj1.", 5), 0);
    assert_memory_not_equal(key, other_key, BUSAUTH_KEY_BYTES);

    join_claim c;
    assert_true(prove(text, "member", "", joiner, &c));
    assert_string_equal(c.server, server);
    assert_memory_equal(c.key, key, BUSAUTH_KEY_BYTES); /* the store's key is the one that proves */
    assert_true(busauth_join_proof_verify(key, server, "member", "", joiner, c.proof));
    /* The proof binds the server, the role, the name and the joiner's key. */
    assert_false(busauth_join_proof_verify(key, joiner, "member", "", joiner, c.proof));
    assert_false(busauth_join_proof_verify(key, server, "node", "", joiner, c.proof));
    assert_false(busauth_join_proof_verify(key, server, "member", "mallory", joiner, c.proof));
    assert_false(busauth_join_proof_verify(key, server, "member", "", server, c.proof));
    assert_false(busauth_join_proof_verify(other_key, server, "member", "", joiner, c.proof));
    char padded[BUSAUTH_JOIN_TOKEN_LEN + 8];
    snprintf(padded, sizeof padded, " %s\n", text);
    join_claim again;
    assert_true(prove(padded, "member", "", joiner, &again));
    assert_memory_equal(again.key, key, BUSAUTH_KEY_BYTES);

    char bad[BUSAUTH_JOIN_TOKEN_LEN + 8];
    snprintf(bad, sizeof bad, "ubj2%s", text + 4);
    assert_false(token_parses(bad));                 /* another prefix */
    snprintf(bad, sizeof bad, "%.*s", (int)BUSAUTH_JOIN_TOKEN_LEN - 1, text);
    assert_false(token_parses(bad));                 /* a character short */
    snprintf(bad, sizeof bad, "%sA", text);
    assert_false(token_parses(bad));                 /* one too many */
    snprintf(bad, sizeof bad, "%s", text);
    bad[10] = bad[10] == 'A' ? 'B' : 'A';
    assert_false(token_parses(bad));                 /* the server key's checksum breaks */
    snprintf(bad, sizeof bad, "%s", text);
    bad[5] = 'S';                                    /* a seed's prefix, not a server's key */
    assert_false(token_parses(bad));
    const char not_b64[] = {'+', '/', '=', '.', ' ', '\0'};
    for (size_t i = 0; i + 1 < sizeof not_b64; i++) {
        snprintf(bad, sizeof bad, "%s", text);
        bad[BUSAUTH_JOIN_TOKEN_LEN - 10] = not_b64[i];
        assert_false(token_parses(bad));
        assert_false(prove(bad, "member", "", joiner, &c));
    }
    snprintf(bad, sizeof bad, "%s", text);
    bad[5 + BUSAUTH_NKEY_PUBLIC_LEN] = '_';          /* the dot between key and secret */
    assert_false(token_parses(bad));
    assert_false(token_parses(""));
}

/* ---- certificate signing requests ------------------------------------------------ */

static EVP_PKEY *csr_key(const char *pem)
{
    char err[512];
    return pki_csr_public_key(pem, strlen(pem), err, sizeof err);
}


static void csrs_must_be_signed_p256_and_small(void **state)
{
    (void)state;
    EVP_PKEY *key = pki_key_generate();
    char *pem = pki_csr_make(key, "node1");
    EVP_PKEY *got = csr_key(pem);
    assert_non_null(got);
    assert_int_equal(EVP_PKEY_eq(got, key), 1);
    EVP_PKEY_free(got);

    char *broken = test_csr_with_broken_signature(pem);
    assert_string_not_equal(broken, pem);
    char err[512];
    assert_null(pki_csr_public_key(broken, strlen(broken), err, sizeof err));
    assert_non_null(strstr(err, "not signed by its own key"));
    free(broken);

    EVP_PKEY *p384 = EVP_EC_gen("P-384");
    char *p384_pem = pki_csr_make(p384, "node1");
    assert_null(pki_csr_public_key(p384_pem, strlen(p384_pem), err, sizeof err));
    assert_non_null(strstr(err, "P-256"));
    EVP_PKEY *rsa = EVP_RSA_gen(2048);
    char *rsa_pem = pki_csr_make(rsa, "node1");
    assert_null(csr_key(rsa_pem));
    free(p384_pem);
    free(rsa_pem);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(rsa);

    assert_null(csr_key("garbage"));
    assert_null(csr_key(""));
    assert_null(csr_key("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"));
    char cert_not_csr[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    assert_null(csr_key(cert_not_csr));

    size_t big = PKI_PEM_MAX + 1;
    char *padded = malloc(big + 1);
    memset(padded, '\n', big);
    memcpy(padded, pem, strlen(pem));
    padded[big] = '\0';
    assert_null(pki_csr_public_key(padded, big, err, sizeof err));   /* a good CSR, too much around it */
    assert_non_null(strstr(err, "over"));
    got = pki_csr_public_key(padded, PKI_PEM_MAX, err, sizeof err); /* the same at the bound: taken */
    assert_non_null(got);
    EVP_PKEY_free(got);
    free(padded);
    free(pem);
    EVP_PKEY_free(key);
}

/* ---- the join request ---------------------------------------------------------- */

static bool join_parses(const char *body)
{
    pki_join_request jr;
    char err[512];
    bool ok = pki_join_request_parse(body, strlen(body), &jr, err, sizeof err);
    pki_join_request_free(&jr);
    return ok;
}

/* template with each '@' replaced by fields. */
static void fill_template(const char *template, const char *fields, char *out, size_t cap)
{
    size_t n = 0, fields_len = strlen(fields);
    for (const char *at = template; *at && n + fields_len + 1 < cap; at++) {
        if (*at == '@') {
            memcpy(out + n, fields, fields_len);
            n += fields_len;
        } else {
            out[n++] = *at;
        }
    }
    out[n] = '\0';
}

static void join_requests_take_only_what_they_should(void **state)
{
    (void)state;
    char server[BUSAUTH_NKEY_PUBLIC_LEN + 1], joiner[BUSAUTH_NKEY_PUBLIC_LEN + 1], token[BUSAUTH_JOIN_TOKEN_LEN + 1];
    char key_hex[2 * BUSAUTH_KEY_BYTES + 1], fields[256], body[2048];
    uint8_t key[BUSAUTH_KEY_BYTES];
    server_nkey(server);
    server_nkey(joiner);
    assert_true(busauth_join_token_make(server, token, key));
    join_claim c;
    assert_true(prove(token, "member", "", joiner, &c));
    sodium_bin2hex(key_hex, sizeof key_hex, key, sizeof key);
    snprintf(fields, sizeof fields, "\"token_key\":\"%s\",\"proof\":\"%s\"", key_hex, c.proof);

    pki_join_request jr;
    char err[512];
    fill_template("{\"role\":\"member\",@}", fields, body, sizeof body);
    assert_true(pki_join_request_parse(body, strlen(body), &jr, err, sizeof err));
    assert_int_equal(jr.role, STORE_TOKEN_MEMBER);
    assert_memory_equal(jr.token_key, key, BUSAUTH_KEY_BYTES);
    assert_string_equal(jr.proof, c.proof);
    assert_null(jr.csr_pem);
    pki_join_request_free(&jr);
    fill_template("{\"role\":\"node\",@,\"name\":\"n1\",\"csr\":\"PEM\"}", fields, body, sizeof body);
    assert_true(pki_join_request_parse(body, strlen(body), &jr, err, sizeof err));
    assert_int_equal(jr.role, STORE_TOKEN_NODE);
    assert_string_equal(jr.name, "n1");
    assert_string_equal(jr.csr_pem, "PEM");
    pki_join_request_free(&jr);

    const char *refused[] = {
        "{\"role\":\"member\",@,\"admin\":true}",                /* unknown field */
        "{\"role\":\"member\",@,\"role\":\"node\"}",             /* duplicate */
        "{\"role\":\"member\",@,@}",
        "{\"role\":[\"member\"],@}",                              /* not strings */
        "{\"role\":\"node\",@,\"name\":\"n1\",\"csr\":null}",
        "{\"role\":\"node\",@,\"name\":7,\"csr\":\"PEM\"}",
        "{\"role\":\"member\",@,\"csr\":\"PEM\"}",                /* member with a csr */
        "{\"role\":\"member\",@,\"name\":\"mallory\"}",           /* member naming itself */
        "{\"role\":\"node\",@,\"name\":\"n1\"}",                  /* node without a csr */
        "{\"role\":\"node\",@,\"csr\":\"PEM\"}",                  /* node without a name */
        "{\"role\":\"node\",@,\"name\":\"../x\",\"csr\":\"PEM\"}",
        "{\"role\":\"admin\",@}",
        "{\"role\":\"member\"}@",
        "[\"member\",@]",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        fill_template(refused[i], fields, body, sizeof body);
        assert_false(join_parses(body));
    }
    /* The token itself is never a field; a token key or proof out of shape. */
    snprintf(body, sizeof body, "{\"role\":\"member\",\"token\":\"%s\"}", token);
    assert_false(join_parses(body));
    snprintf(body, sizeof body, "{\"role\":\"member\",\"token_key\":\"%.62s\",\"proof\":\"%s\"}", key_hex, c.proof);
    assert_false(join_parses(body));
    snprintf(body, sizeof body, "{\"role\":\"member\",\"token_key\":\"%.63sg\",\"proof\":\"%s\"}", key_hex, c.proof);
    assert_false(join_parses(body));
    snprintf(body, sizeof body, "{\"role\":\"member\",\"token_key\":\"%s\",\"proof\":\"%.20s\"}", key_hex, c.proof);
    assert_false(join_parses(body));
    snprintf(body, sizeof body, "{\"role\":\"member\",\"token_key\":\"%s\",\"proof\":\"%s\\u0000\"}", key_hex,
             c.proof);
    assert_false(join_parses(body));
    assert_false(join_parses(""));
    assert_false(join_parses("{}"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(kek_is_created_0600_and_never_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(kek_load_refuses_what_is_not_a_private_kek, setup, teardown),
        cmocka_unit_test_setup_teardown(sealed_key_opens_only_with_its_kek_and_trust_domain, setup, teardown),
        cmocka_unit_test_setup_teardown(ca_is_made_once_and_signs_only_with_the_kek, setup, teardown),
        cmocka_unit_test_setup_teardown(database_holds_no_ca_key_in_the_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(serials_are_16_random_positive_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(certificates_end_no_later_than_the_ca, setup, teardown),
        cmocka_unit_test(profiles_refuse_bad_names_addresses_and_days),
        cmocka_unit_test_setup_teardown(renewal_is_due_under_a_third_of_the_lifetime, setup, teardown),
        cmocka_unit_test(tokens_round_trip_and_refuse_anything_else),
        cmocka_unit_test(csrs_must_be_signed_p256_and_small),
        cmocka_unit_test(join_requests_take_only_what_they_should),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
