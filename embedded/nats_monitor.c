#include "embedded/nats_monitor.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <nats/nats.h>
#include "embedded/clock.h"
#include "embedded/nats_auth.h"
#include "embedded/nats_config.h"

#define CONNZ_PAGE 1024
#define SERVER_REQUEST "$SYS.REQ.SERVER.%s.%s" /* to one server, by id (server/events.go:58) */
#define EPOCH_TRIES 3
#define STATZ_OPTIONS                                                                                             \
    "{\"accounts\":[\"" NATSCONF_PEERS_ACCOUNT "\",\"" NATSCONF_SYSTEM_ACCOUNT "\"],\"include_unused\":true}"

typedef struct {
    natsOptions *opts;
    natsConnection *nc;
    bool late_reply;    /* a request timed out: its answer may still be arriving */
    int64_t close_at_ms; /* parked: destroyed from then on */
} session;

/* nats.c 3.4.1 frees a connection's subscriptions on close before its read
 * loop stops, and that loop may be copying a message for one of them
 * (conn.c: _close, then natsConn_processMsg locks the freed sub's mutex;
 * fixed upstream after 3.4.1, commit 0a7dd28b).  A member's megabytes of
 * subscriptions made answers slow enough to time out and still arrive:
 * membershipd aborted (issue 15's ninth adversarial pass).  A session whose
 * request timed out is parked, open, until its late answer has long come
 * and gone, and only then destroyed. */
#define LATE_REPLY_MS 30000
#define PARKED_MAX 32

static struct {
    pthread_mutex_t lock;
    session parked[PARKED_MAX];
    size_t n;
} graveyard = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void session_destroy(session *s)
{
    natsConnection_Destroy(s->nc);
    natsOptions_Destroy(s->opts);
}

/* Destroys the parked sessions whose time came, or, when full, the
 * oldest (PARKED_MAX timeouts ago). */
static void sweep_parked(int64_t now_ms, bool make_room)
{
    for (size_t i = 0; i < graveyard.n;) {
        if (graveyard.parked[i].close_at_ms <= now_ms || (make_room && i == 0)) {
            session_destroy(&graveyard.parked[i]);
            memmove(&graveyard.parked[i], &graveyard.parked[i + 1], (graveyard.n - i - 1) * sizeof *graveyard.parked);
            graveyard.n--;
            make_room = false;
        } else {
            i++;
        }
    }
}

void nats_monitor_release(void)
{
    pthread_mutex_lock(&graveyard.lock);
    sweep_parked(INT64_MAX, false);
    pthread_mutex_unlock(&graveyard.lock);
}

static void session_close(session *s)
{
    int64_t now = clock_mono_ms();
    pthread_mutex_lock(&graveyard.lock);
    sweep_parked(now, s->late_reply && graveyard.n == PARKED_MAX);
    if (s->late_reply && s->nc) {
        s->close_at_ms = now + LATE_REPLY_MS;
        graveyard.parked[graveyard.n++] = *s;
    } else {
        session_destroy(s);
    }
    pthread_mutex_unlock(&graveyard.lock);
}

static natsStatus set_own_inbox(natsOptions *opts, const busauth_identity *system)
{
    char prefix[sizeof "_INBOX." + BUSAUTH_NKEY_PUBLIC_LEN];
    memcpy(prefix, "_INBOX.", 7);
    busauth_nkey_encode_public(busauth_identity_public_key(system), prefix + 7);
    return natsOptions_SetCustomInboxPrefix(opts, prefix);
}

/* Logs in as the system account's user; a TLS data plane is verified like
 * any client verifies it, never skipped. */
static int session_open(const nats_monitor *m, session *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    bool tls = strncmp(m->url, "tls://", 6) == 0;
    natsStatus st = natsOptions_Create(&s->opts);
    if (st == NATS_OK)
        st = natsOptions_SetURL(s->opts, m->url);
    if (st == NATS_OK)
        st = natsOptions_SetTimeout(s->opts, m->timeout_ms);
    if (st == NATS_OK)
        st = natsOptions_SetAllowReconnect(s->opts, false);
    if (st == NATS_OK)
        st = nats_auth_use_identity(s->opts, m->system);
    if (st == NATS_OK) /* the one subject the system user may subscribe to (embedded/nats_config.c) */
        st = set_own_inbox(s->opts, m->system);
    if (st == NATS_OK && tls)
        st = natsOptions_SetSecure(s->opts, true);
    if (st == NATS_OK && tls && m->ca_file)
        st = natsOptions_LoadCATrustedCertificates(s->opts, m->ca_file);
    if (st == NATS_OK)
        st = nats_auth_connect(&s->nc, s->opts);
    if (st == NATS_OK)
        return 0;
    natsStatus last = NATS_OK;
    const char *detail = nats_GetLastError(&last);
    snprintf(err, errlen, "cannot log in to nats-server at %s as %s: %s", m->url,
             m->login_name ? m->login_name : "its system account's user",
             last != NATS_OK && detail && detail[0] ? detail : natsStatus_GetText(st));
    session_close(s);
    return -1;
}

