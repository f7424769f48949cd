#include "membershipd/dataplane/dataplane.h"
#include "membershipd/dataplane/dataplane_render.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include "embedded/clock.h"
#include "embedded/nats_auth.h"
#include "embedded/nats_config.h"
#include "embedded/nats_monitor.h"
#include "embedded/nats_probe.h"
#include "embedded/supervisor.h"
#include <sodium.h>
#include "common/log.h"
#include "membershipd/store/store.h"
#include "membershipd/store/store_log.h"

#define READY_TIMEOUT_MS 10000
#define RELOAD_TIMEOUT_MS 5000
#define TRAFFIC_TIMEOUT_MS 2000
#define CHECKPOINT_TIMEOUT_MS 250  /* before a reload: never holds it up for long */
#define OWN_TRAFFIC_TRIES 5
#define INTEREST_EVERY_MS 5000      /* a check besides the one after each reload */
#define INTEREST_CONFIRM_MS 300     /* between the two readings that must both miss an interest */
#define INTEREST_BOUNCE_GAP_MS 10000 /* at most one route bounce in this long */
#define INTEREST_REFORM_MS 5000     /* a bounce's outcome is read this long, once a reading worked */
#define INTEREST_OUTCOME_MAX_MS 30000 /* ... and this long while none did (a node too busy to answer) */
#define INTEREST_TIMEOUT_MS 500      /* per answer: a node cut off must not hold the reloader long */

/* The peers' traffic out of nats-server's counters (nats_monitor.h):
 * received = the server's (VARZ) minus the system account's (membershipd's
 * and doctor's requests); delivered = the peers' account's.  Each reading
 * adds what each counter grew since the previous reading of its epoch (the
 * server's: its process; the accounts': its configuration), or all it holds
 * in a new epoch, where the system account's count for the epoch that
 * ended is closed with the last reading's own requests.  The reloader reads
 * just before each SIGHUP, so what is lost is what arrives between that
 * reading and the reload (and doctor's requests in that gap are counted as
 * the peers').  Reading and adding happen under lock, in order. */
typedef struct {
    pthread_mutex_t lock;
    nats_monitor_counters last;
    uint64_t server_in_msgs, server_in_bytes, system_in_msgs, system_in_bytes;
    uint64_t own_msgs, own_bytes;     /* the bus log's connection, as it said at the last reading */
    dataplane_traffic_totals total;
} traffic_tally;

struct dataplane {
    dataplane_config cfg;     /* its paths point at the copies below */
    char config_path[4096], db_path[4096], jetstream_dir[4096];
    store *store;             /* the reloader's own connection */
    nats_supervisor *sup;
    char *rendered;           /* the text nats-server runs with */
    dataplane_keys users;     /* the users it lists (in a cluster) */
    natsconf_blocks *blocks;  /* the users' blocks of the last rendering (reloader thread; NULL: none kept) */
    pthread_mutex_t report_lock; /* held while in_force is called, and to change it */
    void (*in_force)(void *ctx, int64_t seq);
    void *in_force_ctx;
    void (*own_traffic)(void *ctx, uint64_t *msgs, uint64_t *bytes);
    void *own_traffic_ctx;
    bool (*admit)(void *ctx);
    void *admit_ctx;
    /* In a cluster: the block rendered (cfg.cluster points here), with the
     * route password the reloader renders, and the one it takes next. */
    natsconf_cluster cluster;
    char route_password[NATSCONF_ROUTE_PASSWORD_LEN + 1];
    char next_password[NATSCONF_ROUTE_PASSWORD_LEN + 1];
    bool restart_next;        /* the next install restarts nats-server (the reloader's own) */
    bool restart_asked;       /* dataplane_restart_server: under lock, moved to restart_next */
    _Atomic bool closed;      /* peers not admitted: in force in nats-server */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    unsigned wanted, applied; /* sync generations */
    unsigned reloads;
    int64_t change_since_ms;  /* when the oldest change not yet applied reached the API; 0: unknown */
    bool files_changed;       /* reload even if the text is the same */
    bool stopping;
    bool thread_started;
    traffic_tally traffic;
    int64_t interest_due_ms, last_bounce_ms; /* reloader thread only */
    json_t *unrepaired;       /* subscriptions a bounce did not bring back (reloader thread only) */
    struct {                  /* a bounce whose outcome is being read (reloader thread only) */
        json_t *missing;      /* what the others missed before it; NULL: none under way */
        json_t *left;         /* of that, what they missed at the last reading; NULL: not told yet */
        size_t servers;       /* how many servers were compared before it */
        int64_t started_ms;
        char example[1400];
    } repair;
    _Atomic unsigned interest_repairs;
};

