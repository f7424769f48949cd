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

unibus_status unibus_client_join(unibus_client *c, const char *token, unibus_user *out)
{
    char nkey[57];
    if (!c || !out || unibus_join_token_server_key(token, nkey) != UNIBUS_OK)
        return c ? client_fail(c, UNIBUS_ERR_INVALID_ARG, "that is not a join token (ubj1....)") : UNIBUS_ERR_INVALID_ARG;
    if (strcmp(nkey, c->server_nkey) != 0)
        return client_fail(c, UNIBUS_ERR_SERVER_KEY, "this token is for server %s, but %s is %s: not sent", nkey,
                           c->url, c->server_nkey);
    json_t *request = json_pack("{s:s, s:s}", "role", "member", "token", token);
    char *body = request ? json_dumps(request, JSON_COMPACT) : NULL;
    json_decref(request); /* jansson's copy of the token goes with it, unwiped: see dev/pki.md */
    if (!body)
        return client_fail(c, UNIBUS_ERR_NOMEM, "out of memory");
    json_t *answer = NULL;
    unibus_status s = client_call(c, "POST", "/v1/join", body, &answer);
    sodium_memzero(body, strlen(body));
    free(body);
    s = joined_as(c, s, answer, out);
    json_decref(answer);
    return s;
}
