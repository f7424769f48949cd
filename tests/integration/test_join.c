/*
 * POST /v1/join against a real membershipd with a real CA and real token
 * rows (dev/pki.md, "Joining"), from the joiner's side and the attacker's:
 * a token buys one allowlist entry or one node certificate, once; every
 * refusal of a token reads the same and is audited with its reason; a
 * refused or failed join spends nothing; guessing is rate-limited.
 *
 * Each test calls from its own loopback address (127.0.0.N), so the
 * per-address join limit of one test does not decide another's; the
 * server-wide limit is waited out (Retry-After), as a client would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#include <cmocka.h>
#include <openssl/pem.h>
#include <sodium.h>
#include "busauth/nkey.h"
#include "busauth/seedfile.h"
#include "fixture.h"
#include "membershipd/http/server.h"
#include "membershipd/pki/pki_internal.h"
#include "testutil.h"
#include "unibus.h"

static fixture F;
static store *S;          /* the test's own connection to the server's database */
static pki_ca CA;         /* what the server signs with */
static const store_actor BY = {"local:test", NULL, NULL};
static char JOIN_REFUSED_BODY[1024];

static int setup(void **state)
{
    (void)state;
    char db[PATH_MAX + 64], kek_path[PATH_MAX + 64], err[512];
    uint8_t kek[PKI_KEK_BYTES];
    if (fixture_start(&F, NULL) != 0)
        return -1;
    snprintf(db, sizeof db, "%s/membership.db", F.data_dir);
    snprintf(kek_path, sizeof kek_path, "%s/" PKI_KEK_FILE, F.data_dir);
    bool ok = store_open(db, STORE_OPEN_EXISTING, &S, err, sizeof err) == STORE_OK &&
              pki_kek_create(kek_path, kek, err, sizeof err) &&
              pki_ca_init(S, "bus.test", 30, kek, &BY, &CA, err, sizeof err);
    sodium_memzero(kek, sizeof kek);
    if (!ok)
        fprintf(stderr, "%s\n", err);
    return ok ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    pki_ca_free(&CA);
    store_close(S);
    return fixture_stop(&F);
}

/* ---- tokens, as `membershipd token create` makes them ---------------------- */

typedef struct {
    char text[BUSAUTH_JOIN_TOKEN_LEN + 1];
    uint8_t key[32]; /* the token key's public half: all the store keeps */
} token;

/* The secret part of a token is what no log may hold. */
static void record_token(const token *t)
{
    fixture_record_secret(strrchr(t->text, '.') + 1);
}

/* A token for server_nkey (NULL: this server) that the store does not hold. */
static token unknown_token(const char *server_nkey)
{
    token t;
    assert_true(busauth_join_token_make(server_nkey ? server_nkey : F.server_nkey, t.text, t.key));
    record_token(&t);
    return t;
}

/* A token row in s (the database of the server whose key is server_nkey). */
static token mint_in(store *s, const char *server_nkey, store_token_role role, const char *name, const char *dns,
                     const char *ip, int64_t expires_in_ms)
{
    token t = unknown_token(server_nkey);
    store_token row = {.role = role, .created_ms = store_now_ms(), .expires_ms = store_now_ms() + expires_in_ms};
    memcpy(row.key, t.key, sizeof row.key);
    snprintf(row.name, sizeof row.name, "%s", name);
    snprintf(row.dns, sizeof row.dns, "%s", dns);
    snprintf(row.ip, sizeof row.ip, "%s", ip);
    assert_int_equal(store_token_add(s, &row, &BY), STORE_OK);
    return t;
}

static token mint(store_token_role role, const char *name, const char *dns, const char *ip, int64_t expires_in_ms)
{
    return mint_in(S, F.server_nkey, role, name, dns, ip, expires_in_ms);
}

static token member_token(const char *name)
{
    return mint(STORE_TOKEN_MEMBER, name, "", "", 3600 * 1000);
}

static token node_token(const char *name)
{
    return mint(STORE_TOKEN_NODE, name, "node.bus.test", "127.0.0.1", 3600 * 1000);
}

static bool spent(const token *t)
{
    store_token row;
    assert_int_equal(store_token_get(S, t->key, &row), STORE_OK);
    return row.used_ms != 0;
}

/* ---- calls ------------------------------------------------------------------ */

/* A loopback address of the test's own: its join limit is the test's. */
static const char *fresh_address(void)
{
    static char addresses[32][16];
    static int next = 10;
    char *a = addresses[next % 32];
    snprintf(a, 16, "127.0.0.%d", next++);
    return a;
}

/* The answer's status is status; the answer is released. */
static void expect_status(http_result r, long status)
{
    assert_int_equal(r.status, status);
    http_result_free(&r);
}

/* A join, again while the address's join limit says 429 (waiting what
 * Retry-After says), as a client would: tests of other things than that
 * limit get their answer. */
static http_result post_join_opts(fixture *f, const http_opts *opts, const char *body)
{
    http_result r = fixture_call_opts(f, opts, "POST", "/v1/join", body, strlen(body));
    for (int tries = 0; r.status == 429 && tries < 120; tries++) {
        int wait_s = atoi(r.retry_after);
        http_result_free(&r);
        sleep((unsigned)(wait_s > 0 ? wait_s : 1));
        r = fixture_call_opts(f, opts, "POST", "/v1/join", body, strlen(body)); /* refused before its nonce counted */
    }
    return r;
}