static int internal_login(dataplane *dp, int timeout_ms, int pause_ms, char *why, size_t whylen);

static int read_traffic(dataplane *dp, int timeout_ms, dataplane_traffic_totals *out, char *err, size_t errlen);

/* The counts up to now, before a reload starts them again. */
static void checkpoint_traffic(dataplane *dp)
{
    char err[512];
    if (dp->sup && dp->cfg.count_traffic && dataplane_monitored(dp) &&
        read_traffic(dp, CHECKPOINT_TIMEOUT_MS, NULL, err, sizeof err) != 0)
        log_event(LOG_WARN, "nats_traffic", "detail=\"%s; the traffic since the last reading is not counted\"", err);
}

/* Writes text and has nats-server run it.  since_ms (monotonic, 0 when
 * unknown) is when the change reached the API: the log line then says how
 * long membershipd itself took to get it to SIGHUP (store write, render,
 * file write), which dev/bench.md measures. */
static int install(dataplane *dp, const char *text, int64_t since_ms)
{
    /* Until nats-server accepts it, no text is "what it runs with". */
    dataplane_text_free(dp->rendered);
    dp->rendered = NULL;
    if (natsconf_write(dp->cfg.config_path, text) != 0) {
        log_event(LOG_ERROR, "nats_config", "path=%s detail=\"%s\"", dp->cfg.config_path, strerror(errno));
        return -1;
    }
    checkpoint_traffic(dp);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double share_ms = since_ms ? (double)t0.tv_sec * 1e3 + (double)t0.tv_nsec / 1e6 - (double)since_ms : -1;
    /* A new route secret is not reloaded: routes formed during a reload's
     * account swap lost interest in other nodes' subjects (seen in
     * cluster.join), so nats-server starts again on it. */
    bool restart = dp->restart_next;
    dp->restart_next = false;
    int rc = !dp->sup ? 0 /* first: read at start */
             : restart ? supervisor_restart(dp->sup, READY_TIMEOUT_MS) : supervisor_reload(dp->sup, RELOAD_TIMEOUT_MS);
    /* The change counts as in force once our own identity logs in to the
     * reloaded server: a configuration that broke logins is not applied. */
    char why[PATH_MAX + 256] = "";
    if (rc == 0 && dp->sup && internal_login(dp, RELOAD_TIMEOUT_MS, 5, why, sizeof why) != 0) {
        log_event(LOG_ERROR, "nats_login", "detail=\"%s\"", why);
        rc = -1;
    }
    if (!dp->sup)
        return rc;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    pthread_mutex_lock(&dp->lock);
    unsigned n = ++dp->reloads;
    pthread_mutex_unlock(&dp->lock);
    if (dp->cfg.reload_done)
        dp->cfg.reload_done(rc == 0, ms / 1e3);
    log_event(rc == 0 ? LOG_INFO : LOG_ERROR, "nats_reloaded", "count=%u ok=%s dur_ms=%.1f change_to_sighup_ms=%.1f%s",
              n, rc == 0 ? "yes" : "no", ms, share_ms, restart ? " how=restart" : "");
    return rc;
}

/* About the length of the next rendering: its buffer is sized once. */
static size_t rendered_len(const dataplane *dp)
{
    return dp->rendered ? strlen(dp->rendered) : 0;
}

/* Re-renders; installs only when the text differs.  A user removed in a
 * cluster takes two reloads, the first denying it everything: removing a
 * connected user in one would lose the routes' interest in its subjects
 * (FACTS.md, trap 1; dev/cluster.md).  supervisor_reload returns once
 * nats-server has applied the first, so the second reads the new file. */
