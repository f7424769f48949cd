/* Opening a client: identity, control-plane URL rules, which server key to trust. */
#include "client_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "busauth/seedfile.h"
#include "replay_store.h"
#include "room_state.h"

const char *unibus_version_string(void)
{
    return UNIBUS_VERSION;
}

const char *unibus_strerror(unibus_status status)
{
    static const char *const TEXT[] = {
        [UNIBUS_OK] = "ok",
        [UNIBUS_ERR_INVALID_ARG] = "invalid argument",
        [UNIBUS_ERR_CONFIG] = "invalid configuration",
        [UNIBUS_ERR_IDENTITY] = "identity seed file unusable",
        [UNIBUS_ERR_NETWORK] = "control plane unreachable",
        [UNIBUS_ERR_TLS] = "server certificate does not verify",
        [UNIBUS_ERR_SERVER_KEY] = "response not signed by the trusted server key",
        [UNIBUS_ERR_AUTH] = "identity refused by the server (unknown or revoked)",
        [UNIBUS_ERR_CLOCK_SKEW] = "clock too far from the server's",
        [UNIBUS_ERR_FORBIDDEN] = "forbidden",
        [UNIBUS_ERR_NOT_FOUND] = "not found",
        [UNIBUS_ERR_CONFLICT] = "conflict",
        [UNIBUS_ERR_RATE_LIMITED] = "rate limited",
        [UNIBUS_ERR_SERVER] = "server error",
        [UNIBUS_ERR_PROTOCOL] = "unexpected answer from the server",
        [UNIBUS_ERR_CRYPTO] = "room key cannot be opened",
        [UNIBUS_ERR_MALFORMED] = "malformed message",
        [UNIBUS_ERR_UNKNOWN_EPOCH] = "message sealed under an unknown key epoch",
        [UNIBUS_ERR_BAD_SIGNATURE] = "message signature invalid or missing",
        [UNIBUS_ERR_DECRYPT] = "message fails authentication",
        [UNIBUS_ERR_NOT_MEMBER] = "message from a non-member",
        [UNIBUS_ERR_REPLAY] = "replayed message (seen before, or moved: to another subject or request)",
        [UNIBUS_ERR_DATA_PLANE] = "data plane failure",
        [UNIBUS_ERR_TIMEOUT] = "timed out",
        [UNIBUS_ERR_NOMEM] = "out of memory",
        [UNIBUS_ERR_STALE] = "message outside the replay window (sent over 30 s ago, or the sender's clock is ahead)",
    };
    if ((unsigned)status < sizeof TEXT / sizeof TEXT[0] && TEXT[status])
        return TEXT[status];
    return "unknown unibus status";
}

const char *unibus_client_error(const unibus_client *c)
{
    return c ? c->error : "out of memory";
}

const char *unibus_client_server_key(const unibus_client *c)
{
    return c->node ? c->node->nkey : "";
}

const char *unibus_client_url(const unibus_client *c)
{
    return c->node ? c->node->url : "";
}

bool unibus_client_first_use(const unibus_client *c)
{
    return c->first_use;
}

unibus_status unibus_identity_create(const char *path, char nkey[57])
{
    busauth_identity *id = NULL;
    if (!path || !path[0])
        return UNIBUS_ERR_INVALID_ARG;
    busauth_status s = busauth_identity_generate(&id);
    if (s == BUSAUTH_OK)
        s = busauth_seedfile_create(path, id);
    if (s == BUSAUTH_OK)
        busauth_nkey_encode_public(busauth_identity_public_key(id), nkey);
    busauth_identity_free(id);
    return s == BUSAUTH_OK ? UNIBUS_OK : s == BUSAUTH_ERR_NOMEM ? UNIBUS_ERR_NOMEM : UNIBUS_ERR_IDENTITY;
}

static unibus_status load_identity(unibus_client *c, const char *path)
{
    busauth_status s = path ? busauth_seedfile_load(path, &c->id) : BUSAUTH_ERR_IO;
    if (s != BUSAUTH_OK) {
        char why[1024];
        busauth_seedfile_describe_error(why, sizeof why, path ? path : "(none)", s, path ? errno : ENOENT);
        return client_fail(c, UNIBUS_ERR_IDENTITY, "%s", why);
    }
    busauth_nkey_encode_public(busauth_identity_public_key(c->id), c->nkey);
    return UNIBUS_OK;
}