static http_result post_join_to(fixture *f, const busauth_identity *id, const char *from, const char *body)
{
    http_opts opts = {.id = id, .source_ip = from};
    return post_join_opts(f, &opts, body);
}

static http_result post_join(const busauth_identity *id, const char *from, const char *body)
{
    return post_join_to(&F, id, from, body);
}

/* The body a joiner sends: the token key's public half and its proof for
 * this role, name and subject (the joiner's nkey, or its CSR key's SPKI
 * hash); never the token. */
static char *join_body(const token *t, const char *role, const char *name, const char *subject, const char *csr)
{
    char token_server[57], proof[BUSAUTH_SIG_B64_LEN + 1], key_hex[65];
    uint8_t key[32];
    assert_true(busauth_join_prove(t->text, strlen(t->text), role, name, subject, token_server, key, proof));
    sodium_bin2hex(key_hex, sizeof key_hex, key, sizeof key);
    json_t *o = json_pack("{s:s, s:s, s:s}", "role", role, "token_key", key_hex, "proof", proof);
    if (name[0])
        json_object_set_new(o, "name", json_string(name));
    if (csr)
        json_object_set_new(o, "csr", json_string(csr));
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return body;
}

/* A member join's body, its proof for id's key (NULL: a stranger's). */
static char *member_body(const token *t, const busauth_identity *id)
{
    char nkey[57] = "UNSIGNED";
    if (id)
        busauth_nkey_encode_public(busauth_identity_public_key(id), nkey);
    return join_body(t, "member", "", nkey, NULL);
}

static http_result join_member(const busauth_identity *id, const char *from, const token *t)
{
    char *body = member_body(t, id);
    http_result r = post_join(id, from, body);
    free(body);
    return r;
}

/* A node join for key (whose SPKI the proof binds) with csr, which is
 * normally key's own. */
static http_result join_node_on(fixture *f, const char *from, const token *t, const char *name, EVP_PKEY *key,
                                const char *csr)
{
    char subject[65];
    assert_true(pki_key_spki_sha256_hex(key, subject));
    char *body = join_body(t, "node", name, subject, csr);
    http_result r = post_join_to(f, NULL, from, body);
    free(body);
    return r;
}

static http_result join_node(const char *from, const token *t, const char *name, EVP_PKEY *key, const char *csr)
{
    return join_node_on(&F, from, t, name, key, csr);
}

static busauth_identity *new_identity(void)
{
    busauth_identity *id;
    assert_int_equal(busauth_identity_generate(&id), BUSAUTH_OK);
    fixture_record_identity(id);
    return id;
}

static const char *error_message(const http_result *r)
{
    const char *m = json_string_value(json_object_get(json_object_get(r->json, "error"), "message"));
    return m ? m : "";
}

static long audited(const char *reason)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "token:%%:%s", reason);
    return fixture_db_count(&F, "SELECT count(*) FROM audit_log WHERE action LIKE 'join.%' AND target LIKE ?",
                            pattern);
}

static bool user_exists(const char *name, const busauth_identity *id)
{
    store_user u;
    return store_user_get_by_name(S, name, &u) == STORE_OK &&
           memcmp(u.public_key, busauth_identity_public_key(id), 32) == 0 && !u.revoked_ms;
}

/* ---- member joins ----------------------------------------------------------- */

static void a_member_joins_with_libunibus_and_is_who_the_token_says(void **state)
{
    (void)state;
    token t = member_token("dave");
    char dir[PATH_MAX], seed[PATH_MAX + 32], nkey[57], pinned[57];
    test_make_temp_dir(dir);
    snprintf(seed, sizeof seed, "%s/dave.seed", dir);
    assert_int_equal(unibus_identity_create(seed, nkey), UNIBUS_OK);
    assert_int_equal(unibus_join_token_server_key(t.text, pinned), UNIBUS_OK);
    assert_string_equal(pinned, F.server_nkey);

    unibus_config cfg = {.url = F.server.base_url, .identity_file = seed, .server_key = pinned};
    unibus_client *c;
    assert_int_equal(unibus_client_open(&cfg, &c), UNIBUS_OK);
    unibus_user me;
    assert_int_equal(unibus_client_join(c, t.text, &me), UNIBUS_OK);
    assert_string_equal(me.name, "dave");
    assert_string_equal(me.nkey, nkey);
    assert_false(me.admin);
    unibus_user who;
    assert_int_equal(unibus_client_whoami(c, &who), UNIBUS_OK);
    assert_string_equal(who.name, "dave");
    assert_string_equal(who.nkey, nkey);
    unibus_client_close(c);

    busauth_identity *dave;
    assert_int_equal(busauth_seedfile_load(seed, &dave), BUSAUTH_OK);
    fixture_record_identity(dave);
    assert_true(user_exists("dave", dave));
    busauth_identity_free(dave);
    assert_true(spent(&t));
    test_remove_tree(dir);
}

/* A token names its server: libunibus sends it to no other, even when
 * told to (a phished URL). */
