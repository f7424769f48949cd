/* membershipd serve: the control plane, after the boot guard agrees. */
#include <arpa/inet.h>
#include <errno.h>
#include <sys/stat.h>
#include <limits.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <nats/nats.h>
#include "embedded/nats_config.h"
#include "membershipd/audit/audit_syslog.h"
#include "membershipd/ctllog/ctllog.h"
#include "membershipd/store/store_pki.h"
#include "membershipd/cli/cli.h"
#include "membershipd/dataplane/dataplane.h"
#include "membershipd/config/guard.h"
#include "membershipd/listener/http_server.h"
#include "common/log.h"
#include "membershipd/metrics/metrics.h"
#include "membershipd/metrics/metrics_server.h"
#include "membershipd/listener/reload.h"
#include "membershipd/api/routes.h"
#include "membershipd/config/server_identity.h"
#include "membershipd/config/tls_files.h"
#include "embedded/nats_monitor.h"

#define SHUTDOWN_GRACE_MS 5000
#define SINGLE_LOG_START_WAIT_MS 15000
#define CLUSTER_LOG_START_WAIT_MS 5000
#define LISTEN_BACKLOG 256

/* Binds and listens on addr; *port gets the port bound (addr may say 0). */
static int open_listener(const struct sockaddr_storage *addr, socklen_t addr_len, const char *what, unsigned *port)
{
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (const struct sockaddr *)addr, addr_len) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        cli_error("cannot listen on %s: %s", what, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t len = sizeof bound;
    getsockname(fd, (struct sockaddr *)&bound, &len);
    *port = ntohs(((struct sockaddr_in *)&bound)->sin_port); /* same offset for IPv6 */
    return fd;
}

static int open_control_listener(server *srv)
{
    char what[128];
    snprintf(what, sizeof what, "%s port %u", srv->cfg.bind, srv->cfg.http_port);
    return open_listener(&srv->cfg.bind_addr, srv->cfg.bind_addr_len, what, &srv->port);
}

/* Off loopback the metrics speak TLS with the control plane's certificate
 * (the boot guard allows no other public shape); on loopback plain HTTP. */
static int start_metrics(server *srv)
{
    const serve_config *cfg = &srv->cfg;
    if (!cfg->metrics_addr)
        return 0;
    unsigned port;
    char what[128];
    snprintf(what, sizeof what, "--metrics-addr %s", cfg->metrics_addr);
    int fd = open_listener(&cfg->metrics_sockaddr, cfg->metrics_sockaddr_len, what, &port);
    bool tls = !cfg->metrics_is_loopback;
    srv->metrics = fd >= 0 ? metrics_server_start(srv, fd, tls) : NULL;
    if (!srv->metrics)
        return -1;
    log_event(LOG_INFO, "metrics_listening", "addr=%s port=%u tls=%s", cfg->metrics_host, port, tls ? "on" : "off");
    return 0;
}