/* One $SYS request; *data is the answer's "data" object (the caller's to
 * json_decref).  nats-server wraps every answer as {server, data, error};
 * name (may be NULL) gets server.name, the answering server's. */
static int ask_named(const nats_monitor *m, session *s, const char *subject, const char *options, json_t **data,
                     char *name, size_t namelen, char *err, size_t errlen)
{
    natsMsg *reply = NULL;
    *data = NULL;
    natsStatus st = natsConnection_RequestString(&reply, s->nc, subject, options, m->timeout_ms);
    s->late_reply = s->late_reply || st == NATS_TIMEOUT;
    if (st != NATS_OK) {
        snprintf(err, errlen, "nats-server at %s did not answer %s: %s", m->url, subject, natsStatus_GetText(st));
        return -1;
    }
    /* NUL allowed: a member may subscribe to a subject holding one, which
     * every server's CONNZ and ROUTEZ then quote as \u0000; refused, it
     * switched the route-interest check off on every node (the sixth
     * adversarial pass).  Compared up to the NUL, on both sides alike. */
    json_t *doc = json_loadb(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), JSON_ALLOW_NUL, NULL);
    natsMsg_Destroy(reply);
    if (name)
        snprintf(name, namelen, "%s", json_string_value(json_object_get(json_object_get(doc, "server"), "name")) ?: "");
    json_t *refusal = json_object_get(doc, "error");
    json_t *answer = json_object_get(doc, "data");
    if (refusal)
        snprintf(err, errlen, "nats-server at %s refused %s: %s", m->url, subject,
                 json_string_value(json_object_get(refusal, "description")));
    else if (!json_is_object(answer))
        snprintf(err, errlen, "nats-server at %s answered %s without a JSON object", m->url, subject);
    else
        *data = json_incref(answer);
    json_decref(doc);
    return *data ? 0 : -1;
}

static int ask(const nats_monitor *m, session *s, const char *subject, const char *options, json_t **data,
               char *err, size_t errlen)
{
    return ask_named(m, s, subject, options, data, NULL, 0, err, errlen);
}

static uint64_t count(const json_t *obj, const char *path_a, const char *path_b)
{
    const json_t *v = json_object_get(obj, path_a);
    if (path_b)
        v = json_object_get(v, path_b);
    json_int_t n = json_integer_value(v);
    return n > 0 ? (uint64_t)n : 0;
}

/* subject for name (CONNZ, VARZ) on the server s is connected to. */
static int server_subject(const nats_monitor *m, session *s, const char *name, char *subject, size_t len,
                          char *err, size_t errlen)
{
    char id[128] = "";
    if (natsConnection_GetConnectedServerId(s->nc, id, sizeof id) != NATS_OK) {
        snprintf(err, errlen, "nats-server at %s did not say its id", m->url);
        return -1;
    }
    snprintf(subject, len, SERVER_REQUEST, id, name);
    return 0;
}

/* The epoch and the server's own counters, from VARZ. */
static int read_varz(const nats_monitor *m, session *s, nats_monitor_counters *out, char loaded[64], char *err,
                     size_t errlen)
{
    char subject[192];
    json_t *varz;
    if (server_subject(m, s, "VARZ", subject, sizeof subject, err, errlen) != 0 ||
        ask(m, s, subject, "", &varz, err, errlen) != 0)
        return -1;
    snprintf(out->server_id, sizeof out->server_id, "%s", json_string_value(json_object_get(varz, "server_id")) ?: "");
    snprintf(loaded, 64, "%s", json_string_value(json_object_get(varz, "config_load_time")) ?: "");
    out->server_in_msgs = count(varz, "in_msgs", NULL);
    out->server_in_bytes = count(varz, "in_bytes", NULL);
    out->routes = count(varz, "routes", NULL);
    json_decref(varz);
    return 0;
}