static void libunibus_sends_a_token_only_to_its_server(void **state)
{
    (void)state;
    busauth_identity *elsewhere = new_identity();
    char other_server[57], dir[PATH_MAX], seed[PATH_MAX + 32], nkey[57];
    busauth_nkey_encode_public(busauth_identity_public_key(elsewhere), other_server);
    token foreign = unknown_token(other_server);
    test_make_temp_dir(dir);
    snprintf(seed, sizeof seed, "%s/id.seed", dir);
    assert_int_equal(unibus_identity_create(seed, nkey), UNIBUS_OK);
    unibus_config cfg = {.url = F.server.base_url, .identity_file = seed, .server_key = F.server_nkey};
    unibus_client *c;
    assert_int_equal(unibus_client_open(&cfg, &c), UNIBUS_OK);
    long before = fixture_db_count(&F, "SELECT count(*) FROM audit_log WHERE action LIKE 'join.%'", NULL);
    unibus_user me;
    assert_int_equal(unibus_client_join(c, foreign.text, &me), UNIBUS_ERR_SERVER_KEY);
    assert_non_null(strstr(unibus_client_error(c), "this token is for server"));
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM audit_log WHERE action LIKE 'join.%'", NULL), before);
    unibus_client_close(c);

    cfg.server_key = other_server; /* pinned to the token's, the URL another's: no connection at all */
    unibus_client_open(&cfg, &c);
    assert_int_not_equal(unibus_client_join(c, foreign.text, &me), UNIBUS_OK);
    unibus_client_close(c);
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM audit_log WHERE action LIKE 'join.%'", NULL), before);
    busauth_identity_free(elsewhere);
    test_remove_tree(dir);
}

static void a_token_is_spent_once(void **state)
{
    (void)state;
    const char *from = fresh_address();
    token t = member_token("erin");
    busauth_identity *first = new_identity(), *second = new_identity();
    http_result r = join_member(first, from, &t);
    assert_int_equal(r.status, 201);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "user"), "name")), "erin");
    assert_true(http_response_verifies(F.server_key, &r));
    http_result_free(&r);
    long before = audited("used");
    r = join_member(second, from, &t);
    assert_int_equal(r.status, 403);
    assert_string_equal(http_error_code(&r), "join_refused");
    http_result_free(&r);
    assert_int_equal(audited("used"), before + 1);
    assert_true(user_exists("erin", first));
    busauth_identity_free(first);
    busauth_identity_free(second);
}

/* One refusal: 403 join_refused, the body byte for byte the first one's,
 * audited with why. */
static void refused_alike(http_result r, const char *reason, long audited_before)
{
    assert_int_equal(r.status, 403);
    assert_string_equal(http_error_code(&r), "join_refused");
    assert_true(strlen(error_message(&r)) > 0);
    if (!JOIN_REFUSED_BODY[0])
        snprintf(JOIN_REFUSED_BODY, sizeof JOIN_REFUSED_BODY, "%s", r.body);
    assert_string_equal(r.body, JOIN_REFUSED_BODY);
    assert_true(http_response_verifies(F.server_key, &r));
    http_result_free(&r);
    assert_int_equal(audited(reason), audited_before + 1);
}

static void every_bad_token_is_refused_alike_and_audited_with_its_reason(void **state)
{
    (void)state;
    const char *from = fresh_address();
    busauth_identity *joiner = new_identity();
    EVP_PKEY *key = pki_key_generate();
    char *csr = pki_csr_make(key, "nodeq");

    token unknown = unknown_token(NULL);
    refused_alike(join_member(joiner, from, &unknown), "unknown", audited("unknown"));
    refused_alike(join_node(from, &unknown, "nodeq", key, csr), "unknown", audited("unknown"));

    token used = member_token("frank");
    busauth_identity *frank = new_identity();
    expect_status(join_member(frank, from, &used), 201);
    refused_alike(join_member(joiner, from, &used), "used", audited("used"));

    token expired = mint(STORE_TOKEN_MEMBER, "gina", "", "", -1000);
    refused_alike(join_member(joiner, from, &expired), "expired", audited("expired"));

    token revoked = member_token("hank");
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, revoked.key, sizeof revoked.key);
    assert_int_equal(store_token_revoke(S, hex, &BY), STORE_OK);
    refused_alike(join_member(joiner, from, &revoked), "revoked", audited("revoked"));

    token node = node_token("nodeq");
    token member = member_token("ivan");
    refused_alike(join_member(joiner, from, &node), "wrong_role", audited("wrong_role"));
    refused_alike(join_node(from, &member, "nodeq", key, csr), "wrong_role", audited("wrong_role"));

    /* A token this store holds, its text naming another server: its proof
     * is for that server, so it is no good here (a join relayed across). */
    busauth_identity *elsewhere = new_identity();
    char other_server[57];
    busauth_nkey_encode_public(busauth_identity_public_key(elsewhere), other_server);
    token foreign = mint_in(S, other_server, STORE_TOKEN_MEMBER, "jack", "", "", 3600 * 1000);
    refused_alike(join_member(joiner, from, &foreign), "bad_proof", audited("bad_proof"));
    assert_false(spent(&foreign));
    /* A node token named for another node: what it buys is its name only. */
    refused_alike(join_node(from, &node, "nodez", key, csr), "name_mismatch", audited("name_mismatch"));

    /* None of that spent or made anything. */
    assert_false(spent(&node));
    assert_false(spent(&member));
    store_user u;
    assert_int_equal(store_user_get_by_key(S, busauth_identity_public_key(joiner), &u), STORE_NOT_FOUND);
    free(csr);
    EVP_PKEY_free(key);
    busauth_identity_free(elsewhere);
    busauth_identity_free(frank);
    busauth_identity_free(joiner);
}