static int open_state(server *srv)
{
    char dir[PATH_MAX];
    if (cli_data_dir(&srv->cfg.store, STORE_OPEN_CREATE, dir) != EXIT_OK ||
        cli_open_store(&srv->cfg.store, STORE_OPEN_CREATE, &srv->store) != EXIT_OK)
        return -1;
    srv->identity = server_identity_load_or_create(dir);
    if (!srv->identity || !(srv->system_user = server_identity_system_user(srv->identity)) ||
        !(srv->log_user = server_identity_log_user(srv->identity)))
        return -1;
    busauth_nkey_encode_public(busauth_identity_public_key(srv->identity), srv->identity_nkey);
    srv->limits = ratelimit_new(srv->cfg.rate, srv->cfg.burst, RATELIMIT_SLOTS);
    srv->audit_budget = ratelimit_new(AUDIT_FAILED_AUTH_RATE, AUDIT_FAILED_AUTH_BURST, 1);
    srv->join_limits = ratelimit_new(JOIN_RATE, JOIN_BURST, RATELIMIT_SLOTS / 16);
    srv->member_limits = ratelimit_new(srv->cfg.member_rate, srv->cfg.member_burst, RATELIMIT_SLOTS);
    srv->key_audit = ratelimit_new(AUDIT_KEY_RATE, AUDIT_KEY_BURST, RATELIMIT_SLOTS);
    srv->nonces = nonce_cache_new(NONCE_CACHE_CAPACITY, NONCE_TTL_MS);
    pthread_mutex_init(&srv->store_lock, NULL);
    if (request_floor_load(&srv->floor, srv->store) != STORE_OK) {
        log_event(LOG_ERROR, "store", "detail=\"cannot read the request time floor: %s\"", store_errmsg(srv->store));
        return -1;
    }
    int64_t ahead_ms = srv->floor.at_start - store_now_ms();
    if (ahead_ms > BUSAUTH_REQUEST_SKEW_MS)
        log_event(LOG_WARN, "request_floor_ahead",
                  "ahead_s=%lld detail=\"this clock is behind requests accepted before: signed requests are refused "
                  "until it passes them; check the clock (NTP)\"", (long long)(ahead_ms / 1000));
    return srv->limits && srv->audit_budget && srv->join_limits && srv->member_limits && srv->key_audit && srv->nonces ? 0 : -1;
}

