/*
 * Signed-request headers and the canonical string, as membershipd sees
 * them: the target's characters and route, the five X-Unibus-* headers
 * (auth_headers_parse, the function request_auth.c calls), then the
 * canonical string and its signature.
 * Input: METHOD \n TARGET \n SERVER \n KEY \n TIME \n NONCE \n SIGNATURE \n BODY,
 * for the server FUZZ_SERVER_NKEY.
 */
#include <string.h>
#include <sodium.h>
#include "busauth/identity.h"
#include "busauth/signing.h"
#include "fuzz.h"
#include "membershipd/http/auth_headers.h"
#include "membershipd/api/routes.h"

enum { METHOD, TARGET, SERVER, KEY, TIME, NONCE, SIGNATURE, BODY, FIELDS };

static busauth_identity *vector_identity(void)
{
    static busauth_identity *id;
    uint8_t seed[32];
    fuzz_vector_seed(seed);
    if (!id && (busauth_init() != BUSAUTH_OK || busauth_identity_from_seed(seed, &id) != BUSAUTH_OK))
        abort();
    return id;
}

static void check_route(const char *method, const char *target, request *req)
{
    if (strlen(target) > TARGET_MAX || !route_target_valid(target))
        return;
    FUZZ_CHECK(target[0] == '/' && !strpbrk(target, "\n\r %\"\\"));
    char path[TARGET_MAX + 1];
    snprintf(path, sizeof path, "%.*s", (int)strcspn(target, "?"), target);
    bool path_known;
    const route *r = route_match(method, path, req, &path_known);
    FUZZ_CHECK(!r || strcmp(r->method, method) == 0);
}

/* What was recorded is exactly what was sent, and only when well-formed. */
static void check_recorded(const auth_headers *h, const request *req, auth_headers_result result,
                           const char *reason)
{
    FUZZ_CHECK(result == AUTH_HEADERS_OK || (reason[0] && !strchr(reason, '\n')));
    FUZZ_CHECK(!req->nonce[0] || (busauth_nonce_valid(req->nonce) && strcmp(req->nonce, h->nonce) == 0));
    if (req->claimed_key[0]) {
        char again[BUSAUTH_NKEY_PUBLIC_LEN + 1];
        busauth_nkey_encode_public(req->claimed_public_key, again);
        FUZZ_CHECK(strcmp(again, h->key) == 0 && strcmp(req->claimed_key, h->key) == 0);
    }
    if (result == AUTH_HEADERS_OK)
        FUZZ_CHECK(req->nonce[0] && req->claimed_key[0] && strcmp(h->server, FUZZ_SERVER_NKEY) == 0 &&
                   strcmp(req->signed_time, h->time) == 0 && strcmp(req->signature, h->signature) == 0);
}

/* Eight lines, each the field given: nothing in one field can shift another. */
static void check_canonical(const char *canonical, char **f, const char *hash_hex)
{
    const char *expect[] = {"unibus-v2-request", FUZZ_SERVER_NKEY, f[KEY], f[METHOD], f[TARGET], f[TIME],
                            f[NONCE], hash_hex};
    const size_t lines = sizeof expect / sizeof expect[0];
    const char *p = canonical;
    for (size_t i = 0; i < lines; i++) {
        size_t len = strlen(expect[i]);
        FUZZ_CHECK(strncmp(p, expect[i], len) == 0 && p[len] == (i == lines - 1 ? '\0' : '\n'));
        p += len + 1;
    }
}

static void check_signature(char **f, const request *req, const uint8_t *body, size_t body_len)
{
    uint8_t hash[BUSAUTH_SHA256_BYTES];
    crypto_hash_sha256(hash, body, body_len);
    char canonical[TARGET_MAX + 512], hash_hex[2 * BUSAUTH_SHA256_BYTES + 1];
    busauth_request r = {.server_key = FUZZ_SERVER_NKEY, .key = req->claimed_key, .method = f[METHOD],
                         .target = f[TARGET], .time_ms = req->signed_time, .nonce = req->nonce,
                         .body_sha256 = hash};
    size_t n = busauth_request_canonical(canonical, sizeof canonical, &r);
    if (n == 0)
        return; /* too long to have been signed: refused as not verifying */
    sodium_bin2hex(hash_hex, sizeof hash_hex, hash, sizeof hash);
    if (!strchr(f[METHOD], '\n'))
        check_canonical(canonical, f, hash_hex);
    busauth_status verified = busauth_verify_text(req->claimed_public_key, canonical, n, req->signature);
    const busauth_identity *id = vector_identity();
    if (memcmp(req->claimed_public_key, busauth_identity_public_key(id), BUSAUTH_KEY_BYTES) != 0)
        return;
    char sig[BUSAUTH_SIG_B64_LEN + 1];
    busauth_sign_text(id, canonical, n, sig);
    FUZZ_CHECK(busauth_verify_text(req->claimed_public_key, canonical, n, sig) == BUSAUTH_OK);
    /* Ed25519 is deterministic: what verifies is our own signature. */
    FUZZ_CHECK(verified != BUSAUTH_OK || strcmp(sig, req->signature) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[FIELDS];
    size_t last_len, n = fuzz_split(data, size, '\n', f, FIELDS, &last_len);
    for (size_t i = n; i < FIELDS; i++)
        f[i] = calloc(1, 1);
    size_t body_len = n == FIELDS ? last_len : 0;
    request *req = calloc(1, sizeof *req);
    check_route(f[METHOD], f[TARGET], req);
    const auth_headers h = {f[SERVER], f[KEY], f[TIME], f[NONCE], f[SIGNATURE]};
    char reason[512] = "";
    auth_headers_result result = auth_headers_parse(&h, FUZZ_SERVER_NKEY, FUZZ_NOW_MS, req, reason, sizeof reason);
    check_recorded(&h, req, result, reason);
    if (result == AUTH_HEADERS_OK && strlen(f[TARGET]) <= TARGET_MAX && route_target_valid(f[TARGET]))
        check_signature(f, req, (const uint8_t *)f[BODY], body_len);
    free(req);
    fuzz_fields_free(f, FIELDS);
    return 0;
}