static void a_join_that_proves_no_new_key_spends_nothing(void **state)
{
    (void)state;
    const char *from = fresh_address();
    token t = member_token("judy");

    expect_status(join_member(NULL, from, &t), 401); /* unsigned */

    busauth_identity *joiner = new_identity();
    char *body = member_body(&t, joiner);
    /* Changed after signing: the body (another token, say), the key
     * claimed (someone else's), the signature. */
    const tamper_kind changes[] = {TAMPER_BODY, TAMPER_KEY, TAMPER_SIGNATURE, TAMPER_NONCE};
    const char *tamperer = fresh_address(); /* within its own join limit */
    for (size_t i = 0; i < sizeof changes / sizeof *changes; i++) {
        http_opts changed = {.id = joiner, .source_ip = tamperer, .tamper = changes[i]};
        http_result r = post_join_opts(&F, &changed, body);
        assert_true(r.status == 401 || (changes[i] == TAMPER_BODY && r.status == 400));
        http_result_free(&r);
    }
    http_opts stale = {.id = joiner, .source_ip = from, .time_offset_ms = -3600 * 1000};
    expect_status(post_join_opts(&F, &stale, body), 401);
    free(body);

    char seed[PATH_MAX + 32];
    snprintf(seed, sizeof seed, "%s/server.seed", F.data_dir);
    busauth_identity *server_id;
    assert_int_equal(busauth_seedfile_load(seed, &server_id), BUSAUTH_OK);
    expect_status(join_member(server_id, from, &t), 400); /* the server's own key cannot be a user */
    expect_status(join_member(F.alice, from, &t), 409); /* a key on the allowlist already */
    assert_false(spent(&t));

    expect_status(join_member(joiner, from, &t), 201);
    assert_true(user_exists("judy", joiner));
    busauth_identity_free(server_id);
    busauth_identity_free(joiner);
}

/* The audit log names a key as the joiner only when the request proved
 * it: anyone can write alice's key into X-Unibus-Key. */
static void a_join_claiming_someone_elses_key_is_not_audited_as_theirs(void **state)
{
    (void)state;
    const char *from = fresh_address();
    busauth_identity *elsewhere = new_identity();
    char other_server[57];
    busauth_nkey_encode_public(busauth_identity_public_key(elsewhere), other_server);
    token foreign = mint_in(S, other_server, STORE_TOKEN_MEMBER, "kate", "", "", 3600 * 1000), unknown =
        unknown_token(NULL);
    const token *tokens[] = {&foreign, &unknown};
    const char *sql = "SELECT count(*) FROM audit_log WHERE action LIKE 'join.%' AND actor = ?";
    long before = fixture_db_count(&F, sql, F.alice_nkey);
    for (int i = 0; i < 2; i++) {
        char *body = member_body(tokens[i], F.alice);
        http_opts forged = {.id = F.alice, .source_ip = from, .tamper = TAMPER_SIGNATURE};
        http_result r = post_join_opts(&F, &forged, body);
        assert_true(r.status == 401 || r.status == 403);
        http_result_free(&r);
        free(body);
    }
    assert_int_equal(fixture_db_count(&F, sql, F.alice_nkey), before);
    busauth_identity_free(elsewhere);
}

/* What a joiner sends can be seen (a proxy's log, a shoulder): the proof
 * in it binds the joiner's own key, so nobody else can use it, and
 * refusing it spends nothing. */
static void a_seen_member_proof_is_good_for_no_other_key(void **state)
{
    (void)state;
    const char *from = fresh_address();
    token t = member_token("mona");
    busauth_identity *mona = new_identity(), *thief = new_identity();
    char *seen = member_body(&t, mona);
    long before = audited("bad_proof");
    refused_alike(post_join(thief, from, seen), "bad_proof", before);
    assert_false(spent(&t));
    expect_status(post_join(mona, from, seen), 201);
    assert_true(user_exists("mona", mona));
    free(seen);
    busauth_identity_free(mona);
    busauth_identity_free(thief);
}

/* The same for a node: the proof binds the CSR's key, so a seen join with
 * another CSR in it buys nothing. */