/* A port the kernel says is free right now on addr's interface. */
static unsigned pick_free_port(struct sockaddr_storage addr, socklen_t addr_len)
{
    ((struct sockaddr_in *)&addr)->sin_port = 0; /* same offset for IPv6 */
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unsigned port = 0;
    socklen_t len = sizeof addr;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&addr, addr_len) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(((struct sockaddr_in *)&addr)->sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int start_dataplane(server *srv)
{
    char dir[PATH_MAX], db[PATH_MAX], conf[PATH_MAX + 16];
    if (cli_data_dir(&srv->cfg.store, STORE_OPEN_CREATE, dir) != EXIT_OK ||
        cli_db_path(&srv->cfg.store, STORE_OPEN_CREATE, db) != EXIT_OK)
        return -1;
    snprintf(conf, sizeof conf, "%s/nats.conf", dir);
    /* The bus log needs accounts: none with --bus-auth off (dev/control-log.md). */
    bool log = srv->cfg.bus_auth != BUS_AUTH_OFF;
    /* A cluster's log is never a single node's: nats-server 2.9 may or may
     * not carry a single server's stream into a cluster (seen both ways),
     * so each has a directory of its own (dev/control-log.md). */
    char jetstream[PATH_MAX + 16 + NATSCONF_NAME_MAX];
    bool cluster = cluster_configured(&srv->cfg.cluster);
    snprintf(jetstream, sizeof jetstream, "%s/jetstream%s%s", dir, cluster ? "-cluster-" : "",
             cluster ? srv->cfg.cluster.name : "");
    if (log && mkdir(jetstream, 0700) != 0 && errno != EEXIST) {
        cli_error("cannot make %s: %s", jetstream, strerror(errno));
        return -1;
    }
    /* --nats-port 0 (tests): any free port. */
    unsigned port = srv->cfg.nats_port ? srv->cfg.nats_port : pick_free_port(srv->cfg.bind_addr, srv->cfg.bind_addr_len);
    char why[512];
    if (cluster && cluster_setup_load(&srv->cfg.cluster, &srv->cluster, why, sizeof why) != 0) {
        cli_error("%s", why);
        return -1;
    }
    char memory_limit[48];
    serve_config_nats_env(&srv->cfg, memory_limit, sizeof memory_limit);
    const char *nats_env[] = {memory_limit, NULL};
    dataplane_config dc = {
        .binary = srv->cfg.nats_server_path, .nats_env = nats_env, .host = srv->cfg.bind, .port = port,
        .max_payload = srv->cfg.max_msg_bytes, .tls_cert = srv->cfg.tls_cert, .tls_key = srv->cfg.tls_key,
        .authorization = srv->cfg.bus_auth != BUS_AUTH_OFF, .config_path = conf, .db_path = db,
        .internal = srv->identity, .system = srv->system_user, .count_traffic = srv->cfg.metrics_addr != NULL,
        .reload_done = metrics_reload_done,
        .cluster = cluster ? &srv->cluster.block : NULL, .self_pin = cluster ? srv->cluster.self_pin : NULL,
        .join_pins = (const char (*)[NATSCONF_PIN_LEN + 1])srv->cluster.join_pins, .njoin_pins = srv->cluster.njoin_pins,
        .self_route = cluster ? &srv->cluster.self_route : NULL,
        .jetstream_dir = log ? jetstream : NULL, .log_user = log ? srv->log_user : NULL,
        /* Its store may be stale until it hears the others (dev/cluster.md). */
        .peers_closed = cluster,
    };
    srv->dataplane = dataplane_start(&dc);
    return srv->dataplane ? 0 : -1;
}

static void nudge_dataplane(void *dp)
{
    dataplane_nudge(dp);
}

static void report_in_force(void *log, int64_t seq)
{
    ctllog_in_force(log, seq);
}

static void log_sent(void *log, uint64_t *msgs, uint64_t *bytes)
{
    ctllog_sent(log, msgs, bytes);
}

static size_t wait_in_force(server *srv, char *lagging, size_t len)
{
    return ctllog_wait_in_force(srv->log, ctllog_applied(srv->log), CTLLOG_IN_FORCE_TIMEOUT_MS, lagging, len);
}

static int64_t stale_ms(server *srv)
{
    return ctllog_stale_ms(srv->log);
}

static bool quorum(server *srv)
{
    return ctllog_heard_majority(srv->log);
}

static bool cut_off(server *srv)
{
    return ctllog_peers_closed(srv->log);
}

/* The bus log found this node's JetStream stuck: nats-server starts again. */
static void restart_dataplane(void *dp)
{
    dataplane_restart_server(dp);
}

static size_t cluster_nodes(server *srv, node_heard *out, size_t cap)
{
    return ctllog_nodes(srv->log, out, cap);
}

static void log_leader(server *srv, char *out, size_t len)
{
    ctllog_leader(srv->log, out, len);
}

static uint64_t leader_changes(server *srv)
{
    return ctllog_leader_changes(srv->log);
}

static bool admit_peers(void *srv)
{
    server *s = srv;
    return ctllog_admits_peers(s->log, (int64_t)s->cfg.cluster.max_stale_s * 1000);
}

/* From here on every change goes through the bus log (dev/control-log.md),
 * one replica per node up to three. */
static int start_log(server *srv)
{
    if (srv->cfg.bus_auth == BUS_AUTH_OFF)
        return 0;
    char url[128], expected[256], db[PATH_MAX], err[512] = "", api[NODE_REPORT_URL_MAX] = "", nats[128];
    if (cli_db_path(&srv->cfg.store, STORE_OPEN_CREATE, db) != EXIT_OK)
        return -1;
    tls_dataplane_target(srv->cfg.tls_cert, srv->cfg.bind, dataplane_port(srv->dataplane), url, expected);
    bool cluster = cluster_configured(&srv->cfg.cluster);
    size_t nodes = cluster ? srv->cluster.block.nroutes + 1 : 1;
    size_t payload = srv->cfg.max_msg_bytes;
    store_ca ca = {0};
    bool have_ca = store_ca_get(srv->store, &ca) == STORE_OK;
    /* Where this node serves, said to the others (GET /v1/info lists them). */
    if (srv->cfg.http_port)
        natsconf_host_url(serve_config_tls(&srv->cfg) ? "https" : "http", srv->cfg.bind, srv->cfg.http_port, api,
                          sizeof api);
    dataplane_url(srv->dataplane, nats, sizeof nats);
    const ctllog_config lc = {
        .url = url, .ca_file = srv->cfg.tls_cert, .ca_pem = have_ca ? ca.cert_pem : NULL,
        .expected_host = expected[0] ? expected : NULL, .user = srv->log_user,
        .db_path = db,
        .replicas = nodes < 3 ? (int)nodes : 3, .nodes = nodes,
        .part_max = payload > 8192 ? payload - 4096 : payload / 2,
        .node = cluster ? srv->cfg.cluster.server_name : "single", .api_url = api, .nats_url = nats,
        .cluster = cluster ? srv->cfg.cluster.name : "",
        .data_plane = true, .applied = nudge_dataplane, .applied_ctx = srv->dataplane,
        .repair = cluster ? restart_dataplane : NULL, .repair_ctx = srv->dataplane,
        .is_bus_ca = cluster ? cluster_is_route_ca : NULL, .is_bus_ca_ctx = &srv->cluster,
        .compact_entries = srv->cfg.log_compact_entries,
    };
    srv->log = ctllog_start(&lc, err, sizeof err);
    if (have_ca)
        store_ca_free(&ca);
    if (!srv->log) {
        cli_error("%s", err);
        return -1;
    }
    store_log_writer w = ctllog_writer(srv->log);
    store_log_set_writer(srv->store, &w);
    dataplane_on_in_force(srv->dataplane, report_in_force, srv->log);
    dataplane_on_own_traffic(srv->dataplane, log_sent, srv->log);
    if (cluster) {
        srv->wait_in_force = wait_in_force;
        srv->stale_ms = stale_ms;
        srv->quorum = quorum;
        srv->cut_off = cut_off;
        srv->cluster_nodes = cluster_nodes;
        srv->leader_changes = leader_changes;
        srv->log_leader = log_leader;
        dataplane_gate_peers(srv->dataplane, admit_peers, srv);
    }
    /* A single node's log is its own: no reason to serve before it is up.
     * A cluster node serves reads meanwhile (its writes answer 503). */
    if (ctllog_wait_ready(srv->log, cluster ? CLUSTER_LOG_START_WAIT_MS : SINGLE_LOG_START_WAIT_MS) == 0)
        return 0;
    if (cluster) {
        log_event(LOG_WARN, "bus_log_unavailable", "detail=\"no quorum yet: serving reads; changes answer 503 until "
                  "the log is reachable\"");
        return 0;
    }
    cli_error("the bus log (JetStream in this node's nats-server) did not come up within %d ms; see the log above",
              SINGLE_LOG_START_WAIT_MS);
    return -1;
}

static int start_audit_syslog(server *srv)
{
    char db[PATH_MAX];
    if (!srv->cfg.audit_syslog)
        return 0;
    if (cli_db_path(&srv->cfg.store, STORE_OPEN_CREATE, db) != EXIT_OK)
        return -1;
    srv->audit_syslog = audit_syslog_start(srv->cfg.audit_syslog, db);
    return srv->audit_syslog ? 0 : -1;
}

static void close_state(server *srv)
{
    audit_syslog_stop(srv->audit_syslog);
    if (srv->store)
        store_log_set_writer(srv->store, NULL);
    if (srv->dataplane) { /* the data plane calls into the log: not after it is gone */
        dataplane_on_in_force(srv->dataplane, NULL, NULL);
        dataplane_on_own_traffic(srv->dataplane, NULL, NULL);
        dataplane_gate_peers(srv->dataplane, NULL, NULL);
    }
    ctllog_stop(srv->log); /* its applier nudges the data plane: stopped first */
    dataplane_stop(srv->dataplane);
    cluster_setup_wipe(&srv->cluster);
    store_close(srv->store);
    busauth_identity_free(srv->identity);
    busauth_identity_free(srv->system_user);
    busauth_identity_free(srv->log_user);
    ratelimit_free(srv->limits);
    ratelimit_free(srv->audit_budget);
    ratelimit_free(srv->join_limits);
    ratelimit_free(srv->member_limits);
    ratelimit_free(srv->key_audit);
    nonce_cache_free(srv->nonces);
    pthread_mutex_destroy(&srv->store_lock);
}

/* Serves until SIGTERM or SIGINT; SIGHUP reloads.  Once a second, daemons
 * retired by a rotation whose connections have ended are stopped, and a
 * certificate that has come under a third of its lifetime is logged (once
 * per certificate loaded). */
static int serve_until_stopped(server *srv, const sigset_t *signals)
{
    const struct timespec tick = {1, 0};
    for (;;) {
        int sig = sigtimedwait(signals, NULL, &tick);
        if (sig == SIGHUP)
            serve_reload(srv);
        else if (sig > 0)
            return sig;
        http_server_reap(srv);
        route_audit_suppressed_flush(srv, false);
        if (!srv->cert_renew_logged)
            srv->cert_renew_logged = tls_warn_if_renew_due(srv->cfg.tls_cert, srv->cert_not_after,
                                                            srv->cert_renew_at, (int64_t)time(NULL));
    }
}

/* TLS material is read before listening; each daemon wipes its own. */
static int listen_and_serve(server *srv, const sigset_t *signals)
{
    char *cert = NULL, *key = NULL;
    if (serve_config_tls(&srv->cfg)) {
        if (!tls_pem_read_pair(srv->cfg.tls_cert, srv->cfg.tls_key, &cert, &key)) {
            cli_error("cannot read the TLS files %s and %s", srv->cfg.tls_cert, srv->cfg.tls_key);
            return EXIT_FAILED;
        }
    }
    bool tls = cert != NULL;
    pki_lifetime life = {0};
    if (tls) {
        tls_pem_lifetime(cert, &life);
        tls_warn_if_revoked(srv->store, srv->cfg.tls_cert, cert);
    }
    metrics_set_cert_lifetime(life.not_after, life.renew_at);
    srv->cert_not_after = life.not_after;
    srv->cert_renew_at = life.renew_at;
    int fd = open_control_listener(srv);
    if (fd < 0) {
        tls_pem_free(cert);
        tls_pem_free(key);
        return EXIT_FAILED;
    }
    if (http_server_start(srv, fd, cert, key) != 0)
        return EXIT_FAILED;
    if (start_metrics(srv) != 0) {
        http_server_stop(srv, 0);
        return EXIT_FAILED;
    }
    char nats_url[128];
    dataplane_url(srv->dataplane, nats_url, sizeof nats_url);
    log_event(LOG_INFO, "listening", "addr=%s port=%u tls=%s bus_auth=%s server_key=%s nats=%s", srv->cfg.bind,
              srv->port, tls ? "on" : "off", bus_auth_name(srv->cfg.bus_auth), srv->identity_nkey, nats_url);
    int sig = serve_until_stopped(srv, signals);
    log_event(LOG_INFO, "stopping", "signal=%d", sig);
    metrics_server_stop(srv->metrics); /* first: it reads the control plane's state */
    http_server_stop(srv, SHUTDOWN_GRACE_MS);
    route_audit_suppressed_flush(srv, true);
    return EXIT_OK;
}

static int run(const serve_config *cfg)
{
    int rc = guard_check(cfg);
    if (rc != EXIT_OK)
        return rc;
    /* Blocked before any thread starts, so only sigwait sees them. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    metrics_mark_start();
    server srv = {.cfg = *cfg};
    rc = open_state(&srv) == 0 && start_audit_syslog(&srv) == 0 && start_dataplane(&srv) == 0 &&
                 start_log(&srv) == 0
             ? listen_and_serve(&srv, &signals) : EXIT_FAILED;
    close_state(&srv);
    nats_monitor_release();
    nats_CloseAndWait(2000); /* the probes' nats.c threads end before OpenSSL cleans up at exit */
    log_event(LOG_INFO, "stopped", "exit=%d", rc);
    return rc;
}

int cmd_serve(int argc, char **argv)
{
    serve_config cfg;
    int rc = serve_config_from_args("serve",
                                    "Serve the signed HTTPS control plane. Refuses to start (exit 78) in any\n"
                                    "configuration that would leave it open; see: membershipd check-config.",
                                    NULL, argc, argv, &cfg);
    return rc == CLI_PROCEED ? run(&cfg) : rc;
}