static int apply(dataplane *dp, int64_t since_ms)
{
    dataplane_rendering r;
    int64_t seq = 0; /* read first: the rendering holds at least this entry */
    store_log_applied(dp->store, &seq);
    if (dataplane_render_change(dp->store, &dp->cfg, dp->sup ? &dp->users : NULL, rendered_len(dp), dp->blocks, &r) !=
        0) {
        log_event(LOG_ERROR, "nats_config", "detail=\"cannot render the configuration from the database\"");
        return -1;
    }
    int rc = 0;
    if (!dp->rendered || strcmp(r.text, dp->rendered) != 0) {
        if (r.retiring_text)
            rc = install(dp, r.retiring_text, 0);
        if (rc == 0)
            rc = install(dp, r.text, since_ms);
        if (rc == 0) {
            dp->rendered = r.text;
            r.text = NULL;
        }
    }
    if (rc == 0) {
        free(dp->users.keys);
        dp->users = r.users;
        r.users.keys = NULL;
    }
    dataplane_rendering_free(&r);
    pthread_mutex_lock(&dp->report_lock);
    if (rc == 0 && dp->in_force)
        dp->in_force(dp->in_force_ctx, seq);
    pthread_mutex_unlock(&dp->report_lock);
    return rc;
}

void dataplane_on_in_force(dataplane *dp, void (*fn)(void *ctx, int64_t seq), void *ctx)
{
    pthread_mutex_lock(&dp->report_lock);
    dp->in_force = fn;
    dp->in_force_ctx = ctx;
    pthread_mutex_unlock(&dp->report_lock);
}

void dataplane_gate_peers(dataplane *dp, bool (*admit)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&dp->report_lock);
    dp->admit = admit;
    dp->admit_ctx = ctx;
    pthread_mutex_unlock(&dp->report_lock);
}

bool dataplane_peers_closed(dataplane *dp)
{
    return dp && atomic_load(&dp->closed);
}

/* Asks the gate; true when its answer changed what is to be rendered. */
static bool gate_moved(dataplane *dp)
{
    pthread_mutex_lock(&dp->report_lock);
    bool closed = dp->admit && !dp->admit(dp->admit_ctx);
    pthread_mutex_unlock(&dp->report_lock);
    if (closed == dp->cfg.peers_closed)
        return false;
    dp->cfg.peers_closed = closed;
    return true;
}

/* Route interest (dev/cluster.md, "Route interest"): nats-server 2.9.10
 * counts a SUB or UNSUB that arrives while a reload moves the clients to
 * the rebuilt accounts against the old account's route map (reload.go:
 * 1597-1616 copy it before the clients move at 1759), so another node may
 * hold no interest for a subject this node's clients want, and the copy
 * keeps a count that never goes 0->1 again (route.go:1569).  Every route
 * that forms is sent the whole map (route.go:1165-1222), so closing and
 * re-forming the routes gives the others the interest back.  Checked after
 * each reload and every INTEREST_EVERY_MS, in the accounts of the peers
 * and of the bus log. */
static const char *const interest_accounts[] = {NATSCONF_PEERS_ACCOUNT, NATSCONF_LOG_ACCOUNT};

static bool interest_watched(const dataplane *dp)
{
    return dp->cfg.cluster && dataplane_monitored(dp) && !dp->cfg.peers_closed;
}

/* One reading: what the other nodes miss now; *servers: how many were
 * compared.  NULL (logged) when nats-server could not be asked. */
static json_t *interest_missing(dataplane *dp, size_t *servers)
{
    char url[128], err[512];
    dataplane_url(dp, url, sizeof url);
    const nats_monitor m = {.url = url, .system = dp->cfg.system, .ca_file = dp->cfg.tls_cert,
                            .timeout_ms = INTEREST_TIMEOUT_MS};
    json_t *missing;
    if (nats_monitor_interest_missing(&m, interest_accounts, sizeof interest_accounts / sizeof *interest_accounts,
                                      &missing, servers, err, sizeof err) != 0) {
        log_event(LOG_WARN, "cluster_interest", "detail=\"%s; route interest not checked\"", err);
        return NULL;
    }
    return missing;
}

static bool stopping(dataplane *dp)
{
    pthread_mutex_lock(&dp->lock);
    bool stop = dp->stopping;
    pthread_mutex_unlock(&dp->lock);
    return stop;
}