static void a_seen_node_proof_is_good_for_no_other_csr(void **state)
{
    (void)state;
    const char *from = fresh_address();
    token t = node_token("node7");
    EVP_PKEY *key = pki_key_generate(), *thief = pki_key_generate();
    char *csr = pki_csr_make(key, "node7"), *thief_csr = pki_csr_make(thief, "node7"), subject[65];
    assert_true(pki_key_spki_sha256_hex(key, subject));
    char *seen = join_body(&t, "node", "node7", subject, csr);
    json_t *o = json_loads(seen, 0, NULL);
    json_object_set_new(o, "csr", json_string(thief_csr));
    char *swapped = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    refused_alike(post_join(NULL, from, swapped), "bad_proof", audited("bad_proof"));
    assert_false(spent(&t));
    expect_status(post_join(NULL, from, seen), 201);
    free(swapped);
    free(seen);
    free(csr);
    free(thief_csr);
    EVP_PKEY_free(key);
    EVP_PKEY_free(thief);
}

/* A revoked user cannot come back with a token: the key stays taken, and
 * the token stays good for someone else. */
static void a_revoked_key_cannot_rejoin_and_leaves_the_token_usable(void **state)
{
    (void)state;
    const char *from = fresh_address();
    busauth_identity *mallory = new_identity(), *kim = new_identity();
    assert_int_equal(store_user_add(S, "mallory", busauth_identity_public_key(mallory), STORE_ROLE_MEMBER, &BY),
                     STORE_OK);
    store_user u;
    assert_int_equal(store_user_get_by_name(S, "mallory", &u), STORE_OK);
    assert_int_equal(store_user_revoke(S, u.id, &BY, NULL), STORE_OK);

    token t = member_token("kim");
    expect_status(join_member(mallory, from, &t), 409);
    assert_false(spent(&t));
    assert_int_equal(store_user_get_by_key(S, busauth_identity_public_key(mallory), &u), STORE_OK);
    assert_true(u.revoked_ms != 0);
    assert_string_equal(u.name, "mallory");

    expect_status(join_member(kim, from, &t), 201);
    assert_true(user_exists("kim", kim));
    busauth_identity_free(mallory);
    busauth_identity_free(kim);
}

/* A captured join, replayed word for word, buys nothing more. */
static void a_replayed_join_buys_nothing(void **state)
{
    (void)state;
    const char *from = fresh_address();
    token t = member_token("liam");
    busauth_identity *liam = new_identity();
    char *body = member_body(&t, liam);
    http_opts first = {.id = liam, .source_ip = from, .time_ms = (int64_t)time(NULL) * 1000,
                       .nonce = "00112233445566778899aabbccddeeff"};
    expect_status(post_join_opts(&F, &first, body), 201);
    long users = fixture_db_count(&F, "SELECT count(*) FROM users", NULL);
    expect_status(post_join_opts(&F, &first, body), 401); /* the same request again, word for word */
    free(body);
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM users", NULL), users);
    busauth_identity_free(liam);
}

typedef struct {
    const token *t;
    store_token_role role;
    const char *name; /* node: the token's */
    const char *from;
    pthread_barrier_t *start;
    long status;
} racer;

/* One join with a key of its own, as soon as the other racer is ready. */
static void *race(void *arg)
{
    racer *r = arg;
    busauth_identity *id = new_identity();
    EVP_PKEY *key = pki_key_generate();
    char *csr = pki_csr_make(key, "racer");
    pthread_barrier_wait(r->start);
    http_result res =
        r->role == STORE_TOKEN_MEMBER ? join_member(id, r->from, r->t) : join_node(r->from, r->t, r->name, key, csr);
    r->status = res.status;
    http_result_free(&res);
    free(csr);
    EVP_PKEY_free(key);
    busauth_identity_free(id);
    return NULL;
}

/* Two joins at once for one token: one wins, the other is refused. */
static void race_once(const token *t, store_token_role role, const char *name)
{
    const char *from = fresh_address();
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    racer a = {t, role, name, from, &start, 0}, b = {t, role, name, from, &start, 0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, race, &a);
    pthread_create(&tb, NULL, race, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&start);
    assert_true((a.status == 201 && b.status == 403) || (a.status == 403 && b.status == 201));
}

static void two_joins_racing_for_one_token_make_one_user_or_certificate(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++) {
        char name[16];
        snprintf(name, sizeof name, "racer%d", round);
        token t = member_token(name);
        race_once(&t, STORE_TOKEN_MEMBER, "");
        assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM users WHERE name = ?", name), 1);
    }
    for (int round = 0; round < 3; round++) {
        char name[16];
        snprintf(name, sizeof name, "racenode%d", round);
        token t = node_token(name);
        race_once(&t, STORE_TOKEN_NODE, name);
        assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM certs WHERE name = ?", name), 1);
    }
}

/* A member join with a guessed token, signed by joiner, sent once to g
 * (a 429 is an answer here): counted as refused or held back. */
static void guess(fixture *g, const busauth_identity *joiner, const char *from, long *refused, long *limited)
{
    token t;
    assert_true(busauth_join_token_make(g->server_nkey, t.text, t.key));
    char *body = member_body(&t, joiner);
    http_opts opts = {.id = joiner, .source_ip = from};
    http_result r = fixture_call_opts(g, &opts, "POST", "/v1/join", body, strlen(body));
    *refused += r.status == 403;
    *limited += r.status == 429;
    assert_true(r.status == 403 || r.status == 429);
    http_result_free(&r);
    free(body);
}

static long audit_rows(fixture *g)
{
    return fixture_db_count(g, "SELECT count(*) FROM audit_log", NULL);
}

