/* The body of POST /v1/join (dev/pki.md, "Joining"); fuzzed. */
#include "membershipd/pki/pki_internal.h"

#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <sodium.h>

static const char *string_field(json_t *body, const char *name, size_t max, bool *ok)
{
    json_t *v = json_object_get(body, name);
    if (!v)
        return NULL;
    const char *text = json_string_value(v);
    if (!text || json_string_length(v) > max || strlen(text) != json_string_length(v))
        *ok = false;
    return text;
}

static bool only_known_fields(json_t *body)
{
    const char *key;
    json_t *value;
    json_object_foreach(body, key, value) {
        (void)value;
        if (strcmp(key, "role") != 0 && strcmp(key, "token_key") != 0 && strcmp(key, "proof") != 0 &&
            strcmp(key, "name") != 0 && strcmp(key, "csr") != 0)
            return false;
    }
    return true;
}

static bool fill(json_t *body, pki_join_request *out, char *err, size_t errlen)
{
    bool ok = true;
    const char *role = string_field(body, "role", 8, &ok);
    const char *token_key = string_field(body, "token_key", 2 * BUSAUTH_KEY_BYTES, &ok);
    const char *proof = string_field(body, "proof", BUSAUTH_SIG_B64_LEN, &ok);
    const char *name = string_field(body, "name", STORE_USER_NAME_MAX, &ok);
    const char *csr = string_field(body, "csr", PKI_PEM_MAX, &ok);
    if (!ok || !only_known_fields(body))
        return pki_fail(err, errlen, "the join request takes only the strings role, token_key, proof, name and csr");
    if (!role || !store_token_role_parse(role, &out->role))
        return pki_fail(err, errlen, "field \"role\" must be \"member\" or \"node\"");
    if (!token_key || strlen(token_key) != 2 * BUSAUTH_KEY_BYTES ||
        sodium_hex2bin(out->token_key, sizeof out->token_key, token_key, 2 * BUSAUTH_KEY_BYTES, NULL, NULL, NULL) != 0)
        return pki_fail(err, errlen, "field \"token_key\" must be 64 hex characters (busauth_join_prove makes it)");
    if (!proof || strlen(proof) != BUSAUTH_SIG_B64_LEN || strspn(proof, BUSAUTH_B64URL_ALPHABET) != BUSAUTH_SIG_B64_LEN)
        return pki_fail(err, errlen, "field \"proof\" must be %d base64url characters", BUSAUTH_SIG_B64_LEN);
    if (name && !store_user_name_valid(name))
        return pki_fail(err, errlen, "field \"name\": use 1-%d letters, digits, '.', '_' or '-', starting with a "
                        "letter or digit", STORE_USER_NAME_MAX);
    if (out->role == STORE_TOKEN_MEMBER && (name || csr))
        return pki_fail(err, errlen, "a member join takes no name or csr: the token names the user, and the request's "
                        "signature is the key");
    if (out->role == STORE_TOKEN_NODE && (!csr || !name))
        return pki_fail(err, errlen, "a node join needs fields \"name\" and \"csr\" (a PEM certificate request for "
                        "its P-256 key)");
    memcpy(out->proof, proof, BUSAUTH_SIG_B64_LEN + 1);
    snprintf(out->name, sizeof out->name, "%s", name ? name : "");
    out->csr_pem = csr ? strdup(csr) : NULL;
    return !csr || out->csr_pem || pki_fail(err, errlen, "out of memory");
}

bool pki_join_request_parse(const char *text, size_t len, pki_join_request *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *body = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    bool ok = body && json_is_object(body) ? fill(body, out, err, errlen)
                                           : pki_fail(err, errlen, "the join request is not a JSON object");
    json_decref(body);
    if (!ok)
        pki_join_request_free(out);
    return ok;
}

void pki_join_request_free(pki_join_request *r)
{
    free(r->csr_pem);
    r->csr_pem = NULL;
}