/* "URL NKEY" lines; returns the nkey recorded for url, or "". */
static void known_key(const char *file, const char *url, char out[BUSAUTH_NKEY_PUBLIC_LEN + 1])
{
    out[0] = '\0';
    FILE *f = file ? fopen(file, "r") : NULL;
    char line[2300], u[2048], k[64];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "%2047s %63s", u, k) == 2 && strcmp(u, url) == 0)
            snprintf(out, BUSAUTH_NKEY_PUBLIC_LEN + 1, "%.56s", k);
    if (f)
        fclose(f);
}

static unibus_status remember_key(unibus_client *c, const client_node *node, bool learned)
{
    int fd = open(c->known_servers, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    char line[URL_MAX_LEN + 128];
    int n = snprintf(line, sizeof line, "%s %s\n", node->url, node->nkey);
    bool ok = fd >= 0 && write(fd, line, (size_t)n) == n;
    if (fd >= 0)
        close(fd);
    if (!ok)
        return client_fail(c, UNIBUS_ERR_CONFIG, "cannot record the server key in %s: %s", c->known_servers,
                           strerror(errno));
    c->first_use = c->first_use || learned;
    return UNIBUS_OK;
}

/* The pinned key, else the one recorded for this node's URL, else (first
 * use) the one it presented.  A pinned key the known-servers file lacks is
 * recorded too, so the next open needs no pin (unibus join pins the key
 * its token names).  A key recorded for another URL is never taken: each
 * node has its own. */
static unibus_status check_presented_key(unibus_client *c, const client_node *node)
{
    char known[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    known_key(c->known_servers, node->url, known);
    const char *expected = c->pinned_key ? c->pinned_key : known;
    if (expected[0] && strcmp(expected, node->nkey) != 0)
        return client_fail(c, UNIBUS_ERR_SERVER_KEY,
                           "%s presents server key %s but %s is %s: refusing (a different server, or an attack)",
                           node->url, node->nkey, c->pinned_key ? "the pinned key" : "the key recorded before",
                           expected);
    if (!known[0] && c->known_servers)
        return remember_key(c, node, !c->pinned_key);
    if (!expected[0])
        return client_fail(c, UNIBUS_ERR_CONFIG, "no server key pinned and no known-servers file to record one");
    return UNIBUS_OK;
}

unibus_status client_fail_unreachable(unibus_client *c, unibus_status s)
{
    if (c->urls.n < 2)
        return s;
    char last[sizeof c->error];
    snprintf(last, sizeof last, "%s", c->error);
    return client_fail(c, s, "none of the %zu control URLs answers (the last: %s): is the bus up?", c->urls.n, last);
}

unibus_status client_node_settle(unibus_client *c, client_node *node, bool *unreachable)
{
    *unreachable = false;
    c->node = node;
    if (node->nkey[0])
        return UNIBUS_OK;
    json_t *info = NULL;
    c->learning_key = true;
    unibus_status s = client_call_node(c, "GET", "/v1/info", &info, unreachable);
    c->learning_key = false;
    json_decref(info);
    if (s == UNIBUS_OK)
        s = check_presented_key(c, node);
    if (s != UNIBUS_OK)
        node->nkey[0] = '\0'; /* not trusted: learnt again, and checked again, next time */
    return s;
}

static char *replay_path_of(const unibus_config *cfg)
{
    if (cfg->replay_file)
        return strdup(cfg->replay_file);
    char *path = NULL;
    return asprintf(&path, "%s.replay", cfg->identity_file ? cfg->identity_file : "") < 0 ? NULL : path;
}

static bool copy_optional(char **to, const char *from)
{
    return !from || (*to = strdup(from)) != NULL;
}

/* The URL list, and a pin only where it can mean one node. */
static unibus_status take_urls(unibus_client *c, const unibus_config *cfg)
{
    char why[sizeof c->error];
    unibus_status s = url_list_parse(cfg->url, cfg->ca_file != NULL, &c->urls, why, sizeof why);
    if (s != UNIBUS_OK)
        return client_fail(c, s, "%s", s == UNIBUS_ERR_NOMEM ? "out of memory" : why);
    if (cfg->server_key && c->urls.n > 1)
        return client_fail(c, UNIBUS_ERR_CONFIG, "a pinned server key names one node but %zu control URLs are "
                           "given (each node has its own key): give that node's URL alone, or no pin",
                           c->urls.n);
    for (size_t i = 0; i < c->urls.n; i++)
        c->nodes[i].url = c->urls.urls[i];
    return UNIBUS_OK;
}

/* The first node, in the list's order, that answers with a key we trust. */
static unibus_status settle_first_reachable(unibus_client *c)
{
    unibus_status s = UNIBUS_ERR_NETWORK;
    bool unreachable = true;
    pthread_mutex_lock(&c->http_lock);
    for (size_t i = 0; i < c->urls.n && unreachable; i++)
        s = client_node_settle(c, &c->nodes[i], &unreachable);
    pthread_mutex_unlock(&c->http_lock);
    return unreachable ? client_fail_unreachable(c, s) : s;
}

unibus_status unibus_client_open(const unibus_config *cfg, unibus_client **out)
{
    *out = NULL;
    if (!cfg || !cfg->url)
        return UNIBUS_ERR_INVALID_ARG;
    unibus_client *c = calloc(1, sizeof *c);
    if (c) {
        pthread_mutex_init(&c->http_lock, NULL);
        pthread_mutex_init(&c->state_lock, NULL);
        pthread_mutex_init(&c->bus_lock, NULL);
        pthread_cond_init(&c->bus_closed_cv, NULL);
        randombytes_buf(c->session, sizeof c->session);
        c->retry_bound_ms = (cfg->retry_seconds ? cfg->retry_seconds : UNIBUS_RETRY_SECONDS_DEFAULT) * 1000LL;
    }
    if (!c || !copy_optional(&c->ca_file, cfg->ca_file) || !copy_optional(&c->known_servers, cfg->known_servers) ||
        !copy_optional(&c->pinned_key, cfg->server_key) || !(c->curl = curl_easy_init()) ||
        !(c->replay_path = replay_path_of(cfg))) {
        unibus_client_close(c);
        return UNIBUS_ERR_NOMEM;
    }
    *out = c;
    unibus_status s = take_urls(c, cfg);
    if (s == UNIBUS_OK)
        s = load_identity(c, cfg->identity_file);
    if (s == UNIBUS_OK)
        s = settle_first_reachable(c);
    return s;
}

void unibus_client_close(unibus_client *c)
{
    if (!c)
        return;
    client_bus_close(c);
    room_states_free(c->rooms);
    replay_store_close(c->replays);
    free(c->replay_path);
    pthread_mutex_destroy(&c->http_lock);
    pthread_mutex_destroy(&c->state_lock);
    pthread_mutex_destroy(&c->bus_lock);
    pthread_cond_destroy(&c->bus_closed_cv);
    if (c->curl)
        curl_easy_cleanup(c->curl);
    busauth_identity_free(c->id);
    url_list_free(&c->urls);
    free(c->known_servers);
    free(c->pinned_key);
    free(c->ca_file);
    free(c);
}

static bool json_equals(const json_t *value, const char *text)
{
    const char *v = json_string_value(value);
    return v && strcmp(v, text) == 0;
}

unibus_status unibus_client_whoami(unibus_client *c, unibus_user *out)
{
    json_t *me = NULL;
    unibus_status s = client_call(c, "GET", "/v1/me", NULL, &me);
    const char *name = json_string_value(json_object_get(me, "name"));
    const char *nkey = json_string_value(json_object_get(me, "nkey"));
    if (s == UNIBUS_OK && (!name || !nkey))
        s = client_fail(c, UNIBUS_ERR_PROTOCOL, "/v1/me lacks name or nkey");
    s = client_answer_about(c, s, me, "nkey", c->nkey, "identity");
    if (s == UNIBUS_OK) {
        memset(out, 0, sizeof *out);
        snprintf(out->name, sizeof out->name, "%s", name);
        snprintf(out->nkey, sizeof out->nkey, "%s", nkey);
        out->admin = json_equals(json_object_get(me, "role"), "admin");
        out->revoked = json_equals(json_object_get(me, "status"), "revoked");
    }
    json_decref(me);
    return s;
}