/* A server of their own for the guessing tests: they drain its join
 * limits and audit budget, which the other tests count on. */
static void a_thousand_guesses_are_rate_limited_and_their_audit_budgeted(void **state)
{
    (void)state;
    fixture g;
    assert_int_equal(fixture_start(&g, NULL), 0);
    busauth_identity *joiner = new_identity();
    long audit_before = audit_rows(&g), refused = 0, limited = 0;
    time_t started = time(NULL);
    for (int i = 0; i < 1000; i++)
        guess(&g, joiner, "127.0.0.9", &refused, &limited);
    long elapsed = (long)(time(NULL) - started) + 1;
    assert_int_equal(refused + limited, 1000);
    assert_true(refused >= JOIN_BURST);
    assert_true(refused <= JOIN_BURST + (long)(JOIN_RATE * (double)elapsed) + 1);
    long audit_growth = audit_rows(&g) - audit_before;
    assert_true(audit_growth >= 1);
    assert_true(audit_growth <= refused);
    busauth_identity_free(joiner);
    assert_int_equal(fixture_stop(&g), 0);
}

/* From a hundred addresses, each within its own limit: every guess is
 * refused, the audit log gets no row per guess (the budget), and a joiner
 * with a real token gets in at once: a flood does not hold up onboarding
 * (there is no server-wide join limit to drain). */
static void guesses_from_many_addresses_hold_up_no_one(void **state)
{
    (void)state;
    fixture g;
    assert_int_equal(fixture_start(&g, NULL), 0);
    busauth_identity *joiner = new_identity();
    long audit_before = audit_rows(&g), refused = 0, limited = 0;
    time_t started = time(NULL);
    for (int host = 0; host < 100; host++) {
        char from[16];
        snprintf(from, sizeof from, "127.0.1.%d", host + 1);
        for (int i = 0; i < JOIN_BURST; i++)
            guess(&g, joiner, from, &refused, &limited);
    }
    long elapsed = (long)(time(NULL) - started) + 1;
    assert_int_equal(refused, 100 * JOIN_BURST);
    long audit_growth = audit_rows(&g) - audit_before;
    assert_true(audit_growth >= 1);
    /* The budget's burst and refill, and its "audit.suppressed" rows. */
    assert_true(audit_growth <= AUDIT_FAILED_AUTH_BURST + AUDIT_FAILED_AUTH_RATE * elapsed + 2 + elapsed / 60);

    char db[PATH_MAX + 64], err[512];
    store *gs;
    snprintf(db, sizeof db, "%s/membership.db", g.data_dir);
    assert_int_equal(store_open(db, STORE_OPEN_EXISTING, &gs, err, sizeof err), STORE_OK);
    token t = mint_in(gs, g.server_nkey, STORE_TOKEN_MEMBER, "nina", "", "", 3600 * 1000);
    store_close(gs);
    char *body = member_body(&t, joiner);
    expect_status(post_join_to(&g, joiner, "127.0.2.1", body), 201);
    free(body);
    busauth_identity_free(joiner);
    assert_int_equal(fixture_stop(&g), 0);
}

/* ---- node joins --------------------------------------------------------------- */

static X509 *answer_certificate(const http_result *r, const char *field)
{
    const char *pem = json_string_value(json_object_get(r->json, field));
    assert_non_null(pem);
    X509 *cert = pki_cert_parse(pem, strlen(pem));
    assert_non_null(cert);
    return cert;
}

/* Runs the openssl CLI (a second opinion, not our code) on the answer's
 * certificate and CA written to files: `openssl verify` passes, and the
 * extensions openssl prints are the ones a node needs. */
static void openssl_cli_accepts(const http_result *r)
{
    char dir[PATH_MAX], cmd[3 * PATH_MAX], out[4096] = "";
    test_make_temp_dir(dir);
    const char *fields[] = {"certificate", "ca"}, *files[] = {"node.crt", "ca.crt"};
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "%s/%s", dir, files[i]);
        test_write_file(cmd, json_string_value(json_object_get(r->json, fields[i])), 0600);
    }
    snprintf(cmd, sizeof cmd, "cd '%s' && openssl verify -x509_strict -purpose sslserver -CAfile ca.crt node.crt && "
             "openssl verify -purpose sslclient -CAfile ca.crt node.crt && "
             "openssl x509 -in node.crt -noout -ext subjectAltName,keyUsage,extendedKeyUsage,basicConstraints", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_non_null(strstr(out, "node.crt: OK"));
    assert_non_null(strstr(out, "URI:spiffe://bus.test/node/node1"));
    assert_non_null(strstr(out, "DNS:node.bus.test"));
    assert_non_null(strstr(out, "IP Address:127.0.0.1"));
    assert_non_null(strstr(out, "Digital Signature"));
    assert_non_null(strstr(out, "TLS Web Server Authentication, TLS Web Client Authentication"));
    assert_non_null(strstr(out, "CA:FALSE"));
    test_remove_tree(dir);
}