/* The named account's entry in a STATZ answer, or NULL. */
static const json_t *account_stat(const json_t *statz, const char *name)
{
    const json_t *accounts = json_object_get(statz, "account_statz");
    for (size_t i = 0; i < json_array_size(accounts); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(accounts, i), "acc")) ?: "", name) == 0)
            return json_array_get(accounts, i);
    return NULL;
}

static int read_accounts(const nats_monitor *m, session *s, nats_monitor_counters *out, char *err, size_t errlen)
{
    json_t *statz;
    /* include_unused: an account without connections is otherwise left out
     * (server/monitor.go AccountStatz). */
    if (ask(m, s, NATSCONF_SYS_ACCOUNTS_STATZ, STATZ_OPTIONS, &statz, err, errlen) != 0)
        return -1;
    const json_t *peers = account_stat(statz, NATSCONF_PEERS_ACCOUNT);
    const json_t *system = account_stat(statz, NATSCONF_SYSTEM_ACCOUNT);
    int rc = peers && system ? 0 : -1;
    if (rc == 0) {
        out->peers_connections = count(peers, "conns", NULL);
        out->peers_out_msgs = count(peers, "sent", "msgs");
        out->peers_out_bytes = count(peers, "sent", "bytes");
        out->system_in_msgs = count(system, "received", "msgs");
        out->system_in_bytes = count(system, "received", "bytes");
    } else {
        snprintf(err, errlen, "nats-server at %s did not count the peers' and the system accounts", m->url);
    }
    json_decref(statz);
    return rc;
}

/* One reading in one session: the counts belong to the epoch read before
 * and after them (1: a configuration was applied in between). */
static int read_once(const nats_monitor *m, nats_monitor_counters *out, char *err, size_t errlen)
{
    session s;
    nats_monitor_counters again;
    char after[64];
    if (session_open(m, &s, err, errlen) != 0)
        return -1;
    int rc = read_varz(m, &s, out, out->config_load_time, err, errlen) == 0 &&
                     read_accounts(m, &s, out, err, errlen) == 0 && read_varz(m, &s, &again, after, err, errlen) == 0
                 ? 0 : -1;
    session_close(&s);
    /* nats-server counts a request once it has answered it (server/client.go
     * readLoop, :1266-1274): the first VARZ (no body, so no bytes) is in the
     * system account's count and not in the server's.  The instant is the
     * first VARZ's; after it come this reading's three requests. */
    out->system_in_msgs -= out->system_in_msgs ? 1 : 0;
    out->own_msgs = 3;
    out->own_bytes = strlen(STATZ_OPTIONS);
    if (rc == 0 && strcmp(after, out->config_load_time) != 0) {
        snprintf(err, errlen, "nats-server at %s applied configurations faster than they could be read", m->url);
        rc = 1;
    }
    return rc;
}

int nats_monitor_counters_read(const nats_monitor *m, nats_monitor_counters *out, char *err, size_t errlen)
{
    /* A new session each time: one opened before a reload keeps counting
     * in the account it started in (server/client.go readLoop). */
    int rc = 1;
    for (int tries = 0; rc == 1 && tries < EPOCH_TRIES; tries++) {
        memset(out, 0, sizeof *out);
        rc = read_once(m, out, err, errlen);
    }
    return rc == 0 ? 0 : -1;
}

/* One page; *listed is how many connections it held.  details: with
 * each connection's subscriptions. */
static int connz_page(const nats_monitor *m, session *s, const char *subject, bool details, size_t offset,
                      nats_monitor_conn_fn fn, void *ctx, size_t *listed, char *err, size_t errlen)
{
    char options[128];
    snprintf(options, sizeof options, "{\"auth\":true,%s\"limit\":%d,\"offset\":%zu}",
             details ? "\"subscriptions_detail\":true," : "", CONNZ_PAGE, offset);
    json_t *page;
    *listed = 0;
    if (ask(m, s, subject, options, &page, err, errlen) != 0)
        return -1;
    json_t *conns = json_object_get(page, "connections");
    int rc = 0;
    *listed = json_array_size(conns);
    if (conns && !json_is_array(conns)) {
        snprintf(err, errlen, "nats-server at %s: CONNZ has no connection list", m->url);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < *listed; i++)
        rc = fn(json_array_get(conns, i), ctx);
    json_decref(page);
    return rc;
}

