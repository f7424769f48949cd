/* The control plane's libmicrohttpd daemons: started, rotated, reaped,
 * stopped.  See http_server.h. */
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>
#include "embedded/clock.h"
#include "common/cli_args.h"
#include "membershipd/http/conn_guard.h"
#include "membershipd/listener/http_server.h"
#include "common/log.h"
#include "membershipd/config/tls_files.h"

struct http_daemon {
    struct MHD_Daemon *mhd;
    char *cert_pem, *key_pem; /* kept while it serves, wiped after */
    int quiesced_fd;          /* its listening descriptor once retired, closed after it stops; else -1 */
};

static void daemon_free(struct http_daemon *d)
{
    if (!d)
        return;
    if (d->mhd)
        MHD_stop_daemon(d->mhd);
    if (d->quiesced_fd >= 0)
        close(d->quiesced_fd);
    tls_pem_free(d->cert_pem);
    tls_pem_free(d->key_pem);
    free(d);
}

/* Owns listen_fd: libmicrohttpd closes it when it cannot start on it,
 * and so does this when it cannot even try. */
static struct http_daemon *daemon_start(server *srv, int listen_fd, char *cert_pem, char *key_pem)
{
    struct http_daemon *d = calloc(1, sizeof *d);
    if (!d) {
        close(listen_fd);
        tls_pem_free(cert_pem);
        tls_pem_free(key_pem);
        return NULL;
    }
    *d = (struct http_daemon){.cert_pem = cert_pem, .key_pem = key_pem, .quiesced_fd = -1};
    d->mhd = http_mhd_start(srv, listen_fd, cert_pem, key_pem);
    if (d->mhd)
        return d;
    daemon_free(d);
    return NULL;
}

static unsigned connections(const struct http_daemon *d)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info ? info->num_connections : 0;
}

int http_server_start(server *srv, int listen_fd, char *cert_pem, char *key_pem)
{
    srv->conns = conn_guard_new(srv->cfg.max_conns, HTTP_HEADER_DEADLINE_MS);
    if (!srv->conns) {
        cli_error("out of memory for %u connection slots; lower --max-conns", srv->cfg.max_conns);
        close(listen_fd);
        tls_pem_free(cert_pem);
        tls_pem_free(key_pem);
        return -1;
    }
    srv->daemon = daemon_start(srv, listen_fd, cert_pem, key_pem);
    if (!srv->daemon) {
        cli_error("cannot start the HTTP server (see the log line above)");
        return -1;
    }
    return 0;
}

static void retire(server *srv, struct http_daemon *old)
{
    /* Quiesced: it accepts nothing more; the socket lives on in the new
     * one.  Its descriptor stays open until it has stopped, since its
     * thread may be about to call accept() on it (microhttpd.h). */
    old->quiesced_fd = MHD_quiesce_daemon(old->mhd);
    size_t slot = 0;
    while (slot < HTTP_RETIRED_MAX && srv->retired[slot])
        slot++;
    if (slot == HTTP_RETIRED_MAX) { /* rotated over and over: the oldest goes now */
        daemon_free(srv->retired[0]);
        slot = 0;
    }
    srv->retired[slot] = old;
}

int http_server_rotate(server *srv, char *cert_pem, char *key_pem)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon->mhd, MHD_DAEMON_INFO_LISTEN_FD);
    int fd = info ? dup(info->listen_fd) : -1;
    if (fd < 0) {
        tls_pem_free(cert_pem);
        tls_pem_free(key_pem);
        return -1;
    }
    /* libmicrohttpd closes the duplicate if it fails to start on it. */
    struct http_daemon *fresh = daemon_start(srv, fd, cert_pem, key_pem);
    if (!fresh)
        return -1;
    retire(srv, srv->daemon);
    srv->daemon = fresh;
    return 0;
}

void http_server_reap(server *srv)
{
    for (size_t i = 0; i < HTTP_RETIRED_MAX; i++)
        if (srv->retired[i] && connections(srv->retired[i]) == 0) {
            daemon_free(srv->retired[i]);
            srv->retired[i] = NULL;
            log_event(LOG_INFO, "tls_retired", "detail=\"the last connection made before a rotation ended\"");
        }
}

void http_server_stop(server *srv, int grace_ms)
{
    if (!srv->daemon)
        return;
    /* Shut down at once, so new connections are refused rather than
     * queued; closed only after the daemon stops (microhttpd.h). */
    int listen_fd = MHD_quiesce_daemon(srv->daemon->mhd);
    if (listen_fd >= 0)
        shutdown(listen_fd, SHUT_RDWR);
    srv->daemon->quiesced_fd = listen_fd;
    int64_t deadline = clock_mono_ms() + grace_ms;
    while (atomic_load(&srv->in_flight) > 0 && clock_mono_ms() < deadline) {
        struct timespec pause = {0, 20 * 1000000L};
        nanosleep(&pause, NULL);
    }
    daemon_free(srv->daemon);
    srv->daemon = NULL;
    for (size_t i = 0; i < HTTP_RETIRED_MAX; i++) {
        daemon_free(srv->retired[i]);
        srv->retired[i] = NULL;
    }
    conn_guard_free(srv->conns);
    srv->conns = NULL;
}