static void a_node_joins_with_a_csr_and_gets_a_certificate_from_the_ca(void **state)
{
    (void)state;
    const char *from = fresh_address();
    token t = node_token("node1");
    EVP_PKEY *key = pki_key_generate();
    char *csr = pki_csr_make(key, "node1");
    http_result r = join_node(from, &t, "node1", key, csr);
    assert_int_equal(r.status, 201);
    assert_true(http_response_verifies(F.server_key, &r));
    X509 *cert = answer_certificate(&r, "certificate"), *ca = answer_certificate(&r, "ca");
    assert_int_equal(X509_cmp(ca, CA.cert), 0);
    assert_true(pki_cert_issued_by(cert, CA.cert));
    EVP_PKEY *ca_key = X509_get0_pubkey(CA.cert);
    assert_int_equal(X509_verify(cert, ca_key), 1);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(cert), key), 1);
    char sans[1024];
    pki_cert_sans(cert, sans, sizeof sans);
    assert_non_null(strstr(sans, "DNS:node.bus.test"));
    assert_non_null(strstr(sans, "IP:127.0.0.1"));
    assert_non_null(strstr(sans, "URI:spiffe://bus.test/node/node1"));
    assert_string_equal(json_string_value(json_object_get(r.json, "name")), "node1");
    assert_string_equal(json_string_value(json_object_get(r.json, "server_key")), F.server_nkey);
    char serial[80];
    pki_cert_serial_hex(cert, serial, sizeof serial);
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM certs WHERE serial = ?", serial), 1);
    assert_true(spent(&t));
    openssl_cli_accepts(&r);
    http_result_free(&r);

    expect_status(join_node(from, &t, "node1", key, csr), 403); /* once */
    X509_free(cert);
    X509_free(ca);
    free(csr);
    EVP_PKEY_free(key);
}


static void a_node_join_that_cannot_be_served_spends_nothing(void **state)
{
    (void)state;
    const char *from = fresh_address();
    token t = node_token("node2");
    EVP_PKEY *key = pki_key_generate();
    char *csr = pki_csr_make(key, "node2");

    char *broken = test_csr_with_broken_signature(csr);
    expect_status(join_node(from, &t, "node2", key, broken), 400);
    assert_false(spent(&t));
    free(broken);

    expect_status(join_node(from, &t, "another", key, csr), 403); /* the token names the node */
    assert_false(spent(&t));

    char kek[PATH_MAX + 64], moved[PATH_MAX + 64];
    snprintf(kek, sizeof kek, "%s/" PKI_KEK_FILE, F.data_dir);
    snprintf(moved, sizeof moved, "%s/kek.away", F.dir);
    assert_int_equal(rename(kek, moved), 0);
    http_result r = join_node(from, &t, "node2", key, csr);
    assert_int_equal(rename(moved, kek), 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(http_error_code(&r), "ca_unavailable");
    http_result_free(&r);
    assert_false(spent(&t));

    expect_status(join_node(from, &t, "node2", key, csr), 201);
    assert_true(spent(&t));
    free(csr);
    EVP_PKEY_free(key);
}

/* The CA row of a bus whose CA has expired (a real row, as an old
 * `membershipd ca init` left it), its key sealed under the data dir's KEK. */
static int seed_expired_ca(store *s, void *ctx)
{
    fixture *g = ctx;
    char kek_path[PATH_MAX + 64], err[512];
    uint8_t kek[PKI_KEK_BYTES];
    snprintf(kek_path, sizeof kek_path, "%s/" PKI_KEK_FILE, g->data_dir);
    EVP_PKEY *key = pki_key_generate();
    X509 *cert = X509_new();
    X509_NAME *subject = X509_get_subject_name(cert);
    bool ok = pki_kek_create(kek_path, kek, err, sizeof err) && key && cert &&
              X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)"old CA", -1, -1, 0) &&
              X509_set_issuer_name(cert, subject) && X509_set_pubkey(cert, key) &&
              X509_gmtime_adj(X509_getm_notBefore(cert), -2 * 86400) &&
              X509_gmtime_adj(X509_getm_notAfter(cert), -86400) && X509_set_version(cert, X509_VERSION_3) &&
              X509_sign(cert, key, EVP_sha256()) > 0;
    char *pem = ok ? pki_cert_pem(cert) : NULL;
    size_t sealed_len = 0;
    uint8_t *sealed = ok ? pki_key_seal(kek, "old.test", key, &sealed_len) : NULL;
    ok = pem && sealed && store_ca_put(s, "old.test", pem, sealed, sealed_len, &BY) == STORE_OK;
    sodium_memzero(kek, sizeof kek);
    free(sealed);
    free(pem);
    X509_free(cert);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

/* An expired CA signs nothing: the server says it cannot sign (503), not
 * that the joiner asked wrong, and the token stays for when it can. */