static void pause_ms(int ms)
{
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

/* Removes from set each key that is (keep_present false) or is not (true)
 * in other; a NULL other holds nothing. */
static void keys_filter(json_t *set, const json_t *other, bool keep_present)
{
    const char *key;
    json_t *value;
    void *next;
    json_object_foreach_safe(set, next, key, value) {
        if ((other && json_object_get(other, key)) != keep_present)
            json_object_del(set, key);
    }
}

/* What two readings INTEREST_CONFIRM_MS apart both miss: a subscription
 * whose interest was still crossing the routes at the first is gone from
 * the second.  *out is NULL when nothing is; *servers: how many the
 * first compared.  -1 when nats-server could not be asked. */
static int missing_confirmed(dataplane *dp, json_t **out, size_t *servers)
{
    size_t again;
    json_t *first = interest_missing(dp, servers), *second = NULL;
    if (first && json_object_size(first)) {
        pause_ms(INTEREST_CONFIRM_MS);
        second = interest_missing(dp, &again);
    }
    int rc = first && (second || !json_object_size(first)) ? 0 : -1;
    if (second)
        keys_filter(second, first, true);
    json_decref(first);
    if (second && json_object_size(second) == 0) {
        json_decref(second);
        second = NULL;
    }
    *out = second;
    return rc;
}

/* Closes every route and has them form again: one reload pinning no key
 * and naming no route, then the configuration again (apply, which also
 * takes any change the store made meanwhile).  -1 without a reload when
 * the store removed a user since the last apply: dropping routes must not
 * remove a connected user in one reload (FACTS.md, trap 1); the apply that
 * follows the change checks again. */
static int bounce_routes(dataplane *dp)
{
    dataplane_rendering r;
    dp->cfg.routes_dropped = true;
    int rc = dataplane_render_change(dp->store, &dp->cfg, &dp->users, rendered_len(dp), dp->blocks, &r);
    dp->cfg.routes_dropped = false;
    if (rc != 0 || r.retiring_text) {
        dataplane_rendering_free(&r);
        return -1;
    }
    /* The configuration again whatever the first reload did (install left
     * nothing as "rendered", so apply installs); if that fails, the
     * reloader tries again at its next poll. */
    int dropped = install(dp, r.text, 0);
    dataplane_rendering_free(&r);
    int back = apply(dp, 0);
    if (back != 0)
        dataplane_nudge(dp);
    return dropped == 0 && back == 0 ? 0 : -1;
}

/* A route that forms again is sent the account's whole map, so the other
 * nodes get back whatever the map still counts (the case where a member's
 * UNSUB, counted in the old map, sent RS- while the copy kept its count:
 * new subscribers on this node heard nothing).  What the map itself lost
 * (her SUB counted in the old map, then an UNSUB taking the copy to 0 and
 * sending RS- while another client still subscribes) no bounce gives back:
 * logged as left (dev/cluster.md, "What is left").  The outcome is read
 * by read_repair, one reading per reloader round. */
static void repair_interest(dataplane *dp, json_t *missing, size_t servers)
{
    const char *example = json_object_iter_key(json_object_iter(missing));
    snprintf(dp->repair.example, sizeof dp->repair.example, "%s", example ? example : "");
    dp->last_bounce_ms = clock_mono_ms();
    if (bounce_routes(dp) != 0) {
        log_event(LOG_ERROR, "cluster_interest_repaired", "ok=no missing=%zu example=\"%s\" detail=\"%s\"",
                  json_object_size(missing), dp->repair.example,
                  "the routes could not be bounced; checked again later");
        return;
    }
    atomic_fetch_add(&dp->interest_repairs, 1);
    dp->repair.missing = json_incref(missing);
    dp->repair.servers = servers;
    dp->repair.started_ms = dp->last_bounce_ms;
}

/* Logs a bounce's outcome; what stayed missing through it is set aside. */
static void end_repair(dataplane *dp)
{
    json_t *left = dp->repair.left;
    size_t nleft = left ? json_object_size(left) : 0;
    if (nleft > 0 && (dp->unrepaired || (dp->unrepaired = json_object())))
        json_object_update(dp->unrepaired, left);
    log_event(left && nleft == 0 ? LOG_WARN : LOG_ERROR, "cluster_interest_repaired",
              "ok=%s missing=%zu example=\"%s\" left=%zd dur_ms=%lld", left && nleft == 0 ? "yes" : "no",
              json_object_size(dp->repair.missing), dp->repair.example, left ? (ssize_t)nleft : (ssize_t)-1,
              (long long)(clock_mono_ms() - dp->repair.started_ms));
    json_decref(dp->repair.missing);
    json_decref(left);
    dp->repair.missing = dp->repair.left = NULL;
}

/* One reading of a bounce's outcome: done once as many servers are routed
 * to as before and none of what was missing still is (a route that forms
 * sends its interest at once, which a loaded node takes a while to read),
 * or INTEREST_REFORM_MS after the bounce, or, while no reading could be
 * made (under CI's sanitizers a flooded node answered none for 5 s),
 * INTEREST_OUTCOME_MAX_MS.  One per reloader round, so that changes are
 * applied in between: a member who keeps an interest lost must not hold
 * revocations back for the whole wait. */
static void read_repair(dataplane *dp)
{
    json_t *left;
    size_t servers = 0;
    if (missing_confirmed(dp, &left, &servers) == 0) {
        left = left ?: json_object();
        keys_filter(left, dp->repair.missing, true);
        json_decref(dp->repair.left);
        dp->repair.left = left;
    }
    bool back = left && json_object_size(left) == 0 && servers >= dp->repair.servers;
    int64_t waited = clock_mono_ms() - dp->repair.started_ms;
    if (back || stopping(dp) || waited >= (dp->repair.left ? INTEREST_REFORM_MS : INTEREST_OUTCOME_MAX_MS))
        end_repair(dp);
}

/* What is missing, less the subscriptions a bounce already failed to bring
 * back: no bounce can (what the node's own map lost), and a member who
 * keeps one must not make her node bounce its routes again and again (the
 * fifth adversarial pass did, with a subject the comparison cut short).
 * One no longer missing (unsubscribed, or a fresh SUB sent the interest
 * again) is forgotten: the set holds only what is still lost. */
static void drop_unrepaired(dataplane *dp, json_t *missing)
{
    if (!dp->unrepaired)
        return;
    size_t was = json_object_size(dp->unrepaired);
    keys_filter(dp->unrepaired, missing, true);
    if (json_object_size(dp->unrepaired) < was)
        log_event(LOG_INFO, "cluster_interest_unrepaired", "was=%zu left=%zu", was, json_object_size(dp->unrepaired));
    keys_filter(missing, dp->unrepaired, false);
}

/* After a reload, and every INTEREST_EVERY_MS: at most one bounce per
 * INTEREST_BOUNCE_GAP_MS, so that a member flooding SUB/UNSUB through
 * every reload costs the node a route bounce that often at most. */
static void watch_interest(dataplane *dp, bool reloaded)
{
    if (dp->repair.missing) {
        read_repair(dp);
        return;
    }
    int64_t now = clock_mono_ms();
    if (!interest_watched(dp) || (!reloaded && now < dp->interest_due_ms))
        return;
    dp->interest_due_ms = now + INTEREST_EVERY_MS;
    if (dp->last_bounce_ms && now - dp->last_bounce_ms < INTEREST_BOUNCE_GAP_MS)
        return;
    json_t *missing;
    size_t servers;
    if (missing_confirmed(dp, &missing, &servers) == 0) {
        missing = missing ?: json_object();
        drop_unrepaired(dp, missing);
    }
    if (missing && json_object_size(missing) > 0)
        repair_interest(dp, missing, servers);
    json_decref(missing);
}

/* Applies the database to nats-server whenever asked or when another
 * process committed, or when the gate's answer changed; a failed apply is
 * retried every poll and never reported as applied. */
static void *reloader(void *arg)
{
    dataplane *dp = arg;
    int64_t seen_version = store_data_version(dp->store);
    bool failing = false;
    pthread_mutex_lock(&dp->lock);
    while (!dp->stopping) {
        struct timespec until = clock_deadline_in(DATAPLANE_POLL_MS);
        while (!dp->stopping && dp->wanted == dp->applied &&
               pthread_cond_timedwait(&dp->changed, &dp->lock, &until) != ETIMEDOUT)
            ;
        if (dp->stopping)
            break;
        unsigned target = dp->wanted;
        int64_t since_ms = dp->change_since_ms;
        dp->change_since_ms = 0;
        if (dp->next_password[0]) { /* taken here, where it is rendered: never read half-written */
            memcpy(dp->route_password, dp->next_password, sizeof dp->route_password);
            sodium_memzero(dp->next_password, sizeof dp->next_password);
            dp->restart_next = true;
        }
        if (dp->restart_asked) {
            dp->restart_next = true;
            dp->restart_asked = false;
        }
        if (dp->files_changed) {
            dataplane_text_free(dp->rendered); /* so apply writes and reloads */
            dp->rendered = NULL;
            dp->files_changed = false;
        }
        pthread_mutex_unlock(&dp->lock);
        int64_t version = store_data_version(dp->store);
        bool ok = true;
        bool gated = gate_moved(dp);
        unsigned reloads = dp->reloads; /* only this thread changes it */
        if (gated || failing || target != dp->applied || version != seen_version)
            ok = apply(dp, since_ms) == 0;
        failing = !ok;
        if (ok) {
            seen_version = version;
            atomic_store(&dp->closed, dp->cfg.peers_closed);
        }
        pthread_mutex_lock(&dp->lock);
        if (ok) {
            dp->applied = target;
            pthread_cond_broadcast(&dp->changed);
        }
        /* After the waiters are answered: the check may take a while. */
        pthread_mutex_unlock(&dp->lock);
        if (ok)
            watch_interest(dp, dp->reloads != reloads);
        pthread_mutex_lock(&dp->lock);
    }
    pthread_mutex_unlock(&dp->lock);
    return NULL;
}

/* The internal identity proves that nkey authentication works end to end,
 * with nats-server itself: the TLS server must present the certificate we
 * gave it.  why gets the last failure. */
static int internal_login(dataplane *dp, int timeout_ms, int pause_ms, char *why, size_t whylen)
{
    nats_probe_target target = {dp->cfg.host, dp->cfg.port, dp->cfg.tls_cert, 2000};
    const busauth_identity *as = dp->cfg.authorization ? dp->cfg.internal : NULL;
    for (int waited = 0; waited <= timeout_ms; waited += pause_ms) {
        if (nats_auth_probe(&target, as, why, whylen) == 0)
            return 0;
        struct timespec pause = {0, pause_ms * 1000000L};
        nanosleep(&pause, NULL);
    }
    return -1;
}

static int wait_for_internal_login(dataplane *dp)
{
    char why[PATH_MAX + 256];
    if (internal_login(dp, READY_TIMEOUT_MS, 100, why, sizeof why) == 0)
        return 0;
    char url[128];
    dataplane_url(dp, url, sizeof url);
    fprintf(stderr, "membershipd: nats-server at %s did not accept membershipd's own identity: %s\n", url, why);
    return -1;
}

static dataplane *dataplane_new(const dataplane_config *cfg)
{
    dataplane *dp = calloc(1, sizeof *dp);
    if (!dp)
        return NULL;
    dp->cfg = *cfg;
    dp->blocks = natsconf_blocks_new(); /* NULL: every user rendered every time, still right */
    atomic_store(&dp->closed, cfg->peers_closed);
    snprintf(dp->config_path, sizeof dp->config_path, "%s", cfg->config_path);
    snprintf(dp->db_path, sizeof dp->db_path, "%s", cfg->db_path);
    dp->cfg.config_path = dp->config_path;
    dp->cfg.db_path = dp->db_path;
    if (cfg->jetstream_dir) {
        snprintf(dp->jetstream_dir, sizeof dp->jetstream_dir, "%s", cfg->jetstream_dir);
        dp->cfg.jetstream_dir = dp->jetstream_dir;
    }
    if (cfg->cluster) {
        dp->cluster = *cfg->cluster;
        snprintf(dp->route_password, sizeof dp->route_password, "%s", cfg->cluster->password);
        dp->cluster.password = dp->route_password;
        dp->cfg.cluster = &dp->cluster;
    }
    pthread_mutex_init(&dp->lock, NULL);
    pthread_mutex_init(&dp->report_lock, NULL);
    pthread_mutex_init(&dp->traffic.lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&dp->changed, &attr);
    pthread_condattr_destroy(&attr);
    return dp;
}

dataplane *dataplane_start(const dataplane_config *cfg)
{
    dataplane *dp = dataplane_new(cfg);
    char err[4096 + 256];
    if (!dp || store_open(cfg->db_path, STORE_OPEN_EXISTING, &dp->store, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "membershipd: data plane: %s\n", dp ? err : "out of memory");
        dataplane_stop(dp);
        return NULL;
    }
    if (apply(dp, 0) != 0 ||
        !(dp->sup = supervisor_start(cfg->binary, cfg->config_path, cfg->nats_env, READY_TIMEOUT_MS)) ||
        wait_for_internal_login(dp) != 0 ||
        pthread_create(&dp->thread, NULL, reloader, dp) != 0) {
        dataplane_stop(dp);
        return NULL;
    }
    dp->thread_started = true;
    return dp;
}

int dataplane_sync(dataplane *dp, int64_t since_ms)
{
    if (!dp)
        return 0;
    struct timespec until = clock_deadline_in(DATAPLANE_SYNC_TIMEOUT_MS);
    pthread_mutex_lock(&dp->lock);
    if (since_ms && (!dp->change_since_ms || since_ms < dp->change_since_ms))
        dp->change_since_ms = since_ms;
    unsigned mine = ++dp->wanted;
    pthread_cond_broadcast(&dp->changed);
    while ((int)(dp->applied - mine) < 0 && !dp->stopping &&
           pthread_cond_timedwait(&dp->changed, &dp->lock, &until) != ETIMEDOUT)
        ;
    int rc = (int)(dp->applied - mine) >= 0 ? 0 : -1;
    pthread_mutex_unlock(&dp->lock);
    return rc;
}

int dataplane_set_route_password(dataplane *dp, const char *password)
{
    if (!dp->cfg.cluster || strlen(password) != NATSCONF_ROUTE_PASSWORD_LEN)
        return -1;
    pthread_mutex_lock(&dp->lock);
    memcpy(dp->next_password, password, sizeof dp->next_password);
    pthread_mutex_unlock(&dp->lock);
    return 0;
}

int dataplane_restart_server(dataplane *dp)
{
    pthread_mutex_lock(&dp->lock);
    dp->restart_asked = true;
    dp->files_changed = true;
    pthread_mutex_unlock(&dp->lock);
    return dataplane_sync(dp, 0);
}

int dataplane_refresh(dataplane *dp)
{
    pthread_mutex_lock(&dp->lock);
    dp->files_changed = true;
    pthread_mutex_unlock(&dp->lock);
    return dataplane_sync(dp, 0);
}

void dataplane_on_own_traffic(dataplane *dp, void (*fn)(void *ctx, uint64_t *msgs, uint64_t *bytes), void *ctx)
{
    pthread_mutex_lock(&dp->traffic.lock);
    dp->own_traffic = fn;
    dp->own_traffic_ctx = ctx;
    pthread_mutex_unlock(&dp->traffic.lock);
}

void dataplane_nudge(dataplane *dp)
{
    pthread_mutex_lock(&dp->lock);
    dp->wanted++;
    pthread_cond_broadcast(&dp->changed);
    pthread_mutex_unlock(&dp->lock);
}

void dataplane_stop(dataplane *dp)
{
    if (!dp)
        return;
    pthread_mutex_lock(&dp->lock);
    bool running = dp->thread_started;
    dp->stopping = true;
    pthread_cond_broadcast(&dp->changed);
    pthread_mutex_unlock(&dp->lock);
    if (running)
        pthread_join(dp->thread, NULL);
    supervisor_stop(dp->sup);
    store_close(dp->store);
    dataplane_text_free(dp->rendered);
    sodium_memzero(dp->route_password, sizeof dp->route_password);
    sodium_memzero(dp->next_password, sizeof dp->next_password);
    free(dp->users.keys);
    natsconf_blocks_free(dp->blocks);
    json_decref(dp->unrepaired);
    json_decref(dp->repair.missing);
    json_decref(dp->repair.left);
    pthread_cond_destroy(&dp->changed);
    pthread_mutex_destroy(&dp->lock);
    pthread_mutex_destroy(&dp->report_lock);
    pthread_mutex_destroy(&dp->traffic.lock);
    free(dp);
}

unsigned dataplane_reloads(dataplane *dp)
{
    pthread_mutex_lock(&dp->lock);
    unsigned n = dp->reloads;
    pthread_mutex_unlock(&dp->lock);
    return n;
}

unsigned dataplane_interest_repairs(dataplane *dp)
{
    return dp ? atomic_load(&dp->interest_repairs) : 0;
}

unsigned dataplane_restarts(dataplane *dp)
{
    return supervisor_restarts(dp->sup);
}

bool dataplane_monitored(const dataplane *dp)
{
    return dp->cfg.authorization;
}

static uint64_t grown(uint64_t before, uint64_t now)
{
    return now >= before ? now - before : now;
}

static void tally_add(traffic_tally *t, const nats_monitor_counters *r, uint64_t own_msgs, uint64_t own_bytes)
{
    /* The bus log's connection counts in the server's figures, and lives
     * across reloads: what it sent since the last reading is membershipd's. */
    t->system_in_msgs += grown(t->own_msgs, own_msgs);
    t->system_in_bytes += grown(t->own_bytes, own_bytes);
    t->own_msgs = own_msgs;
    t->own_bytes = own_bytes;
    bool same_server = strcmp(r->server_id, t->last.server_id) == 0;
    bool same_config = same_server && strcmp(r->config_load_time, t->last.config_load_time) == 0;
    const nats_monitor_counters none = {0}, *server = same_server ? &t->last : &none,
                                *config = same_config ? &t->last : &none;
    t->server_in_msgs += grown(server->server_in_msgs, r->server_in_msgs);
    t->server_in_bytes += grown(server->server_in_bytes, r->server_in_bytes);
    if (same_server && !same_config) { /* the epoch that ended: its last reading's requests */
        t->system_in_msgs += t->last.own_msgs;
        t->system_in_bytes += t->last.own_bytes;
    }
    t->system_in_msgs += grown(config->system_in_msgs, r->system_in_msgs);
    t->system_in_bytes += grown(config->system_in_bytes, r->system_in_bytes);
    t->total.out_msgs += grown(config->peers_out_msgs, r->peers_out_msgs);
    t->total.out_bytes += grown(config->peers_out_bytes, r->peers_out_bytes);
    /* Counters never go back, even when what the bus log sent to a
     * nats-server that then died is subtracted without that server's count. */
    uint64_t in_msgs = t->server_in_msgs > t->system_in_msgs ? t->server_in_msgs - t->system_in_msgs : 0;
    uint64_t in_bytes = t->server_in_bytes > t->system_in_bytes ? t->server_in_bytes - t->system_in_bytes : 0;
    t->total.in_msgs = in_msgs > t->total.in_msgs ? in_msgs : t->total.in_msgs;
    t->total.in_bytes = in_bytes > t->total.in_bytes ? in_bytes : t->total.in_bytes;
    t->total.connections = r->peers_connections;
    t->total.routes = r->routes;
    t->last = *r;
}

/* The TLS certificate nats-server serves is trusted as a CA besides the
 * system's: a self-signed certificate, or a chain file holding its root,
 * verifies; nats.c 3.4.1 cannot pin a leaf (dev/data-plane.md). */
static void own_sent(dataplane *dp, uint64_t *msgs, uint64_t *bytes)
{
    *msgs = *bytes = 0;
    if (dp->own_traffic)
        dp->own_traffic(dp->own_traffic_ctx, msgs, bytes);
}

/* A reading during which the bus log's connection sent nothing: its count
 * and the server's are then of one instant.  Tried a few times. */
static int read_traffic(dataplane *dp, int timeout_ms, dataplane_traffic_totals *out, char *err, size_t errlen)
{
    char url[128];
    dataplane_url(dp, url, sizeof url);
    const nats_monitor m = {.url = url, .system = dp->cfg.system, .ca_file = dp->cfg.tls_cert, .timeout_ms = timeout_ms};
    nats_monitor_counters reading;
    pthread_mutex_lock(&dp->traffic.lock);
    int rc = -1;
    for (int tries = 0; rc != 0 && tries < OWN_TRAFFIC_TRIES; tries++) {
        uint64_t msgs, bytes, msgs_after, bytes_after;
        own_sent(dp, &msgs, &bytes);
        rc = nats_monitor_counters_read(&m, &reading, err, errlen);
        own_sent(dp, &msgs_after, &bytes_after);
        if (rc == 0 && msgs_after != msgs) {
            snprintf(err, errlen, "the bus log kept sending while nats-server's counters were read");
            rc = -1;
        } else if (rc == 0) {
            tally_add(&dp->traffic, &reading, msgs, bytes);
        }
    }
    if (rc == 0 && out)
        *out = dp->traffic.total;
    pthread_mutex_unlock(&dp->traffic.lock);
    return rc;
}

int dataplane_traffic(dataplane *dp, dataplane_traffic_totals *out, char *err, size_t errlen)
{
    return read_traffic(dp, TRAFFIC_TIMEOUT_MS, out, err, errlen);
}

unsigned dataplane_port(const dataplane *dp)
{
    return dp->cfg.port;
}

void dataplane_url(const dataplane *dp, char *out, size_t len)
{
    natsconf_url(dp->cfg.tls_cert != NULL, dp->cfg.host, dp->cfg.port, out, len);
}
