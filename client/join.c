/* Joining a bus with a member token (dev/pki.md, "Joining"). */
#include <string.h>
#include <sodium.h>
#include "busauth/join_token.h"
#include "client_internal.h"

unibus_status unibus_join_token_server_key(const char *token, char nkey[57])
{
    uint8_t secret[BUSAUTH_JOIN_SECRET_BYTES];
    bool ok = token && busauth_join_token_split(token, strlen(token), nkey, secret);
    sodium_memzero(secret, sizeof secret);
    return ok ? UNIBUS_OK : UNIBUS_ERR_INVALID_ARG;
}

/* The signed answer's user, which must be this identity as a member. */
static unibus_status joined_as(unibus_client *c, unibus_status s, json_t *answer, unibus_user *out)
{
    json_t *user = json_object_get(answer, "user");
    const char *name = json_string_value(json_object_get(user, "name"));
    s = client_answer_about(c, s, user, "nkey", c->nkey, "identity");
    if (s == UNIBUS_OK && !name)
        s = client_fail(c, UNIBUS_ERR_PROTOCOL, "the join answer names no user");
    if (s != UNIBUS_OK)
        return s;
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", name);
    snprintf(out->nkey, sizeof out->nkey, "%s", c->nkey);
    return UNIBUS_OK;
}

/* The token stays here: its key signs a proof for this server, this role
 * and this identity, which is all the request carries of it. */
static char *join_body(unibus_client *c, const char *token)
{
    char server_nkey[57], proof[BUSAUTH_SIG_B64_LEN + 1], token_key_hex[2 * BUSAUTH_KEY_BYTES + 1];
    uint8_t token_key[BUSAUTH_KEY_BYTES];
    if (!busauth_join_prove(token, strlen(token), "member", "", c->nkey, server_nkey, token_key, proof))
        return NULL;
    sodium_bin2hex(token_key_hex, sizeof token_key_hex, token_key, sizeof token_key);
    json_t *request = json_pack("{s:s, s:s, s:s}", "role", "member", "token_key", token_key_hex, "proof", proof);
    char *body = request ? json_dumps(request, JSON_COMPACT) : NULL;
    json_decref(request);
    return body;
}

unibus_status unibus_client_join(unibus_client *c, const char *token, unibus_user *out)
{
    char nkey[57];
    if (!c || !out || unibus_join_token_server_key(token, nkey) != UNIBUS_OK)
        return c ? client_fail(c, UNIBUS_ERR_INVALID_ARG, "that is not a join token (ubj1....)") : UNIBUS_ERR_INVALID_ARG;
    if (strcmp(nkey, c->node->nkey) != 0)
        return client_fail(c, UNIBUS_ERR_SERVER_KEY, "this token is for server %s, but %s is %s: not used", nkey,
                           c->node->url, c->node->nkey);
    char *body = join_body(c, token);
    if (!body)
        return client_fail(c, UNIBUS_ERR_NOMEM, "out of memory");
    json_t *answer = NULL;
    unibus_status s = client_call(c, "POST", "/v1/join", body, &answer);
    free(body);
    s = joined_as(c, s, answer, out);
    json_decref(answer);
    return s;
}
