/*
 * The body of POST /v1/join as the route gives it to
 * pki_join_request_parse.  What it accepts is a member request (no name,
 * no csr) or a node request (a csr and a valid name), with a 32-byte token
 * key and a base64url proof; writing the parsed fields back as a body
 * parses to the same request.  A refusal is one line.  Input: the body.
 */
#include <string.h>
#include <jansson.h>
#include <sodium.h>
#include "fuzz.h"
#include "membershipd/pki/pki.h"

static void check_shape(const pki_join_request *r)
{
    FUZZ_CHECK(r->role == STORE_TOKEN_MEMBER || r->role == STORE_TOKEN_NODE);
    if (r->role == STORE_TOKEN_MEMBER)
        FUZZ_CHECK(!r->csr_pem && !r->name[0]);
    else
        FUZZ_CHECK(r->csr_pem != NULL && store_user_name_valid(r->name));
    FUZZ_CHECK(strlen(r->proof) == BUSAUTH_SIG_B64_LEN &&
               strspn(r->proof, BUSAUTH_B64URL_ALPHABET) == BUSAUTH_SIG_B64_LEN);
}

/* The body written back from r. */
static char *reserialise(const pki_join_request *r)
{
    char key_hex[2 * BUSAUTH_KEY_BYTES + 1];
    sodium_bin2hex(key_hex, sizeof key_hex, r->token_key, sizeof r->token_key);
    json_t *body = json_pack("{s:s, s:s, s:s}", "role", store_token_role_name(r->role), "token_key", key_hex, "proof",
                             r->proof);
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

static void check_round_trip(const pki_join_request *r)
{
    char *text = reserialise(r);
    pki_join_request again;
    char err[512];
    FUZZ_CHECK(pki_join_request_parse(text, strlen(text), &again, err, sizeof err));
    FUZZ_CHECK(again.role == r->role && memcmp(again.token_key, r->token_key, sizeof r->token_key) == 0 &&
               strcmp(again.proof, r->proof) == 0 &&
               strcmp(again.name, r->name) == 0 && !again.csr_pem == !r->csr_pem &&
               (!r->csr_pem || strcmp(again.csr_pem, r->csr_pem) == 0));
    pki_join_request_free(&again);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1); /* exactly sized: ASan sees any read past size */
    memcpy(text, data, size);
    pki_join_request r;
    char err[512] = "";
    if (pki_join_request_parse(text, size, &r, err, sizeof err)) {
        check_shape(&r);
        check_round_trip(&r);
        pki_join_request_free(&r);
    } else {
        FUZZ_CHECK(err[0] && !strchr(err, '\n') && !r.csr_pem);
    }
    free(text);
    return 0;
}