static void a_node_join_on_a_bus_whose_ca_expired_is_503(void **state)
{
    (void)state;
    fixture g;
    char db[PATH_MAX + 64], err[512];
    store *gs;
    assert_int_equal(fixture_start_seeded(&g, NULL, seed_expired_ca, &g), 0);
    snprintf(db, sizeof db, "%s/membership.db", g.data_dir);
    assert_int_equal(store_open(db, STORE_OPEN_EXISTING, &gs, err, sizeof err), STORE_OK);
    token t = mint_in(gs, g.server_nkey, STORE_TOKEN_NODE, "node6", "", "", 3600 * 1000);
    EVP_PKEY *key = pki_key_generate();
    char *csr = pki_csr_make(key, "node6");
    http_result r = join_node_on(&g, fresh_address(), &t, "node6", key, csr);
    assert_int_equal(r.status, 503);
    assert_string_equal(http_error_code(&r), "ca_unavailable");
    http_result_free(&r);
    store_token row;
    assert_int_equal(store_token_get(gs, t.key, &row), STORE_OK);
    assert_int_equal(row.used_ms, 0);
    free(csr);
    EVP_PKEY_free(key);
    store_close(gs);
    assert_int_equal(fixture_stop(&g), 0);
}

/* A node token without a name lets the joiner name itself, once. */
static void an_unnamed_node_token_takes_the_joiners_name(void **state)
{
    (void)state;
    const char *from = fresh_address();
    token t = node_token("");
    EVP_PKEY *key = pki_key_generate();
    char *csr = pki_csr_make(key, "node3");
    http_result r = join_node(from, &t, "", key, csr);
    assert_int_equal(r.status, 400); /* no name from either */
    http_result_free(&r);
    r = join_node(from, &t, "node3", key, csr);
    assert_int_equal(r.status, 201);
    X509 *cert = answer_certificate(&r, "certificate");
    char sans[1024];
    pki_cert_sans(cert, sans, sizeof sans);
    assert_non_null(strstr(sans, "URI:spiffe://bus.test/node/node3"));
    X509_free(cert);
    http_result_free(&r);
    free(csr);
    EVP_PKEY_free(key);
}

/* ... but not the name of a node that holds a valid certificate: that
 * would be a certificate to impersonate it with.  Audited; the token stays
 * good for a name of its own. */
static void an_unnamed_node_token_cannot_take_a_name_in_use(void **state)
{
    (void)state;
    const char *from = fresh_address();
    token named = node_token("node4"), unnamed = node_token("");
    EVP_PKEY *key = pki_key_generate(), *intruder = pki_key_generate();
    char *csr = pki_csr_make(key, "node4"), *intruder_csr = pki_csr_make(intruder, "node4");
    expect_status(join_node(from, &named, "node4", key, csr), 201);

    long taken_before = audited("name_taken");
    http_result r = join_node(from, &unnamed, "node4", intruder, intruder_csr);
    assert_int_equal(r.status, 403);
    assert_string_equal(http_error_code(&r), "join_refused");
    http_result_free(&r);
    assert_int_equal(audited("name_taken"), taken_before + 1);
    assert_false(spent(&unnamed));
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM certs WHERE name = ?", "node4"), 1);

    expect_status(join_node(from, &unnamed, "node5", intruder, intruder_csr), 201);
    free(csr);
    free(intruder_csr);
    EVP_PKEY_free(key);
    EVP_PKEY_free(intruder);
}

/* Runs last: every token this program made, used or refused, is absent
 * from the server's log (logs.secrets checks again over every log). */
static void no_token_reaches_the_log(void **state)
{
    (void)state;
    token t = member_token("olga");
    busauth_identity *olga = new_identity();
    expect_status(join_member(olga, fresh_address(), &t), 201);
    assert_false(harness_log_contains(&F.server, strrchr(t.text, '.') + 1));
    assert_false(harness_log_contains(&F.server, "ubj1."));
    assert_true(harness_log_contains(&F.server, "join")); /* the log does speak of joins */
    busauth_identity_free(olga);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_member_joins_with_libunibus_and_is_who_the_token_says),
        cmocka_unit_test(libunibus_sends_a_token_only_to_its_server),
        cmocka_unit_test(a_token_is_spent_once),
        cmocka_unit_test(every_bad_token_is_refused_alike_and_audited_with_its_reason),
        cmocka_unit_test(a_join_that_proves_no_new_key_spends_nothing),
        cmocka_unit_test(a_join_claiming_someone_elses_key_is_not_audited_as_theirs),
        cmocka_unit_test(a_seen_member_proof_is_good_for_no_other_key),
        cmocka_unit_test(a_seen_node_proof_is_good_for_no_other_csr),
        cmocka_unit_test(a_revoked_key_cannot_rejoin_and_leaves_the_token_usable),
        cmocka_unit_test(a_replayed_join_buys_nothing),
        cmocka_unit_test(two_joins_racing_for_one_token_make_one_user_or_certificate),
        cmocka_unit_test(a_node_joins_with_a_csr_and_gets_a_certificate_from_the_ca),
        cmocka_unit_test(a_node_join_that_cannot_be_served_spends_nothing),
        cmocka_unit_test(a_node_join_on_a_bus_whose_ca_expired_is_503),
        cmocka_unit_test(an_unnamed_node_token_takes_the_joiners_name),
        cmocka_unit_test(an_unnamed_node_token_cannot_take_a_name_in_use),
        /* These two spend the server-wide audit budget, which the tests
         * above count on: they come last. */
        cmocka_unit_test(a_thousand_guesses_are_rate_limited_and_their_audit_budgeted),
        cmocka_unit_test(guesses_from_many_addresses_hold_up_no_one),
        cmocka_unit_test(no_token_reaches_the_log),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