static int walk_connections(const nats_monitor *m, session *s, bool details, nats_monitor_conn_fn fn, void *ctx,
                            char *err, size_t errlen)
{
    char subject[192];
    int rc = server_subject(m, s, "CONNZ", subject, sizeof subject, err, errlen);
    size_t offset = 0, listed = 0;
    while (rc == 0) {
        rc = connz_page(m, s, subject, details, offset, fn, ctx, &listed, err, errlen);
        offset += listed;
        if (listed < CONNZ_PAGE)
            break;
    }
    return rc;
}

int nats_monitor_connections(const nats_monitor *m, nats_monitor_conn_fn fn, void *ctx, char *err, size_t errlen)
{
    session s;
    if (session_open(m, &s, err, errlen) != 0)
        return -1;
    int rc = walk_connections(m, &s, false, fn, ctx, err, errlen);
    session_close(&s);
    return rc;
}

typedef struct {
    node_heard *nodes;
    size_t cap, n;
    int64_t started_ms;
} report_tally;

static node_heard *tally_slot(report_tally *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->nodes[i].name, name) == 0)
            return &t->nodes[i];
    if (t->n == t->cap || strlen(name) >= NODE_REPORT_NAME_MAX)
        return NULL;
    node_heard *h = &t->nodes[t->n++];
    memset(h, 0, sizeof *h);
    snprintf(h->name, sizeof h->name, "%s", name);
    return h;
}

static void take_report(report_tally *t, natsMsg *msg)
{
    node_report r;
    if (node_report_parse(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &r) != 0)
        return;
    node_heard *h = tally_slot(t, natsMsg_GetSubject(msg) + strlen(NODE_REPORT_PREFIX));
    if (!h)
        return;
    h->report = r;
    h->heard_ms_ago = clock_mono_ms(); /* made relative at the end */
    h->skew_ms = r.time_ms - clock_wall_ms();
}

int nats_monitor_node_reports(const nats_monitor *m, int listen_ms, node_heard *out, size_t cap, size_t *n,
                              char *err, size_t errlen)
{
    session s;
    natsSubscription *sub = NULL;
    report_tally t = {.nodes = out, .cap = cap, .started_ms = clock_mono_ms()};
    *n = 0;
    if (session_open(m, &s, err, errlen) != 0)
        return -1;
    if (natsConnection_SubscribeSync(&sub, s.nc, NODE_REPORT_PREFIX "*") != NATS_OK) {
        snprintf(err, errlen, "cannot listen to the nodes' reports on %s", m->url);
        session_close(&s);
        return -1;
    }
    for (int64_t left; (left = t.started_ms + listen_ms - clock_mono_ms()) > 0;) {
        natsMsg *msg = NULL;
        if (natsSubscription_NextMsg(&msg, sub, left) == NATS_OK)
            take_report(&t, msg);
        natsMsg_Destroy(msg);
    }
    int64_t now = clock_mono_ms();
    for (size_t i = 0; i < t.n; i++)
        out[i].heard_ms_ago = now - out[i].heard_ms_ago;
    *n = t.n;
    natsSubscription_Destroy(sub);
    session_close(&s);
    return 0;
}
/* Route interest (dev/cluster.md, "Route interest").  A route names a
 * subscription "ACCOUNT SUBJECT[ QUEUE]": the sid nats-server gives what
 * a route sent it (route.go:1077-1082). */
typedef struct {
    const char *const *accounts;
    size_t naccounts;
    json_t *held;       /* remote server name -> {interest key: true}: what it holds for this server */
    json_t *missing;    /* "SERVER ACCOUNT SUBJECT[ QUEUE]" -> true */
} interest_scan;

static bool account_watched(const interest_scan *scan, const char *account)
{
    for (size_t i = 0; account && i < scan->naccounts; i++)
        if (strcmp(scan->accounts[i], account) == 0)
            return true;
    return false;
}

/* The route subscriptions the server that answered routez holds from the
 * server whose id is self (none when it has no route to it now). */
static json_t *held_from(const json_t *routez, const char *self)
{
    json_t *held = json_object();
    const json_t *routes = json_object_get(routez, "routes");
    for (size_t i = 0; held && i < json_array_size(routes); i++) {
        const json_t *route = json_array_get(routes, i);
        if (strcmp(json_string_value(json_object_get(route, "remote_id")) ?: "", self) != 0)
            continue;
        const json_t *subs = json_object_get(route, "subscriptions_list_detail");
        for (size_t j = 0; j < json_array_size(subs); j++)
            json_object_set_new(held, json_string_value(json_object_get(json_array_get(subs, j), "sid")) ?: "",
                                json_true());
    }
    return held;
}

