/*
 * The body of POST /v1/join as the route gives it to
 * pki_join_request_parse.  What it accepts is a member request (no name,
 * no csr) or a node request (a csr, a valid name or none), and writing the
 * parsed fields back as a body parses to the same request.  The token is
 * written back as it was sent (the request keeps only its hash).  A
 * refusal is one line.  Input: the body.
 */
#include <string.h>
#include <jansson.h>
#include "fuzz.h"
#include "membershipd/pki/pki.h"

static void check_shape(const pki_join_request *r)
{
    FUZZ_CHECK(r->role == STORE_TOKEN_MEMBER || r->role == STORE_TOKEN_NODE);
    if (r->role == STORE_TOKEN_MEMBER)
        FUZZ_CHECK(!r->csr_pem && !r->name[0]);
    else
        FUZZ_CHECK(r->csr_pem != NULL);
    FUZZ_CHECK(!r->name[0] || store_user_name_valid(r->name));
    FUZZ_CHECK(busauth_nkey_is_wellformed(r->server_nkey) && r->server_nkey[0] == 'U');
}

/* The body written back from r, with the token text the input carried. */
static char *reserialise(const pki_join_request *r, const char *token)
{
    json_t *body = json_pack("{s:s, s:s}", "role", store_token_role_name(r->role), "token", token);
    FUZZ_CHECK(body != NULL);
    if (r->name[0])
        json_object_set_new(body, "name", json_string(r->name));
    if (r->csr_pem)
        json_object_set_new(body, "csr", json_string(r->csr_pem));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    FUZZ_CHECK(text != NULL);
    return text;
}

static void check_round_trip(const pki_join_request *r, const uint8_t *data, size_t size)
{
    json_t *sent = json_loadb((const char *)data, size, 0, NULL);
    const char *token = json_string_value(json_object_get(sent, "token"));
    FUZZ_CHECK(token != NULL);
    char *text = reserialise(r, token);
    pki_join_request again;
    char err[512];
    FUZZ_CHECK(pki_join_request_parse(text, strlen(text), &again, err, sizeof err));
    FUZZ_CHECK(again.role == r->role && strcmp(again.server_nkey, r->server_nkey) == 0 &&
               memcmp(again.token_hash, r->token_hash, sizeof r->token_hash) == 0 &&
               strcmp(again.name, r->name) == 0 && !again.csr_pem == !r->csr_pem &&
               (!r->csr_pem || strcmp(again.csr_pem, r->csr_pem) == 0));
    pki_join_request_free(&again);
    free(text);
    json_decref(sent);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1); /* exactly sized: ASan sees any read past size */
    memcpy(text, data, size);
    pki_join_request r;
    char err[512] = "";
    if (pki_join_request_parse(text, size, &r, err, sizeof err)) {
        check_shape(&r);
        check_round_trip(&r, data, size);
        pki_join_request_free(&r);
    } else {
        FUZZ_CHECK(err[0] && !strchr(err, '\n') && !r.csr_pem);
    }
    free(text);
    return 0;
}