/* What each server this one routes to holds for it: asked of each, by id
 * (answered over the route; server/events.go). */
static int read_held(const nats_monitor *m, session *s, interest_scan *scan, char *err, size_t errlen)
{
    char self[128] = "", subject[192];
    json_t *own;
    if (natsConnection_GetConnectedServerId(s->nc, self, sizeof self) != NATS_OK ||
        server_subject(m, s, "ROUTEZ", subject, sizeof subject, err, errlen) != 0 ||
        ask(m, s, subject, "", &own, err, errlen) != 0)
        return -1;
    const json_t *routes = json_object_get(own, "routes");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(routes); i++) {
        const json_t *route = json_array_get(routes, i);
        const char *id = json_string_value(json_object_get(route, "remote_id")) ?: "";
        json_t *routez;
        char name[128];
        snprintf(subject, sizeof subject, SERVER_REQUEST, id, "ROUTEZ");
        rc = ask_named(m, s, subject, "{\"subscriptions_detail\":true}", &routez, name, sizeof name, err, errlen);
        if (rc == 0) {
            json_object_set_new(scan->held, name[0] ? name : id, held_from(routez, self));
            json_decref(routez);
        }
    }
    json_decref(own);
    return rc;
}

#define INTEREST_KEY_MAX 8192

/* Each subscription of a connection in a watched account that some
 * server does not hold. */
static int note_missing(const json_t *conn, void *ctx)
{
    interest_scan *scan = ctx;
    const char *account = json_string_value(json_object_get(conn, "account"));
    if (!account_watched(scan, account))
        return 0;
    const json_t *subs = json_object_get(conn, "subscriptions_list_detail");
    for (size_t i = 0; i < json_array_size(subs); i++) {
        const json_t *sub = json_array_get(subs, i);
        const json_t *subject = json_object_get(sub, "subject"), *qgroup = json_object_get(sub, "qgroup");
        const char *queue = json_string_value(qgroup);
        /* One with a NUL byte in it cannot be compared (it is cut there, and
         * nats-server does not carry it over routes as it was): left out. */
        if (json_string_length(subject) != strlen(json_string_value(subject) ?: "") ||
            (queue && json_string_length(qgroup) != strlen(queue)))
            continue;
        /* Room for any subject and queue a client can send (a control line
         * is at most 4,096 bytes); one cut short would never match what
         * the others hold, and read as missing for ever (the fifth
         * adversarial pass made a node bounce its routes every 15 s that
         * way with one long subscription). */
        char key[INTEREST_KEY_MAX];
        int n = snprintf(key, sizeof key, "%s %s%s%s", account, json_string_value(subject) ?: "", queue ? " " : "",
                         queue ?: "");
        if (n < 0 || (size_t)n >= sizeof key)
            continue;
        const char *server;
        json_t *held;
        json_object_foreach(scan->held, server, held) {
            char pair[INTEREST_KEY_MAX + 256];
            /* The holder too: only the same subscription missed in two
             * readings proves a loss, not a subject a client keeps
             * subscribing and unsubscribing (its interest comes and goes
             * with it). */
            snprintf(pair, sizeof pair, "%s %s cid=%" JSON_INTEGER_FORMAT " sid=%s", server, key,
                     json_integer_value(json_object_get(sub, "cid")),
                     json_string_value(json_object_get(sub, "sid")) ?: "");
            if (!json_object_get(held, key))
                json_object_set_new(scan->missing, pair, json_true());
        }
    }
    return 0;
}

int nats_monitor_interest_missing(const nats_monitor *m, const char *const *accounts, size_t naccounts,
                                  json_t **missing, size_t *servers, char *err, size_t errlen)
{
    interest_scan scan = {.accounts = accounts, .naccounts = naccounts, .held = json_object(),
                          .missing = json_object()};
    session s;
    int rc = scan.held && scan.missing ? session_open(m, &s, err, errlen) : -1;
    if (rc == 0) {
        /* The others first: a subscription made in between reads as
         * missing (the caller confirms), one dropped in between does not. */
        rc = read_held(m, &s, &scan, err, errlen) == 0 &&
                     walk_connections(m, &s, true, note_missing, &scan, err, errlen) == 0
                 ? 0 : -1;
        session_close(&s);
    }
    *servers = json_object_size(scan.held);
    json_decref(scan.held);
    *missing = rc == 0 ? scan.missing : NULL;
    if (rc != 0)
        json_decref(scan.missing);
    return rc;
}
